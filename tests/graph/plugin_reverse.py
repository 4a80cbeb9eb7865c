"""A graph source defined outside the package, for the plug-in test: every hyperlink reversed
("B is linked from A" as an edge of its own)."""

from __future__ import annotations

import numpy as np

from graph.csr import sort_unique
from graph.sources import hyperlinks
from graph.sources.base import SourceContext, SourceEdges


def build(ctx: SourceContext) -> SourceEdges:
    links = ctx.source("hyperlinks", hyperlinks.build)
    src, dst = links.keys >> 32, links.keys & 0xFFFFFFFF
    keys, _ = sort_unique((dst << 32) | src) if len(src) else (np.empty(0, np.int64), 0)
    return SourceEdges(keys, {"reversed_from": "hyperlinks"})
