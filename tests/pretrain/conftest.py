"""Shared corpora of the pretraining tests: generated ones in the exact on-disk formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from pretrain.data.synthetic import write_synthetic_corpus


@pytest.fixture(scope="session")
def synthetic_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 documents, ~8 out-links each with Zipf-like targets, some isolated or without segments."""
    return write_synthetic_corpus(
        tmp_path_factory.mktemp("linked") / "corpus", num_docs=2000, seed=7, segment_tokens=(4, 96)
    )


@pytest.fixture(scope="session")
def linkless_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus without a single link: only the two BERT relations are possible."""
    return write_synthetic_corpus(
        tmp_path_factory.mktemp("linkless") / "corpus", num_docs=200, seed=3, avg_out_links=0.0
    )


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sample_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled Wikipedia sample through the real corpus stages (MiniLM's tokenizer, segments <= 62)."""
    from pipeline.build import run_build
    from pipeline.tree import load_config

    cfg = load_config(REPO / "configs" / "corpus" / "sample.yaml", ["segments.max_tokens=62"])
    dump = str(REPO / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2")
    return run_build(cfg, inputs=[dump], root=str(tmp_path_factory.mktemp("sample")), name="sample")


@pytest.fixture(scope="session")
def minilm_export(sample_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face export of a short real run: the ci preset (a MiniLM warm start) for 2 steps."""
    from pretrain.export.writer import run_export
    from tests.pretrain.training.test_trainer import run_cli

    root = tmp_path_factory.mktemp("minilm")
    args = [
        "--config",
        str(REPO / "configs" / "pretrain" / "ci.yaml"),
        f"data.corpus={sample_corpus_dir}",
        f"train.output_root={root}",
        "train.max_steps=2",
        "train.global_batch_size=2",
        "train.micro_batch_size=2",
        "train.warmup_steps=1",
        "checkpoint.every=2",
        "eval.pairs=8",
        "logging.wandb=false",
        "logging.tensorboard=false",
    ]
    assert run_cli(args) == 0
    return run_export("auto", str(root / "export"), run_dir=str(root / "ci"))
