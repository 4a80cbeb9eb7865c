"""Bootstrap intervals and the per-document-pair rows of `linkbert eval`."""

from __future__ import annotations

import numpy as np

from pretrain.evaluation.drp_report import bootstrap_intervals, per_edge

NAMES = ("contiguous", "random", "linked")


def test_intervals_contain_the_accuracy_and_shrink_with_more_pairs() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (30, 300, 3000):
        labels = np.repeat(np.arange(3), n)
        predicted = np.where(rng.random(3 * n) < 0.7, labels, (labels + 1) % 3)
        ci = bootstrap_intervals(labels, predicted, NAMES, seed=1)
        accuracy = float((labels == predicted).mean())
        assert ci["acc"][0] <= accuracy <= ci["acc"][1]
        for r, name in enumerate(NAMES):
            hits = float((predicted[labels == r] == r).mean())
            assert ci[f"acc_{name}"][0] <= hits <= ci[f"acc_{name}"][1]
        widths.append(ci["acc"][1] - ci["acc"][0])
    assert widths[0] > widths[1] > widths[2]


def test_a_relation_without_pairs_has_no_interval() -> None:
    ci = bootstrap_intervals(np.array([0, 0, 1]), np.array([0, 1, 1]), NAMES)
    assert ci["acc_linked"] is None and ci["acc"] is not None


def test_per_edge_counts_pairs_between_two_documents_for_each_predictor() -> None:
    relation = np.array([0, 2, 2, 2, 1])
    anchor = np.array([4, 4, 4, 5, 4])
    pair = np.array([4, 7, 7, 8, 9])  # the contiguous pair (4 -> 4) is inside one document
    unseen = np.array([True, False, False, True, True])
    predictions = {"model": np.array([0, 2, 1, 2, 1]), "baseline": np.array([0, 1, 1, 2, 2])}
    rows = per_edge(relation, anchor, pair, unseen, predictions, NAMES, [f"doc{i}" for i in range(10)])
    assert [(r["relation"], r["anchor"], r["target"], r["pairs"]) for r in rows] == [
        ("random", "doc4", "doc9", 1),
        ("linked", "doc4", "doc7", 2),
        ("linked", "doc5", "doc8", 1),
    ]
    linked = rows[1]
    assert linked["correct_model"] == 1 and linked["correct_baseline"] == 0
    assert linked["target_unseen"] is False and rows[2]["target_unseen"] is True
