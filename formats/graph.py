"""The graph contract: `DIR/graph/` as `linkbert corpus graph` (and the synthetic generator) writes it and
the segments stage, `DocumentGraph` and pretraining read it (docs/formats.md, "Graph").

`nodes.parquet` (node, id, title, is_disambiguation), the CSR `indptr.npy` (int64, N+1), `indices.npy`
(int32, E), `in_degree.npy` (int32, N), `edge_kind.npy` (uint8, E: bit i = source `edge_kinds[i]`),
`stats.json` and `manifest.json`, written last. Versions: /1 had no edge kinds (hyperlinks only), /2
added them; a manifest without a `format` (generated corpora of earlier versions) reads as /1.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from formats.version import peek_json, read_json, read_versioned, require, write_versioned
from foundation.atomic import atomic_path, write_json_atomic
from foundation.errors import PipelineError

GRAPH_DIR = "graph"
MANIFEST = "manifest.json"
STATS = "stats.json"
NODES = "nodes.parquet"
FORMAT = "linkbert-graph/2"
SUPPORTED = ("linkbert-graph/1", FORMAT)
# name -> dtype of every array file; edge_kind.npy is absent in /1 graphs.
ARRAYS = {"indptr": np.int64, "indices": np.int32, "in_degree": np.int32, "edge_kind": np.uint8}
EDGE_KIND = "edge_kind"
DEFAULT_KINDS = ["hyperlinks"]  # the edge kinds of a graph that records none (/1)


def graph_dir(corpus_dir: str | Path) -> Path:
    return Path(corpus_dir) / GRAPH_DIR


def build_command(corpus_dir: str | Path) -> str:
    return f"linkbert corpus graph --corpus {corpus_dir}"


# ----------------------------------------------------------------------------------------------
# Writer


def write_files(
    out: Path,
    nodes: pa.Table,
    indptr: np.ndarray,
    indices: np.ndarray,
    in_degree: np.ndarray,
    edge_kind: np.ndarray,
    stats: dict[str, Any],
) -> None:
    """Every data file of a graph folder into `out` (each atomically); the manifest comes after them.

    `nodes` holds `id`, `title`, `is_disambiguation` in node order; the `node` column is added here."""
    table = nodes.add_column(0, "node", pa.array(np.arange(len(nodes), dtype=np.int64)))
    with atomic_path(out / NODES) as tmp:
        pq.write_table(table, tmp)
    arrays = {"indptr": indptr, "indices": indices, "in_degree": in_degree, "edge_kind": edge_kind}
    for name, array in arrays.items():
        with atomic_path(out / f"{name}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(array, dtype=ARRAYS[name]))
    write_json_atomic(out / STATS, stats)


def write_manifest(out: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """`manifest.json` with the format version: written last, it marks the folder complete."""
    return write_versioned(out / MANIFEST, manifest, FORMAT)


# ----------------------------------------------------------------------------------------------
# Reader


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of graph folder `folder` (version checked), or None when absent (not built or cut off)."""
    return read_versioned(folder / MANIFEST, SUPPORTED, f"delete {folder} and rerun the graph", SUPPORTED[0])


def require_manifest(corpus_dir: str | Path) -> dict[str, Any]:
    """The graph manifest of a corpus folder; a PipelineError saying how to build it when it is absent."""
    folder = graph_dir(corpus_dir)
    return require(read_manifest(folder), folder, MANIFEST, build_command(corpus_dir))


def manifest_sha256(corpus_dir: str | Path) -> str:
    """Identifies the graph a later stage was built from."""
    return hashlib.sha256((graph_dir(corpus_dir) / MANIFEST).read_bytes()).hexdigest()


def edge_kinds(manifest: dict[str, Any]) -> list[str]:
    """The sources of a graph, in the order of edge_kind's bits."""
    return list(manifest.get("edge_kinds", DEFAULT_KINDS))


def kind_mask(
    manifest: dict[str, Any], edge_kind: np.ndarray | None, num_edges: int, sources: list[str], where: Path
) -> np.ndarray:
    """Boolean per edge: made by at least one of the graph sources `sources` (E bytes)."""
    kinds = edge_kinds(manifest)
    unknown = [s for s in sources if s not in kinds]
    if unknown:
        raise PipelineError(
            f"{where}: the graph has no {unknown[0]!r} edges (its sources: {', '.join(kinds)}); "
            f"build the corpus with graph.sources including it"
        )
    if edge_kind is None:
        return np.ones(num_edges, dtype=bool)
    bits = np.uint8(sum(1 << kinds.index(s) for s in sources))
    return (edge_kind & bits) != 0


@dataclass
class GraphArrays:
    """A graph folder's CSR arrays (memory-mapped unless asked otherwise), checked against its manifest."""

    path: Path
    manifest: dict[str, Any]
    indptr: np.ndarray  # int64, N + 1
    indices: np.ndarray  # int32, E
    in_degree: np.ndarray  # int32, N
    edge_kind: np.ndarray | None  # uint8, E; None in a /1 graph (all hyperlinks)


def _load(path: Path, dtype: type, mmap: bool, hint: str) -> np.ndarray:
    if not path.is_file():
        raise PipelineError(f"{path} is missing although the folder has a manifest: {hint}")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None)
    except (OSError, ValueError) as e:
        raise PipelineError(f"{path} is not a readable .npy file ({e}): {hint}") from e
    if array.ndim != 1 or array.dtype != np.dtype(dtype):
        raise PipelineError(
            f"{path} holds {array.dtype}{list(array.shape)}, expected a 1-d {np.dtype(dtype)} array: {hint}"
        )
    # A plain ndarray view of the map: memmap's subclass hooks cost ~1 us per scalar read.
    return array.view(np.ndarray) if mmap else array


def read_arrays(corpus_dir: str | Path, mmap: bool = True) -> GraphArrays:
    """The complete graph of `corpus_dir`: manifest (version checked) and arrays of matching shapes."""
    folder = graph_dir(corpus_dir)
    manifest = require_manifest(corpus_dir)
    hint = f"delete {folder} and rerun `{build_command(corpus_dir)}`"
    arrays = {
        name: _load(folder / f"{name}.npy", dtype, mmap, hint)
        for name, dtype in ARRAYS.items()
        if name != EDGE_KIND
    }
    kind = None
    if (folder / f"{EDGE_KIND}.npy").is_file() or manifest.get("format") == FORMAT:
        kind = _load(folder / f"{EDGE_KIND}.npy", ARRAYS[EDGE_KIND], mmap, hint)
    nodes, edges = manifest.get("nodes", -1), manifest.get("edges", -1)
    shapes = (arrays["indptr"].shape, arrays["indices"].shape, arrays["in_degree"].shape)
    if shapes != ((nodes + 1,), (edges,), (nodes,)) or int(arrays["indptr"][-1]) != edges:
        raise PipelineError(f"{folder}: arrays do not match {MANIFEST}; {hint}")
    if kind is not None and kind.shape != (edges,):
        raise PipelineError(f"{folder}: {EDGE_KIND}.npy does not match {MANIFEST}; {hint}")
    return GraphArrays(folder, manifest, arrays["indptr"], arrays["indices"], arrays["in_degree"], kind)


def read_nodes(corpus_dir: str | Path, columns: list[str] | None = None) -> pa.Table:
    path = graph_dir(corpus_dir) / NODES
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError, KeyError) as e:
        raise PipelineError(f"{path} is not readable ({e}); delete {path.parent} and rerun the graph") from e


def read_node_ids(corpus_dir: str | Path, num_nodes: int) -> np.ndarray:
    """Page id of every node (ascending: node i is the i-th smallest id)."""
    path = graph_dir(corpus_dir) / NODES
    ids = read_nodes(corpus_dir, ["id"]).column("id").to_numpy()
    if len(ids) != num_nodes or (len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1]))):
        raise PipelineError(
            f"{path}: expected {num_nodes} nodes in ascending page id order; delete {path.parent} and "
            "rerun the graph"
        )
    return ids.astype(np.int64, copy=False)


def read_stats(corpus_dir: str | Path) -> dict[str, Any]:
    folder = graph_dir(corpus_dir)
    return read_json(folder / STATS, f"delete {folder} and rerun the graph")


def peek_stats(corpus_dir: str | Path) -> dict[str, Any]:
    """`stats.json` as far as it reads ({} when absent): for reports."""
    return peek_json(graph_dir(corpus_dir) / STATS)


def peek_manifest(corpus_dir: str | Path) -> dict[str, Any]:
    """`manifest.json` as far as it reads ({} when absent): for reports and model cards."""
    return peek_json(graph_dir(corpus_dir) / MANIFEST)
