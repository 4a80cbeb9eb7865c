"""`DocumentGraph`: a built `DIR/graph/`, memory-mapped, with title lookups and a networkx export."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graph.csr import csr_sources
from graph.resolve import lookup
from pipeline.errors import PipelineError

if TYPE_CHECKING:
    import networkx as nx

GRAPH_DIR = "graph"
MANIFEST = "manifest.json"
# /2 added edge_kind.npy and the manifest's edge_kinds; a /1 graph is hyperlinks only.
FORMAT = "linkbert-graph/2"
ARRAYS = ("indptr", "indices", "in_degree")
EDGE_KIND = "edge_kind"  # uint8 per edge, aligned with indices: bit i = manifest["edge_kinds"][i]


def graph_dir(corpus_dir: str | Path) -> Path:
    return Path(corpus_dir) / GRAPH_DIR


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The graph manifest, or None when the graph is absent or incomplete."""
    manifest = path / MANIFEST
    if not manifest.is_file():
        return None
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise PipelineError(f"{manifest} is not valid JSON ({e}); delete {path} and rerun the graph") from e


def require_manifest(corpus_dir: str | Path) -> dict[str, Any]:
    """The graph manifest of a corpus folder; a PipelineError saying how to build it when it is absent."""
    path = graph_dir(corpus_dir)
    manifest = read_manifest(path)
    if manifest is None:
        raise PipelineError(
            f"{path / MANIFEST} is missing: {corpus_dir} has no complete graph (not built, or cut off); "
            f"run `linkbert corpus graph --corpus {corpus_dir}`"
        )
    return manifest


@dataclass
class DocumentGraph:
    path: Path
    indptr: np.ndarray  # int64, N + 1
    indices: np.ndarray  # int32, E
    in_degree: np.ndarray  # int32, N
    manifest: dict[str, Any]
    edge_kind: np.ndarray | None = None  # uint8, E (None for a graph of the /1 format: all hyperlinks)
    _titles: pa.Array | None = field(default=None, repr=False)

    @classmethod
    def load(cls, corpus_dir: str | Path, mmap: bool = True) -> DocumentGraph:
        path = graph_dir(corpus_dir)
        manifest = require_manifest(corpus_dir)
        mode = "r" if mmap else None
        try:
            arrays = {name: np.load(path / f"{name}.npy", mmap_mode=mode) for name in ARRAYS}
        except (OSError, ValueError) as e:
            raise PipelineError(f"{path}: cannot read the graph arrays ({e}); delete it and rerun") from e
        kind = None
        if (path / f"{EDGE_KIND}.npy").is_file():
            try:
                kind = np.load(path / f"{EDGE_KIND}.npy", mmap_mode=mode)
            except (OSError, ValueError) as e:
                raise PipelineError(f"{path}: cannot read {EDGE_KIND}.npy ({e}); delete it and rerun") from e
        g = cls(path, arrays["indptr"], arrays["indices"], arrays["in_degree"], manifest, kind)
        nodes, edges = manifest.get("nodes", -1), manifest.get("edges", -1)
        if g.indptr.shape != (nodes + 1,) or g.indices.shape != (edges,) or g.in_degree.shape != (nodes,):
            raise PipelineError(f"{path}: arrays do not match {MANIFEST}; delete {path} and rerun the graph")
        if kind is not None and kind.shape != (edges,):
            raise PipelineError(f"{path}: {EDGE_KIND}.npy does not match {MANIFEST}; delete {path} and rerun")
        return g

    @property
    def edge_kinds(self) -> list[str]:
        """The sources of this graph, in the order of edge_kind's bits."""
        return list(self.manifest.get("edge_kinds", ["hyperlinks"]))

    def kind_mask(self, sources: list[str]) -> np.ndarray:
        """Boolean per edge: produced by at least one of `sources` (E bytes)."""
        unknown = [s for s in sources if s not in self.edge_kinds]
        if unknown:
            raise PipelineError(
                f"{self.path}: the graph has no {unknown[0]!r} edges (its sources: {', '.join(self.edge_kinds)}); "
                f"build the corpus with graph.sources including it"
            )
        if self.edge_kind is None:
            return np.ones(self.num_edges, dtype=bool)
        bits = np.uint8(sum(1 << self.edge_kinds.index(s) for s in sources))
        return (self.edge_kind & bits) != 0

    @property
    def num_nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def num_edges(self) -> int:
        return len(self.indices)

    @property
    def out_degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    def out_links(self, node: int) -> np.ndarray:
        if not 0 <= node < self.num_nodes:
            raise IndexError(f"node {node} is not in 0..{self.num_nodes - 1}")
        return self.indices[self.indptr[node] : self.indptr[node + 1]]

    def nodes_table(self, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self.path / "nodes.parquet", columns=columns)

    def titles(self) -> pa.Array:
        """Title of every node (read on first use: ~20 bytes per node)."""
        if self._titles is None:
            self._titles = self.nodes_table(["title"]).column("title").combine_chunks()
        return self._titles

    def nodes_of(self, titles: list[str]) -> np.ndarray:
        """Node of each title (-1 when absent); one hash join, so batch many titles into one call."""
        return lookup(pa.array(titles, type=pa.string()), self.titles())

    def node_of(self, title: str) -> int:
        node = int(self.nodes_of([title])[0])
        if node < 0:
            raise KeyError(title)
        return node

    def to_networkx(self, max_nodes: int = 200_000, max_edges: int = 5_000_000) -> nx.DiGraph:
        """A networkx DiGraph (nodes 0..N-1 with `title` and `id`) for analysis of small graphs."""
        import networkx as nx

        if self.num_nodes > max_nodes or self.num_edges > max_edges:
            raise PipelineError(
                f"{self.path}: {self.num_nodes} nodes / {self.num_edges} edges is more than max_nodes="
                f"{max_nodes} / max_edges={max_edges} for networkx (~0.5 KB per edge); analyse the CSR "
                f"arrays instead, or raise the limits"
            )
        nodes = self.nodes_table(["id", "title"])
        g = nx.DiGraph()
        g.add_nodes_from(
            (i, {"id": pid, "title": title})
            for i, (pid, title) in enumerate(
                zip(nodes.column("id").to_pylist(), nodes.column("title").to_pylist(), strict=True)
            )
        )
        g.add_edges_from(zip(csr_sources(self.indptr).tolist(), self.indices.tolist(), strict=True))
        return g
