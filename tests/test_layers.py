"""Imports point one way: foundation <- corpus, graph <- pretrain (and the config tree) <- orchestration.

Module-level imports, read with `ast` (scripts/import_graph.py); a lower layer importing a higher one
fails here with the module and the import named."""

import os
import subprocess
import sys
from pathlib import Path

from scripts.import_graph import module_imports

ROOT = Path(__file__).resolve().parents[1]

# Lowest first; a module is in the layer of its longest matching prefix.
LAYERS = [
    ("foundation", ("formats", "pipeline")),
    ("corpus stages", ("corpus", "graph")),
    ("pretraining", ("pretrain", "pipeline.tree")),
    (
        "orchestration",
        ("pipeline.cli", "pipeline.build", "pipeline.summary", "pipeline.ablation", "pipeline.ablation_runs"),
    ),
]


def layer_of(module: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{module} is in no layer: add it to LAYERS"
    return rank


def wrong_way(imports: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, imported in imports.items()
        for target in sorted(imported)
        if layer_of(target) > layer_of(module)
    ]


def test_no_module_imports_a_higher_layer() -> None:
    assert wrong_way(module_imports()) == []


def test_the_check_catches_the_imports_this_layering_removed() -> None:
    # The config machinery importing a stage's config, a stage importing the config tree.
    before = {"pipeline.config": {"corpus.config", "pretrain.config"}, "corpus.build": {"pipeline.tree"}}
    assert wrong_way(before) == [
        "pipeline.config (foundation) imports corpus.config (corpus stages)",
        "pipeline.config (foundation) imports pretrain.config (pretraining)",
        "corpus.build (corpus stages) imports pipeline.tree (pretraining)",
    ]


def test_a_corpus_stage_loads_no_pretraining_module() -> None:
    code = (
        "import corpus.extract, corpus.segments, graph.build, sys; "
        "print(sorted(m for m in sys.modules if m.startswith('pretrain')))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.strip() == "[]"
