"""The held-out DRP set: balance, caps per document pair and per anchor, B unseen in training, coverage
counts, and its micro batches (rank slices, ignored padding rows, the sampler's pairs under the masks)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

from pretrain.config import DataConfig, DrpConfig
from pretrain.data.collator import IGNORE_INDEX, MlmCollator
from pretrain.data.corpus_data import LinkedCorpus
from pretrain.data.heldout import SEARCH_FACTOR, HeldOutBatches, HeldOutSet, baselines, select_balanced
from pretrain.data.loader import build_eval_sampler, heldout_split
from pretrain.data.sampler import PairSampler

NAMES = ("contiguous", "random", "linked")
DATA = DataConfig(max_seq_len=64, heldout_fraction=0.1)


@pytest.fixture(scope="module")
def corpus(synthetic_corpus_dir: Path) -> LinkedCorpus:
    return LinkedCorpus.open(synthetic_corpus_dir)


@pytest.fixture(scope="module")
def sampler(corpus: LinkedCorpus) -> PairSampler:
    return build_eval_sampler(corpus, DATA, DrpConfig(), seed=0)


@pytest.fixture(scope="module")
def training_docs(corpus: LinkedCorpus) -> np.ndarray:
    return heldout_split(corpus, DATA, DrpConfig())[0]


def doc_of(corpus: LinkedCorpus, segments: np.ndarray) -> np.ndarray:
    return np.searchsorted(corpus.doc_segments, segments, side="right") - 1


def test_the_set_is_balanced_deterministic_and_matches_the_sampler(
    corpus: LinkedCorpus, sampler: PairSampler, training_docs: np.ndarray
) -> None:
    """`per_class` pairs of each relation, ascending sample numbers, the same on every call, with the
    relations and documents the sampler draws for those samples."""
    held = select_balanced(sampler, 40, NAMES, training_docs=training_docs)
    assert held.counts == [40, 40, 40] and held.balanced and len(held.samples) == 120
    assert np.all(np.diff(held.samples) > 0)
    draws = sampler.draw(held.samples)
    np.testing.assert_array_equal(draws.relation, held.relation)
    np.testing.assert_array_equal(doc_of(corpus, draws.anchor), held.anchor_doc)
    np.testing.assert_array_equal(doc_of(corpus, draws.pair), held.pair_doc)
    np.testing.assert_array_equal(held.pair_unseen, ~np.isin(held.pair_doc, training_docs))
    assert not np.isin(held.anchor_doc, training_docs).any()
    again = select_balanced(sampler, 40, NAMES, training_docs=training_docs)
    for field in ("samples", "relation", "anchor_doc", "pair_doc", "pair_unseen"):
        np.testing.assert_array_equal(getattr(held, field), getattr(again, field))


def test_caps_bound_pairs_per_document_pair_and_per_anchor(sampler: PairSampler) -> None:
    """With caps, no relation holds more than `max_per_edge` pairs of one (A, B) document pair or
    `max_per_document` pairs of one anchor document; the uncapped set exceeds both."""

    def most(held: HeldOutSet, r: int) -> tuple[int, int]:
        rows = held.relation == r
        per_doc = np.unique(held.anchor_doc[rows], return_counts=True)[1].max()
        apart = rows & (held.anchor_doc != held.pair_doc)
        edges = np.stack([held.anchor_doc[apart], held.pair_doc[apart]], axis=1)
        per_edge = np.unique(edges, axis=0, return_counts=True)[1].max() if len(edges) else 0
        return int(per_doc), int(per_edge)

    uncapped = select_balanced(sampler, 60, NAMES)
    assert max(most(uncapped, r)[0] for r in range(3)) > 2
    assert max(most(uncapped, r)[1] for r in range(1, 3)) > 1
    capped = select_balanced(sampler, 60, NAMES, max_per_edge=1, max_per_document=2)
    assert capped.counts == [60, 60, 60]
    for r in range(3):
        per_doc, per_edge = most(capped, r)
        assert per_doc <= 2 and per_edge <= 1
    # One pair per linked document pair: as many edges as pairs, over at least 60 / 2 anchors.
    assert capped.edges(2) == 60 and capped.coverage()["linked"]["anchor_documents"] >= 30


def test_pairs_with_b_unseen_in_training_come_first(
    corpus: LinkedCorpus, sampler: PairSampler, training_docs: np.ndarray
) -> None:
    """Per relation, candidates whose B document is not a training document are taken first, in sample
    order, then the others; without `training_docs` every B counts as unseen and sample order rules."""
    per_class = 30
    held = select_balanced(sampler, per_class, NAMES, training_docs=training_docs)
    plain = select_balanced(sampler, per_class, NAMES)
    assert plain.pair_unseen.all()
    draws = sampler.draw(np.arange(per_class * 3 * SEARCH_FACTOR))
    unseen = ~np.isin(doc_of(corpus, draws.pair), training_docs)
    for r in range(3):
        rows = draws.relation == r
        first_unseen = draws.samples[rows & unseen]
        then_seen = draws.samples[rows & ~unseen]
        expected = np.sort(np.concatenate([first_unseen, then_seen])[:per_class])
        np.testing.assert_array_equal(held.samples[held.relation == r], expected)
        np.testing.assert_array_equal(plain.samples[plain.relation == r], draws.samples[rows][:per_class])
        assert held.unseen(r) == min(per_class, len(first_unseen))
    assert held.unseen(0) == per_class  # contiguous: B is A's own held-out document
    # The preference matters: in plain sample order fewer linked pairs have B unseen in training.
    plain_linked_b = plain.pair_doc[plain.relation == 2]
    assert held.unseen(2) > int((~np.isin(plain_linked_b, training_docs)).sum())


def test_a_set_too_small_for_its_caps_is_unbalanced_and_says_so(
    sampler: PairSampler, caplog: pytest.LogCaptureFixture
) -> None:
    """One pair per anchor document caps each relation at the number of held-out anchors; the set keeps
    what it has and warns."""
    anchors = len(np.unique(sampler.anchors.docs))
    with caplog.at_level(logging.WARNING, logger="pretrain.data.heldout"):
        held = select_balanced(sampler, anchors + 50, NAMES, max_per_document=1)
    assert not held.balanced
    assert all(0 < c <= anchors for c in held.counts)
    for r in range(3):
        assert len(np.unique(held.anchor_doc[held.relation == r])) == held.counts[r]
    assert "held-out set is unbalanced" in caplog.text


def test_coverage_counts_pairs_anchors_edges_and_unseen_documents() -> None:
    """Coverage and description of a hand-made set; without documents, only pair counts."""
    held = HeldOutSet(
        samples=np.array([1, 4, 6, 9, 12, 15], dtype=np.int64),
        relation=np.array([0, 0, 2, 2, 2, 0], dtype=np.int64),
        per_class=3,
        class_names=NAMES,
        anchor_doc=np.array([5, 5, 5, 7, 5, 8], dtype=np.int64),
        pair_doc=np.array([5, 5, 9, 9, 9, 8], dtype=np.int64),
        pair_unseen=np.array([True, True, False, True, False, True]),
    )
    assert held.counts == [3, 0, 3] and not held.balanced
    assert held.coverage() == {
        "contiguous": {"pairs": 3, "anchor_documents": 2, "edges": 2, "unseen_pair_documents": 3},
        "random": {"pairs": 0, "anchor_documents": 0, "edges": 0, "unseen_pair_documents": 0},
        "linked": {"pairs": 3, "anchor_documents": 2, "edges": 2, "unseen_pair_documents": 1},
    }
    assert held.describe() == (
        "6 held-out pairs (contiguous 3, random 0, linked 3); "
        "contiguous: 2 document pairs from 2 anchors, 3 with B unseen in training, "
        "random: 0 document pairs from 0 anchors, 0 with B unseen in training, "
        "linked: 2 document pairs from 2 anchors, 1 with B unseen in training"
    )
    bare = HeldOutSet(held.samples, held.relation, 3, NAMES)
    assert bare.edges(0) == 0 and bare.unseen(2) == 0
    assert bare.coverage()["linked"] == {
        "pairs": 3,
        "anchor_documents": 0,
        "edges": 0,
        "unseen_pair_documents": 0,
    }
    assert bare.describe() == "6 held-out pairs (contiguous 3, random 0, linked 3)"


def test_batches_split_the_set_over_ranks_and_ignore_the_padding(
    corpus: LinkedCorpus, sampler: PairSampler
) -> None:
    """10 pairs, 4 per micro batch, 2 ranks: 2 batches each; rank 0 ends with 2 padding rows, rank 1's
    last batch is all padding, and padding rows carry no DRP or MLM label."""
    held = select_balanced(sampler, 4, NAMES)
    held = HeldOutSet(held.samples[:10], held.relation[:10], 4, NAMES)
    collator = MlmCollator.from_config(corpus, DATA)
    ranks = [
        list(HeldOutBatches(held, sampler, collator, micro_batch_size=4, rank=r, world_size=2))
        for r in range(2)
    ]
    assert [len(batches) for batches in ranks] == [2, 2]
    expected = {
        (0, 0): held.samples[0:4],
        (1, 0): held.samples[4:8],
        (0, 1): held.samples[8:10],
        (1, 1): held.samples[:0],
    }
    for (rank, i), samples in expected.items():
        batch = ranks[rank][i]
        real = len(samples)
        assert batch["input_ids"].shape[0] == 4
        assert batch["sample_index"][:real].tolist() == samples.tolist()
        assert batch["drp_labels"][:real].tolist() == sampler.draw(samples).relation.tolist()
        assert (batch["drp_labels"][real:] == IGNORE_INDEX).all()
        assert (batch["labels"][real:] == IGNORE_INDEX).all()
        assert batch["sample_index"][real:].tolist() == [held.samples[0]] * (4 - real)
    again = HeldOutBatches(held, sampler, collator, micro_batch_size=4, rank=0, world_size=2)
    assert all((a["input_ids"] == b["input_ids"]).all() for a, b in zip(ranks[0], again, strict=True))


def test_batches_are_the_samplers_pairs_under_the_mlm_masks(
    corpus: LinkedCorpus, sampler: PairSampler
) -> None:
    """Putting the MLM labels back into the masked ids gives the sampler's unmasked pairs."""
    held = select_balanced(sampler, 4, NAMES)
    collator = MlmCollator.from_config(corpus, DATA)
    batches = HeldOutBatches(held, sampler, collator, micro_batch_size=len(held.samples))
    assert len(batches) == 1
    batch = batches.batch(0)
    plain = sampler.batch(held.samples, pad_to_multiple_of=collator.pad_to_multiple_of)
    ids, labels = batch["input_ids"].numpy(), batch["labels"].numpy()
    masked = labels != IGNORE_INDEX
    assert masked.any(axis=1).all()
    assert (ids[masked] != labels[masked]).any()
    np.testing.assert_array_equal(np.where(masked, labels, ids), plain["input_ids"])
    np.testing.assert_array_equal(batch["attention_mask"].numpy(), plain["attention_mask"])


def test_baselines_are_chance_and_the_largest_class_share() -> None:
    """Chance is 1/classes; majority is the largest count over the total; no pairs give NaN."""
    assert baselines([10, 5, 5]) == {"drp_chance_acc": pytest.approx(1 / 3), "drp_majority_acc": 0.5}
    assert baselines([3, 1]) == {"drp_chance_acc": 0.5, "drp_majority_acc": 0.75}
    empty = baselines([0, 0])
    assert empty["drp_chance_acc"] == 0.5 and math.isnan(empty["drp_majority_acc"])
    none = baselines([])
    assert math.isnan(none["drp_chance_acc"]) and math.isnan(none["drp_majority_acc"])
