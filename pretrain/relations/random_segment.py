"""`random`: B is a uniform segment of the pool outside A's document (BERT's "not next")."""

from __future__ import annotations

import numpy as np

from pretrain.counter_rng import below_array
from pretrain.relations.base import Relation, SegmentRanges


class RandomSegment(Relation):
    name = "random"
    why = "all segments belong to one document"

    def eligible_anchors(self) -> SegmentRanges:
        ctx = self.ctx
        anchor_docs = ctx.anchors.docs
        segments_per_doc = np.diff(ctx.doc_segments)
        pool_in_own_doc = np.where(ctx.usable_target[anchor_docs], segments_per_doc[anchor_docs], 0)
        ok = ctx.pool.size - pool_in_own_doc > 0
        # Shared rather than rebuilt when equal: each set is two int64 arrays per document.
        return ctx.anchors if ok.all() else SegmentRanges.build(ctx.doc_segments, anchor_docs[ok])

    def pairs(
        self, docs: np.ndarray, anchors: np.ndarray, pair_bits: np.ndarray, target_bits: np.ndarray
    ) -> np.ndarray:
        # Uniform over the pool minus the anchor's own document, whose segments are one block of it.
        pool, doc_segments = self.ctx.pool, self.ctx.doc_segments
        own = np.where(self.ctx.usable_target[docs], doc_segments[docs + 1] - doc_segments[docs], 0)
        j = below_array(pair_bits, pool.size - own)
        position = np.minimum(pool.position(docs), len(pool.docs) - 1)
        j += np.where((own > 0) & (j >= pool.cum[position]), own, 0)
        pool_docs, offsets = pool.locate(j)
        return doc_segments[pool_docs] + offsets
