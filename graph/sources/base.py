"""What a graph source receives and returns.

A source reads the corpus (`ctx.shards`, `ctx.nodes`) and returns its edges as packed int64 keys
`src << 32 | dst` (node ids), sorted and without repeats, plus its own stats. `graph.build` merges
the sources' keys into one CSR and records in `edge_kind` which sources produced each edge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from formats.documents import CorpusShards
from graph.nodes import Nodes

if TYPE_CHECKING:  # the config is read, never imported: graph/config.py names the sources
    from graph.config import GraphConfig


@dataclass
class SourceEdges:
    keys: np.ndarray  # int64 src << 32 | dst, sorted, distinct, no self-links
    stats: dict[str, Any]


@dataclass
class SourceContext:
    cfg: GraphConfig
    shards: CorpusShards
    nodes: Nodes
    # Sources one source builds on (random draws the hyperlink out-degrees) are built once and kept.
    built: dict[str, SourceEdges] = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        return len(self.nodes.table)

    def source(self, name: str, build: Callable[[SourceContext], SourceEdges]) -> SourceEdges:
        if name not in self.built:
            self.built[name] = build(self)
        return self.built[name]


def out_degrees(keys: np.ndarray, num_nodes: int) -> np.ndarray:
    """Out-degree of every node from sorted packed keys (int64)."""
    return np.bincount(keys >> 32, minlength=num_nodes).astype(np.int64)
