"""The graph of the real English Wikipedia sample (206 pages: 106 articles, 99 ns-0 redirects)."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from graph.build import run_graph
from graph.config import GraphConfig
from graph.resolve import LinkResolver, build_title_table
from graph.store import DocumentGraph
from tests.graph.test_build import assert_counts_add_up, assert_csr_invariants, edge_set

# Read off the extracted links: each is a body link in the source article's wikitext.
PRESENT = {
    ("Ayn Rand", "Aristotle"),
    ("Aristotle", "Ayn Rand"),
    ("Arthur Schopenhauer", "Albert Einstein"),
    ("Apollo 8", "Apollo 11"),
    ("Apollo 11", "Apollo 8"),
    ("Algorithms (journal)", "Algorithm"),
}
# Edges made only by hatnote templates ({{main|Economy of Angola}}-style links of kind `template`).
TEMPLATE_ONLY = {("Apollo", "Aristotle"), ("Angola", "Economy of Angola")}


def test_sample_graph(sample_copy: Path):
    stats = run_graph(GraphConfig(), str(sample_copy))
    g = DocumentGraph.load(sample_copy)
    docs = pq.read_table(sample_copy / "docs", columns=["id", "title"]).to_pydict()
    assert g.num_nodes == stats["nodes"] == len(docs["id"]) == 106
    assert g.titles().to_pylist()[g.node_of("Ayn Rand")] == "Ayn Rand"
    edges = edge_set(g)
    assert edges >= PRESENT
    assert edges >= TEMPLATE_ONLY
    assert ("Aristotle", "Aristotle") not in edges  # the article links to itself: a self-link
    assert ("Albert Einstein", "Arthur Schopenhauer") not in edges  # only the other direction exists
    assert stats["self_links"] >= 1 and stats["duplicates"] >= 1
    assert stats["redirects"] == 99
    # The one link that names a redirect ("Affirming the consequent" -> "Argument form") leads out of
    # the slice: the redirect's target is not an article here.
    assert stats["resolved_via_redirect"] == 0 and stats["redirects_to_missing"] > 0
    assert_csr_invariants(g)
    assert_counts_add_up(stats)


def test_sample_without_template_links(sample_copy: Path):
    stats = run_graph(GraphConfig(include_template_links=False), str(sample_copy))
    edges = edge_set(DocumentGraph.load(sample_copy))
    assert edges >= PRESENT
    assert not TEMPLATE_ONLY & edges
    assert stats["template_links_skipped"] == stats["links_read_by_kind"]["template"] > 0
    assert_counts_add_up(stats)


def test_sample_redirects_resolve_to_their_articles(sample_corpus: Path):
    """The sample's real redirects (e.g. the old CamelCase titles) resolve to the sample's articles."""
    docs = pq.read_table(sample_corpus / "docs", columns=["id", "title"]).sort_by("id")
    redirects = pq.read_table(sample_corpus / "redirects")
    table = build_title_table(docs.column("title"), redirects.column("source"), redirects.column("target"), 8)
    resolver = LinkResolver(table)
    asked = ["AynRand", "AbacuS", "ANOVA", "Analysis of Variance", "Argument form", "Aristotle", "Nope"]
    nodes = resolver.resolve(pa.array(asked)).node
    titles = docs.column("title").to_pylist()
    got = [titles[n] if n >= 0 else None for n in nodes]
    assert got == [
        "Ayn Rand",
        "Abacus",
        "Analysis of variance",
        "Analysis of variance",
        None,
        "Aristotle",
        None,
    ]
    assert resolver.counts["resolved_via_redirect"] == 4 and resolver.redirects_used == 4
