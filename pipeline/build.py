"""`linkbert corpus build`: extract -> graph -> segments into `ROOT/NAME-<hash>/`, then `ROOT/NAME` -> it.

Orchestration: it runs the three corpus stages, each of which keeps its own output lifecycle
(`foundation/stage.py`); this adds the keyed folder of the whole corpus and the symlink.

The hash covers what decides the corpus: the extraction config (less how it runs), the graph config,
what decides the segments (bounds and the tokenizer's identity) and each input's path, size and
mtime. A changed config or input therefore builds a new folder beside the old one (never overwrites
it); the same ones reuse the folder, where each stage skips when complete and an interrupted stage
redoes only its unfinished tasks. The symlink is swapped atomically, so `ROOT/NAME` always points at a
complete corpus (or at none, before the first build finishes).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from datatrove.utils.logging import logger

from corpus.extract.launch import EXECUTION_ONLY, run_extract
from corpus.segments.stage import run_segments, tokenizer_identity
from foundation.config import to_dict
from foundation.errors import PipelineError
from foundation.stage import file_identity, keyed_folder
from graph.build import run_graph
from pipeline.tree import PipelineConfig


def build_key(cfg: PipelineConfig, inputs: list[str], index: str | None = None) -> dict[str, Any]:
    """What the corpus folder's hash covers."""
    if not inputs:
        raise PipelineError("corpus build: no --input files given")
    corpus = {k: v for k, v in to_dict(cfg.corpus).items() if k not in EXECUTION_ONLY}
    return {
        "corpus": corpus,
        "graph": to_dict(cfg.graph),
        "segments": {
            "max_tokens": cfg.segments.max_tokens,
            "min_tokens": cfg.segments.min_tokens,
            "tokenizer": tokenizer_identity(cfg.segments),
        },
        "inputs": [file_identity(p) for p in inputs],
        "index": file_identity(index) if index else None,
    }


def point_link(link: Path, target: Path) -> None:
    """Make `link` a symlink to `target` (relative, so the root can move), replacing an old link atomically."""
    if link.exists() and not link.is_symlink():
        raise PipelineError(f"{link} exists and is not a symlink; move it away or pick another --name")
    fd, tmp = tempfile.mkstemp(prefix=f".{link.name}.", suffix=".link", dir=link.parent)
    os.close(fd)
    os.unlink(tmp)
    os.symlink(os.path.relpath(target, link.parent), tmp)
    os.replace(tmp, link)


def run_build(cfg: PipelineConfig, inputs: list[str], root: str, name: str, index: str | None = None) -> Path:
    """Build (or reuse) the corpus folder of this config and these inputs; returns its path."""
    if not name or "/" in name or name.startswith("."):
        raise PipelineError(f"--name {name!r}: give a plain folder name (no '/', not starting with '.')")
    for section in ("corpus", "segments"):
        if getattr(cfg, section).executor.kind == "slurm":
            raise PipelineError(
                f"corpus build waits for each stage, but {section}.executor.kind=slurm submits jobs and returns; "
                "run `linkbert corpus extract`, `corpus graph` and `corpus segments` one after another instead"
            )
    folder = keyed_folder(root, name, build_key(cfg, inputs, index))
    base = folder.parent
    base.mkdir(parents=True, exist_ok=True)
    logger.info(f"corpus build: {folder}")
    run_extract(cfg.corpus, inputs=list(inputs), output=str(folder), index=index)
    run_graph(cfg.graph, str(folder))
    run_segments(cfg.segments, str(folder))
    point_link(base / name, folder)
    logger.info(f"{base / name} -> {folder.name}")
    return folder
