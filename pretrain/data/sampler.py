"""Document Relation Prediction pairs: `[CLS] A [SEP] B [SEP]` with B drawn by one of `drp.relations`.

Example k of epoch e is a pure function of (seed, e, k): all its randomness (relation, anchor, B, and
the key the collator masks it with) comes from one counter-based stream keyed by that tuple, so a
resumed run, another rank layout or another worker count yields the same examples.

Anchors are drawn directly from the eligible set of the drawn relation (a redraw of A that keeps r,
in O(log N)), so class proportions hold exactly. Eligible sets are unions of per-document segment
ranges: O(documents) memory, not O(segments), and never a per-segment Python loop. What each relation
allows and how it draws B is its own module (pretrain/relations/); its label is its position in
`drp.relations`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from foundation.errors import PipelineError
from pretrain.config import DrpConfig
from pretrain.counter_rng import below_array, fold_key_array, stream_array, uniform_array
from pretrain.data.corpus_data import LinkedCorpus
from pretrain.relations import relation_class
from pretrain.relations.base import Relation, RelationContext, SegmentRanges, count_usable_out_links

__all__ = [
    "PairDraws",
    "PairSampler",
    "SegmentRanges",
    "count_usable_out_links",
    "truncate_longest_first_array",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairDraws:
    """What a batch of samples drew: global sample numbers, relations, anchor and pair segments."""

    samples: np.ndarray  # int64 [B]
    relation: np.ndarray  # int64 [B]: the relation's index in drp.relations
    anchor: np.ndarray  # int64 [B] segment ids
    pair: np.ndarray  # int64 [B] segment ids
    mask_key: np.ndarray  # uint64 [B]: key of the example's MLM masking stream


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


def encode_segment_pairs(
    corpus: LinkedCorpus,
    anchor: np.ndarray,
    pair: np.ndarray,
    max_seq_len: int,
    pad_to_multiple_of: int = 1,
    *,
    tokens: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`[CLS] A [SEP] B [SEP]` rows of segments anchor[i] and pair[i], cut longest-first to `max_seq_len`
    and padded with [PAD] to the longest (rounded up to a multiple): input_ids, token_type_ids and
    attention_mask, int64 [B, width]. `tokens`: the corpus's token array as a plain ndarray, when the
    caller holds one (a memmap subclass costs per indexing call)."""
    tokens = corpus.tokens.view(np.ndarray) if tokens is None else tokens
    offsets = corpus.segment_offsets
    a0, b0 = offsets[anchor], offsets[pair]
    len_a, len_b = truncate_longest_first_array(
        offsets[anchor + 1] - a0, offsets[pair + 1] - b0, max_seq_len - 3
    )
    lengths = len_a + len_b + 3
    width = -(-int(lengths.max()) // pad_to_multiple_of) * pad_to_multiple_of
    pos = np.arange(width, dtype=np.int64)[None, :]
    la, lb = len_a[:, None], len_b[:, None]
    in_a = (pos >= 1) & (pos <= la)
    in_b = (pos >= la + 2) & (pos < la + 2 + lb)
    source = np.where(pos <= la, a0[:, None] + pos - 1, b0[:, None] + pos - la - 2)
    input_ids = np.full((len(lengths), width), corpus.pad_id, dtype=np.int64)
    text = in_a | in_b
    input_ids[text] = tokens[source[text]]
    input_ids[:, 0] = corpus.cls_id
    rows = np.arange(len(lengths))
    input_ids[rows, len_a + 1] = corpus.sep_id
    input_ids[rows, lengths - 1] = corpus.sep_id
    attention_mask = (pos < lengths[:, None]).astype(np.int64)
    token_type_ids = ((pos >= la + 2) & (attention_mask > 0)).astype(np.int64)
    return input_ids, token_type_ids, attention_mask


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

        self._doc_segments = doc_segments
        self._offsets = corpus.segment_offsets
        self._tokens = corpus.tokens.view(np.ndarray)
        self._cls, self._sep = corpus.cls_id, corpus.sep_id

        self.anchors = SegmentRanges.build(doc_segments, docs)
        if self.anchors.size == 0:
            raise PipelineError(f"{corpus.corpus_dir}: the selected documents hold no segments")
        pool = self.anchors if restrict_pairs else SegmentRanges.build(doc_segments, all_docs)
        usable_target = np.zeros(num_docs, dtype=bool)
        usable_target[pool.docs] = True
        context = RelationContext(corpus, drp, self.anchors, pool, usable_target)
        self.relations: tuple[Relation, ...] = tuple(relation_class(name)(context) for name in drp.relations)
        self.relation_names = tuple(drp.relations)
        self.eligible = tuple(r.eligible for r in self.relations)
        self.probabilities = self._relation_probabilities(drp, skip_impossible)
        self._cum_probabilities = np.cumsum(self.probabilities)
        self._last_relation = max(r for r, p in enumerate(self.probabilities) if p > 0)

    def _relation_probabilities(self, drp: DrpConfig, skip_impossible: bool) -> list[float]:
        probabilities = list(drp.class_probabilities)
        impossible = [r for r, p in enumerate(probabilities) if p > 0 and self.eligible[r].size == 0]
        if impossible and not skip_impossible:
            relation = self.relations[impossible[0]]
            raise PipelineError(
                f"{self.corpus.corpus_dir}: DRP relation '{relation.name}' is impossible: "
                f"{relation.why_impossible()}{relation.hint}"
            )
        for r in impossible:
            log.warning(
                "DRP relation '%s' skipped for %s (%s); the other relations are reweighted",
                self.relations[r].name,
                self.corpus.corpus_dir,
                self.relations[r].why_impossible(),
            )
            probabilities[r] = 0.0
        total = sum(probabilities)
        if total <= 0:
            raise PipelineError(f"{self.corpus.corpus_dir}: no DRP relation is possible on these documents")
        return [p / total for p in probabilities]

    def relation_index(self, name: str) -> int:
        """The DRP label of relation `name`."""
        return self.relation_names.index(name)

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
        for r, relation_r in enumerate(self.relations):
            rows = np.flatnonzero(relation == r)
            if len(rows) == 0:
                continue
            eligible = relation_r.eligible
            docs, offsets = eligible.locate(below_array(anchor_bits[rows], eligible.size))
            anchor[rows] = self._doc_segments[docs] + offsets
            pair[rows] = relation_r.pairs(docs, anchor[rows], pair_bits[rows], target_bits[rows])
        return PairDraws(samples, relation.astype(np.int64), anchor, pair, stream_array(keys, 5))

    def encode(self, draws: PairDraws, pad_to_multiple_of: int = 1) -> dict[str, np.ndarray]:
        """`[CLS] A [SEP] B [SEP]` rows, padded with [PAD] to the longest (rounded up to a multiple)."""
        input_ids, token_type_ids, attention_mask = encode_segment_pairs(
            self.corpus, draws.anchor, draws.pair, self.max_seq_len, pad_to_multiple_of, tokens=self._tokens
        )
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
