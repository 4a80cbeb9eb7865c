"""`DocumentGraph`: a built `DIR/graph/`, memory-mapped, with title lookups and a networkx export.

The files are read through their contract, `formats.graph`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from formats import graph as graph_format
from foundation.errors import PipelineError
from graph.csr import csr_sources
from graph.resolve import lookup

if TYPE_CHECKING:
    import networkx as nx


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
        g = graph_format.read_arrays(corpus_dir, mmap=mmap)
        return cls(g.path, g.indptr, g.indices, g.in_degree, g.manifest, g.edge_kind)

    @property
    def edge_kinds(self) -> list[str]:
        """The sources of this graph, in the order of edge_kind's bits."""
        return graph_format.edge_kinds(self.manifest)

    def kind_mask(self, sources: list[str]) -> np.ndarray:
        """Boolean per edge: produced by at least one of `sources` (E bytes)."""
        return graph_format.kind_mask(self.manifest, self.edge_kind, self.num_edges, sources, self.path)

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
        return graph_format.read_nodes(self.path.parent, columns)

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
        # Deferred: networkx loads only for the statistics that need it.
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
