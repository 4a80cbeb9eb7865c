"""Pass 1 of the graph build: every document's `id, title, is_disambiguation` -> nodes in ascending
id order (node i is the i-th smallest page id), duplicate titles dropped (the lowest id kept)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from formats.documents import Shard, open_shard
from foundation.errors import PipelineError
from graph.resolve import first_occurrences

DOC_COLUMNS = ("id", "title", "links", "is_disambiguation")


@dataclass
class Nodes:
    table: pa.Table  # id, title, is_disambiguation in node order (`node` is added when written)
    row_node: list[np.ndarray]  # per doc shard: node of each row (int32), -1 for dropped duplicates
    documents: int
    duplicate_titles: int


def read_nodes(shards: list[Shard]) -> Nodes:
    tables, lengths = [], []
    for shard in shards:
        f = open_shard(shard, DOC_COLUMNS)
        try:
            t = f.read(columns=["id", "title", "is_disambiguation"])
        except (pa.ArrowException, OSError) as e:
            raise PipelineError(f"shard {shard.path} could not be read ({e}); re-extract the corpus") from e
        for column in ("id", "title"):
            if t.column(column).null_count:
                row = pc.index(pc.is_null(t.column(column)), True).as_py()
                raise PipelineError(
                    f"shard {shard.path} row {row}: document {column} is null; re-extract the corpus"
                )
        tables.append(
            t.cast(pa.schema([("id", pa.int64()), ("title", pa.string()), ("is_disambiguation", pa.bool_())]))
        )
        lengths.append(len(t))
    total = sum(lengths)
    if total == 0:
        empty = pa.table(
            {
                "id": pa.array([], pa.int64()),
                "title": pa.array([], pa.string()),
                "is_disambiguation": pa.array([], pa.bool_()),
            }
        )
        return Nodes(empty, [np.full(n, -1, np.int32) for n in lengths], 0, 0)
    docs = pa.concat_tables(tables)
    del tables

    ids = docs.column("id").to_numpy()
    order = np.argsort(ids, kind="stable")
    by_id = docs.take(pa.array(order)).combine_chunks()
    del docs
    keep = first_occurrences(by_id.column("title"))  # ascending: the lowest id of each title wins
    rows = order[keep]
    kept_ids = ids[rows]
    clash = np.flatnonzero(np.diff(kept_ids) == 0)
    if len(clash):
        pid = int(kept_ids[clash[0]])
        a, b = (by_id.column("title")[int(keep[clash[0] + k])].as_py() for k in (0, 1))
        raise PipelineError(
            f"page id {pid} is used by two documents ({a!r} and {b!r}): the corpus mixes dumps; "
            f"extract each wiki into its own corpus folder"
        )
    n = len(rows)
    if n >= 2**31:
        raise PipelineError(f"{n} documents: node ids are int32, so a graph holds at most 2^31 - 1 nodes")
    row_node = np.full(total, -1, dtype=np.int32)
    row_node[rows] = np.arange(n, dtype=np.int32)
    table = by_id.take(pa.array(keep)) if n < total else by_id
    table = table.set_column(2, "is_disambiguation", table.column("is_disambiguation").fill_null(False))
    bounds = np.cumsum([0, *lengths])
    per_shard = [row_node[bounds[i] : bounds[i + 1]] for i in range(len(lengths))]
    return Nodes(table, per_shard, total, total - n)


def release_unused() -> None:
    # Arrow's allocator keeps freed pages for reuse; between passes that is ~100 bytes per title of
    # resident memory that the next pass (numpy) cannot use.
    pa.default_memory_pool().release_unused()
