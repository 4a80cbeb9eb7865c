"""Graph statistics: degree and component figures from the CSR arrays (scales to Wikipedia), the
log-log degree plot, and `print_graph_stats` (`linkbert graph stats`), which adds networkx analysis
for graphs small enough to hold as Python objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from formats import graph as graph_format
from graph.store import DocumentGraph

PERCENTILES = (50, 90, 99)
# networkx holds ~0.5 KB of Python objects per edge: past these sizes use the CSR figures only.
NETWORKX_MAX_NODES = 200_000
NETWORKX_MAX_EDGES = 2_000_000


def degree_summary(degree: np.ndarray) -> dict[str, float]:
    if len(degree) == 0:
        return {**{f"p{p}": 0.0 for p in PERCENTILES}, "max": 0, "mean": 0.0}
    values = np.percentile(degree, PERCENTILES)
    return {
        **{f"p{p}": float(v) for p, v in zip(PERCENTILES, values, strict=True)},
        "max": int(degree.max()),
        "mean": float(degree.mean()),
    }


def weak_components(indptr: np.ndarray, indices: np.ndarray) -> dict[str, int]:
    n = len(indptr) - 1
    if n == 0:
        return {"count": 0, "largest": 0}
    # scipy wants float64 values it never reads: a zero-stride view costs no memory (8 bytes per edge
    # saved); the transpose scipy builds for weak components still costs ~12 bytes per edge.
    values = np.broadcast_to(np.float64(1.0), indices.shape)
    adjacency = sp.csr_matrix((values, indices, indptr), shape=(n, n))
    count, labels = connected_components(adjacency, directed=True, connection="weak")
    return {"count": int(count), "largest": int(np.bincount(labels).max())}


def shape_stats(indptr: np.ndarray, indices: np.ndarray, in_degree: np.ndarray) -> dict[str, Any]:
    out_degree = np.diff(indptr)
    return {
        "dangling_nodes": int(np.count_nonzero(out_degree == 0)),
        "isolated_nodes": int(np.count_nonzero((out_degree == 0) & (in_degree == 0))),
        "out_degree": degree_summary(out_degree),
        "in_degree": degree_summary(in_degree),
        "weak_components": weak_components(indptr, indices),
    }


def plot_degrees(
    out_degree: np.ndarray,
    in_degree: np.ndarray,
    path: str | Path,
    out_by_source: dict[str, np.ndarray] | None = None,
) -> None:
    """In/out-degree distributions (number of nodes per degree) on log-log axes; with several sources,
    each source's out-degree too (`out_by_source`)."""
    # Deferred: matplotlib loads only when a picture is drawn.
    import matplotlib

    matplotlib.use("Agg")
    # Deferred: matplotlib loads only when a picture is drawn.
    import matplotlib.pyplot as plt

    series = [(out_degree, "out-degree", "o"), (in_degree, "in-degree", "s")]
    for name, degree in (out_by_source or {}).items():
        series.append((degree, f"out-degree, {name}", "x"))
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    for degree, label, marker in series:
        values, counts = np.unique(degree[degree > 0], return_counts=True)
        if len(values):
            ax.loglog(values, counts, marker, markersize=3, alpha=0.7, label=label, linestyle="none")
    ax.set_xlabel("degree")
    ax.set_ylabel("nodes")
    ax.set_title(f"degree distribution ({len(out_degree)} nodes, {int(out_degree.sum())} edges)")
    ax.grid(True, which="both", alpha=0.3)
    if ax.has_data():
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# The order `linkbert graph stats` prints stats.json in: the graph, where every link went, the
# redirects, the shape; keys not named here follow in file order.
PRINT_ORDER = (
    "nodes",
    "edges",
    "sources",
    "edges_by_source",
    "edges_in_several_sources",
    "documents",
    "duplicate_titles",
    "links_read",
    "links_read_by_kind",
    "resolved_direct",
    "resolved_via_redirect",
    "unresolved",
    "unresolved_missing",
    "unresolved_redirect_loop",
    "links_of_duplicate_docs",
    "template_links_used",
    "template_links_skipped",
    "self_links",
    "disambiguation_targets_dropped",
    "duplicates",
    "redirects",
    "redirects_used",
    "redirect_chains",
    "redirect_cycles",
    "redirect_chains_too_long",
    "redirects_to_missing",
    "redirects_shadowed_by_article",
    "redirects_duplicate",
    "redirects_invalid",
    "dangling_nodes",
    "isolated_nodes",
    "out_degree",
    "in_degree",
    "weak_components",
)


def _ordered(stats: dict[str, Any]) -> dict[str, Any]:
    first = {k: stats[k] for k in PRINT_ORDER if k in stats}
    return {**first, **{k: v for k, v in stats.items() if k not in first}}


def _rows(stats: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in stats.items():
        if isinstance(value, dict):
            rows.extend(_rows(value, f"{prefix}{key}."))
        elif isinstance(value, float):
            rows.append((f"{prefix}{key}", f"{value:,.2f}"))
        elif isinstance(value, int):
            rows.append((f"{prefix}{key}", f"{value:,}"))
        elif isinstance(value, list):
            rows.append((f"{prefix}{key}", ", ".join(str(v) for v in value)))
        else:
            rows.append((f"{prefix}{key}", str(value)))
    return rows


def networkx_stats(graph: DocumentGraph) -> dict[str, Any]:
    """Analysis that needs networkx; only for graphs up to NETWORKX_MAX_NODES."""
    # Deferred: networkx loads only for the statistics that need it.
    import networkx as nx

    g = graph.to_networkx(max_nodes=NETWORKX_MAX_NODES, max_edges=NETWORKX_MAX_EDGES)
    strong = max((len(c) for c in nx.strongly_connected_components(g)), default=0)
    stats: dict[str, Any] = {
        "weak_components": nx.number_weakly_connected_components(g) if len(g) else 0,
        "strong_components": nx.number_strongly_connected_components(g) if len(g) else 0,
        "largest_strong_component": strong,
        "reciprocity": float(nx.reciprocity(g)) if g.number_of_edges() else 0.0,
    }
    if g.number_of_edges() > 1:
        r = nx.degree_assortativity_coefficient(g, x="out", y="in")
        stats["degree_assortativity_out_in"] = float(r) if np.isfinite(r) else "n/a"
    return stats


def top_in_degree(graph: DocumentGraph, k: int = 10) -> list[tuple[str, int]]:
    k = min(k, graph.num_nodes)
    if k == 0:
        return []
    top = np.argpartition(-np.asarray(graph.in_degree), k - 1)[:k]
    top = top[np.argsort(-np.asarray(graph.in_degree)[top], kind="stable")]
    titles = graph.titles().take(top).to_pylist()
    return [(t, int(graph.in_degree[i])) for t, i in zip(titles, top, strict=True)]


def print_graph_stats(corpus_dir: str | Path) -> None:
    graph = DocumentGraph.load(corpus_dir)
    stats = graph_format.read_stats(corpus_dir)
    rows = _rows(_ordered(stats))
    if graph.num_nodes <= NETWORKX_MAX_NODES and graph.num_edges <= NETWORKX_MAX_EDGES:
        rows.extend(_rows(networkx_stats(graph), "networkx."))
    else:
        rows.append(("networkx", f"skipped: {graph.num_nodes:,} nodes, {graph.num_edges:,} edges"))
    width = max(len(k) for k, _ in rows)
    print(f"graph of {corpus_dir}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value:>14}")
    print("top in-degree:")
    for title, degree in top_in_degree(graph):
        print(f"  {degree:>10,}  {title}")
