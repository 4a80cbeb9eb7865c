"""`hyperlinks` source: the wiki's own links (`links.target` of every document), resolved through
redirects (`graph.resolve`), filtered, packed as int64 keys.

Two passes over column subsets of the shards (`text` is never read): every redirect -> the title
table; then the `links` targets and kinds, 8,192 documents per read, resolved in large batches by one
hash join each. Every link read is counted once: as an edge or under the reason it was dropped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from formats.documents import Shard, iter_columns, leaf_path, link_capacity, open_shard
from foundation.errors import PipelineError
from graph.csr import EdgeBuffer, sort_unique
from graph.nodes import DOC_COLUMNS, Nodes, release_unused
from graph.resolve import LinkResolver, TitleTable, build_title_table
from graph.sources.base import SourceContext, SourceEdges

if TYPE_CHECKING:  # the config is read, never imported: graph/config.py names the sources
    from graph.config import GraphConfig

log = logging.getLogger("linkbert.graph")

REDIRECT_COLUMNS = ("source", "target")
BATCH_ROWS = 8192  # documents per parquet read in the link pass
# Links per hash join: each join rebuilds the hash set of all names, so a join covers ~2 links per
# name; the pending target strings (~30 bytes per link) cap it for very large title sets.
MIN_FLUSH_LINKS = 1_000_000
FLUSH_LINKS_PER_NAME = 2.0
MAX_FLUSH_LINKS = 16_000_000
# Reasons a link read is not an edge: with the edges they add up to `links_read`.
DROPPED = (
    "links_of_duplicate_docs",
    "template_links_skipped",
    "unresolved",
    "self_links",
    "disambiguation_targets_dropped",
    "duplicates",
)


def read_redirects(shards: list[Shard]) -> tuple[pa.Array, pa.Array]:
    sources, targets = [], []
    for shard in shards:
        f = open_shard(shard, REDIRECT_COLUMNS)
        try:
            t = f.read(columns=list(REDIRECT_COLUMNS))
        except (pa.ArrowException, OSError) as e:
            raise PipelineError(f"shard {shard.path} could not be read ({e}); re-extract the corpus") from e
        sources.append(t.column("source").cast(pa.string()))
        targets.append(t.column("target").cast(pa.string()))
    if not sources:
        return pa.array([], pa.string()), pa.array([], pa.string())
    return (
        pa.chunked_array([c for s in sources for c in s.chunks], pa.string()).combine_chunks(),
        pa.chunked_array([c for t in targets for c in t.chunks], pa.string()).combine_chunks(),
    )


class EdgeCollector:
    """Resolves pending links in large batches (each hash join rebuilds the title set) and keeps
    the counts that must add up to `links_read`."""

    def __init__(self, cfg: GraphConfig, table: TitleTable, is_disambiguation: np.ndarray, capacity: int):
        self.cfg = cfg
        self.resolver = LinkResolver(table)
        self.is_disambiguation = is_disambiguation
        self.edges = EdgeBuffer(capacity)
        per_name = int(FLUSH_LINKS_PER_NAME * len(table.names))
        self.flush_links = min(max(MIN_FLUSH_LINKS, per_name), MAX_FLUSH_LINKS)
        self.pending: list[tuple[pa.Array, np.ndarray]] = []
        self.pending_links = 0
        self.counts = dict.fromkeys(
            (
                "links_read",
                "links_of_duplicate_docs",
                "template_links_used",
                "template_links_skipped",
                "self_links",
                "disambiguation_targets_dropped",
            ),
            0,
        )
        self.by_kind = {"body": 0, "template": 0, "other": 0}

    def add(self, links: pa.Array, row_node: np.ndarray) -> None:
        """One batch of documents: their `links` (list<struct<target, kind>>) and node per row."""
        lengths = pc.list_value_length(links).fill_null(0).to_numpy(zero_copy_only=False)
        flat = links.flatten()
        total = len(flat)
        if total == 0:
            return
        kind = pc.struct_field(flat, "kind")
        is_template = pc.equal(kind, "template").fill_null(False).to_numpy(zero_copy_only=False)
        n_template = int(is_template.sum())
        n_body = pc.sum(pc.equal(kind, "body")).as_py() or 0
        self.by_kind["template"] += n_template
        self.by_kind["body"] += n_body
        self.by_kind["other"] += total - n_template - n_body
        self.counts["links_read"] += total

        src = np.repeat(row_node, lengths)
        keep = src >= 0
        self.counts["links_of_duplicate_docs"] += total - int(keep.sum())
        if self.cfg.include_template_links:
            self.counts["template_links_used"] += int((is_template & keep).sum())
        else:
            self.counts["template_links_skipped"] += int((is_template & keep).sum())
            keep &= ~is_template
        targets = pc.struct_field(flat, "target")
        if not keep.all():
            targets, src = targets.filter(pa.array(keep)), src[keep]
        self.pending.append((targets, src))
        self.pending_links += len(src)
        if self.pending_links >= self.flush_links:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        targets = pa.chunked_array([p[0] for p in self.pending])
        src = np.concatenate([p[1] for p in self.pending])
        self.pending, self.pending_links = [], 0
        dst = self.resolver.resolve(targets).node
        del targets  # the pending strings (~20 bytes per link) are not needed past the join
        ok = dst >= 0
        src, dst = src[ok], dst[ok]
        self_link = src == dst
        self.counts["self_links"] += int(self_link.sum())
        if self_link.any():
            src, dst = src[~self_link], dst[~self_link]
        if self.cfg.drop_disambiguation_targets:
            into = self.is_disambiguation[dst]
            self.counts["disambiguation_targets_dropped"] += int(into.sum())
            src, dst = src[~into], dst[~into]
        self.edges.append(src, dst)
        # The join's hash table and the pending strings go back to the OS, not to Arrow's pool, where
        # they would sit beside the growing edge buffer (numpy cannot reuse them).
        del dst
        release_unused()


def read_shard_links(collector: EdgeCollector, shard: Shard, row_node: np.ndarray) -> None:
    """Every link of one shard into `collector`. The shard is opened here and dropped on return: a
    ParquetFile holds Arrow buffers of what it has read (~10 bytes per link) until it is dropped, which
    with every shard of a Wikipedia-size corpus kept open was 2 GiB."""
    f = open_shard(shard, DOC_COLUMNS)
    columns = [leaf_path(shard, f, "links", "target"), leaf_path(shard, f, "links", "kind")]
    start = 0
    for batch in iter_columns(shard, f, columns, BATCH_ROWS):
        links = batch.column(0)
        collector.add(links, row_node[start : start + len(links)])
        start += len(links)


def collect_edges(cfg: GraphConfig, shards: list[Shard], nodes: Nodes, table: TitleTable) -> EdgeCollector:
    capacity = sum(link_capacity(shard, open_shard(shard, DOC_COLUMNS)) for shard in shards)
    disamb = nodes.table.column("is_disambiguation").to_numpy(zero_copy_only=False)
    collector = EdgeCollector(cfg, table, disamb, capacity)
    for shard, row_node in zip(shards, nodes.row_node, strict=True):
        read_shard_links(collector, shard, row_node)
        log.info("links of %s read (%d links so far)", shard.path.name, collector.counts["links_read"])
    collector.flush()
    return collector


def build(ctx: SourceContext) -> SourceEdges:
    cfg, nodes, n = ctx.cfg, ctx.nodes, ctx.num_nodes
    sources, targets = read_redirects(ctx.shards.redirects)
    table = build_title_table(nodes.table.column("title"), sources, targets, cfg.max_redirect_hops)
    if table.names.type == pa.string():
        # The first n names are the node titles: share them instead of holding the titles twice.
        nodes.table = nodes.table.set_column(1, "title", table.names.slice(0, n))
    release_unused()
    log.info("%d redirects resolved", len(sources))
    collector = collect_edges(cfg, ctx.shards.docs, nodes, table)
    resolved, redirects_used = collector.resolver.counts, collector.resolver.redirects_used
    redirect_counts = table.counts
    del table, sources, targets
    collector.resolver = None  # the title table is not needed past this point: free it before the sort
    titles = nodes.table.column("title")
    if titles.num_chunks == 1:  # a slice of the names: copy the node titles out so the rest is freed
        nodes.table = nodes.table.set_column(1, "title", pa.concat_arrays([titles.chunk(0)]))
    del titles
    release_unused()
    keys, duplicates = sort_unique(collector.edges.release())
    counts = collector.counts
    stats: dict[str, Any] = {
        "links_read": counts["links_read"],
        "links_read_by_kind": collector.by_kind,
        "links_of_duplicate_docs": counts["links_of_duplicate_docs"],
        "template_links_used": counts["template_links_used"],
        "template_links_skipped": counts["template_links_skipped"],
        "resolved_direct": resolved["resolved_direct"],
        "resolved_via_redirect": resolved["resolved_via_redirect"],
        "unresolved": resolved["unresolved_missing"] + resolved["unresolved_redirect_loop"],
        "unresolved_missing": resolved["unresolved_missing"],
        "unresolved_redirect_loop": resolved["unresolved_redirect_loop"],
        "self_links": counts["self_links"],
        "disambiguation_targets_dropped": counts["disambiguation_targets_dropped"],
        "duplicates": duplicates,
        **redirect_counts,
        "redirects_used": redirects_used,
    }
    if sum(stats[k] for k in DROPPED) + len(keys) != stats["links_read"]:  # this module's invariant
        raise AssertionError(f"graph link accounting does not add up: {stats}")
    return SourceEdges(keys, stats)
