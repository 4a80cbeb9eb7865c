"""A corpus folder's document graph and token segments, memory-mapped, as pretraining reads them.

Nothing is loaded eagerly beyond the small per-document arrays: on full English Wikipedia the
token file is ~8 GB and the edge list ~0.8 GB, and every rank and DataLoader worker maps the
same pages instead of holding a copy. Formats: docs/formats.md (graph/ and segments/).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from formats import graph as graph_format
from formats import segments as segments_format
from formats.segments import SPECIAL_KEYS
from foundation.errors import PipelineError
from pretrain.counter_rng import hash_unit_interval

__all__ = ["SPECIAL_KEYS", "LinkedCorpus", "split_documents"]


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
    edge_kind: np.ndarray | None = (
        None  # uint8 [E], bit i = graph_manifest["edge_kinds"][i]; None: all hyperlinks
    )

    @classmethod
    def open(cls, corpus_dir: str | Path) -> LinkedCorpus:
        corpus_dir = Path(corpus_dir)
        if not corpus_dir.is_dir():
            raise PipelineError(
                f"corpus folder {corpus_dir} does not exist: build it with `make corpus` (NAME=<name>, "
                "DUMP=<dump>; or `linkbert corpus build`) and point data.corpus at data/corpus/<name>"
            )
        graph = graph_format.read_arrays(corpus_dir)
        seg = segments_format.read_arrays(corpus_dir)
        indptr, indices, in_degree = graph.indptr, graph.indices, graph.in_degree
        num_docs = len(seg.doc_segments) - 1
        checks = [
            (len(indptr) == num_docs + 1, f"graph has {len(indptr) - 1} nodes, segments has {num_docs} docs"),
            (len(in_degree) == num_docs, f"in_degree has {len(in_degree)} entries for {num_docs} nodes"),
        ]
        for ok, what in checks:
            if not ok:
                raise PipelineError(
                    f"{corpus_dir}: graph/ and segments/ do not match ({what}); they come from different "
                    f"builds: rerun `{segments_format.build_command(corpus_dir)}`"
                )
        special = seg.special_ids

        return cls(
            corpus_dir=corpus_dir,
            tokens=seg.tokens,
            segment_offsets=seg.segments,
            doc_segments=seg.doc_segments,
            indptr=indptr,
            indices=indices,
            in_degree=in_degree,
            num_docs=num_docs,
            num_segments=len(seg.segments) - 1,
            vocab_size=seg.vocab_size,
            cls_id=special["cls"],
            sep_id=special["sep"],
            mask_id=special["mask"],
            pad_id=special["pad"],
            unk_id=special["unk"],
            tokenizer_dir=seg.tokenizer_dir,
            segments_manifest=seg.manifest,
            graph_manifest=graph.manifest,
            edge_kind=graph.edge_kind,
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
        kinds = graph_format.edge_kinds(self.graph_manifest)
        mask = graph_format.kind_mask(
            self.graph_manifest, self.edge_kind, len(self.indices), list(sources), self.corpus_dir
        )
        return None if set(sources) >= set(kinds) else mask


def split_documents(
    num_docs: int, heldout_fraction: float, seed: int, prefer: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(train_docs, heldout_docs): node ids, ascending, decided by a hash of (seed, node id).

    A node's side depends only on its id, the seed and (with `prefer`) whether it is preferred, never on
    the order of the corpus, so a rebuilt or grown corpus keeps its held-out documents held out. With a
    positive fraction at least one document is held out (the one with the smallest hash) so a tiny
    corpus still has something to evaluate on.

    `prefer` (bool [N]): hold out only preferred documents (e.g. those with links, so the held-out set
    can measure the linked relation), as many as `heldout_fraction` of all documents would be; without
    any preferred document the split is over all of them.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise PipelineError(f"data.heldout_fraction must be in [0, 1), got {heldout_fraction}")
    nodes = np.arange(num_docs, dtype=np.int64)
    if heldout_fraction == 0.0 or num_docs < 2:
        return nodes, np.zeros(0, dtype=np.int64)
    score = hash_unit_interval(nodes, seed)
    if prefer is not None and prefer.any():
        preferred = int(prefer.sum())
        # The same expected count as a plain split, drawn among the preferred documents only; never all
        # of them, so training keeps documents of that kind too.
        rate = min(heldout_fraction * num_docs / preferred, 0.5)
        score = np.where(prefer, score / rate * heldout_fraction, np.inf)
    heldout = score < heldout_fraction
    if not heldout.any():
        heldout[int(np.argmin(score))] = True
    return nodes[~heldout], nodes[heldout]
