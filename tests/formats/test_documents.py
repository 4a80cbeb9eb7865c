"""The documents contract: the shard writer's output reads back through the checked shard list."""

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from formats import documents
from foundation.errors import PipelineError


@dataclass
class _Link:
    target: str
    anchor: str
    start: int
    end: int
    kind: str


def _write(corpus: Path) -> Path:
    docs = documents.ShardWriter(corpus / "docs" / documents.shard_name(0), documents.DOCS_SCHEMA)
    docs.add(id=1, title="A", text="see B", links=[_Link("B", "B", 4, 5, "body")], is_disambiguation=False)
    docs.add(id=2, title="B", text="", links=[], is_disambiguation=True)
    docs.commit()
    redirects = documents.ShardWriter(
        corpus / "redirects" / documents.shard_name(0), documents.REDIRECTS_SCHEMA
    )
    redirects.add(source="Bee", target="B")
    redirects.commit()
    shards = {
        "docs": [{"path": "docs/rank-00000.parquet", "rows": 2}],
        "redirects": ["redirects/rank-00000.parquet"],
    }
    documents.write_stats(corpus, {"articles": 2})
    documents.write_manifest(corpus, {"shards": shards})
    return corpus


def test_round_trip(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c")
    shards = documents.read_corpus_shards(corpus)
    assert [s.rows for s in shards.docs] == [2] and shards.redirects[0].rows is None
    f = documents.open_shard(shards.docs[0], ("id", "links"))
    assert f.schema_arrow == documents.DOCS_SCHEMA
    table = pq.read_table(shards.docs[0].path)
    assert table.column("links").to_pylist()[0] == [
        {"target": "B", "anchor": "B", "start": 4, "end": 5, "kind": "body"}
    ]
    assert documents.link_capacity(shards.docs[0], f) >= 1
    assert json.loads((corpus / "extract.json").read_text())["docs_format"] == documents.FORMAT
    assert documents.peek_stats(corpus) == {"articles": 2}
    assert documents.read_docs_table(corpus, ["id", "title"]).to_pydict() == {
        "id": [1, 2],
        "title": ["A", "B"],
    }


def test_a_manifest_of_earlier_versions_without_docs_format_reads(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c")
    manifest = json.loads((corpus / "extract.json").read_text())
    del manifest["docs_format"]
    (corpus / "extract.json").write_text(json.dumps(manifest))
    assert len(documents.read_corpus_shards(corpus).docs) == 1


def test_a_newer_version_is_refused(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c")
    path = corpus / "extract.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "docs_format": "linkbert-documents/2"}))
    with pytest.raises(
        PipelineError, match=r"extract.json: version 'linkbert-documents/2' .*linkbert-documents/1"
    ):
        documents.read_corpus_shards(corpus)


def test_an_aborted_shard_leaves_nothing(tmp_path: Path) -> None:
    writer = documents.ShardWriter(tmp_path / "docs" / "rank-00000.parquet", documents.DOCS_SCHEMA)
    writer.add(id=1, title="A", text="x", links=[], is_disambiguation=False)
    writer.abort()
    assert list((tmp_path / "docs").iterdir()) == []
