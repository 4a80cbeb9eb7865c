"""The graph contract: what the writer writes, the reader reads back, and versions it refuses."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from formats import graph as graph_format
from foundation.errors import PipelineError


def _write(corpus: Path, manifest_extra: dict | None = None) -> Path:
    out = graph_format.graph_dir(corpus)
    out.mkdir(parents=True)
    nodes = pa.table(
        {"id": [10, 20, 30], "title": ["A", "B", "C"], "is_disambiguation": [False, False, True]}
    )
    indptr, indices = np.array([0, 2, 3, 3]), np.array([1, 2, 0])
    in_degree = np.bincount(indices, minlength=3)
    edge_kind = np.array([1, 3, 2])
    graph_format.write_files(out, nodes, indptr, indices, in_degree, edge_kind, {"nodes": 3, "edges": 3})
    manifest = {"nodes": 3, "edges": 3, "edge_kinds": ["hyperlinks", "tfidf"], **(manifest_extra or {})}
    graph_format.write_manifest(out, manifest)
    return corpus


def test_round_trip_with_dtypes_of_the_contract(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c")
    g = graph_format.read_arrays(corpus)
    assert g.manifest["format"] == graph_format.FORMAT
    assert (g.indptr.dtype, g.indices.dtype, g.in_degree.dtype, g.edge_kind.dtype) == (
        np.int64,
        np.int32,
        np.int32,
        np.uint8,
    )
    np.testing.assert_array_equal(g.indices, [1, 2, 0])
    np.testing.assert_array_equal(g.edge_kind, [1, 3, 2])
    assert graph_format.edge_kinds(g.manifest) == ["hyperlinks", "tfidf"]
    assert graph_format.read_nodes(corpus, ["node"]).column("node").to_pylist() == [0, 1, 2]
    np.testing.assert_array_equal(graph_format.read_node_ids(corpus, 3), [10, 20, 30])
    assert graph_format.read_stats(corpus) == {"nodes": 3, "edges": 3}


def test_a_version_1_graph_reads_as_hyperlinks_only(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c")
    folder = graph_format.graph_dir(corpus)
    (folder / "edge_kind.npy").unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format"] = "linkbert-graph/1"
    del manifest["edge_kinds"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    g = graph_format.read_arrays(corpus)
    assert g.edge_kind is None and graph_format.edge_kinds(g.manifest) == ["hyperlinks"]


def test_a_newer_version_is_refused_with_the_file_named(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c")
    path = corpus / "graph" / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": "linkbert-graph/3"}))
    with pytest.raises(PipelineError, match=r"graph/manifest.json: version 'linkbert-graph/3' .*make corpus"):
        graph_format.read_arrays(corpus)


def test_a_version_2_graph_without_edge_kinds_is_refused(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c")
    (graph_format.graph_dir(corpus) / "edge_kind.npy").unlink()
    with pytest.raises(PipelineError, match="edge_kind.npy is missing"):
        graph_format.read_arrays(corpus)


def test_arrays_that_disagree_with_the_manifest_are_refused(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c", {"edges": 4})
    with pytest.raises(PipelineError, match="arrays do not match manifest.json"):
        graph_format.read_arrays(corpus)


def test_a_missing_manifest_means_incomplete(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c")
    (graph_format.graph_dir(corpus) / "manifest.json").unlink()
    assert graph_format.read_manifest(graph_format.graph_dir(corpus)) is None
    with pytest.raises(
        PipelineError, match="has no manifest.json, so it is incomplete.*linkbert corpus graph"
    ):
        graph_format.read_arrays(corpus)
    assert graph_format.peek_stats(corpus) == {"nodes": 3, "edges": 3}
    assert graph_format.peek_manifest(tmp_path / "nowhere") == {}
