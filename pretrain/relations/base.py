"""What a DRP relation is given and what it provides.

A relation sees the sampler's documents (`RelationContext`: anchor segments, the pool B may come from)
and provides the anchor segments it can pair (`eligible`, a `SegmentRanges`), the pair segment for a
batch of anchors (`pairs`, vectorized over the batch, from the counter-based bits the sampler hands
it), and why it is impossible when nothing is eligible (`why_impossible`, `hint`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from pretrain.config import DrpConfig
    from pretrain.data.corpus_data import LinkedCorpus

_EDGE_CHUNK_ROWS = 1 << 18  # ~8M Wikipedia edges a chunk: bounds the temporaries of the link counts
_BLOCK = 64  # entries per block of `blocked_searchsorted`: 512 contiguous bytes of int64


def blocked_searchsorted(values: np.ndarray, coarse: np.ndarray, keys: np.ndarray, side: str) -> np.ndarray:
    """`np.searchsorted(values, keys, side)` for ascending `values`, given `coarse = values[::_BLOCK]`.

    A binary search over millions of entries (7M documents) misses the cache at almost every step; here
    the small coarse array (cache-resident) picks the block and one contiguous block read finishes it,
    which made batches of a Wikipedia-size corpus ~20% cheaper. Same result as np.searchsorted.
    """
    keys = np.asarray(keys)
    if len(values) == 0:
        return np.zeros(len(keys), dtype=np.int64)
    block = np.maximum(np.searchsorted(coarse, keys, side=side) - 1, 0)
    pos = block[:, None] * _BLOCK + np.arange(_BLOCK)
    inside = pos < len(values)
    entries = values[np.minimum(pos, len(values) - 1)]
    hits = (entries <= keys[:, None]) if side == "right" else (entries < keys[:, None])
    return block * _BLOCK + np.count_nonzero(hits & inside, axis=1)


@dataclass(frozen=True)
class SegmentRanges:
    """The segments of `docs` (ascending), skipping the last `drop_last` of each, as one index space."""

    docs: np.ndarray  # int64 [D]
    cum: np.ndarray  # int64 [D+1]: draws cum[i] .. cum[i+1]-1 fall in docs[i]
    # Every _BLOCK-th entry of docs and cum (1/64 of their size), for blocked_searchsorted.
    docs_coarse: np.ndarray = field(init=False, repr=False, compare=False)
    cum_coarse: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "docs_coarse", np.ascontiguousarray(self.docs[::_BLOCK]))
        object.__setattr__(self, "cum_coarse", np.ascontiguousarray(self.cum[::_BLOCK]))

    @classmethod
    def build(cls, doc_segments: np.ndarray, docs: np.ndarray, drop_last: int = 0) -> SegmentRanges:
        counts = np.diff(doc_segments)[docs] - drop_last
        keep = counts > 0
        docs, counts = docs[keep].astype(np.int64), counts[keep]
        cum = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(counts, out=cum[1:])
        return cls(docs, cum)

    @property
    def size(self) -> int:
        return int(self.cum[-1])

    def locate(self, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Draws j in [0, size) -> (document, offset of the segment within the document's range)."""
        i = blocked_searchsorted(self.cum, self.cum_coarse, j, "right") - 1
        return self.docs[i], j - self.cum[i]

    def position(self, docs: np.ndarray) -> np.ndarray:
        """`np.searchsorted(self.docs, docs)`: where each document is, or would be, in `docs`."""
        return blocked_searchsorted(self.docs, self.docs_coarse, docs, "left")


def count_usable_out_links(
    indptr: np.ndarray, indices: np.ndarray, usable: np.ndarray, edge_mask: np.ndarray | None = None
) -> np.ndarray:
    """Per node, how many of its out-links (those with `edge_mask`, if given) point to a node with
    `usable[target]`; chunked over rows."""
    num_nodes = len(indptr) - 1
    counts = np.zeros(num_nodes, dtype=np.int64)
    for r0 in range(0, num_nodes, _EDGE_CHUNK_ROWS):
        r1 = min(r0 + _EDGE_CHUNK_ROWS, num_nodes)
        e0, e1 = int(indptr[r0]), int(indptr[r1])
        hits = usable[indices[e0:e1]]
        if edge_mask is not None:
            hits &= edge_mask[e0:e1]
        cum = np.zeros(len(hits) + 1, dtype=np.int64)
        np.cumsum(hits, out=cum[1:])
        counts[r0:r1] = cum[indptr[r0 + 1 : r1 + 1] - e0] - cum[indptr[r0:r1] - e0]
    return counts


@dataclass(frozen=True)
class RelationContext:
    """The sampler's documents, as every relation sees them."""

    corpus: LinkedCorpus
    drp: DrpConfig
    anchors: SegmentRanges  # the segments of the anchor documents
    pool: SegmentRanges  # the segments B may come from (the anchors, or all documents)
    usable_target: np.ndarray  # bool [N]: the document's segments are in the pool

    @property
    def doc_segments(self) -> np.ndarray:
        return self.corpus.doc_segments

    @property
    def restricted(self) -> bool:
        """B comes from fewer segments than the corpus has (the training split)."""
        return self.pool.size < self.corpus.num_segments


class Relation:
    """One DRP relation. Subclasses set `name` and `why`, build `eligible` in `__init__`, and draw in
    `pairs`."""

    name: ClassVar[str]
    why: ClassVar[str]  # why the relation is impossible when no anchor is eligible
    hint: ClassVar[str] = ""  # what to do then
    # B always comes from A's own document: scoring other documents (retrieval, `linkbert score`)
    # conditions on the relations that hold between two documents.
    within_document: ClassVar[bool] = False

    def __init__(self, ctx: RelationContext) -> None:
        self.ctx = ctx
        self.eligible = self.eligible_anchors()

    def eligible_anchors(self) -> SegmentRanges:
        raise NotImplementedError

    @classmethod
    def describe_settings(cls, drp: Mapping[str, Any]) -> list[str]:
        """The relation's own settings as the run summary and the model card print them ([] for none).
        `drp`: the drp section as plain data (a run's saved config.yaml reads the same)."""
        return []

    @classmethod
    def heldout_preference(cls, corpus: LinkedCorpus, drp: DrpConfig) -> np.ndarray | None:
        """Documents (bool [N]) the held-out split should be drawn from so that this relation can be
        measured on it (`data.heldout_documents=linked`); None: any document will do."""
        return None

    def why_impossible(self) -> str:
        return self.why

    def pairs(
        self, docs: np.ndarray, anchors: np.ndarray, pair_bits: np.ndarray, target_bits: np.ndarray
    ) -> np.ndarray:
        """Pair segments (int64) of anchor segments `anchors` in documents `docs`. `pair_bits` and
        `target_bits` are the examples' own uint64 draws (counter-based streams 3 and 4)."""
        raise NotImplementedError
