"""Edge sources of the graph, by name: `graph.sources` picks them, `graph.build` takes their union.

A source is one module with `build(ctx: SourceContext) -> SourceEdges` (graph/sources/base.py).
Adding one is a new file here plus its line in SOURCES. Modules are imported when used, so the
config can check names without importing numpy, scipy or scikit-learn.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.sources.base import SourceContext, SourceEdges

SOURCES = {
    "hyperlinks": "graph.sources.hyperlinks",  # the wiki's own links, through redirects
    "tfidf": "graph.sources.tfidf",  # top-k TF-IDF cosine neighbours over the text
    "random": "graph.sources.random_links",  # the hyperlink out-degrees, uniform targets
}


def source_builder(name: str) -> Callable[[SourceContext], SourceEdges]:
    return importlib.import_module(SOURCES[name]).build
