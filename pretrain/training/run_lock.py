"""One writer per run: `runs/NAME/run.lock`, created with O_CREAT|O_EXCL by the process that trains.

The lock holds the owner's pid, host and start time (JSON). A second launch on the same run finds it
and stops at once, naming the holder. A lock whose pid is dead *on this host* is stale (a killed
run): it is taken over with a warning. A lock from another host cannot be checked from here and is
refused; delete the file once that run is known to be gone.

In a multi-process launch rank 0 holds the lock for the run; `linkbert preflight` checks it before
`accelerate launch` starts anything. Limits: O_EXCL is atomic on local filesystems and on NFSv3+ (Linux
>= 2.6); on other network filesystems two launches racing within the same instant may both win. Taking
over a stale lock is a remove-then-create, so two launches both taking over the same stale lock race
the same way; the loser of the create still stops.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from formats import run as run_format
from foundation.errors import PipelineError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    started: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}"

    def is_alive(self) -> bool | None:
        """True/False on this host; None when the holder is on another host (not checkable)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by another user
            return True
        return True


def read_holder(run_dir: Path) -> LockHolder | None:
    """The current holder of the run's lock; None when unlocked. An unreadable lock reads as a dead one."""
    path = Path(run_dir) / run_format.LOCK_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockHolder(pid=int(data["pid"]), host=str(data["host"]), started=str(data["started"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        # Cut off while being written: no pid to check, so treat it like a dead holder on this host.
        return LockHolder(pid=-1, host=socket.gethostname(), started="unknown")


def held_elsewhere(run_dir: Path) -> str | None:
    """A one-line error when a live (or unverifiable) other process holds the run; None otherwise."""
    holder = read_holder(run_dir)
    if holder is None or (holder.pid == os.getpid() and holder.host == socket.gethostname()):
        return None
    alive = holder.is_alive()
    if alive is False:
        return None
    path = Path(run_dir) / run_format.LOCK_FILE
    if alive is None:
        return (
            f"run {run_dir} is locked by {holder.describe()} (another host, cannot be checked from here): "
            f"wait for that run, choose another RUN, or delete {path} if it is known to be gone"
        )
    return (
        f"run {run_dir} is already being trained by {holder.describe()}: wait for it, stop it, or "
        "choose another RUN (train.run_name)"
    )


class RunLock:
    """Acquire with `acquire()`, release with `release()` (only removes a lock this process owns)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / run_format.LOCK_FILE
        self.held = False

    def acquire(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(2):  # a second try after removing a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                problem = held_elsewhere(self.run_dir)
                if problem is not None:
                    raise PipelineError(problem) from None
                holder = read_holder(self.run_dir)
                if holder is not None and holder.pid == os.getpid():
                    self.held = True  # already ours (an earlier run in this process that did not release)
                    return
                log.warning(
                    "taking over the stale lock %s of %s (that process is gone)",
                    self.path,
                    holder.describe() if holder else "an unknown process",
                )
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": started}, f)
                f.write("\n")
            self.held = True
            return
        raise PipelineError(f"{self.path}: another launch took the run's lock at the same time; retry")

    def release(self) -> None:
        if not self.held:
            return
        holder = read_holder(self.run_dir)
        if holder is not None and holder.pid == os.getpid() and holder.host == socket.gethostname():
            self.path.unlink(missing_ok=True)
        self.held = False
