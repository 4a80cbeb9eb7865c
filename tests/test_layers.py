"""Imports point one way, floor by floor, and no modules import each other round a circle.

foundation <- formats <- corpus | graph | pretrain <- pipeline <- bench | scripts, read from the source
with `ast` by scripts/import_graph.py: every module of the packages, the benchmarks and the scripts,
imports inside functions included. A wrong-way import or a circle fails here, named."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.import_graph import circles, floor_of, module_imports, project_modules, wrong_way

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_imports_a_higher_floor_or_a_sibling_stage() -> None:
    assert wrong_way(module_imports()) == []


def test_no_modules_import_each_other_round_a_circle() -> None:
    assert circles(module_imports()) == []


def test_every_module_is_on_a_floor_and_is_read() -> None:
    modules = project_modules()
    on_disk = {
        path.relative_to(ROOT).as_posix()
        for folder in ("foundation", "formats", "corpus", "graph", "pretrain", "pipeline")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert {p.relative_to(ROOT).as_posix() for p in modules.values()} >= on_disk
    assert "bench.drp_learning" in modules and "scripts.import_graph" in modules
    for module in modules:
        floor_of(module)  # raises for a module on no floor


def test_pretraining_imports_no_corpus_stage() -> None:
    imports = module_imports()
    found = [
        f"{m} -> {t}"
        for m, targets in imports.items()
        if m.startswith("pretrain")
        for t in targets
        if t.split(".")[0] in ("corpus", "graph")
    ]
    assert found == []


def test_the_check_catches_wrong_way_imports_and_circles() -> None:
    before = {
        "foundation.config": {"corpus.config", "pretrain.config"},  # the ground knowing the stages
        "pretrain.training.trainer": {"pipeline.tree"},  # a stage reading the whole tree
        "pretrain.data.loader": {"graph.csr"},  # a stage reading another stage's code
        "pretrain.evaluation.evaluate": {"pretrain.export.model_card"},
        "pretrain.export.model_card": {"pretrain.evaluation.evaluate"},
    }
    assert wrong_way(before) == [
        "foundation.config imports corpus.config (corpus is not below foundation)",
        "foundation.config imports pretrain.config (pretrain is not below foundation)",
        "pretrain.data.loader imports graph.csr (graph is not below pretrain)",
        "pretrain.evaluation.evaluate imports pretrain.export.model_card (pretrain.export is not below "
        "pretrain.evaluation)",
        "pretrain.training.trainer imports pipeline.tree (pipeline is not below pretrain)",
    ]
    assert circles(before) == [["pretrain.evaluation.evaluate", "pretrain.export.model_card"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_check_catches_a_room_importing_a_higher_room() -> None:
    inside = {
        "pretrain.data.loader": {"pretrain.training.trainer"},  # data reaching up into the training loop
        "pretrain.training.trainer": {"pretrain.export.writer"},  # training and export are siblings
        "corpus.wikitext.clean": {"corpus.config"},  # cleaning below the stage's config
        "pretrain.evaluation.evaluate": {"pretrain.modeling.linkbert"},  # downward: fine
    }
    assert wrong_way(inside) == [
        "corpus.wikitext.clean imports corpus.config (corpus.config is not below corpus.wikitext)",
        "pretrain.data.loader imports pretrain.training.trainer (pretrain.training is not below pretrain.data)",
        "pretrain.training.trainer imports pretrain.export.writer (pretrain.export is not below pretrain.training)",
    ]


def test_function_local_imports_count() -> None:
    # pipeline/cli.py imports the stages inside its command functions only.
    assert "pretrain.training.trainer" in module_imports()["pipeline.cli"]


@pytest.mark.parametrize(
    ("imported", "unwanted"),
    [
        ("import corpus.extract.launch, corpus.segments.stage, graph.build", "pretrain"),
        ("import pretrain.training.trainer, pretrain.export.evaluate_export", "corpus"),
        ("import pretrain.training.trainer, pretrain.export.evaluate_export", "graph"),
        ("import pipeline.summary", "torch"),
    ],
)
def test_importing_a_module_loads_nothing_it_does_not_use(imported: str, unwanted: str) -> None:
    code = f"{imported}, sys; print(sorted(m for m in sys.modules if m.split('.')[0] == {unwanted!r}))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", "import sys; " + code.replace(", sys;", ";")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert out.strip() == "[]"


def test_every_function_local_import_says_what_it_defers() -> None:
    """Imports inside functions only where they defer a heavy or optional dependency, each with the comment
    that says so (scripts/local_imports.py lists them)."""
    from scripts.local_imports import local_imports

    assert [f"{file}:{line} {module}" for file, line, module, comment in local_imports() if not comment] == []
