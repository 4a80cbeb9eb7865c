"""Corpus folders for graph tests: hand-made ones written here, and the real sample once extracted."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from formats.documents import DOCS_SCHEMA, REDIRECTS_SCHEMA

SAMPLE_DUMP = Path(__file__).resolve().parents[1] / "data" / "wiki" / "enwiki-sample.xml.bz2"


def link(target: str, kind: str = "body") -> dict:
    if kind == "template":
        return {"target": target, "anchor": target, "start": -1, "end": -1, "kind": kind}
    return {"target": target, "anchor": target.lower(), "start": 0, "end": len(target), "kind": kind}


def doc(
    pid: int, title: str, links: Sequence[str | tuple[str, str]] = (), disambiguation: bool = False
) -> dict:
    made = [link(t) if isinstance(t, str) else link(*t) for t in links]
    return {
        "id": pid,
        "title": title,
        "text": " ".join(m["anchor"] for m in made),
        "links": made,
        "is_disambiguation": disambiguation,
    }


def write_corpus(
    root: Path,
    doc_shards: Sequence[Sequence[dict]],
    redirect_shards: Sequence[Sequence[tuple[str, str]]] = (),
) -> Path:
    """A corpus folder in the `corpus extract` layout: docs/, redirects/, extract.json (last)."""
    (root / "docs").mkdir(parents=True)
    (root / "redirects").mkdir()
    manifest = {"shards": {"docs": [], "redirects": []}}
    for rank, rows in enumerate(doc_shards):
        name = f"docs/rank-{rank:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(list(rows), schema=DOCS_SCHEMA), root / name)
        manifest["shards"]["docs"].append({"path": name, "rows": len(rows)})
    for rank, pairs in enumerate(redirect_shards):
        name = f"redirects/rank-{rank:05d}.parquet"
        rows = [{"source": s, "target": t} for s, t in pairs]
        pq.write_table(pa.Table.from_pylist(rows, schema=REDIRECTS_SCHEMA), root / name)
        manifest["shards"]["redirects"].append({"path": name, "rows": len(rows)})
    (root / "extract.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """Every resolution case at once, across two doc shards and two redirect shards."""
    docs_a = [
        # Redirect chain: "A alias" -> "A middle" -> "C"; duplicate links; a missing page.
        doc(1, "A", ["B", "A alias", "B", "Nowhere", "Loop one", ("C", "template")]),
        doc(2, "B", ["A", "B self", "Disamb", ("Dangling redirect", "body")]),
        doc(5, "Disamb", ["A", "B"], disambiguation=True),
    ]
    docs_b = [
        doc(3, "C", ["A", "A", "C"]),
        doc(9, "B", ["A", "C"]),  # duplicate title: id 2 wins, these links are not edges
        doc(4, "Lonely"),
    ]
    redirects_a = [("A alias", "A middle"), ("A middle", "C"), ("B self", "B")]
    redirects_b = [
        ("Loop one", "Loop two"),
        ("Loop two", "Loop one"),
        ("Dangling redirect", "Nowhere"),
        ("C", "A"),
    ]  # shadowed: "C" is an article
    return write_corpus(tmp_path / "corpus", [docs_a, docs_b], [redirects_a, redirects_b])


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real enwiki sample extracted by `corpus extract` (no graph/ yet: copy before building)."""
    from corpus.extract.launch import run_extract
    from pipeline.tree import load_config

    out = tmp_path_factory.mktemp("sample") / "corpus"
    run_extract(load_config().corpus, [str(SAMPLE_DUMP)], str(out))
    return out


@pytest.fixture
def sample_copy(sample_corpus: Path, tmp_path: Path) -> Path:
    """A private copy of the extracted sample, so each test builds its own graph."""
    return Path(shutil.copytree(sample_corpus, tmp_path / "corpus"))
