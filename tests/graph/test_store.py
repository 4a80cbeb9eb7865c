from pathlib import Path

import numpy as np
import pytest

from foundation.errors import PipelineError
from graph.build import run_graph
from graph.config import GraphConfig
from graph.csr import csr_sources
from graph.store import DocumentGraph


@pytest.fixture
def built(small_corpus: Path) -> Path:
    run_graph(GraphConfig(), str(small_corpus))
    return small_corpus


def test_load_is_memory_mapped_and_lookups_work(built: Path):
    g = DocumentGraph.load(built)
    # Plain ndarray views over the maps (memmap's scalar hooks are slow), so the map is their base.
    assert isinstance(g.indices.base, np.memmap) and isinstance(g.indptr.base, np.memmap)
    assert (g.num_nodes, g.num_edges) == (5, 7)
    assert g.node_of("C") == 2
    np.testing.assert_array_equal(g.nodes_of(["Disamb", "missing", "A"]), [4, -1, 0])
    with pytest.raises(KeyError):
        g.node_of("A alias")  # a redirect is no node
    np.testing.assert_array_equal(g.out_links(g.node_of("A")), [1, 2])
    with pytest.raises(IndexError):
        g.out_links(5)
    eager = DocumentGraph.load(built, mmap=False)
    assert not isinstance(eager.indices, np.memmap)
    np.testing.assert_array_equal(eager.indices, g.indices)


def test_to_networkx_equals_csr(built: Path):
    g = DocumentGraph.load(built)
    nxg = g.to_networkx()
    assert nxg.number_of_nodes() == g.num_nodes and nxg.number_of_edges() == g.num_edges
    csr_edges = set(zip(csr_sources(g.indptr).tolist(), g.indices.tolist(), strict=True))
    assert set(nxg.edges()) == csr_edges
    assert nxg.nodes[g.node_of("Disamb")] == {"id": 5, "title": "Disamb"}
    assert [d for _, d in sorted(nxg.in_degree())] == g.in_degree.tolist()


def test_to_networkx_refuses_large_graphs(built: Path):
    with pytest.raises(PipelineError, match="5 nodes / 7 edges is more than max_nodes=4"):
        DocumentGraph.load(built).to_networkx(max_nodes=4)
    with pytest.raises(PipelineError, match="max_edges=6"):
        DocumentGraph.load(built).to_networkx(max_edges=6)


def test_arrays_that_disagree_with_the_manifest_are_refused(built: Path):
    np.save(built / "graph" / "indices.npy", np.zeros(3, dtype=np.int32))
    with pytest.raises(PipelineError, match="do not match manifest.json"):
        DocumentGraph.load(built)
