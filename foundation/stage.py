"""One lifecycle for every corpus stage's output (extract, graph, segments) and for the corpus build.

A stage writes one folder, keyed by what decides its bytes (config, inputs, the upstream outputs):

- **keyed folders**: `keyed_folder(root, name, key)` is `root/name-<hash of key>`, so a changed key
  builds beside the old output and never over it (the corpus build);
- **done**: the manifest, written last, holds the key fields; `finished()` returns it when they match
  and refuses the folder when they do not (another config: a new folder, or delete this one);
- **pending**: a run in progress records its key in a pending file before any task starts; a rerun
  with the same key keeps the finished tasks, one with another key discards the leftovers first;
- **completion**: a task is complete when its datatrove marker and its outputs both exist
  (`forget_incomplete` drops a marker whose outputs are gone, so the executor redoes the task);
- **manifest last**: `complete()` writes the manifest (through the contract's writer in `formats/`)
  and then removes the pending file (extract keeps it: it marks a folder the user named as ours). On Slurm, `FinalizeStep` runs the same completion as a one-task
  job that starts once every task has succeeded.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

from foundation.atomic import write_json_atomic
from foundation.config import config_hash
from foundation.errors import PipelineError
from foundation.executor import quiet_input_errors


def keyed_folder(root: str | os.PathLike, name: str, key: Any) -> Path:
    """`root/name-<hash>`: the folder of the output `key` decides."""
    return Path(os.path.abspath(root)) / f"{name}-{config_hash(key)}"


def file_identity(raw: str) -> dict[str, Any]:
    """Path, size and mtime of an input file or folder: a changed input means another output."""
    path = os.path.abspath(raw)
    if not os.path.exists(path):  # a folder too: --format hf reads a save_to_disk folder
        raise PipelineError(f"{raw}: no such file (check --input / --index)")
    st = os.stat(path)
    return {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def read_json(path: Path) -> Any:
    """A JSON file's value, or None when it is absent or unreadable (a half-written leftover)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass
class StageOutput:
    """The output folder of one stage run and its lifecycle (see the module docstring)."""

    stage: str  # for messages: extract, graph, segments
    folder: Path
    manifest: str  # file name in `folder`, written last
    key: dict[str, Any]  # manifest fields that must match for the folder to be reused
    write_manifest: Callable[[Path, dict[str, Any]], dict[str, Any]]  # the contract's writer (formats/)
    read_manifest: Callable[[Path], dict[str, Any] | None] | None = None  # checks the version
    pending: Path | None = None  # records the key of a run in progress
    pending_value: Any = None  # what `pending` holds (default: the key)
    leftovers: tuple[Path, ...] = ()  # what an unfinished run of another key leaves
    # Keep the pending file after completion: where the stage's folder is one a user names (extract's
    # --output), it is what tells our own folder from a foreign one when the manifest is gone.
    keep_pending: bool = False
    # key field -> the message when a finished folder differs in it (what differs, what to do)
    refusals: dict[str, str] = field(default_factory=dict)

    @property
    def manifest_path(self) -> Path:
        return self.folder / self.manifest

    def done_manifest(self) -> dict[str, Any] | None:
        """The manifest of a finished run (any key), or None."""
        if self.read_manifest is not None:
            return self.read_manifest(self.folder)
        found = read_json(self.manifest_path)
        return found if isinstance(found, dict) else None

    def finished(self) -> dict[str, Any] | None:
        """The manifest when the folder is finished with this key; None when it is not finished; a
        PipelineError when it is finished with another key (reusing it would mix two configs)."""
        done = self.done_manifest()
        if done is None:
            return None
        differ = next((k for k, v in self.key.items() if done.get(k) != v), None)
        if differ is not None:
            raise PipelineError(
                self.refusals.get(differ)
                or f"{self.folder} was made with another {self.stage} config or inputs ({differ} "
                f"{done.get(differ)!r}); use a new corpus folder or delete {self.folder}"
            )
        return done

    def started_key(self) -> Any:
        """What the pending file of an unfinished run holds (None when no run was started)."""
        return None if self.pending is None else read_json(self.pending)

    def begin(self) -> bool:
        """Record this run as pending; leftovers of a run with another key are discarded first.

        Returns True when leftovers were discarded."""
        if self.pending is None:
            return False
        want = self.key if self.pending_value is None else self.pending_value
        started = self.started_key()
        discarded = False
        if started != want:
            present = [p for p in self.leftovers if p.exists()]
            if started is not None or present:
                logger.warning(f"{self.folder}: discarding an unfinished {self.stage} run of another config")
                discarded = True
            for target in self.leftovers:
                if target.is_dir():
                    shutil.rmtree(target, ignore_errors=True)
                elif target.exists():
                    target.unlink()
            write_json_atomic(self.pending, want)
        return discarded

    def complete(self, manifest: dict[str, Any], folder: Path | None = None) -> dict[str, Any]:
        """Write the manifest (holding the key) last, then forget the pending run; returns the manifest
        as written.

        `folder`: where the files were written when that is not `self.folder` (a temporary folder
        renamed into place afterwards)."""
        written = self.write_manifest(folder or self.folder, {**manifest, **self.key})
        if self.pending is not None and not self.keep_pending:
            self.pending.unlink(missing_ok=True)
        return written


def forget_incomplete(logs: Path, tasks: int, outputs_exist: Callable[[int], bool]) -> list[int]:
    """Drop the datatrove completion marker of every task whose outputs are gone, so it is redone.

    Returns the ranks that will be redone for that reason."""
    redo = []
    for rank in range(tasks):
        marker = logs / "completions" / f"{rank:05d}"
        if marker.is_file() and not outputs_exist(rank):
            logger.warning(f"{logs}: task {rank} is marked complete but its outputs are missing; redoing it")
            marker.unlink()
            redo.append(rank)
    return redo


class FinalizeStep(PipelineStep):
    """The one task of the dependent job that completes a cluster run (Slurm: after every task
    succeeded): calls `finish(*args)`, a module-level function that writes the stage's manifest last."""

    name = "stage completion"
    type = "Writer"

    def __init__(self, stage: str, finish: Callable[..., Any], *args: Any) -> None:
        super().__init__()
        self.name = f"{stage} completion"
        self.finish, self.args = finish, args

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        quiet_input_errors()
        self.finish(*self.args)
        return
        yield  # the last step: yields nothing
