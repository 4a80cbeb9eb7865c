"""Checkpoints of a run: `runs/NAME/checkpoints/step-XXXXXXXX/`, atomic, newest-complete resume, keep last K.

Layout of one checkpoint (docs/formats.md):
- accelerate `save_state` output: model weights (`model.safetensors`, or DeepSpeed's `pytorch_model/`
  folder of ZeRO shards), optimizer, scheduler, grad scaler, `random_states_<rank>.pkl` of every rank;
- `trainer_state.json`: `TrainerState` below (step, next sample number, tokens seen, ...);
- `model_config.json`: the model's `BertConfig` (+ `num_drp_labels`), so export needs no run config;
- `COMPLETE`: written last. A folder without it was cut off mid-write and is never resumed from.

Every rank writes into `.step-XXXXXXXX.tmp/`; rank 0 renames it once all ranks are done.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from pipeline.atomic import _fsync_dir, write_json_atomic, write_text_atomic
from pipeline.errors import PipelineError
from pretrain.config import CheckpointConfig

log = logging.getLogger(__name__)

MARKER = "COMPLETE"
STATE_FILE = "trainer_state.json"
MODEL_CONFIG_FILE = "model_config.json"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


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


def step_dir_name(step: int) -> str:
    return f"step-{step:08d}"


def is_complete(path: Path) -> bool:
    return (path / MARKER).is_file()


def list_checkpoints(checkpoints_dir: Path) -> list[tuple[int, Path]]:
    """All `step-XXXXXXXX` folders (complete or not), oldest first."""
    if not checkpoints_dir.is_dir():
        return []
    found = []
    for entry in checkpoints_dir.iterdir():
        match = _STEP_DIR.match(entry.name)
        if match and entry.is_dir():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def newest_complete(checkpoints_dir: Path) -> Path | None:
    """The newest checkpoint with its marker; folders without one are named in a warning and skipped."""
    for _, path in reversed(list_checkpoints(checkpoints_dir)):
        if is_complete(path):
            return path
        log.warning("ignoring checkpoint %s: no %s marker (cut off mid-write)", path, MARKER)
    return None


class Checkpointer:
    """Saves and restores the full training state through one `Accelerator` (all ranks call every method)."""

    def __init__(self, accelerator: Accelerator, run_dir: Path, cfg: CheckpointConfig) -> None:
        self.accelerator = accelerator
        self.dir = Path(run_dir) / "checkpoints"
        self.cfg = cfg

    # --- resume ----------------------------------------------------------------------------------

    def resume_path(self) -> Path | None:
        """The checkpoint `checkpoint.resume` asks for: none, the newest complete one, or a given folder."""
        spec = self.cfg.resume
        if spec == "none":
            return None
        if spec == "auto":
            path = newest_complete(self.dir)
            if path is None:
                log.info(
                    "checkpoint.resume=auto: no complete checkpoint in %s, starting from step 0", self.dir
                )
            return path
        path = Path(spec)
        if not path.is_dir():
            raise PipelineError(f"checkpoint.resume={spec}: no such checkpoint folder")
        if not is_complete(path):
            raise PipelineError(
                f"checkpoint {path} has no {MARKER} marker (cut off mid-write); resume from an older one "
                "or use --resume auto"
            )
        return path

    def load(self, path: Path, *, expected_hash: str | None = None) -> TrainerState:
        """Restore model, optimizer, scheduler, scaler and RNG states; return the trainer state."""
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
        try:
            self.accelerator.load_state(str(path))
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            raise PipelineError(
                f"checkpoint {path} could not be loaded ({type(e).__name__}: {e}); it may be from another model "
                "or backend: resume from a checkpoint of this run's config"
            ) from e
        return state

    # --- save ------------------------------------------------------------------------------------

    def save(self, state: TrainerState, model_config: dict[str, Any]) -> Path:
        acc = self.accelerator
        final = self.dir / step_dir_name(state.step)
        tmp = self.dir / f".{step_dir_name(state.step)}.tmp"
        if acc.is_main_process:
            self.dir.mkdir(parents=True, exist_ok=True)
            if tmp.exists():  # left by a crash during an earlier save of the same step
                shutil.rmtree(tmp)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))
        acc.wait_for_everyone()
        if acc.is_main_process:
            write_json_atomic(tmp / STATE_FILE, dataclasses.asdict(state))
            write_json_atomic(tmp / MODEL_CONFIG_FILE, model_config)
            if final.exists():  # an incomplete folder of the same step from a crashed run
                shutil.rmtree(final)
            os.replace(tmp, final)
            _fsync_dir(self.dir)
            write_text_atomic(final / MARKER, f"{state.step}\n")
            self._prune()
        # No rank may exit (or resume training) before the checkpoint is complete.
        acc.wait_for_everyone()
        return final

    def _prune(self) -> None:
        complete = [path for _, path in list_checkpoints(self.dir) if is_complete(path)]
        for path in complete[: -self.cfg.keep_last]:
            shutil.rmtree(path, ignore_errors=True)
