"""Pass 1 of the graph build: documents of all doc shards -> nodes in page-id order, one per title."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from formats.documents import DOCS_SCHEMA, Shard
from foundation.errors import PipelineError
from graph.nodes import read_nodes


def write_shard(path: Path, rows: list[tuple], schema: pa.Schema = DOCS_SCHEMA) -> Shard:
    """A docs shard of `(id, title, is_disambiguation)` rows (empty text, no links), in the columns
    of `schema`, listed in a manifest with its row count."""
    table = pa.table(
        {
            "id": [r[0] for r in rows],
            "title": [r[1] for r in rows],
            "text": [""] * len(rows),
            "links": [[] for _ in rows],
            "is_disambiguation": [r[2] for r in rows],
        }
    )
    pq.write_table(table.select(schema.names).cast(schema), path)
    return Shard(path=path, rows=len(rows))


def columns(table: pa.Table) -> list[tuple]:
    return list(
        zip(*(table.column(c).to_pylist() for c in ("id", "title", "is_disambiguation")), strict=True)
    )


def test_nodes_in_page_id_order_across_shards(tmp_path):
    """Node i is the i-th smallest page id whatever the shard order; each row knows its node."""
    shards = [
        write_shard(tmp_path / "a.parquet", [(30, "Gamma", False), (20, "Beta", True)]),
        write_shard(tmp_path / "b.parquet", [(10, "Alpha", False), (40, "Delta", False)]),
    ]
    nodes = read_nodes(shards)
    assert columns(nodes.table) == [
        (10, "Alpha", False),
        (20, "Beta", True),
        (30, "Gamma", False),
        (40, "Delta", False),
    ]
    assert [r.tolist() for r in nodes.row_node] == [[2, 1], [0, 3]]
    assert all(r.dtype == "int32" for r in nodes.row_node)
    assert (nodes.documents, nodes.duplicate_titles) == (4, 0)
    assert nodes.table.schema == pa.schema(
        [("id", pa.int64()), ("title", pa.string()), ("is_disambiguation", pa.bool_())]
    )


def test_duplicate_titles_keep_the_lowest_id(tmp_path):
    """Of documents sharing a title the lowest page id is the node, whichever shard holds it; the
    others map to -1 and are counted. Titles differing in case are distinct."""
    shards = [
        write_shard(tmp_path / "a.parquet", [(9, "Beta", True), (5, "Alpha", False)]),
        write_shard(tmp_path / "b.parquet", [(2, "Beta", False), (7, "Alpha", True), (8, "beta", False)]),
    ]
    nodes = read_nodes(shards)
    assert columns(nodes.table) == [(2, "Beta", False), (5, "Alpha", False), (8, "beta", False)]
    assert [r.tolist() for r in nodes.row_node] == [[-1, 1], [0, -1, 2]]
    assert (nodes.documents, nodes.duplicate_titles) == (5, 2)


def test_same_document_twice_is_one_node(tmp_path):
    """A page (same id, same title) listed in two shards is one node and one duplicate."""
    shards = [
        write_shard(tmp_path / "a.parquet", [(7, "X", False)]),
        write_shard(tmp_path / "b.parquet", [(7, "X", False), (3, "Y", False)]),
    ]
    nodes = read_nodes(shards)
    assert columns(nodes.table) == [(3, "Y", False), (7, "X", False)]
    assert [r.tolist() for r in nodes.row_node] == [[1], [-1, 0]]
    assert nodes.duplicate_titles == 1


def test_missing_disambiguation_flag_reads_as_false(tmp_path):
    """A null `is_disambiguation` is not a disambiguation page."""
    shard = write_shard(tmp_path / "a.parquet", [(1, "A", None), (2, "B", True)])
    nodes = read_nodes([shard])
    assert nodes.table.column("is_disambiguation").to_pylist() == [False, True]
    assert nodes.table.column("is_disambiguation").null_count == 0


def test_empty_input(tmp_path):
    """No shards, or shards without rows, give an empty typed node table and empty row maps."""
    nodes = read_nodes([])
    assert (len(nodes.table), nodes.row_node, nodes.documents, nodes.duplicate_titles) == (0, [], 0, 0)
    assert nodes.table.column_names == ["id", "title", "is_disambiguation"]

    shards = [write_shard(tmp_path / "a.parquet", []), write_shard(tmp_path / "b.parquet", [])]
    nodes = read_nodes(shards)
    assert len(nodes.table) == 0 and nodes.table.schema.field("id").type == pa.int64()
    assert [len(r) for r in nodes.row_node] == [0, 0]
    assert (nodes.documents, nodes.duplicate_titles) == (0, 0)


def test_one_page_id_with_two_titles_is_refused(tmp_path):
    """Two different documents under one page id mean mixed dumps: the error names id and titles."""
    shards = [
        write_shard(tmp_path / "a.parquet", [(7, "Athens", False), (1, "A", False)]),
        write_shard(tmp_path / "b.parquet", [(7, "Αθήνα", False)]),
    ]
    with pytest.raises(PipelineError, match=r"page id 7 is used by two documents \('Athens' and 'Αθήνα'\)"):
        read_nodes(shards)


@pytest.mark.parametrize(("column", "row"), [("id", (None, "B", False)), ("title", (2, None, False))])
def test_null_id_or_title_is_refused(tmp_path, column, row):
    """A document without an id or title names its shard, row and column."""
    shard = write_shard(tmp_path / "a.parquet", [(1, "A", False), row])
    with pytest.raises(PipelineError, match=rf"a\.parquet row 1: document {column} is null"):
        read_nodes([shard])


def test_unusable_shards_are_refused(tmp_path):
    """A damaged file, a shard without a needed column and a row count off the manifest are errors
    naming the shard."""
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(b"PAR1 not parquet")
    with pytest.raises(PipelineError, match=r"damaged\.parquet is not readable parquet"):
        read_nodes([Shard(path=damaged, rows=None)])

    no_links = write_shard(
        tmp_path / "nolinks.parquet",
        [(1, "A", False)],
        pa.schema([f for f in DOCS_SCHEMA if f.name != "links"]),
    )
    with pytest.raises(PipelineError, match=r"nolinks\.parquet has no column\(s\) links"):
        read_nodes([no_links])

    good = write_shard(tmp_path / "good.parquet", [(1, "A", False)])
    with pytest.raises(PipelineError, match=r"good\.parquet has 1 rows but the manifest lists 2"):
        read_nodes([Shard(path=good.path, rows=2)])
