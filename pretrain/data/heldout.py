"""The held-out DRP set: a fixed list of pairs with equal counts per relation, from held-out documents.

A stream of held-out samples follows the relation probabilities, so on a small corpus a few hundred
pairs can be 40/25/35 and "always answer linked" then scores 0.35 for nothing. Here the first
`per_class` samples of each relation in the held-out sampler's own order are kept, so accuracy,
chance (1/classes) and the majority-class baseline are directly comparable. Where a relation has fewer
eligible anchors than asked (a sparse sample), it keeps what it has and the set says so.

The set is split into micro batches across ranks; the last global batch is filled with copies of the
first pair whose labels are IGNORE_INDEX, so every rank runs the same number of forward passes
(ZeRO-3 gathers parameters inside forward) and the padding counts nowhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from pretrain.data.collator import IGNORE_INDEX, MlmCollator
from pretrain.data.sampler import PairSampler

log = logging.getLogger(__name__)

# How far past `per_class * classes` samples the search for rare relations may go before giving up.
SEARCH_FACTOR = 64


@dataclass(frozen=True)
class HeldOutSet:
    """Global sample numbers of the held-out pairs (in the held-out sampler's space), by relation, with
    the documents of both sides."""

    samples: np.ndarray  # int64 [P], ascending
    relation: np.ndarray  # int64 [P]
    per_class: int  # the count asked for each relation
    class_names: tuple[str, ...]
    anchor_doc: np.ndarray | None = None  # int64 [P]: A's document
    pair_doc: np.ndarray | None = None  # int64 [P]: B's document
    pair_unseen: np.ndarray | None = None  # bool [P]: B's document is not a training document

    @property
    def counts(self) -> list[int]:
        return [int((self.relation == r).sum()) for r in range(len(self.class_names))]

    @property
    def balanced(self) -> bool:
        return all(c == self.per_class for c in self.counts)

    def edges(self, r: int) -> int:
        """Distinct (A's document, B's document) pairs of relation r."""
        if self.anchor_doc is None:
            return 0
        rows = self.relation == r
        return len(set(zip(self.anchor_doc[rows].tolist(), self.pair_doc[rows].tolist(), strict=True)))

    def unseen(self, r: int) -> int:
        """Pairs of relation r whose B document no training pair can contain."""
        return 0 if self.pair_unseen is None else int(self.pair_unseen[self.relation == r].sum())

    def coverage(self) -> dict[str, dict[str, int]]:
        """Per relation: pairs, distinct anchor documents, distinct document pairs (edges), and pairs
        whose B document is unseen in training."""
        out = {}
        for r, name in enumerate(self.class_names):
            rows = self.relation == r
            anchors = 0 if self.anchor_doc is None else len(np.unique(self.anchor_doc[rows]))
            out[name] = {
                "pairs": int(rows.sum()),
                "anchor_documents": anchors,
                "edges": self.edges(r),
                "unseen_pair_documents": self.unseen(r),
            }
        return out

    def describe(self) -> str:
        parts = ", ".join(f"{n} {c}" for n, c in zip(self.class_names, self.counts, strict=True))
        text = f"{len(self.samples)} held-out pairs ({parts})"
        if self.anchor_doc is not None:
            cover = self.coverage()
            text += "; " + ", ".join(
                f"{name}: {c['edges']} document pairs from {c['anchor_documents']} anchors, "
                f"{c['unseen_pair_documents']} with B unseen in training"
                for name, c in cover.items()
            )
        return text


def select_balanced(
    sampler: PairSampler,
    per_class: int,
    class_names: tuple[str, ...],
    *,
    max_per_edge: int | None = None,
    max_per_document: int | None = None,
    training_docs: np.ndarray | None = None,
) -> HeldOutSet:
    """`per_class` held-out samples of each relation the sampler can draw, spread by caps.

    Candidates are the first `per_class * classes * SEARCH_FACTOR` samples of the held-out sampler. Per
    relation they are taken in sample order, pairs whose B document is not a training document first
    (`training_docs`: B never seen in training, for every relation alike, so familiarity with B's text
    tells no relation apart), skipping a candidate once its (A document, B document) pair holds
    `max_per_edge` pairs or its A document `max_per_document` pairs of that relation.
    """
    possible = [r for r, p in enumerate(sampler.probabilities) if p > 0]
    wanted = per_class * len(possible)
    limit = max(wanted * SEARCH_FACTOR, 4096)
    draws = sampler.draw(np.arange(limit, dtype=np.int64))
    doc_segments = sampler.corpus.doc_segments
    anchor_doc = np.searchsorted(doc_segments, draws.anchor, side="right") - 1
    pair_doc = np.searchsorted(doc_segments, draws.pair, side="right") - 1
    unseen = np.ones(limit, dtype=bool)
    if training_docs is not None:
        in_training = np.zeros(sampler.corpus.num_docs, dtype=bool)
        in_training[training_docs] = True
        unseen = ~in_training[pair_doc]
    edge_cap = max_per_edge or limit
    doc_cap = max_per_document or limit
    chosen: list[int] = []
    for r in possible:
        rows = np.flatnonzero(draws.relation == r)
        rows = rows[np.argsort(~unseen[rows], kind="stable")]
        per_edge: dict[tuple[int, int], int] = {}
        per_doc: dict[int, int] = {}
        taken = 0
        for i, a, b in zip(rows.tolist(), anchor_doc[rows].tolist(), pair_doc[rows].tolist(), strict=True):
            if taken == per_class:
                break
            # A pair inside one document (a == b) is bounded by the per-document cap alone.
            if (a != b and per_edge.get((a, b), 0) >= edge_cap) or per_doc.get(a, 0) >= doc_cap:
                continue
            per_edge[(a, b)] = per_edge.get((a, b), 0) + 1
            per_doc[a] = per_doc.get(a, 0) + 1
            chosen.append(i)
            taken += 1
    rows = np.sort(np.asarray(chosen, dtype=np.int64))
    result = HeldOutSet(
        draws.samples[rows],
        draws.relation[rows],
        per_class,
        class_names,
        anchor_doc=anchor_doc[rows].astype(np.int64),
        pair_doc=pair_doc[rows].astype(np.int64),
        pair_unseen=unseen[rows],
    )
    if not result.balanced:
        log.warning(
            "held-out set is unbalanced: %s, %d asked per relation (the held-out documents allow no more "
            "within %d draws, at most %s pairs per document pair and %s per anchor document); accuracy is "
            "reported beside the majority-class baseline of this set",
            result.describe(),
            per_class,
            limit,
            max_per_edge,
            max_per_document,
        )
    return result


class HeldOutBatches:
    """This rank's micro batches of a `HeldOutSet`, masked by the collator; the same on every iteration."""

    def __init__(
        self,
        heldout: HeldOutSet,
        sampler: PairSampler,
        collator: MlmCollator,
        *,
        micro_batch_size: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.heldout, self.sampler, self.collator = heldout, sampler, collator
        self.micro_batch_size, self.rank, self.world_size = micro_batch_size, rank, world_size
        per_step = micro_batch_size * world_size
        self.num_batches = max(1, -(-len(heldout.samples) // per_step))

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self):
        for i in range(self.num_batches):
            yield self.batch(i)

    def batch(self, i: int) -> dict[str, torch.Tensor]:
        first = (i * self.world_size + self.rank) * self.micro_batch_size
        samples = self.heldout.samples[first : first + self.micro_batch_size]
        padding = self.micro_batch_size - len(samples)
        if padding:
            filler = np.full(padding, self.heldout.samples[0] if len(self.heldout.samples) else 0)
            samples = np.concatenate([samples, filler])
        batch = self.collator.collate(
            self.sampler.batch(samples, pad_to_multiple_of=self.collator.pad_to_multiple_of)
        )
        if padding:
            batch["drp_labels"][-padding:] = IGNORE_INDEX
            batch["labels"][-padding:] = IGNORE_INDEX
        return batch


def baselines(counts: list[int]) -> dict[str, float]:
    """What accuracy means on this set: chance (a uniform guess over the classes) and always answering
    the set's largest class."""
    total = sum(counts)
    return {
        "drp_chance_acc": 1.0 / len(counts) if counts else float("nan"),
        "drp_majority_acc": max(counts) / total if total else float("nan"),
    }


__all__ = ["HeldOutBatches", "HeldOutSet", "baselines", "select_balanced"]
