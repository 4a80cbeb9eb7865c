"""A run is pinned to the corpus it was built on: `runs/NAME/corpus.json`.

`make corpus NAME=x` repoints the symlink `data/corpus/x` at a new folder whenever the config or the
inputs change (a retrained vocabulary, other documents). A run therefore records, at its first start,
the folder the symlink resolved to and what identifies its contents (tokenizer hash, segments config
hash, graph hash, token count); its saved config names that folder, not the symlink. Resume, export and
eval compare what they are about to read with the pin and refuse a mismatch, naming both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from formats import run as run_format
from formats import segments as segments_format
from foundation.atomic import write_json_atomic
from foundation.errors import PipelineError
from foundation.paths import resolve_path

# What identifies a corpus's contents (from segments/manifest.json); the folder is where it was.
IDENTITY_KEYS = ("tokenizer_hash", "segments_hash", "graph_sha256", "num_tokens")


def resolved_corpus(spec: str) -> Path:
    """The real folder a `data.corpus` value points at (symlinks followed)."""
    return Path(os.path.realpath(resolve_path(spec)))


def corpus_identity(corpus_dir: str | Path) -> dict[str, Any]:
    """The folder (resolved) and the content identity of a corpus; an unreadable manifest gives None values."""
    folder = Path(os.path.realpath(corpus_dir))
    manifest = segments_format.peek_manifest(folder)
    return {
        "folder": str(folder),
        "tokenizer_hash": manifest.get("tokenizer_hash"),
        "segments_hash": manifest.get("config_hash"),
        "graph_sha256": manifest.get("graph_sha256"),
        "num_tokens": manifest.get("num_tokens"),
    }


def describe(identity: dict[str, Any]) -> str:
    tok, seg = identity.get("tokenizer_hash"), identity.get("segments_hash")
    return f"{identity.get('folder')} (tokenizer {str(tok)[:12]}, segments {str(seg)[:12]})"


def read_pin(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / run_format.PIN_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PipelineError(f"{path} is unreadable ({e}); restore it or start a new run") from e
    if not isinstance(data, dict) or "folder" not in data:
        raise PipelineError(f"{path} is not a corpus pin (no 'folder'); restore it or start a new run")
    return data


def write_pin(run_dir: str | Path, corpus_dir: Path, given: str) -> dict[str, Any]:
    pin = {**corpus_identity(corpus_dir), "given": given}
    write_json_atomic(Path(run_dir) / run_format.PIN_FILE, pin)
    return pin


def mismatch(pin: dict[str, Any], corpus_dir: str | Path) -> str | None:
    """How `corpus_dir` differs from the pinned corpus (None when it is the same corpus)."""
    now = corpus_identity(corpus_dir)
    differing = [k for k in IDENTITY_KEYS if pin.get(k) is not None and pin.get(k) != now.get(k)]
    if not differing:
        return None
    return f"pinned {describe(pin)}, now {describe(now)}: {', '.join(differing)} differ"


def check_pin(run_dir: str | Path, corpus_dir: str | Path, *, action: str, hint: str) -> None:
    """Refuse `action` on `corpus_dir` when it is not the corpus the run in `run_dir` was pinned to."""
    pin = read_pin(run_dir)
    if pin is None:
        return
    if not Path(corpus_dir).is_dir() and not Path(pin["folder"]).is_dir():
        raise PipelineError(
            f"{action}: the corpus the run {run_dir} was trained on, {pin['folder']}, no longer exists: "
            "restore that folder (make corpus with the same config and inputs rebuilds it under the same name)"
        )
    problem = mismatch(pin, corpus_dir)
    if problem is not None:
        raise PipelineError(f"{action}: run {run_dir} was trained on another corpus ({problem}); {hint}")


__all__ = ["check_pin", "corpus_identity", "mismatch", "read_pin", "resolved_corpus", "write_pin"]
