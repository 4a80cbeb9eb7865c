"""A corpus folder's document graph and token segments, memory-mapped, as pretraining reads them.

Nothing is loaded eagerly beyond the small per-document arrays: on full English Wikipedia the
token file is ~8 GB and the edge list ~0.8 GB, and every rank and DataLoader worker maps the
same pages instead of holding a copy. Formats: docs/formats.md (graph/ and segments/).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import PipelineError
from pretrain.counter_rng import hash_unit_interval

SPECIAL_KEYS = ("cls", "sep", "mask", "pad", "unk")


def _read_manifest(folder: Path, rebuild: str) -> dict[str, Any]:
    manifest = folder / "manifest.json"
    if not folder.is_dir():
        raise PipelineError(f"{folder} does not exist: build it with `{rebuild}`")
    if not manifest.is_file():
        raise PipelineError(
            f"{folder} has no manifest.json, so it is incomplete (an interrupted build?): rerun `{rebuild}`"
        )
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise PipelineError(f"{manifest} is unreadable ({e}): rerun `{rebuild}`") from e


def _load_npy(path: Path, dtype: type, rebuild: str) -> np.ndarray:
    if not path.is_file():
        raise PipelineError(f"{path} is missing although the folder has a manifest: rerun `{rebuild}`")
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise PipelineError(f"{path} is not a readable .npy file ({e}): rerun `{rebuild}`") from e
    if array.ndim != 1 or array.dtype != np.dtype(dtype):
        raise PipelineError(
            f"{path} holds {array.dtype}{list(array.shape)}, expected a 1-d {np.dtype(dtype)} array: "
            f"rerun `{rebuild}`"
        )
    # A plain ndarray view of the map: memmap's subclass hooks cost ~1 us per scalar read.
    return array.view(np.ndarray)


@dataclass(eq=False)
class LinkedCorpus:
    """Memory-mapped view of `corpus_dir/graph/` and `corpus_dir/segments/`; doc index = graph node id."""

    corpus_dir: Path
    tokens: np.memmap
    segment_offsets: np.ndarray  # int64 [S+1]
    doc_segments: np.ndarray  # int64 [N+1]
    indptr: np.ndarray  # int64 [N+1]
    indices: np.ndarray  # int32 [E]
    in_degree: np.ndarray  # int32 [N]
    num_docs: int
    num_segments: int
    vocab_size: int
    cls_id: int
    sep_id: int
    mask_id: int
    pad_id: int
    unk_id: int
    tokenizer_dir: Path
    segments_manifest: dict[str, Any]
    graph_manifest: dict[str, Any]

    @classmethod
    def open(cls, corpus_dir: str | Path) -> LinkedCorpus:
        corpus_dir = Path(corpus_dir)
        if not corpus_dir.is_dir():
            raise PipelineError(
                f"corpus folder {corpus_dir} does not exist: build it with `make corpus` (NAME=<name>, "
                "DUMP=<dump>; or `linkbert corpus build`) and point data.corpus at data/corpus/<name>"
            )
        graph_dir, seg_dir = corpus_dir / "graph", corpus_dir / "segments"
        graph_cmd = f"linkbert corpus graph --corpus {corpus_dir}"
        seg_cmd = f"linkbert corpus segments --corpus {corpus_dir}"
        graph_manifest = _read_manifest(graph_dir, graph_cmd)
        seg_manifest = _read_manifest(seg_dir, seg_cmd)

        indptr = _load_npy(graph_dir / "indptr.npy", np.int64, graph_cmd)
        indices = _load_npy(graph_dir / "indices.npy", np.int32, graph_cmd)
        in_degree = _load_npy(graph_dir / "in_degree.npy", np.int32, graph_cmd)
        segment_offsets = _load_npy(seg_dir / "segments.npy", np.int64, seg_cmd)
        doc_segments = _load_npy(seg_dir / "doc_segments.npy", np.int64, seg_cmd)

        try:
            dtype = np.dtype(seg_manifest["dtype"])
            vocab_size = int(seg_manifest["vocab_size"])
            special = {k: int(seg_manifest["special_ids"][k]) for k in SPECIAL_KEYS}
        except (KeyError, TypeError, ValueError) as e:
            raise PipelineError(
                f"{seg_dir / 'manifest.json'} lacks dtype, vocab_size or special_ids "
                f"{{{', '.join(SPECIAL_KEYS)}}} ({e!r}): rerun `{seg_cmd}`"
            ) from e
        if dtype not in (np.dtype(np.uint16), np.dtype(np.uint32)):
            raise PipelineError(f"{seg_dir / 'manifest.json'}: dtype {dtype} is not uint16 or uint32")
        tokens_path = seg_dir / "tokens.bin"
        if not tokens_path.is_file():
            raise PipelineError(
                f"{tokens_path} is missing although the folder has a manifest: rerun `{seg_cmd}`"
            )
        size = tokens_path.stat().st_size
        if size % dtype.itemsize:
            raise PipelineError(f"{tokens_path}: {size} bytes is not a whole number of {dtype} tokens")
        if size == 0:
            raise PipelineError(f"{tokens_path} is empty: the corpus has no tokens (every document dropped?)")
        tokens = np.memmap(tokens_path, dtype=dtype, mode="r")

        num_docs = len(doc_segments) - 1
        num_segments = len(segment_offsets) - 1
        checks = [
            (len(indptr) == num_docs + 1, f"graph has {len(indptr) - 1} nodes, segments has {num_docs} docs"),
            (
                int(indptr[-1]) == len(indices),
                f"indptr ends at {int(indptr[-1])}, indices has {len(indices)}",
            ),
            (len(in_degree) == num_docs, f"in_degree has {len(in_degree)} entries for {num_docs} nodes"),
            (
                num_segments >= 0 and int(doc_segments[-1]) == num_segments,
                f"doc_segments ends at {int(doc_segments[-1])}, segments.npy has {num_segments} segments",
            ),
            (
                int(segment_offsets[-1]) == len(tokens),
                f"segments.npy ends at token {int(segment_offsets[-1])}, tokens.bin has {len(tokens)}",
            ),
            (
                int(seg_manifest.get("num_segments", num_segments)) == num_segments,
                f"manifest says {seg_manifest.get('num_segments')} segments, segments.npy has {num_segments}",
            ),
        ]
        for ok, what in checks:
            if not ok:
                raise PipelineError(
                    f"{corpus_dir}: graph/ and segments/ do not match ({what}); they come from different "
                    f"builds: rerun `{seg_cmd}`"
                )

        return cls(
            corpus_dir=corpus_dir,
            tokens=tokens,
            segment_offsets=segment_offsets,
            doc_segments=doc_segments,
            indptr=indptr,
            indices=indices,
            in_degree=in_degree,
            num_docs=num_docs,
            num_segments=num_segments,
            vocab_size=vocab_size,
            cls_id=special["cls"],
            sep_id=special["sep"],
            mask_id=special["mask"],
            pad_id=special["pad"],
            unk_id=special["unk"],
            tokenizer_dir=seg_dir / "tokenizer",
            segments_manifest=seg_manifest,
            graph_manifest=graph_manifest,
        )

    def __reduce__(self):
        # Pickle by path (DataLoader workers under spawn): a pickled memmap would copy the whole corpus.
        return (LinkedCorpus.open, (str(self.corpus_dir),))

    @property
    def special_ids(self) -> dict[str, int]:
        return {
            "cls": self.cls_id,
            "sep": self.sep_id,
            "mask": self.mask_id,
            "pad": self.pad_id,
            "unk": self.unk_id,
        }

    @property
    def segments_per_doc(self) -> np.ndarray:
        return np.diff(self.doc_segments)

    def segment(self, s: int) -> np.ndarray:
        """Token ids of segment `s` (a view into the map; copy before writing)."""
        return self.tokens[self.segment_offsets[s] : self.segment_offsets[s + 1]]

    def out_links(self, doc: int) -> np.ndarray:
        return self.indices[self.indptr[doc] : self.indptr[doc + 1]]

    def edge_kind_mask(self, sources: list[str] | tuple[str, ...] | None) -> np.ndarray | None:
        """Boolean per edge: made by one of the graph sources `sources` (E bytes); None when that is
        every edge (`sources` None, or all the graph's kinds), so the common case costs nothing."""
        if sources is None:
            return None
        from graph.store import DocumentGraph

        graph = DocumentGraph.load(self.corpus_dir)
        mask = graph.kind_mask(list(sources))  # names a kind the graph lacks: PipelineError
        return None if set(sources) >= set(graph.edge_kinds) else mask


def split_documents(num_docs: int, heldout_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_docs, heldout_docs): node ids, ascending, decided by a hash of (seed, node id).

    A node's side depends only on its id and the seed, never on `num_docs`, so a rebuilt or grown
    corpus keeps its held-out documents held out. With a positive fraction at least one document is
    held out (the one with the smallest hash) so a tiny corpus still has something to evaluate on.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise PipelineError(f"data.heldout_fraction must be in [0, 1), got {heldout_fraction}")
    nodes = np.arange(num_docs, dtype=np.int64)
    if heldout_fraction == 0.0 or num_docs < 2:
        return nodes, np.zeros(0, dtype=np.int64)
    score = hash_unit_interval(nodes, seed)
    heldout = score < heldout_fraction
    if not heldout.any():
        heldout[int(np.argmin(score))] = True
    return nodes[~heldout], nodes[heldout]
