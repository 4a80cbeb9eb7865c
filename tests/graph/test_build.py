import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from foundation.errors import PipelineError
from graph.build import run_graph
from graph.config import GraphConfig
from graph.store import DocumentGraph
from tests.graph.conftest import doc, write_corpus

DROPPED = (
    "links_of_duplicate_docs",
    "template_links_skipped",
    "unresolved",
    "self_links",
    "disambiguation_targets_dropped",
    "duplicates",
)


def edge_set(g: DocumentGraph) -> set[tuple[str, str]]:
    titles = g.titles().to_pylist()
    return {(titles[s], titles[int(d)]) for s in range(g.num_nodes) for d in g.out_links(s)}


def assert_csr_invariants(g: DocumentGraph) -> None:
    assert g.indptr.dtype == np.int64 and g.indices.dtype == np.int32 and g.in_degree.dtype == np.int32
    assert g.indptr[0] == 0 and g.indptr[-1] == g.num_edges and np.all(np.diff(g.indptr) >= 0)
    for node in range(g.num_nodes):
        row = g.out_links(node)
        assert np.all(np.diff(row) > 0), f"row {node} not strictly sorted: {row}"
        assert node not in row
    assert np.all((g.indices >= 0) & (g.indices < g.num_nodes))
    np.testing.assert_array_equal(g.in_degree, np.bincount(g.indices, minlength=g.num_nodes))


def assert_counts_add_up(stats: dict) -> None:
    assert stats["links_read"] == stats["edges"] + sum(stats[k] for k in DROPPED)
    assert stats["links_read"] == sum(stats["links_read_by_kind"].values())
    resolved = stats["resolved_direct"] + stats["resolved_via_redirect"]
    assert (
        resolved
        == stats["edges"]
        + stats["self_links"]
        + stats["duplicates"]
        + stats["disambiguation_targets_dropped"]
    )
    assert stats["unresolved"] == stats["unresolved_missing"] + stats["unresolved_redirect_loop"]


def test_small_corpus_edges_and_counts(small_corpus: Path):
    stats = run_graph(GraphConfig(), str(small_corpus))
    g = DocumentGraph.load(small_corpus)
    nodes = pq.read_table(small_corpus / "graph" / "nodes.parquet").to_pydict()
    assert nodes["id"] == [1, 2, 3, 4, 5]  # ascending page id; id 9 repeats title "B"
    assert nodes["title"] == ["A", "B", "C", "Lonely", "Disamb"]
    assert nodes["node"] == [0, 1, 2, 3, 4]
    assert nodes["is_disambiguation"] == [False, False, False, False, True]
    assert edge_set(g) == {
        ("A", "B"),
        ("A", "C"),  # through the chain "A alias" -> "A middle" -> "C"
        ("B", "A"),
        ("B", "Disamb"),
        ("C", "A"),
        ("Disamb", "A"),
        ("Disamb", "B"),
    }
    assert_csr_invariants(g)
    assert_counts_add_up(stats)
    expected = {
        "nodes": 5,
        "edges": 7,
        "documents": 6,
        "duplicate_titles": 1,
        "links_read": 17,
        "links_of_duplicate_docs": 2,
        "template_links_used": 1,
        "template_links_skipped": 0,
        "resolved_direct": 10,
        "resolved_via_redirect": 2,
        "unresolved_missing": 2,  # "Nowhere", and the redirect "Dangling redirect" -> "Nowhere"
        "unresolved_redirect_loop": 1,
        "self_links": 2,  # "B self" redirects to B; C links to C
        "duplicates": 3,
        "redirects": 7,
        "redirects_shadowed_by_article": 1,
        "redirects_used": 2,
        "redirect_chains": 1,
        "redirect_cycles": 2,
        "redirects_to_missing": 1,
        "dangling_nodes": 1,
        "isolated_nodes": 1,
    }
    assert {k: stats[k] for k in expected} == expected
    assert stats["links_read_by_kind"] == {"body": 16, "template": 1, "other": 0}
    assert stats["weak_components"] == {"count": 2, "largest": 4}
    assert stats["in_degree"]["max"] == 3 and stats["out_degree"]["max"] == 2
    out = small_corpus / "graph"
    for name in (
        "nodes.parquet",
        "indptr.npy",
        "indices.npy",
        "in_degree.npy",
        "stats.json",
        "degree.png",
        "config.yaml",
        "manifest.json",
    ):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["nodes"] == 5 and manifest["edges"] == 7
    assert json.loads((out / "stats.json").read_text()) == stats


def test_template_links_off_and_disambiguation_targets_dropped(small_corpus: Path):
    cfg = GraphConfig(include_template_links=False, drop_disambiguation_targets=True)
    stats = run_graph(cfg, str(small_corpus))
    g = DocumentGraph.load(small_corpus)
    assert ("B", "Disamb") not in edge_set(g)
    assert ("Disamb", "A") in edge_set(g)  # edges out of a disambiguation page stay
    assert ("A", "C") in edge_set(g)  # the redirect chain still gives A -> C without the template
    assert stats["template_links_skipped"] == 1 and stats["template_links_used"] == 0
    assert stats["disambiguation_targets_dropped"] == 1
    assert stats["duplicates"] == 2 and stats["edges"] == 6
    assert_counts_add_up(stats)
    assert_csr_invariants(g)


def test_redirect_hop_limit_counts_long_chains(tmp_path: Path):
    chain = [(f"R{i}", f"R{i + 1}") for i in range(4)] + [("R4", "T")]  # R0 reaches T in 5 hops
    corpus = write_corpus(tmp_path / "c", [[doc(1, "T"), doc(2, "S", ["R0", "R2"])]], [chain])
    stats = run_graph(GraphConfig(max_redirect_hops=3), str(corpus))
    assert stats["redirect_chains_too_long"] == 2 and stats["redirect_cycles"] == 0  # R0, R1
    assert stats["unresolved_redirect_loop"] == 1 and stats["resolved_via_redirect"] == 1
    assert stats["redirect_chains"] == 2  # R2 (3 hops), R3 (2 hops) resolve; R4 is one hop
    assert edge_set(DocumentGraph.load(corpus)) == {("S", "T")}


def test_rerun_skips_and_changed_config_is_refused(small_corpus: Path):
    first = run_graph(GraphConfig(), str(small_corpus))
    marker = small_corpus / "graph" / "indices.npy"
    before = marker.stat().st_mtime_ns
    assert run_graph(GraphConfig(), str(small_corpus)) == first
    assert marker.stat().st_mtime_ns == before
    with pytest.raises(PipelineError, match="another graph config.*delete"):
        run_graph(GraphConfig(max_redirect_hops=2), str(small_corpus))


def test_graph_of_an_earlier_extraction_is_refused(small_corpus: Path):
    run_graph(GraphConfig(), str(small_corpus))
    manifest = json.loads((small_corpus / "extract.json").read_text())
    manifest["created"] = "later"  # the corpus folder was extracted again after the graph was built
    (small_corpus / "extract.json").write_text(json.dumps(manifest))
    with pytest.raises(PipelineError, match="earlier extraction.*delete"):
        run_graph(GraphConfig(), str(small_corpus))


def test_interrupted_graph_folder_is_rebuilt(small_corpus: Path):
    run_graph(GraphConfig(), str(small_corpus))
    (small_corpus / "graph" / "manifest.json").unlink()
    with pytest.raises(PipelineError, match="graph has no manifest.json, so it is incomplete"):
        DocumentGraph.load(small_corpus)
    assert run_graph(GraphConfig(), str(small_corpus))["edges"] == 7
    assert DocumentGraph.load(small_corpus).num_edges == 7


def test_missing_manifest_and_shards_are_clear_errors(small_corpus: Path):
    shard = small_corpus / "docs" / "rank-00001.parquet"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])  # half-written: no footer
    with pytest.raises(PipelineError, match="rank-00001.parquet is not readable parquet"):
        run_graph(GraphConfig(), str(small_corpus))
    shard.unlink()
    with pytest.raises(PipelineError, match="rank-00001.parquet is listed in .*extract.json but missing"):
        run_graph(GraphConfig(), str(small_corpus))
    (small_corpus / "extract.json").unlink()
    with pytest.raises(PipelineError, match="extract.json is missing"):
        run_graph(GraphConfig(), str(small_corpus))
    assert not (small_corpus / "graph").exists()


def test_row_count_mismatch_is_refused(small_corpus: Path):
    manifest = json.loads((small_corpus / "extract.json").read_text())
    manifest["shards"]["docs"][0]["rows"] = 99
    (small_corpus / "extract.json").write_text(json.dumps(manifest))
    with pytest.raises(PipelineError, match="has 3 rows but the manifest lists 99"):
        run_graph(GraphConfig(), str(small_corpus))


def test_same_page_id_with_two_titles_is_refused(tmp_path: Path):
    corpus = write_corpus(tmp_path / "c", [[doc(7, "X")], [doc(7, "Y")]])
    with pytest.raises(PipelineError, match="page id 7 is used by two documents"):
        run_graph(GraphConfig(), str(corpus))


def test_empty_corpus(tmp_path: Path):
    corpus = write_corpus(tmp_path / "c", [[]], [[]])
    stats = run_graph(GraphConfig(), str(corpus))
    assert stats["nodes"] == 0 and stats["edges"] == 0
    assert DocumentGraph.load(corpus).num_nodes == 0
