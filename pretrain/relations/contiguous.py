"""`contiguous`: B is the segment that follows A in its document (BERT's "is next")."""

from __future__ import annotations

import numpy as np

from pretrain.relations.base import Relation, SegmentRanges


class Contiguous(Relation):
    name = "contiguous"
    why = "no document has two segments"
    within_document = True

    def eligible_anchors(self) -> SegmentRanges:
        # Every segment but the last of its document.
        return SegmentRanges.build(self.ctx.doc_segments, self.ctx.anchors.docs, drop_last=1)

    def pairs(
        self, docs: np.ndarray, anchors: np.ndarray, pair_bits: np.ndarray, target_bits: np.ndarray
    ) -> np.ndarray:
        return anchors + 1
