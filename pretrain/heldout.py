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

from pretrain.collator import IGNORE_INDEX, MlmCollator
from pretrain.sampler import PairSampler

log = logging.getLogger(__name__)

# How far past `per_class * classes` samples the search for rare relations may go before giving up.
SEARCH_FACTOR = 64


@dataclass(frozen=True)
class HeldOutSet:
    """Global sample numbers of the held-out pairs (in the held-out sampler's space), by relation."""

    samples: np.ndarray  # int64 [P], ascending
    relation: np.ndarray  # int64 [P]
    per_class: int  # the count asked for each relation
    class_names: tuple[str, ...]

    @property
    def counts(self) -> list[int]:
        return [int((self.relation == r).sum()) for r in range(len(self.class_names))]

    @property
    def balanced(self) -> bool:
        return all(c == self.per_class for c in self.counts)

    def describe(self) -> str:
        parts = ", ".join(f"{n} {c}" for n, c in zip(self.class_names, self.counts, strict=True))
        return f"{len(self.samples)} held-out pairs ({parts})"


def select_balanced(sampler: PairSampler, per_class: int, class_names: tuple[str, ...]) -> HeldOutSet:
    """The first `per_class` held-out samples of each relation the sampler can draw."""
    possible = [r for r, p in enumerate(sampler.probabilities) if p > 0]
    wanted = per_class * len(possible)
    limit = max(wanted * SEARCH_FACTOR, 4096)
    chosen: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    taken = np.zeros(len(class_names), dtype=np.int64)
    start, chunk = 0, max(4 * wanted, 256)
    while start < limit and any(taken[r] < per_class for r in possible):
        samples = np.arange(start, start + chunk, dtype=np.int64)
        relation = sampler.draw(samples).relation
        for r in possible:
            need = per_class - int(taken[r])
            if need > 0:
                rows = samples[relation == r][:need]
                chosen.append(rows)
                labels.append(np.full(len(rows), r, dtype=np.int64))
                taken[r] += len(rows)
        start += chunk
    samples = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    relation = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
    order = np.argsort(samples, kind="stable")
    result = HeldOutSet(samples[order], relation[order], per_class, class_names)
    if not result.balanced:
        log.warning(
            "held-out set is unbalanced: %s, %d asked per relation (the held-out documents allow no more "
            "within %d draws); accuracy is reported beside the majority-class baseline of this set",
            result.describe(),
            per_class,
            limit,
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
