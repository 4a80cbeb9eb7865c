"""`linkbert corpus graph`: a corpus folder's documents and redirects -> `DIR/graph/` (CSR).

One task, three passes over column subsets of the shards (`text` is never read):
1. `id, title, is_disambiguation` of every document -> nodes in ascending id order, duplicate titles
   dropped (lowest id kept);
2. every redirect -> the title table (`graph.resolve`);
3. the `links` targets and kinds, batch by batch -> resolved, filtered edges appended to one packed
   int64 buffer -> sorted, deduplicated CSR (`graph.csr`).
Peak memory is about the edge buffer (8 bytes per kept link) plus the title table, not the tables.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graph.config import GraphConfig
from graph.csr import Csr, EdgeBuffer, build_csr
from graph.resolve import LinkResolver, TitleTable, build_title_table, first_occurrences
from graph.shards import (
    CorpusShards,
    Shard,
    iter_columns,
    leaf_path,
    link_capacity,
    open_shard,
    read_corpus_shards,
)
from graph.stats import plot_degrees, shape_stats
from graph.store import MANIFEST, graph_dir, read_manifest
from pipeline.atomic import atomic_dir, atomic_path, write_json_atomic
from pipeline.config import config_hash, save_resolved, to_dict
from pipeline.errors import PipelineError

log = logging.getLogger("linkbert.graph")

DOC_COLUMNS = ("id", "title", "links", "is_disambiguation")
REDIRECT_COLUMNS = ("source", "target")
FORMAT = "linkbert-graph/1"
BATCH_ROWS = 8192  # documents per parquet read in the link pass
# Links per hash join: each join rebuilds the hash set of all names, so a join covers ~2 links per
# name; the pending target strings (~30 bytes per link) cap it for very large title sets.
MIN_FLUSH_LINKS = 1_000_000
FLUSH_LINKS_PER_NAME = 2.0
MAX_FLUSH_LINKS = 16_000_000


@dataclass
class Nodes:
    table: pa.Table  # id, title, is_disambiguation in node order (`node` is added when written)
    row_node: list[np.ndarray]  # per doc shard: node of each row (int32), -1 for dropped duplicates
    documents: int
    duplicate_titles: int


@dataclass
class BuiltGraph:
    nodes: pa.Table
    csr: Csr
    in_degree: np.ndarray
    stats: dict[str, Any]


# ----------------------------------------------------------------------------------------------
# pass 1 and 2: nodes and redirects


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


# ----------------------------------------------------------------------------------------------
# pass 3: links -> edges


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


def collect_edges(cfg: GraphConfig, shards: list[Shard], nodes: Nodes, table: TitleTable) -> EdgeCollector:
    files = [open_shard(shard, DOC_COLUMNS) for shard in shards]
    capacity = sum(link_capacity(shard, f) for shard, f in zip(shards, files, strict=True))
    disamb = nodes.table.column("is_disambiguation").to_numpy(zero_copy_only=False)
    collector = EdgeCollector(cfg, table, disamb, capacity)
    for shard, f, row_node in zip(shards, files, nodes.row_node, strict=True):
        columns = [leaf_path(shard, f, "links", "target"), leaf_path(shard, f, "links", "kind")]
        start = 0
        for batch in iter_columns(shard, f, columns, BATCH_ROWS):
            links = batch.column(0)
            collector.add(links, row_node[start : start + len(links)])
            start += len(links)
        log.info("links of %s read (%d links so far)", shard.path.name, collector.counts["links_read"])
    collector.flush()
    return collector


# ----------------------------------------------------------------------------------------------
# the whole build


def release_unused() -> None:
    # Arrow's allocator keeps freed pages for reuse; between passes that is ~100 bytes per title of
    # resident memory that the next pass (numpy) cannot use.
    pa.default_memory_pool().release_unused()


def build_graph(cfg: GraphConfig, shards: CorpusShards) -> BuiltGraph:
    t0 = time.perf_counter()
    nodes = read_nodes(shards.docs)
    n = len(nodes.table)
    sources, targets = read_redirects(shards.redirects)
    table = build_title_table(nodes.table.column("title"), sources, targets, cfg.max_redirect_hops)
    if table.names.type == pa.string():
        # The first n names are the node titles: share them instead of holding the titles twice.
        nodes.table = nodes.table.set_column(1, "title", table.names.slice(0, n))
    release_unused()
    log.info("%d nodes, %d redirects resolved (%.1fs)", n, len(sources), time.perf_counter() - t0)
    collector = collect_edges(cfg, shards.docs, nodes, table)
    resolved, redirects_used = collector.resolver.counts, collector.resolver.redirects_used
    redirect_counts = table.counts
    del table, sources, targets
    collector.resolver = None  # the title table is not needed past this point: free it before the sort
    titles = nodes.table.column("title")
    if titles.num_chunks == 1:  # a slice of the names: copy the node titles out so the rest is freed
        nodes.table = nodes.table.set_column(1, "title", pa.concat_arrays([titles.chunk(0)]))
    del titles
    release_unused()
    csr = build_csr(collector.edges.release(), n)  # the packed keys are freed when it returns
    in_degree = np.bincount(csr.indices, minlength=n).astype(np.int32)
    log.info(
        "%d edges from %d links (%.1fs)",
        csr.num_edges,
        collector.counts["links_read"],
        time.perf_counter() - t0,
    )

    counts = collector.counts
    stats: dict[str, Any] = {
        "nodes": n,
        "edges": csr.num_edges,
        "documents": nodes.documents,
        "duplicate_titles": nodes.duplicate_titles,
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
        "duplicates": csr.duplicates,
        **redirect_counts,
        "redirects_used": redirects_used,
        **shape_stats(csr.indptr, csr.indices, in_degree),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    dropped = sum(
        stats[k]
        for k in (
            "links_of_duplicate_docs",
            "template_links_skipped",
            "unresolved",
            "self_links",
            "disambiguation_targets_dropped",
            "duplicates",
        )
    )
    if dropped + stats["edges"] != stats["links_read"]:  # an invariant of this module, not of the input
        raise AssertionError(f"graph link accounting does not add up: {stats}")
    return BuiltGraph(nodes.table, csr, in_degree, stats)


def write_graph(built: BuiltGraph, cfg: GraphConfig, shards: CorpusShards, out: Path) -> None:
    """Every file of `DIR/graph/` into `out`, each fsynced, the manifest last."""
    nodes = built.nodes.add_column(0, "node", pa.array(np.arange(len(built.nodes), dtype=np.int64)))
    with atomic_path(out / "nodes.parquet") as tmp:
        pq.write_table(nodes, tmp)
    for name, array in (
        ("indptr", built.csr.indptr),
        ("indices", built.csr.indices),
        ("in_degree", built.in_degree),
    ):
        with atomic_path(out / f"{name}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, array)
    write_json_atomic(out / "stats.json", built.stats)
    plot_degrees(np.diff(built.csr.indptr), built.in_degree, out / "degree.png")
    save_resolved(cfg, out / "config.yaml")
    write_json_atomic(
        out / MANIFEST,
        {
            "format": FORMAT,
            "nodes": built.csr.num_nodes,
            "edges": built.csr.num_edges,
            "config": to_dict(cfg),
            "config_hash": config_hash(cfg),
            "extract_sha256": shards.manifest_sha256,
        },
    )


def run_graph(cfg: GraphConfig, corpus_dir: str) -> dict:
    """Build `corpus_dir/graph/` (or skip when it is already built with this config); returns stats."""
    shards = read_corpus_shards(corpus_dir)
    out = graph_dir(corpus_dir)
    manifest = read_manifest(out)
    want = config_hash(cfg)
    if manifest is not None:
        if manifest.get("config_hash") != want:
            raise PipelineError(
                f"{out} was built with another graph config (hash {manifest.get('config_hash')}, requested "
                f"{want}); use a new corpus folder or delete {out}"
            )
        if manifest.get("extract_sha256") != shards.manifest_sha256:
            raise PipelineError(
                f"{out} was built from an earlier extraction of {corpus_dir} (extract.json changed); "
                f"delete {out} and rerun"
            )
        log.info("graph %s already built with config %s: skipping", out, want)
        try:
            return json.loads((out / "stats.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise PipelineError(f"{out}/stats.json is unreadable ({e}); delete {out} and rerun") from e
    if out.exists():
        log.warning("%s has no %s (an interrupted build): rebuilding it", out, MANIFEST)
    built = build_graph(cfg, shards)
    with atomic_dir(out, overwrite=True) as tmp:
        write_graph(built, cfg, shards, tmp)
    log.info("graph written to %s: %d nodes, %d edges", out, built.stats["nodes"], built.stats["edges"])
    return built.stats
