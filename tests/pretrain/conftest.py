"""Shared corpora of the pretraining tests: generated ones in the exact on-disk formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from pretrain.synthetic import write_synthetic_corpus


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
