"""Saving and restoring a run's full training state: atomic, newest-complete resume, keep last K.

The folder layout (`checkpoints/step-XXXXXXXX/`, the temp folder, the completion marker and the files
beside accelerate's state) is the run contract's, `formats/run.py`. A checkpoint holds accelerate's
`save_state` output (model weights, or DeepSpeed's folder of ZeRO shards; optimizer; grad scaler; the RNG
states of every rank), the `TrainerState` below, and the model's `BertConfig` so export needs no run
config. The lr schedule is a function of the step (`pretrain/training/schedule.py`): nothing of it is saved.

Every rank writes into the temp folder; rank 0 renames it once all ranks are done, then writes the marker.

Resume fails open: `checkpoint.resume=auto` takes the newest checkpoint that is complete *and* loads.
A listed file that is missing, has another size or does not parse (a deleted or truncated file, a disk
that filled up after the marker) skips the checkpoint with a warning naming the file; an explicitly
named checkpoint is never replaced by another one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from formats import run as run_format
from formats.run import STATE_FILE, is_complete, list_checkpoints
from foundation.atomic import _fsync_dir, write_json_atomic
from foundation.errors import PipelineError
from pretrain.config import CheckpointConfig, TrainConfig

log = logging.getLogger(__name__)


@dataclass
class TrainerState:
    """Everything besides accelerate's state that a resumed run needs to continue exactly."""

    step: int = 0  # optimizer steps done
    samples_consumed: int = 0  # = the global sample number the next step starts at
    epoch: int = 0  # epoch of the next sample, and its index within that epoch
    epoch_index: int = 0
    tokens_seen: int = 0  # non-padding tokens of all ranks
    nonfinite_steps: int = 0  # skipped steps in total
    nonfinite_in_a_row: int = 0
    config_hash: str = ""  # hash of the config keys that define the data stream and the model
    world_size: int = 1

    @classmethod
    def from_json(cls, path: Path) -> TrainerState:
        try:
            data = json.loads(path.read_text())
            names = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in names})
        except (OSError, ValueError, TypeError) as e:
            raise PipelineError(
                f"{path}: unreadable trainer state ({e}); resume from another checkpoint"
            ) from e


def finished_note(run_dir: Path, step: int, train: TrainConfig) -> str | None:
    """The sentence for a run whose restored step already reached `train.max_steps`, else None."""
    if step < train.max_steps:
        return None
    name = train.run_name
    return (
        f"run {run_dir} already finished: step {step} of train.max_steps={train.max_steps}, nothing to "
        f"train. Export it (make export RUN={name}), or raise train.max_steps to train further "
        f"(make resume RUN={name} ARGS=train.max_steps=N)"
    )


class DamagedCheckpoint(PipelineError):
    """A complete checkpoint whose files are missing, truncated or unreadable."""


def _file_problem(file: Path) -> str | None:
    """Why `file` would not load (cheap checks: headers and directories, not the tensors), or None."""
    try:
        if file.suffix == ".safetensors":
            with file.open("rb") as f:
                (size,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(size))
            end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
            if 8 + size + end != file.stat().st_size:
                return f"{file.stat().st_size} bytes, its header describes {8 + size + end}"
        elif file.suffix == ".json":
            json.loads(file.read_text())
        elif zipfile.is_zipfile(file):  # torch.save's format: the central directory sits at the end
            with zipfile.ZipFile(file) as z:
                z.infolist()
        elif file.suffix in (".bin", ".pt", ".pth", ".pkl"):
            return "not a torch.save archive (truncated?)"
    except (OSError, ValueError, KeyError, TypeError, IndexError, struct.error, zipfile.BadZipFile) as e:
        return f"unreadable ({type(e).__name__}: {e})"
    return None


def checkpoint_problem(path: Path) -> str | None:
    """What is wrong with a complete checkpoint's files, naming the file; None when all look loadable."""
    listed = run_format.listed_files(path)
    if listed is not None:
        for name, size in sorted(listed.items()):
            file = path / name
            if not file.is_file():
                return f"{file} is missing"
            if file.stat().st_size != size:
                return f"{file} has {file.stat().st_size} bytes, {size} were written"
    names = run_format.stored_files(path)
    if STATE_FILE not in names:
        return f"{path / STATE_FILE} is missing"
    for name in names:
        problem = _file_problem(path / name)
        if problem is not None:
            return f"{path / name}: {problem}"
    return None


class Checkpointer:
    """Saves and restores the full training state through one `Accelerator` (all ranks call every method)."""

    def __init__(self, accelerator: Accelerator, run_dir: Path, cfg: CheckpointConfig) -> None:
        self.accelerator = accelerator
        self.dir = run_format.checkpoints_dir(run_dir)
        self.cfg = cfg

    # --- resume ----------------------------------------------------------------------------------

    def resume_candidates(self) -> list[Path]:
        """The checkpoints `checkpoint.resume` allows, best first: none, the complete ones newest first
        (`auto`), or the one folder it names."""
        spec = self.cfg.resume
        if spec == "none":
            return []
        if spec == "auto":
            found = run_format.complete_checkpoints(self.dir)
            if not found:
                log.info(
                    "checkpoint.resume=auto: no complete checkpoint in %s, starting from step 0", self.dir
                )
            return found
        path = Path(spec)
        if not path.is_dir():
            raise PipelineError(f"checkpoint.resume={spec}: no such checkpoint folder")
        if not is_complete(path):
            raise PipelineError(f"{run_format.cut_off(path)}; resume from an older one or use --resume auto")
        return [path]

    def resume_path(self) -> Path | None:
        candidates = self.resume_candidates()
        return candidates[0] if candidates else None

    def restore(self, *, expected_hash: str | None = None) -> tuple[Path, TrainerState] | None:
        """Load the best checkpoint that loads; damaged ones are skipped with a warning (with `auto`)."""
        candidates = self.resume_candidates()
        explicit = self.cfg.resume != "auto"
        for i, path in enumerate(candidates):
            try:
                return path, self.load(path, expected_hash=expected_hash)
            except DamagedCheckpoint as e:
                if explicit:
                    raise
                rest = candidates[i + 1 :]
                if not rest:
                    raise DamagedCheckpoint(
                        f"{e}; no older complete checkpoint in {self.dir} loads either: start a new run "
                        "(another train.run_name)"
                    ) from e
                log.warning("skipping damaged checkpoint: %s; trying %s", e, rest[0].name)
        return None

    def load(self, path: Path, *, expected_hash: str | None = None) -> TrainerState:
        """Restore model, optimizer, scheduler, scaler and RNG states; return the trainer state."""
        problem = checkpoint_problem(path)
        if problem is not None:
            raise DamagedCheckpoint(f"checkpoint {path} is damaged ({problem})")
        state = TrainerState.from_json(path / STATE_FILE)
        if expected_hash is not None and state.config_hash != expected_hash:
            raise PipelineError(
                f"checkpoint {path} was written with another data/model config (hash {state.config_hash}, "
                f"now {expected_hash}); resume with the run's saved config.yaml or start a new run"
            )
        world = self.accelerator.num_processes
        if state.world_size != world:
            log.warning(
                "checkpoint %s was written by %d processes, resuming on %d: the data stream continues "
                "exactly, but dropout RNG streams (and so the losses) will not match an uninterrupted run",
                path,
                state.world_size,
                world,
            )
        error = None
        try:
            self.accelerator.load_state(str(path))
        except (OSError, RuntimeError, ValueError, KeyError, EOFError) as e:
            error = e
        # Every rank takes the same branch: one rank's failure (its own RNG file) fails all of them.
        failed = torch.tensor([float(error is not None)], device=self.accelerator.device)
        if self.accelerator.num_processes > 1:
            failed = self.accelerator.reduce(failed, reduction="sum")
        if failed.item() > 0:
            what = (
                f"{type(error).__name__}: {error}" if error is not None else "another rank failed to load it"
            )
            raise DamagedCheckpoint(
                f"checkpoint {path} could not be loaded ({what}); it may be damaged, or from another model "
                "or backend"
            ) from error
        return state

    # --- save ------------------------------------------------------------------------------------

    def save(self, state: TrainerState, model_config: dict[str, Any]) -> Path:
        acc = self.accelerator
        final = self.dir / run_format.step_dir_name(state.step)
        tmp = run_format.pending_dir(self.dir, state.step)
        if acc.is_main_process:
            self.dir.mkdir(parents=True, exist_ok=True)
            if tmp.exists():  # left by a crash during an earlier save of the same step
                shutil.rmtree(tmp)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))
        acc.wait_for_everyone()
        if acc.is_main_process:
            write_json_atomic(tmp / STATE_FILE, dataclasses.asdict(state))
            write_json_atomic(tmp / run_format.MODEL_CONFIG_FILE, model_config)
            if final.exists():  # an incomplete folder of the same step from a crashed run
                shutil.rmtree(final)
            files = {str(p.relative_to(tmp)): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
            os.replace(tmp, final)
            _fsync_dir(self.dir)
            run_format.write_complete(final, state.step, files)
            self._prune()
        # No rank may exit (or resume training) before the checkpoint is complete.
        acc.wait_for_everyone()
        return final

    def _prune(self) -> None:
        complete = [path for _, path in list_checkpoints(self.dir) if is_complete(path)]
        for path in complete[: -self.cfg.keep_last]:
            shutil.rmtree(path, ignore_errors=True)
