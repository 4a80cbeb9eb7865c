"""`linked`: B is a segment of a document that A's document links to (LinkBERT's new relation).

The linked document is drawn among the anchor document's out-links whose target has segments in the
pool, with weight `in_degree ** -drp.linked_alpha` (alpha 1 = the paper's 1/in-degree "diversity"
weighting, 0 = uniform over the out-links, the paper's no-diversity ablation), then B uniformly among
its segments. `drp.linked_sources` restricts the out-links to edges of those graph sources (edge
kinds); the in-degree is then counted over those edges only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from pretrain.counter_rng import below_array, uniform_array
from pretrain.relations.base import Relation, RelationContext, SegmentRanges, count_usable_out_links

log = logging.getLogger(__name__)

_EDGE_CHUNK = 1 << 24  # edges per bincount when the in-degree is recounted over selected kinds


class Linked(Relation):
    name = "linked"
    hint = " (for a corpus without links set drp.relations=[contiguous,random])"

    def __init__(self, ctx: RelationContext) -> None:
        corpus = ctx.corpus
        self._indptr, self._indices = corpus.indptr, corpus.indices
        # None when every edge counts (the default: all kinds the graph has).
        self._edge_mask = corpus.edge_kind_mask(ctx.drp.linked_sources)
        in_degree = corpus.in_degree if self._edge_mask is None else self._selected_in_degree(corpus.num_docs)
        if self._edge_mask is not None:
            log.info(
                "linked pairs from %s edges only: %d of %d",
                "+".join(ctx.drp.linked_sources or ()),
                int(self._edge_mask.sum()),
                len(self._indices),
            )
        # Weight of a linked document: in_degree ** -alpha; every link target has in-degree >= 1.
        self._weight = np.maximum(in_degree, 1).astype(np.float64) ** -float(ctx.drp.linked_alpha)
        super().__init__(ctx)

    def _selected_in_degree(self, num_docs: int) -> np.ndarray:
        degree = np.zeros(num_docs, dtype=np.int64)
        for e0 in range(0, len(self._indices), _EDGE_CHUNK):
            e1 = e0 + _EDGE_CHUNK
            degree += np.bincount(self._indices[e0:e1][self._edge_mask[e0:e1]], minlength=num_docs)
        return degree

    @classmethod
    def describe_settings(cls, drp: Mapping[str, Any]) -> list[str]:
        sources = drp.get("linked_sources")
        return [
            f"linked_alpha {float(drp.get('linked_alpha', 1.0)):.4f}",
            f"linked from {'+'.join(sources) if sources else 'all edge kinds'}",
        ]

    @classmethod
    def heldout_preference(cls, corpus, drp) -> np.ndarray:
        """Documents with at least one out-link (of `drp.linked_sources`) to a document with segments:
        only they can anchor a held-out linked pair."""
        has_segments = np.diff(corpus.doc_segments) > 0
        links = count_usable_out_links(
            corpus.indptr, corpus.indices, has_segments, corpus.edge_kind_mask(drp.linked_sources)
        )
        return (links > 0) & has_segments

    def eligible_anchors(self) -> SegmentRanges:
        ctx = self.ctx
        anchor_docs = ctx.anchors.docs
        links = count_usable_out_links(self._indptr, self._indices, ctx.usable_target, self._edge_mask)
        return SegmentRanges.build(ctx.doc_segments, anchor_docs[links[anchor_docs] > 0])

    def why_impossible(self) -> str:
        kinds = f" by {'/'.join(self.ctx.drp.linked_sources)} edges" if self._edge_mask is not None else ""
        split = " inside the same split" if self.ctx.restricted else ""
        return f"no document links{kinds} to another document with segments{split}"

    def pairs(
        self, docs: np.ndarray, anchors: np.ndarray, pair_bits: np.ndarray, target_bits: np.ndarray
    ) -> np.ndarray:
        # All out-links of the batch's anchor documents in one flat array; weighted choice per row by a
        # search in the running sum of weights (unusable links weigh 0, so they are never hit).
        u = uniform_array(pair_bits)
        starts, ends = self._indptr[docs], self._indptr[docs + 1]
        degree = ends - starts
        row_start = np.zeros(len(docs), dtype=np.int64)
        np.cumsum(degree[:-1], out=row_start[1:])
        flat = np.arange(int(degree.sum()), dtype=np.int64) + np.repeat(starts - row_start, degree)
        targets = self._indices[flat]
        usable = self.ctx.usable_target[targets]
        if self._edge_mask is not None:
            usable &= self._edge_mask[flat]
        cum_weight = np.cumsum(np.where(usable, self._weight[targets], 0.0))
        before = np.where(row_start > 0, cum_weight[row_start - 1], 0.0)
        total = cum_weight[row_start + degree - 1] - before
        k = np.searchsorted(cum_weight, before + u * total, side="right")
        # Rounding can step past the row's last usable link; clamp onto it.
        last_usable = np.maximum.reduceat(np.where(usable, np.arange(len(flat)), -1), row_start)
        target = targets[np.minimum(k, last_usable)]
        doc_segments = self.ctx.doc_segments
        first = doc_segments[target]
        return first + below_array(target_bits, doc_segments[target + 1] - first)
