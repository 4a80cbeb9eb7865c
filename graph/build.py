"""`linkbert corpus graph`: a corpus folder's documents (and, for hyperlinks, redirects) -> `DIR/graph/`.

1. `id, title, is_disambiguation` of every document -> nodes in ascending id order, duplicate titles
   dropped (lowest id kept) (`graph.nodes`);
2. each source of `graph.sources` (`graph/sources/`: hyperlinks, tfidf, random) -> its edges as sorted
   packed int64 keys;
3. their union -> one sorted, deduplicated CSR (`graph.csr`) and `edge_kind`, one bit per source.
Peak memory is about the largest source's edge keys (8 bytes per edge) plus, for hyperlinks, the title
table; several sources add their union (8 bytes per edge) while it is built.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from formats import graph as graph_format
from formats.documents import CorpusShards, read_corpus_shards
from foundation.atomic import atomic_dir
from foundation.config import config_hash, save_resolved, to_dict
from foundation.stage import StageOutput
from graph.config import GraphConfig
from graph.csr import Csr, csr_from_sorted, csr_sources, merge_kinds
from graph.nodes import read_nodes, release_unused
from graph.sources import source_builder
from graph.sources.base import SourceContext
from graph.stats import plot_degrees, shape_stats

log = logging.getLogger("linkbert.graph")


@dataclass
class BuiltGraph:
    nodes: pa.Table
    csr: Csr
    in_degree: np.ndarray
    edge_kind: np.ndarray  # uint8 per edge, aligned with csr.indices: bit i = cfg.sources[i]
    stats: dict[str, Any]


def edges_by_source(kind: np.ndarray, sources: list[str]) -> dict[str, int]:
    return {name: int(np.count_nonzero(kind & np.uint8(1 << bit))) for bit, name in enumerate(sources)}


def build_graph(cfg: GraphConfig, shards: CorpusShards) -> BuiltGraph:
    t0 = time.perf_counter()
    nodes = read_nodes(shards.docs)
    n = len(nodes.table)
    log.info("%d nodes (%.1fs)", n, time.perf_counter() - t0)
    ctx = SourceContext(cfg, shards, nodes)
    per_source, source_stats = [], {}
    for name in cfg.sources:
        t1 = time.perf_counter()
        edges = ctx.source(name, source_builder(name))
        per_source.append(edges.keys)
        source_stats[name] = {**edges.stats, "edges": len(edges.keys)}
        log.info("source %s: %d edges (%.1fs)", name, len(edges.keys), time.perf_counter() - t1)
    # The loop's last `edges` would keep that source's key buffer (8 bytes per link read) alive
    # through the CSR and the stats; a source built only for another one (hyperlinks for random) too.
    del edges
    ctx.built.clear()
    release_unused()
    keys, kind = merge_kinds(per_source)
    del per_source
    csr = csr_from_sorted(keys, n)
    del keys
    in_degree = np.bincount(csr.indices, minlength=n).astype(np.int32)
    log.info("%d edges from %s (%.1fs)", csr.num_edges, ", ".join(cfg.sources), time.perf_counter() - t0)

    by_source = edges_by_source(kind, cfg.sources)
    stats: dict[str, Any] = {
        "nodes": n,
        "edges": csr.num_edges,
        "sources": list(cfg.sources),
        "edges_by_source": by_source,
        "edges_in_several_sources": int(np.count_nonzero(kind & (kind - np.uint8(1)))),
        "documents": nodes.documents,
        "duplicate_titles": nodes.duplicate_titles,
    }
    # The hyperlink accounting stays at the top level (links_read = its edges + every drop reason).
    hyperlinks = source_stats.pop("hyperlinks", None)
    if hyperlinks is not None:
        stats.update({k: v for k, v in hyperlinks.items() if k != "edges"})
    stats.update(source_stats)
    stats.update(shape_stats(csr.indptr, csr.indices, in_degree))
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return BuiltGraph(nodes.table, csr, in_degree, kind, stats)


def graph_stage(cfg: GraphConfig, corpus_dir: str | Path, shards: CorpusShards) -> StageOutput:
    """The graph stage's output: `DIR/graph/`, keyed by its config and the extraction it reads."""
    out = graph_format.graph_dir(corpus_dir)
    want = config_hash(cfg)
    return StageOutput(
        stage="graph",
        folder=out,
        manifest=graph_format.MANIFEST,
        key={"config_hash": want, "extract_sha256": shards.manifest_sha256},
        write_manifest=graph_format.write_manifest,
        read_manifest=graph_format.read_manifest,
        refusals={
            "config_hash": f"{out} was built with another graph config (requested hash {want}); use a new "
            f"corpus folder or delete {out}",
            "extract_sha256": f"{out} was built from an earlier extraction of {corpus_dir} (extract.json "
            f"changed); delete {out} and rerun",
        },
    )


def write_graph(built: BuiltGraph, cfg: GraphConfig, stage: StageOutput, out: Path) -> None:
    """Every file of `DIR/graph/` into `out` (the folder renamed into place after), the manifest last."""
    csr = built.csr
    graph_format.write_files(
        out, built.nodes, csr.indptr, csr.indices, built.in_degree, built.edge_kind, built.stats
    )
    out_by_source = None
    if len(cfg.sources) > 1:  # 4 bytes per edge for the sources of every edge, while plotting
        src = csr_sources(csr.indptr)
        out_by_source = {
            name: np.bincount(src[(built.edge_kind & np.uint8(1 << bit)) != 0], minlength=csr.num_nodes)
            for bit, name in enumerate(cfg.sources)
        }
        del src
    plot_degrees(np.diff(csr.indptr), built.in_degree, out / "degree.png", out_by_source)
    save_resolved(cfg, out / "config.yaml")
    manifest = {"nodes": csr.num_nodes, "edges": csr.num_edges, "edge_kinds": list(cfg.sources)}
    stage.complete({**manifest, "config": to_dict(cfg)}, folder=out)


def run_graph(cfg: GraphConfig, corpus_dir: str) -> dict:
    """Build `corpus_dir/graph/` (or skip when it is already built with this config); returns stats."""
    shards = read_corpus_shards(corpus_dir)
    stage = graph_stage(cfg, corpus_dir, shards)
    out = stage.folder
    if stage.finished() is not None:
        log.info("graph %s already built with config %s: skipping", out, stage.key["config_hash"])
        return graph_format.read_stats(corpus_dir)
    if out.exists():
        log.warning("%s has no %s (an interrupted build): rebuilding it", out, graph_format.MANIFEST)
    built = build_graph(cfg, shards)
    # Single process: the whole folder is written aside and renamed into place, so there is no pending run.
    with atomic_dir(out, overwrite=True) as tmp:
        write_graph(built, cfg, stage, tmp)
    log.info("graph written to %s: %d nodes, %d edges", out, built.stats["nodes"], built.stats["edges"])
    return built.stats
