"""The run contract: `runs/NAME/` as `linkbert pretrain` writes it and export, eval, the model card, the
summary, the ablation table and the benchmarks read it (docs/formats.md, "Run folder").

- `config.yaml`: the resolved config the run was started (or last resumed) with;
- `corpus.json`: the corpus pin (which corpus folder, and its identity);
- `metrics.jsonl`: one JSON object per line, train rows and `"split": "eval"` rows, appended as the run
  goes. A run killed mid-write leaves at most a cut last line, which readers skip; any other line that
  does not parse is a damaged file (`read_metrics`);
- `checkpoints/step-XXXXXXXX/`: one checkpoint per saved step, written into `.step-XXXXXXXX.tmp/` and
  renamed; `COMPLETE`, written last, is a JSON object with the step and the size of every other file.
  A folder without it was cut off mid-write. `trainer_state.json` and `model_config.json` sit beside
  accelerate's state;
- `run.lock`, `baselines.json` (the frozen-cosine baseline cache), `plots/` (held-out DRP pictures).

This module is the one place that knows these names; it imports nothing of the stages.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from foundation.atomic import write_text_atomic
from foundation.errors import PipelineError

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
PIN_FILE = "corpus.json"
METRICS_FILE = "metrics.jsonl"
LOCK_FILE = "run.lock"
BASELINE_FILE = "baselines.json"
PLOTS_DIR = "plots"
CHECKPOINTS_DIR = "checkpoints"
COMPLETE_MARKER = "COMPLETE"
STATE_FILE = "trainer_state.json"
MODEL_CONFIG_FILE = "model_config.json"
EVAL_SPLIT = "eval"  # the `split` of a held-out evaluation row

_STEP_DIR = re.compile(r"^step-(\d{8})$")


# ----------------------------------------------------------------------------------------------
# Metrics rows


def metrics_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / METRICS_FILE


def read_metrics(run_dir: str | Path, *, up_to_step: int | None = None) -> list[dict[str, Any]]:
    """Every row of a run's metrics file in file order (none when there is no file yet).

    The one rule for a damaged file: blank lines are skipped, a last line that does not parse is the cut
    write of a killed run and is skipped, and any other line that does not parse is an error naming it."""
    path = metrics_path(run_dir)
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if number == len(lines):
                break
            raise PipelineError(
                f"{path}:{number} is not a JSON object ({e}); the metrics file is damaged"
            ) from e
        if isinstance(row, dict) and (up_to_step is None or row.get("step", 0) <= up_to_step):
            rows.append(row)
    return rows


def split_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train rows and held-out evaluation rows, each in file order."""
    evals = [row for row in rows if row.get("split") == EVAL_SPLIT]
    return [row for row in rows if row.get("split") != EVAL_SPLIT], evals


# ----------------------------------------------------------------------------------------------
# Checkpoints


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR


def step_dir_name(step: int) -> str:
    return f"step-{step:08d}"


def pending_dir(checkpoints: Path, step: int) -> Path:
    """Where a checkpoint of `step` is written before it is renamed into place."""
    return checkpoints / f".{step_dir_name(step)}.tmp"


def is_complete(path: Path) -> bool:
    return (path / COMPLETE_MARKER).is_file()


def write_complete(path: Path, step: int, files: dict[str, int]) -> None:
    """The marker, last: the step and every other file's size, so a resume can tell a truncated or deleted
    file from a whole one without loading it."""
    write_text_atomic(path / COMPLETE_MARKER, json.dumps({"step": step, "files": files}, indent=1) + "\n")


def listed_files(path: Path) -> dict[str, int] | None:
    """The file sizes the marker recorded, or None for a marker of the older plain-text form."""
    try:
        data = json.loads((path / COMPLETE_MARKER).read_text())
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): int(v) for k, v in files.items()} if isinstance(files, dict) else None


def stored_files(path: Path) -> list[str]:
    """The files of a complete checkpoint besides its marker: as listed by the marker, else as found."""
    listed = listed_files(path)
    if listed is not None:
        return sorted(listed)
    return sorted(
        str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and p.name != COMPLETE_MARKER
    )


def list_checkpoints(checkpoints: Path) -> list[tuple[int, Path]]:
    """All `step-XXXXXXXX` folders (complete or not), oldest first."""
    if not checkpoints.is_dir():
        return []
    found = []
    for entry in checkpoints.iterdir():
        match = _STEP_DIR.match(entry.name)
        if match and entry.is_dir():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def complete_checkpoints(checkpoints: Path) -> list[Path]:
    """The complete checkpoints, newest first; folders without a marker are named in a warning."""
    found = []
    for _, path in reversed(list_checkpoints(checkpoints)):
        if is_complete(path):
            found.append(path)
        else:
            log.warning("ignoring checkpoint %s: no %s marker (cut off mid-write)", path, COMPLETE_MARKER)
    return found


def newest_complete(checkpoints: Path) -> Path | None:
    """The newest checkpoint with its marker; folders without one are named in a warning and skipped."""
    for _, path in reversed(list_checkpoints(checkpoints)):
        if is_complete(path):
            return path
        log.warning("ignoring checkpoint %s: no %s marker (cut off mid-write)", path, COMPLETE_MARKER)
    return None


def cut_off(path: Path) -> str:
    """The sentence for a checkpoint folder without its marker."""
    return f"checkpoint {path} has no {COMPLETE_MARKER} marker (cut off mid-write)"


def read_checkpoint_json(path: Path) -> dict[str, Any]:
    """`trainer_state.json` or `model_config.json` of a checkpoint, as a dict; a damaged file is an error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PipelineError(f"{path} is unreadable ({e}); the checkpoint is damaged, use another one") from e
    if not isinstance(data, dict):
        raise PipelineError(f"{path} does not hold a JSON object; the checkpoint is damaged, use another one")
    return data


__all__ = [
    "BASELINE_FILE",
    "CHECKPOINTS_DIR",
    "COMPLETE_MARKER",
    "CONFIG_FILE",
    "EVAL_SPLIT",
    "LOCK_FILE",
    "METRICS_FILE",
    "MODEL_CONFIG_FILE",
    "PIN_FILE",
    "PLOTS_DIR",
    "STATE_FILE",
    "checkpoints_dir",
    "complete_checkpoints",
    "cut_off",
    "is_complete",
    "list_checkpoints",
    "listed_files",
    "metrics_path",
    "newest_complete",
    "pending_dir",
    "read_checkpoint_json",
    "read_metrics",
    "split_rows",
    "stored_files",
    "step_dir_name",
    "write_complete",
]
