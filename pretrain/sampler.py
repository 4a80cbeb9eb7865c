"""Document Relation Prediction pairs: `[CLS] A [SEP] B [SEP]` with B contiguous, random or linked.

Example k of epoch e is a pure function of (seed, e, k): all its randomness (relation, anchor, B, and
the key the collator masks it with) comes from one counter-based stream keyed by that tuple, so a
resumed run, another rank layout or another worker count yields the same examples.

Anchors are drawn directly from the eligible set of the drawn relation (a redraw of A that keeps r,
in O(log N)), so class proportions hold exactly. Eligible sets are unions of per-document segment
ranges: O(documents) memory, not O(segments), and never a per-segment Python loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipeline.errors import PipelineError
from pretrain.config import DrpConfig
from pretrain.corpus_data import LinkedCorpus
from pretrain.counter_rng import below_array, fold_key_array, stream_array, uniform_array

log = logging.getLogger(__name__)

CONTIGUOUS, RANDOM, LINKED = 0, 1, 2
RELATION_NAMES = ("contiguous", "random", "linked")
_EDGE_CHUNK_ROWS = 1 << 18  # ~8M Wikipedia edges a chunk: bounds the temporaries of the link counts


@dataclass(frozen=True)
class PairDraws:
    """What a batch of samples drew: global sample numbers, relations, anchor and pair segments."""

    samples: np.ndarray  # int64 [B]
    relation: np.ndarray  # int64 [B]: 0 contiguous, 1 random, 2 linked
    anchor: np.ndarray  # int64 [B] segment ids
    pair: np.ndarray  # int64 [B] segment ids
    mask_key: np.ndarray  # uint64 [B]: key of the example's MLM masking stream


@dataclass(frozen=True)
class SegmentRanges:
    """The segments of `docs` (ascending), skipping the last `drop_last` of each, as one index space."""

    docs: np.ndarray  # int64 [D]
    cum: np.ndarray  # int64 [D+1]: draws cum[i] .. cum[i+1]-1 fall in docs[i]

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
        i = np.searchsorted(self.cum, j, side="right") - 1
        return self.docs[i], j - self.cum[i]


def count_usable_out_links(indptr: np.ndarray, indices: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Per node, how many of its out-links point to a node with `usable[target]`; chunked over rows."""
    num_nodes = len(indptr) - 1
    counts = np.zeros(num_nodes, dtype=np.int64)
    for r0 in range(0, num_nodes, _EDGE_CHUNK_ROWS):
        r1 = min(r0 + _EDGE_CHUNK_ROWS, num_nodes)
        e0 = int(indptr[r0])
        hits = usable[indices[e0 : int(indptr[r1])]]
        cum = np.zeros(len(hits) + 1, dtype=np.int64)
        np.cumsum(hits, out=cum[1:])
        counts[r0:r1] = cum[indptr[r0 + 1 : r1 + 1] - e0] - cum[indptr[r0:r1] - e0]
    return counts


def truncate_longest_first_array(
    len_a: np.ndarray, len_b: np.ndarray, budget: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lengths after removing tokens one at a time from the longer side (the pair side on ties),
    as Hugging Face's `longest_first` does, in closed form."""
    half_a, half_b = (budget + 1) // 2, budget // 2
    fits = len_a + len_b <= budget
    short_b, short_a = len_b <= half_b, len_a <= half_a
    new_a = np.where(fits | short_a & ~short_b, len_a, np.where(short_b, budget - len_b, half_a))
    new_b = np.where(fits | short_b, len_b, np.where(short_a, budget - len_a, half_b))
    return new_a, new_b


class PairSampler:
    """Map (epoch, index) -> one DRP example over a `LinkedCorpus`.

    documents: anchor documents (e.g. the training split); None = all. restrict_pairs: B also comes
    only from `documents` (training); False lets random/linked B come from any document (held-out
    evaluation). skip_impossible: a relation with no eligible anchor is dropped and the others
    reweighted (with a warning) instead of raising (the sparse bundled sample's held-out split).
    """

    def __init__(
        self,
        corpus: LinkedCorpus,
        drp: DrpConfig,
        max_seq_len: int,
        seed: int,
        documents: np.ndarray | None = None,
        *,
        restrict_pairs: bool = True,
        skip_impossible: bool = False,
    ) -> None:
        if max_seq_len < 5:
            raise PipelineError(f"data.max_seq_len={max_seq_len} leaves no room for two segments")
        self.corpus, self.drp, self.max_seq_len, self.seed = corpus, drp, max_seq_len, seed
        num_docs = corpus.num_docs
        all_docs = np.arange(num_docs, dtype=np.int64)
        docs = all_docs if documents is None else np.unique(np.asarray(documents, dtype=np.int64))
        if len(docs) and (docs[0] < 0 or docs[-1] >= num_docs):
            raise PipelineError(f"document ids must be in [0, {num_docs}) for {corpus.corpus_dir}")
        doc_segments = corpus.doc_segments
        segments_per_doc = np.diff(doc_segments)

        self._doc_segments = doc_segments
        self._offsets = corpus.segment_offsets
        self._tokens = corpus.tokens.view(np.ndarray)
        self._indptr, self._indices = corpus.indptr, corpus.indices
        self._cls, self._sep = corpus.cls_id, corpus.sep_id

        self.anchors = SegmentRanges.build(doc_segments, docs)
        if self.anchors.size == 0:
            raise PipelineError(f"{corpus.corpus_dir}: the selected documents hold no segments")
        self._pool = self.anchors if restrict_pairs else SegmentRanges.build(doc_segments, all_docs)
        self._usable_target = np.zeros(num_docs, dtype=bool)
        self._usable_target[self._pool.docs] = True
        # Weight of a linked document: in_degree ** -alpha; every link target has in-degree >= 1.
        self._weight = np.maximum(corpus.in_degree, 1).astype(np.float64) ** -float(drp.linked_alpha)

        anchor_docs = self.anchors.docs
        pool_in_own_doc = np.where(self._usable_target[anchor_docs], segments_per_doc[anchor_docs], 0)
        linked_docs = anchor_docs[
            count_usable_out_links(self._indptr, self._indices, self._usable_target)[anchor_docs] > 0
        ]
        random_ok = self._pool.size - pool_in_own_doc > 0
        # Shared rather than rebuilt when equal: each set is two int64 arrays per document.
        random_anchors = (
            self.anchors if random_ok.all() else SegmentRanges.build(doc_segments, anchor_docs[random_ok])
        )
        self.eligible = (
            SegmentRanges.build(doc_segments, anchor_docs, drop_last=1),
            random_anchors,
            SegmentRanges.build(doc_segments, linked_docs),
        )[: drp.classes]
        self.probabilities = self._relation_probabilities(drp, skip_impossible)
        self._cum_probabilities = np.cumsum(self.probabilities)
        self._last_relation = max(r for r, p in enumerate(self.probabilities) if p > 0)

    def _relation_probabilities(self, drp: DrpConfig, skip_impossible: bool) -> list[float]:
        probabilities = list(drp.class_probabilities)
        impossible = [r for r, p in enumerate(probabilities) if p > 0 and self.eligible[r].size == 0]
        why = {
            CONTIGUOUS: "no document has two segments",
            RANDOM: "all segments belong to one document",
            LINKED: "no document links to another document with segments"
            + (" inside the same split" if self._pool.size < self.corpus.num_segments else ""),
        }
        if impossible and not skip_impossible:
            r = impossible[0]
            hint = " (for a corpus without links set drp.classes: 2)" if r == LINKED else ""
            raise PipelineError(
                f"{self.corpus.corpus_dir}: DRP relation '{RELATION_NAMES[r]}' is impossible: {why[r]}{hint}"
            )
        for r in impossible:
            log.warning(
                "DRP relation '%s' skipped for %s (%s); the other relations are reweighted",
                RELATION_NAMES[r],
                self.corpus.corpus_dir,
                why[r],
            )
            probabilities[r] = 0.0
        total = sum(probabilities)
        if total <= 0:
            raise PipelineError(f"{self.corpus.corpus_dir}: no DRP relation is possible on these documents")
        return [p / total for p in probabilities]

    def __len__(self) -> int:
        """Samples per epoch: the anchor segments."""
        return self.anchors.size

    def position(self, sample: int) -> tuple[int, int]:
        """Global sample number n -> (epoch, index)."""
        return divmod(sample, self.anchors.size)

    def draw(self, samples: np.ndarray | list[int]) -> PairDraws:
        """Relations, anchors and pairs of global sample numbers `samples` (vectorized over them)."""
        samples = np.asarray(samples, dtype=np.int64).reshape(-1)
        epoch, index = np.divmod(samples, self.anchors.size)
        keys = fold_key_array(self.seed, epoch, index)
        relation = np.searchsorted(
            self._cum_probabilities, uniform_array(stream_array(keys, 1)), side="right"
        )
        relation = np.minimum(relation, self._last_relation)
        anchor = np.empty(len(samples), dtype=np.int64)
        pair = np.empty(len(samples), dtype=np.int64)
        anchor_bits, pair_bits, target_bits = (stream_array(keys, d) for d in (2, 3, 4))
        for r, eligible in enumerate(self.eligible):
            rows = np.flatnonzero(relation == r)
            if len(rows) == 0:
                continue
            docs, offsets = eligible.locate(below_array(anchor_bits[rows], eligible.size))
            anchor[rows] = self._doc_segments[docs] + offsets
            if r == CONTIGUOUS:
                pair[rows] = anchor[rows] + 1
            elif r == RANDOM:
                pair[rows] = self._random_pairs(docs, pair_bits[rows])
            else:
                pair[rows] = self._linked_pairs(docs, uniform_array(pair_bits[rows]), target_bits[rows])
        return PairDraws(samples, relation.astype(np.int64), anchor, pair, stream_array(keys, 5))

    def _random_pairs(self, docs: np.ndarray, bits: np.ndarray) -> np.ndarray:
        # Uniform over the pool minus the anchor's own document, whose segments are one block of it.
        pool = self._pool
        own = np.where(self._usable_target[docs], self._doc_segments[docs + 1] - self._doc_segments[docs], 0)
        j = below_array(bits, pool.size - own)
        position = np.minimum(np.searchsorted(pool.docs, docs), len(pool.docs) - 1)
        j += np.where((own > 0) & (j >= pool.cum[position]), own, 0)
        pool_docs, offsets = pool.locate(j)
        return self._doc_segments[pool_docs] + offsets

    def _linked_pairs(self, docs: np.ndarray, u: np.ndarray, bits: np.ndarray) -> np.ndarray:
        # All out-links of the batch's anchor documents in one flat array; weighted choice per row by a
        # search in the running sum of weights (unusable links weigh 0, so they are never hit).
        starts, ends = self._indptr[docs], self._indptr[docs + 1]
        degree = ends - starts
        row_start = np.zeros(len(docs), dtype=np.int64)
        np.cumsum(degree[:-1], out=row_start[1:])
        flat = np.arange(int(degree.sum()), dtype=np.int64) + np.repeat(starts - row_start, degree)
        targets = self._indices[flat]
        usable = self._usable_target[targets]
        cum_weight = np.cumsum(np.where(usable, self._weight[targets], 0.0))
        before = np.where(row_start > 0, cum_weight[row_start - 1], 0.0)
        total = cum_weight[row_start + degree - 1] - before
        k = np.searchsorted(cum_weight, before + u * total, side="right")
        # Rounding can step past the row's last usable link; clamp onto it.
        last_usable = np.maximum.reduceat(np.where(usable, np.arange(len(flat)), -1), row_start)
        target = targets[np.minimum(k, last_usable)]
        first = self._doc_segments[target]
        return first + below_array(bits, self._doc_segments[target + 1] - first)

    def encode(self, draws: PairDraws, pad_to_multiple_of: int = 1) -> dict[str, np.ndarray]:
        """`[CLS] A [SEP] B [SEP]` rows, padded with [PAD] to the longest (rounded up to a multiple)."""
        offsets = self._offsets
        a0, b0 = offsets[draws.anchor], offsets[draws.pair]
        len_a, len_b = truncate_longest_first_array(
            offsets[draws.anchor + 1] - a0, offsets[draws.pair + 1] - b0, self.max_seq_len - 3
        )
        lengths = len_a + len_b + 3
        width = -(-int(lengths.max()) // pad_to_multiple_of) * pad_to_multiple_of
        pos = np.arange(width, dtype=np.int64)[None, :]
        la, lb = len_a[:, None], len_b[:, None]
        in_a = (pos >= 1) & (pos <= la)
        in_b = (pos >= la + 2) & (pos < la + 2 + lb)
        source = np.where(pos <= la, a0[:, None] + pos - 1, b0[:, None] + pos - la - 2)
        input_ids = np.full((len(lengths), width), self.corpus.pad_id, dtype=np.int64)
        text = in_a | in_b
        input_ids[text] = self._tokens[source[text]]
        input_ids[:, 0] = self._cls
        rows = np.arange(len(lengths))
        input_ids[rows, len_a + 1] = self._sep
        input_ids[rows, lengths - 1] = self._sep
        attention_mask = (pos < lengths[:, None]).astype(np.int64)
        token_type_ids = ((pos >= la + 2) & (attention_mask > 0)).astype(np.int64)
        return {
            "input_ids": input_ids,
            "token_type_ids": token_type_ids,
            "attention_mask": attention_mask,
            "drp_labels": draws.relation,
            "sample_index": draws.samples,
            "mask_keys": draws.mask_key,
        }

    def batch(self, samples: np.ndarray | list[int], pad_to_multiple_of: int = 1) -> dict[str, np.ndarray]:
        """Encoded, unmasked rows of global sample numbers `samples`."""
        return self.encode(self.draw(samples), pad_to_multiple_of)

    def example(self, epoch: int, index: int) -> dict:
        """One example (epoch, index): input_ids and token_type_ids (int64 [L], unpadded), drp_label,
        anchor_segment, pair_segment, sample_index, mask_key (the key the collator masks it with)."""
        if not 0 <= index < self.anchors.size or epoch < 0:
            raise IndexError(f"example ({epoch}, {index}) outside epochs of {self.anchors.size} samples")
        draws = self.draw([epoch * self.anchors.size + index])
        row = self.encode(draws)
        return {
            "input_ids": row["input_ids"][0],
            "token_type_ids": row["token_type_ids"][0],
            "drp_label": int(draws.relation[0]),
            "anchor_segment": int(draws.anchor[0]),
            "pair_segment": int(draws.pair[0]),
            "sample_index": int(draws.samples[0]),
            "mask_key": int(draws.mask_key[0]),
        }

    def example_at(self, sample: int) -> dict:
        return self.example(*divmod(sample, self.anchors.size))
