"""Corpus folders for the segments and build tests (fixtures named `segments_*`).

`segments_sample_copy` copies the real enwiki sample (`segments_built_sample`, tests/conftest.py);
`segments_hand_corpus` is a small hand-written corpus (docs shards + a graph built by the real graph
stage) whose texts are made of `w<k>` words, so a 70,000-word vocabulary can tokenize them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from formats.documents import DOCS_SCHEMA as _DOCS
from formats.documents import REDIRECTS_SCHEMA as _REDIRECTS
from tests.conftest import DATA, SAMPLE_CONFIG, SAMPLE_DUMP

__all__ = ["DATA", "SAMPLE_CONFIG", "SAMPLE_DUMP"]


def w_sentence(seed: int, words: int) -> str:
    """A sentence of `words` pseudo-random `w<k>` words (k < 70,000) ending with a full stop."""
    return " ".join(f"w{(seed * 7919 + j * 104729) % 70000}" for j in range(words)) + "."


def w_text(seed: int, sentences: int) -> str:
    parts = [w_sentence(seed * 100 + i, 3 + (seed + i * 5) % 11) for i in range(sentences)]
    # Paragraphs as the extractor writes them: separated by a blank line.
    return "\n\n".join(" ".join(parts[i : i + 4]) for i in range(0, len(parts), 4))


# (page id, title, text); shards deliberately not in page-id order, one duplicate title (id 50: not a
# node), one document too short for min_tokens=8 under any tokenizer (id 40).
HAND_SHARDS = [
    [(30, "Gamma", w_text(3, 40)), (20, "Beta", w_text(2, 9))],
    [
        (10, "Alpha", w_text(1, 25)),
        (40, "Tiny", "w1 w2."),
        (50, "Beta", w_text(5, 3)),
        (60, "Delta", w_text(6, 2)),
    ],
]


def write_docs_corpus(root: Path, shards: list[list[tuple[int, str, str]]]) -> Path:
    """docs/ + redirects/ + extract.json, in the `corpus extract` layout."""
    (root / "docs").mkdir(parents=True)
    (root / "redirects").mkdir()
    manifest: dict = {"shards": {"docs": [], "redirects": []}}
    for rank, rows in enumerate(shards):
        table = pa.Table.from_pylist(
            [{"id": i, "title": t, "text": x, "links": [], "is_disambiguation": False} for i, t, x in rows],
            schema=_DOCS,
        )
        name = f"docs/rank-{rank:05d}.parquet"
        pq.write_table(table, root / name, row_group_size=2)  # several row groups per shard
        manifest["shards"]["docs"].append({"path": name, "rows": len(rows)})
        name = f"redirects/rank-{rank:05d}.parquet"
        pq.write_table(pa.Table.from_pylist([], schema=_REDIRECTS), root / name)
        manifest["shards"]["redirects"].append({"path": name, "rows": 0})
    (root / "extract.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="session")
def segments_hand_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from graph.build import run_graph
    from pipeline.tree import load_config

    root = write_docs_corpus(tmp_path_factory.mktemp("hand") / "corpus", HAND_SHARDS)
    run_graph(load_config().graph, str(root))
    return root


@pytest.fixture
def segments_hand_corpus(segments_hand_template: Path, tmp_path: Path) -> Path:
    """A private copy of the hand corpus (docs + graph, no segments)."""
    return Path(shutil.copytree(segments_hand_template, tmp_path / "hand"))


@pytest.fixture
def segments_sample_copy(segments_built_sample: Path, tmp_path: Path) -> Path:
    """A private copy of the built sample without its segments (docs + graph only)."""
    return Path(
        shutil.copytree(
            segments_built_sample,
            tmp_path / "sample",
            ignore=lambda d, names: [n for n in names if n == "segments"],  # segments/ and logs/segments/
        )
    )
