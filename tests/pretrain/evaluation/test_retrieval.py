"""Cross-document retrieval on a generated linked corpus with a tiny real export: which queries, which
candidates, the metrics and their tie rule, and each ranker against a direct computation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pretrain.config import ModelConfig
from pretrain.data.corpus_data import LinkedCorpus
from pretrain.data.synthetic import write_synthetic_corpus
from pretrain.evaluation.report import format_retrieval, plot_retrieval
from pretrain.evaluation.retrieval import (
    draw_negatives,
    evaluate_retrieval,
    ranking_metrics,
    select_queries,
    target_ranks,
    tfidf_scores,
)
from pretrain.evaluation.scoring import drp_probabilities
from pretrain.modeling.linkbert import build_model
from tests.pretrain.evaluation.test_evaluate import TINY

RELATIONS = ("contiguous", "random", "linked")


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 documents, ~4 out-links each, some without links or segments; short segments, fast forwards."""
    return write_synthetic_corpus(
        tmp_path_factory.mktemp("retrieval") / "corpus",
        num_docs=120,
        seed=11,
        avg_out_links=4.0,
        vocab_size=200,
        segment_tokens=(4, 40),
        dropped_fraction=0.1,
        isolated_fraction=0.1,
    )


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path) -> LinkedCorpus:
    return LinkedCorpus.open(corpus_dir)


def write_tiny_export(
    corpus: LinkedCorpus, out: Path, relations: tuple[str, ...] = RELATIONS, seed: int = 0
) -> Path:
    """What `linkbert export` leaves for a tiny model: weights, config with drp_relations, tokenizer."""
    torch.manual_seed(seed)
    model, _ = build_model(
        ModelConfig(**TINY, max_position_embeddings=128),
        vocab_size=corpus.vocab_size,
        drp_classes=len(relations),
        pad_token_id=corpus.pad_id,
    )
    model.config.drp_relations = list(relations)
    model.save_pretrained(str(out))
    shutil.copytree(corpus.tokenizer_dir, out, dirs_exist_ok=True)
    return out


@pytest.fixture(scope="module")
def tiny_export(corpus: LinkedCorpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_export(corpus, tmp_path_factory.mktemp("export") / "model")


def _has_segments(corpus: LinkedCorpus) -> np.ndarray:
    return np.diff(corpus.doc_segments) > 0


# --- queries and candidates -----------------------------------------------------------------------


def test_queries_come_only_from_usable_links_round_robin(corpus):
    usable = _has_segments(corpus)
    anchors = np.arange(0, corpus.num_docs, 2)
    source, target = select_queries(corpus, anchors, None, max_queries=10_000)
    assert len(source) > 0 and set(source.tolist()) <= set(anchors.tolist())
    for a, t in zip(source.tolist(), target.tolist(), strict=True):
        assert t in corpus.out_links(a).tolist() and usable[t] and usable[a] and t != a
    # Every usable link of every anchor is a query, once.
    expected = {
        (a, int(t))
        for a in anchors.tolist()
        if usable[a]
        for t in corpus.out_links(a)
        if usable[t] and t != a
    }
    assert set(zip(source.tolist(), target.tolist(), strict=True)) == expected
    assert len(source) == len(expected)
    # Round-robin: the first round holds each anchor with a usable link once, in id order.
    with_links = sorted({a for a, _ in expected})
    assert source[: len(with_links)].tolist() == with_links
    capped, _ = select_queries(corpus, anchors, None, max_queries=len(with_links))
    assert capped.tolist() == with_links


def test_negatives_are_never_linked_and_are_deterministic(corpus):
    source, target = select_queries(corpus, np.arange(corpus.num_docs), None, max_queries=60)
    negatives = draw_negatives(corpus, source, target, 19, seed=3)
    assert negatives.shape == (len(source), 19)
    usable = _has_segments(corpus)
    for a, row in zip(source.tolist(), negatives, strict=True):
        linked = set(corpus.out_links(a).tolist())
        assert not linked & set(row.tolist()) and a not in row
        assert usable[row].all() and len(set(row.tolist())) == len(row)
    assert np.array_equal(negatives, draw_negatives(corpus, source, target, 19, seed=3))
    # A query keeps its candidates whatever the other queries are.
    assert np.array_equal(negatives[5:9], draw_negatives(corpus, source[5:9], target[5:9], 19, seed=3))
    assert not np.array_equal(negatives, draw_negatives(corpus, source, target, 19, seed=4))


def test_negatives_shrink_to_what_the_corpus_has(corpus):
    source, target = select_queries(corpus, np.arange(corpus.num_docs), None, max_queries=5)
    allowed = [
        int(_has_segments(corpus).sum()) - len(set(corpus.out_links(a).tolist()) | {a})
        for a in source.tolist()
    ]
    negatives = draw_negatives(corpus, source, target, 10_000, seed=0)
    # Each row is exactly the allowed pool when the smallest pool is asked for in full.
    assert negatives.shape[1] == min(allowed)
    row = int(np.argmin(allowed))
    linked = set(corpus.out_links(int(source[row])).tolist()) | {int(source[row])}
    pool = {d for d in np.flatnonzero(_has_segments(corpus)).tolist() if d not in linked}
    assert set(negatives[row].tolist()) == pool


# --- metrics --------------------------------------------------------------------------------------


def test_ties_count_against_the_target():
    scores = np.array(
        [
            [0.9, 0.1, 0.2, 0.3],  # best: rank 1
            [0.5, 0.5, 0.1, 0.1],  # tied with one candidate: rank 2
            [0.2, 0.2, 0.2, 0.2],  # all equal: last
            [0.1, 0.3, 0.2, 0.0],  # two above: rank 3
        ]
    )
    assert target_ranks(scores).tolist() == [1, 2, 4, 3]
    metrics = ranking_metrics(target_ranks(scores))
    assert metrics["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 4 + 1 / 3) / 4)
    assert metrics["recall@1"] == 0.25 and metrics["recall@5"] == 1.0


def test_tfidf_matches_a_dense_computation_and_finds_an_identical_text(corpus):
    source, target = select_queries(corpus, np.arange(corpus.num_docs), None, max_queries=8)
    negatives = draw_negatives(corpus, source, target, 6, seed=0)
    # The anchor's own document as the "target": the identical text scores cosine 1, above all else.
    docs = np.concatenate([source[:, None], negatives], axis=1)
    scores = tfidf_scores(corpus, source, docs, seed=0)
    assert scores[:, 0] == pytest.approx(1.0)
    assert ranking_metrics(target_ranks(scores))["mrr"] == 1.0

    special = set(corpus.special_ids.values())
    usable = np.flatnonzero(_has_segments(corpus))

    def counts(doc: int) -> np.ndarray:
        tokens = [t for t in corpus.segment(int(corpus.doc_segments[doc])).tolist() if t not in special]
        return np.bincount(tokens, minlength=corpus.vocab_size).astype(float)

    df = sum((counts(d) > 0).astype(float) for d in usable)
    idf = np.log((1 + len(usable)) / (1 + df)) + 1

    def vector(doc: int) -> np.ndarray:
        v = counts(doc) * idf
        return v / np.linalg.norm(v)

    for q in range(len(source)):
        for c in range(docs.shape[1]):
            direct = vector(int(source[q])) @ vector(int(docs[q, c]))
            assert scores[q, c] == pytest.approx(direct, abs=1e-9)


def reference_pair(a: list[int], b: list[int], max_len: int, cls: int, sep: int) -> dict[str, torch.Tensor]:
    """[CLS] a [SEP] b [SEP] after Hugging Face's longest_first, one token at a time from the longer side
    (the pair side on ties), the way the library loops."""
    a, b = list(a), list(b)
    while len(a) + len(b) > max_len - 3:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    ids = [cls, *a, sep, *b, sep]
    types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    return {
        "input_ids": torch.tensor([ids]),
        "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
        "token_type_ids": torch.tensor([types]),
    }


def test_drp_scores_read_the_pair_as_pretraining_does(corpus, tiny_export):
    """The drp_linked score of each pair against a forward of that one pair, built and truncated by hand."""
    from pretrain.evaluation.retrieval import drp_scores
    from pretrain.evaluation.scoring import load_export_model

    model = load_export_model(tiny_export, torch.device("cpu"))
    source, target = select_queries(corpus, np.arange(corpus.num_docs), None, max_queries=6)
    docs = np.concatenate([target[:, None], draw_negatives(corpus, source, target, 3, seed=0)], axis=1)
    max_len = 24  # shorter than most pairs: truncation matters
    scores = drp_scores(model, corpus, source, docs, RELATIONS.index("linked"), max_len, batch_size=5)
    for q in range(len(source)):
        for c in range(docs.shape[1]):
            a = corpus.segment(int(corpus.doc_segments[source[q]])).tolist()
            b = corpus.segment(int(corpus.doc_segments[docs[q, c]])).tolist()
            pair = reference_pair(a, b, max_len, corpus.cls_id, corpus.sep_id)
            probs = drp_probabilities(model, **pair, between_documents=True)
            assert scores[q, c] == pytest.approx(float(probs[0, 2]), abs=1e-5)
    # The head's probability through the model's own forward (the MLM head run too) agrees: linked among
    # the relations that hold between two documents (contiguous cannot).
    with torch.no_grad():
        logits = model(**reference_pair(a, b, max_len, corpus.cls_id, corpus.sep_id)).drp_logits
    probs = torch.softmax(logits, -1)[0]
    assert scores[-1, -1] == pytest.approx(float(probs[2] / (probs[1] + probs[2])), abs=1e-5)


# --- the whole evaluation -------------------------------------------------------------------------


def test_evaluate_retrieval_reports_every_ranker(corpus, tiny_export, tmp_path):
    anchors = np.arange(0, corpus.num_docs, 3)
    result = evaluate_retrieval(
        tiny_export, corpus, anchors, warm_start=tiny_export, max_queries=30, num_candidates=9, max_len=64
    )
    assert json.loads(json.dumps(result)) == result  # JSON-safe
    assert result["queries"] == 30 and result["candidates"] == 9 and result["text"] == "first segment"
    assert 0 < result["anchors"] <= len(anchors)
    assert list(result["rankers"]) == ["drp_linked", "export_cosine", "warm_start_cosine", "tfidf_cosine"]
    for figures in result["rankers"].values():
        assert set(figures) == {"mrr", "recall@1", "recall@5"}
        assert 1 / 10 <= figures["mrr"] <= 1 and figures["recall@1"] <= figures["recall@5"]
    # The warm start here is the export itself: its encoder loaded by AutoModel is the export's encoder.
    assert result["rankers"]["warm_start_cosine"] == pytest.approx(result["rankers"]["export_cosine"])
    again = evaluate_retrieval(
        tiny_export, corpus, anchors, warm_start=tiny_export, max_queries=30, num_candidates=9, max_len=64
    )
    assert again == result

    table = format_retrieval(result)
    assert "drp_linked" in table and "chance" in table and "1 + 9 candidates" in table
    assert plot_retrieval(result, tmp_path / "retrieval.png")
    assert (tmp_path / "retrieval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_linked_relation_means_no_drp_ranker(corpus, tmp_path):
    export = write_tiny_export(corpus, tmp_path / "two", relations=("contiguous", "random"))
    result = evaluate_retrieval(export, corpus, np.arange(corpus.num_docs), max_queries=5, max_len=64)
    assert list(result["rankers"]) == ["export_cosine", "tfidf_cosine"]


def test_anchors_without_usable_links_give_a_reason(corpus, tiny_export, tmp_path):
    usable = _has_segments(corpus)
    linkless = [
        d
        for d in range(corpus.num_docs)
        if not any(usable[t] for t in corpus.out_links(d).tolist() if t != d)
    ]
    assert linkless
    result = evaluate_retrieval(tiny_export, corpus, np.asarray(linkless))
    assert (
        result["queries"] == 0
        and result["rankers"] == {}
        and "no held-out document links" in result["reason"]
    )
    assert "not run" in format_retrieval(result)
    assert not plot_retrieval(result, tmp_path / "none.png") and not (tmp_path / "none.png").exists()
