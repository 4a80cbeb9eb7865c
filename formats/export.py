"""The export contract: the Hugging Face folder `linkbert export` writes and `linkbert eval`, `linkbert
score`, the summary and the ablation table read (docs/formats.md, "Export folder").

Beside the `transformers` files (config.json, model.safetensors, tokenizer files), a LinkBERT export
holds `linkbert_config.yaml` (the run's config), `trainer_state.json` (of the exported checkpoint),
`README.md` (the model card, with its plots), `eval.json` once evaluated, and `linkbert_export.json`,
the manifest, written last: which checkpoint, run and corpus it came from, the dtype, the DRP labels
and the run's final held-out row. A folder with files but no manifest is not an export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from foundation.atomic import write_json_atomic
from foundation.errors import PipelineError

MANIFEST = "linkbert_export.json"
RUN_CONFIG_FILE = "linkbert_config.yaml"
STATE_FILE = "trainer_state.json"
EVAL_FILE = "eval.json"
CARD_FILE = "README.md"
RETRIEVAL_PLOT = "retrieval.png"
RUN_EXPORT_DIR = "export"  # runs/NAME/export: where `make export` and `linkbert ablation` put a run's export


def is_export(folder: Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def _read_object(path: Path) -> dict[str, Any]:
    """A JSON object; {} when the file does not exist; a damaged file is an error naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise PipelineError(f"{path} is not valid JSON ({e}); rerun the command that writes it") from e
    if not isinstance(data, dict):
        raise PipelineError(f"{path} does not hold a JSON object; rerun the command that writes it")
    return data


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest as a dict; {} for a folder not made by `linkbert export`."""
    return _read_object(Path(folder) / MANIFEST)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    write_json_atomic(Path(folder) / MANIFEST, manifest)


def read_eval(folder: Path) -> dict[str, Any]:
    """The export's eval.json, or {} before it was evaluated."""
    return _read_object(Path(folder) / EVAL_FILE)


__all__ = [
    "CARD_FILE",
    "EVAL_FILE",
    "MANIFEST",
    "RETRIEVAL_PLOT",
    "RUN_CONFIG_FILE",
    "RUN_EXPORT_DIR",
    "STATE_FILE",
    "is_export",
    "read_eval",
    "read_manifest",
    "write_manifest",
]
