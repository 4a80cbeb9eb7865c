"""Graph sources: hyperlinks, tfidf and random edges, their union with one kind bit per source."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from formats.documents import read_corpus_shards
from foundation.errors import ConfigError, PipelineError
from graph.build import build_graph, run_graph
from graph.config import GraphConfig, RandomConfig, TfidfConfig
from graph.csr import csr_sources, merge_kinds
from graph.stats import print_graph_stats
from graph.store import DocumentGraph
from pipeline.tree import load_config
from tests.graph.conftest import doc, write_corpus

REPO = Path(__file__).resolve().parents[2]
TOPICS = {
    "river": "river water valley flood bridge delta fish boat stream",
    "chess": "chess bishop rook pawn queen opening endgame grandmaster board",
    "opera": "opera soprano aria libretto composer orchestra stage tenor overture",
}


def topical_docs() -> list[dict]:
    """Six documents per topic: each uses a rotating subset of its topic's words, plus links."""
    rng = np.random.default_rng(0)
    docs, pid = [], 10
    for t, (topic, words) in enumerate(TOPICS.items()):
        vocab = words.split()
        for i in range(6):
            picked = rng.choice(vocab, size=6, replace=False)
            links = [f"{topic} {(i + 1) % 6}", f"{topic} {(i + 2) % 6}"] if i < 4 else []
            if t == 0 and i == 0:
                links.append("chess 0")
            d = doc(pid, f"{topic} {i}", links)
            d["text"] = f"The {topic} article. " + " ".join(rng.permutation(np.repeat(picked, 3)))
            docs.append(d)
            pid += 7
    return docs


@pytest.fixture
def topical(tmp_path: Path) -> Path:
    docs = topical_docs()
    return write_corpus(tmp_path / "corpus", [docs[:10], docs[10:]])


def built(corpus: Path, sources: list[str], **tfidf) -> tuple:
    cfg = GraphConfig(sources=sources, tfidf=TfidfConfig(**tfidf))
    g = build_graph(cfg, read_corpus_shards(corpus))
    return g, csr_sources(g.csr.indptr), g.csr.indices


def test_tfidf_links_each_document_to_its_topic(topical: Path):
    g, src, dst = built(topical, ["tfidf"], k=3)
    assert g.stats["edges_by_source"] == {"tfidf": len(dst)}
    assert np.all(np.diff(g.csr.indptr) == 3)  # every document has >= 3 others sharing its words
    assert not np.any(src == dst)
    # Node order is page-id order, which is topic order here: 6 nodes per topic.
    assert np.all(src // 6 == dst // 6)
    assert g.stats["tfidf"]["k"] == 3 and g.stats["tfidf"]["docs_without_terms"] == 0


def test_tfidf_chunking_and_the_postings_cap_bound_the_work(topical: Path):
    whole, _, _ = built(topical, ["tfidf"], k=3)
    chunked, _, _ = built(topical, ["tfidf"], k=3, chunk_candidates=1)  # one row per product
    assert np.array_equal(whole.csr.indices, chunked.csr.indices)
    # A term in more documents' indexes than max_postings leaves the index: with a cap of 5 every topic
    # word (kept by ~4-6 documents) may be cut, and the candidate count can only fall.
    capped, _, _ = built(topical, ["tfidf"], k=3, max_postings=3)
    assert capped.stats["tfidf"]["terms_over_max_postings"] > 0
    assert capped.stats["tfidf"]["candidate_scores"] < whole.stats["tfidf"]["candidate_scores"]


def test_random_keeps_the_hyperlink_out_degrees_and_its_seed(topical: Path):
    links, _, _ = built(topical, ["hyperlinks"])
    g, src, dst = built(topical, ["random"])
    assert np.array_equal(np.diff(g.csr.indptr), np.diff(links.csr.indptr))
    assert not np.any(src == dst)
    assert g.stats["random"]["short_nodes"] == 0
    again, _, _ = built(topical, ["random"])
    assert np.array_equal(again.csr.indices, g.csr.indices)
    other = build_graph(
        GraphConfig(sources=["random"], random=RandomConfig(seed=5)), read_corpus_shards(topical)
    )
    assert not np.array_equal(other.csr.indices, g.csr.indices)
    assert "links_read" not in g.stats  # hyperlinks were only built for the degree sequence


def test_union_records_every_source_of_an_edge(topical: Path):
    sources = ["hyperlinks", "tfidf", "random"]
    g, src, dst = built(topical, sources, k=3)
    singles = {name: built(topical, [name], k=3) for name in sources}
    keys = (src.astype(np.int64) << 32) | dst
    for bit, name in enumerate(sources):
        _, s, d = singles[name]
        mine = keys[(g.edge_kind & (1 << bit)) != 0]
        assert np.array_equal(mine, (s.astype(np.int64) << 32) | d)
        assert g.stats["edges_by_source"][name] == len(d)
    assert g.stats["edges"] == len(keys) == len(np.unique(keys))
    assert g.stats["edges_in_several_sources"] == int(np.count_nonzero(g.edge_kind & (g.edge_kind - 1)))
    # The hyperlink accounting is still complete with other sources beside it.
    assert g.stats["links_read"] == singles["hyperlinks"][0].stats["links_read"]


def test_merge_kinds_sets_one_bit_per_source():
    a = np.array([1, 5, 9], np.int64)
    b = np.array([5, 7], np.int64)
    keys, kind = merge_kinds([a, b])
    assert keys.tolist() == [1, 5, 7, 9] and kind.tolist() == [1, 3, 2, 1]


def test_written_graph_has_edge_kinds_and_stats_name_each_source(topical: Path, capsys):
    cfg = GraphConfig(sources=["hyperlinks", "tfidf"], tfidf=TfidfConfig(k=2))
    run_graph(cfg, str(topical))
    g = DocumentGraph.load(topical)
    assert g.edge_kinds == ["hyperlinks", "tfidf"] and g.manifest["format"] == "linkbert-graph/2"
    assert g.edge_kind.dtype == np.uint8 and g.edge_kind.shape == g.indices.shape
    assert (
        int(g.kind_mask(["tfidf"]).sum())
        == json.loads((g.path / "stats.json").read_text())["edges_by_source"]["tfidf"]
    )
    with pytest.raises(PipelineError, match="no 'random' edges"):
        g.kind_mask(["random"])
    print_graph_stats(topical)
    out = capsys.readouterr().out
    assert "edges_by_source.hyperlinks" in out and "edges_by_source.tfidf" in out
    assert "hyperlinks, tfidf" in out  # the `sources` row
    from pipeline.summary import summarize

    stats = json.loads((g.path / "stats.json").read_text())["edges_by_source"]
    row = next(line for line in summarize(topical).splitlines() if "graph edges by source" in line)
    assert row.split("  ")[-1].strip() == f"hyperlinks {stats['hyperlinks']}, tfidf {stats['tfidf']}"


def test_sources_config_from_the_command_line_and_its_errors():
    cfg = load_config(None, ["graph.sources=[tfidf, random]", "graph.tfidf.k=5"])
    assert cfg.graph.sources == ["tfidf", "random"] and cfg.graph.tfidf.k == 5
    assert load_config().graph.sources == ["hyperlinks"]
    with pytest.raises(ConfigError, match="unknown source 'pagerank'"):
        load_config(None, ["graph.sources=[pagerank]"])
    with pytest.raises(ConfigError, match="graph.sources is empty"):
        load_config(None, ["graph.sources=[]"])
    with pytest.raises(ConfigError, match="lists a source twice"):
        load_config(None, ["graph.sources=[tfidf, tfidf]"])


def test_config_imports_no_source_module():
    # Checking source names must not load numpy/scipy/scikit-learn-heavy source modules.
    code = "import sys, graph.config; print([m for m in sys.modules if m.startswith('graph.sources.')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_documents_without_words_and_graphs_without_links(tmp_path: Path):
    docs = topical_docs()[:6]
    for d in docs:
        d["links"] = []
    docs.append({**doc(900, "Numbers only"), "text": "1914 1918 42"})  # the last node has no terms
    docs.append({**doc(901, "Empty"), "text": None})
    corpus = write_corpus(tmp_path / "corpus", [docs])
    g, src, dst = built(corpus, ["tfidf", "random"], k=2)
    assert g.stats["tfidf"]["docs_without_terms"] == 2
    assert g.stats["edges_by_source"] == {"tfidf": 12, "random": 0}  # 6 river documents x 2
    assert not np.isin([6, 7], src).any() and not np.isin([6, 7], dst).any()


def test_a_new_source_is_one_module_plus_its_registration(topical: Path, monkeypatch):
    # The whole of adding a source: a module with `build` (tests/graph/plugin_reverse.py) and its line
    # in SOURCES. Config, build, edge kinds, stats and the kind mask then know it by name.
    from graph.sources import SOURCES

    monkeypatch.setitem(SOURCES, "reverse", "tests.graph.plugin_reverse")
    cfg = load_config(None, ["graph.sources=[hyperlinks, reverse]"]).graph
    run_graph(cfg, str(topical))
    g = DocumentGraph.load(topical)
    assert g.edge_kinds == ["hyperlinks", "reverse"]
    src = csr_sources(g.indptr)
    keys = (src.astype(np.int64) << 32) | g.indices
    forward = keys[g.kind_mask(["hyperlinks"])]
    backward = keys[g.kind_mask(["reverse"])]
    flipped = np.sort(((forward & 0xFFFFFFFF) << 32) | (forward >> 32))
    assert len(forward) > 0 and np.array_equal(backward, flipped)
    stats = json.loads((g.path / "stats.json").read_text())
    assert stats["edges_by_source"] == {"hyperlinks": len(forward), "reverse": len(backward)}
