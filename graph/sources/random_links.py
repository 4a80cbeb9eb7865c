"""`random` source: a random graph with the hyperlink graph's out-degree sequence (the paper's
random-links ablation). Node u gets as many distinct targets as it has hyperlink out-links, drawn
uniformly from the other nodes with `graph.random.seed`.

All targets are drawn at once; repeats within a row are redrawn (only the shortfall, a few rounds:
a row of d targets among n nodes repeats with probability ~d^2/2n), so the sequence is exact unless
a node links to almost every other node (then it keeps what it got, counted as `short_nodes`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graph.csr import sort_unique
from graph.sources import hyperlinks
from graph.sources.base import SourceContext, SourceEdges, out_degrees

MAX_ROUNDS = 32


def _draw(rng: np.random.Generator, src: np.ndarray, n: int) -> np.ndarray:
    """One uniform target per entry of `src`, never the source itself, packed as keys."""
    dst = rng.integers(0, n - 1, size=len(src), dtype=np.int64)
    dst += dst >= src  # skip the source: uniform over the other n - 1 nodes
    return (src.astype(np.int64) << 32) | dst


def build(ctx: SourceContext) -> SourceEdges:
    n = ctx.num_nodes
    links = ctx.source("hyperlinks", hyperlinks.build)
    want = out_degrees(links.keys, n)
    want = np.minimum(want, max(n - 1, 0))
    if n < 2:
        want[:] = 0
    rng = np.random.default_rng(ctx.cfg.random.seed)
    src = np.repeat(np.arange(n, dtype=np.int64), want)
    keys, _ = sort_unique(_draw(rng, src, n)) if len(src) else (np.empty(0, np.int64), 0)
    rounds = 0
    for rounds in range(1, MAX_ROUNDS + 1):  # noqa: B007 (the count is reported)
        short = want - out_degrees(keys, n)
        if not short.any():
            break
        extra = _draw(rng, np.repeat(np.arange(n, dtype=np.int64), short), n)
        keys, _ = sort_unique(np.concatenate([keys, extra]))
    short = want - out_degrees(keys, n)
    stats: dict[str, Any] = {
        "seed": ctx.cfg.random.seed,
        "degree_sequence_of": "hyperlinks",
        "hyperlink_edges": len(links.keys),
        "redraw_rounds": rounds,
        "short_nodes": int(np.count_nonzero(short)),
    }
    return SourceEdges(keys, stats)
