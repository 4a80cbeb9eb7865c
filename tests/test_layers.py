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
    ("orchestration", ("pipeline.cli", "pipeline.build", "pipeline.summary", "pipeline.ablation")),
]


def layer_of(module: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{module} is in no layer: add it to LAYERS"
    return rank


def test_no_module_imports_a_higher_layer() -> None:
    wrong = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, imported in module_imports().items()
        for target in sorted(imported)
        if layer_of(target) > layer_of(module)
    ]
    assert wrong == []


def test_the_layer_check_sees_a_wrong_way_import() -> None:
    # The config machinery is foundation, the tree of every stage's section is not.
    assert layer_of("pipeline.config") < layer_of("corpus.extract") < layer_of("pipeline.tree")
    assert layer_of("pipeline.tree") < layer_of("pipeline.cli")


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
