from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from foundation.errors import PipelineError
from pretrain.config import DataConfig, DrpConfig
from pretrain.data.corpus_data import LinkedCorpus, split_documents
from pretrain.data.loader import build_heldout_batches, build_train_loader, build_train_sampler, heldout_split
from pretrain.relations.base import count_usable_out_links


@pytest.fixture(scope="module")
def corpus(synthetic_corpus_dir: Path) -> LinkedCorpus:
    return LinkedCorpus.open(synthetic_corpus_dir)


def data_config(workers: int, **kw) -> DataConfig:
    return DataConfig(num_workers=workers, max_seq_len=64, prefetch_factor=2, **kw)


def take(loader, n: int) -> list[dict[str, torch.Tensor]]:
    return list(itertools.islice(loader, n))


def same(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True)
    )


def test_batches_have_the_trainer_contract(corpus: LinkedCorpus) -> None:
    loader = build_train_loader(
        corpus, data_config(0), DrpConfig(), seed=1, micro_batch_size=4, rank=0, world_size=1
    )
    batch = next(iter(loader))
    assert set(batch) == {
        "input_ids",
        "token_type_ids",
        "attention_mask",
        "labels",
        "drp_labels",
        "sample_index",
    }
    assert all(v.dtype == torch.int64 for v in batch.values())
    assert batch["input_ids"].shape[0] == 4 and batch["input_ids"].shape[1] % 8 == 0
    assert batch["input_ids"].shape[1] <= 64
    assert batch["sample_index"].tolist() == [0, 1, 2, 3]


@pytest.mark.slow
def test_two_ranks_with_two_workers_cover_an_epoch_exactly_once(corpus: LinkedCorpus) -> None:
    data, mb, world = data_config(2), 64, 2
    epoch = len(build_train_sampler(corpus, data, DrpConfig(), seed=5))
    steps = -(-epoch // (world * mb))
    seen = []
    for rank in range(world):
        loader = build_train_loader(
            corpus, data, DrpConfig(), seed=5, micro_batch_size=mb, rank=rank, world_size=world
        )
        seen.append(np.concatenate([b["sample_index"].numpy() for b in take(loader, steps)]))
    assert len(np.intersect1d(seen[0], seen[1])) == 0
    everything = np.concatenate(seen)
    assert np.array_equal(np.sort(everything[everything < epoch]), np.arange(epoch))
    assert everything.max() < epoch + world * mb  # nothing beyond the last micro step


@pytest.mark.slow
def test_worker_count_does_not_change_the_stream(corpus: LinkedCorpus) -> None:
    kw = dict(seed=3, micro_batch_size=8, rank=1, world_size=3)
    serial = take(build_train_loader(corpus, data_config(0), DrpConfig(), **kw), 12)
    parallel = take(build_train_loader(corpus, data_config(2), DrpConfig(), **kw), 12)
    assert same(serial, parallel)


@pytest.mark.slow
def test_resuming_at_a_sample_continues_the_identical_stream(corpus: LinkedCorpus) -> None:
    kw = dict(seed=3, micro_batch_size=4, world_size=2)
    for rank in range(2):
        full = take(build_train_loader(corpus, data_config(2), DrpConfig(), rank=rank, **kw), 10)
        # Resume after 6 micro steps, i.e. step 3 of a job with 2 accumulation steps (global batch 16).
        resumed = take(
            build_train_loader(corpus, data_config(1), DrpConfig(), rank=rank, start_sample=6 * 8, **kw), 4
        )
        assert same(full[6:], resumed)
    # The stream crosses epoch boundaries without a seam: sample numbers keep counting.
    epoch = len(build_train_sampler(corpus, data_config(0), DrpConfig(), seed=3))
    late = take(
        build_train_loader(corpus, data_config(0), DrpConfig(), rank=0, start_sample=epoch - 4, **kw), 2
    )
    assert late[0]["sample_index"].tolist() == list(range(epoch - 4, epoch))
    assert late[1]["sample_index"].tolist() == list(range(epoch + 4, epoch + 8))


def test_training_never_sees_heldout_documents(corpus: LinkedCorpus) -> None:
    data = data_config(0, heldout_fraction=0.2)
    _, heldout = heldout_split(corpus, data, DrpConfig())
    sampler = build_train_sampler(corpus, data, DrpConfig(), seed=0)
    draws = sampler.draw(np.arange(20_000))
    docs = np.searchsorted(corpus.doc_segments, np.r_[draws.anchor, draws.pair], side="right") - 1
    assert not np.isin(docs, heldout).any()


def test_heldout_set_is_fixed_balanced_and_from_heldout_documents(corpus: LinkedCorpus) -> None:
    data = data_config(0, heldout_fraction=0.05)
    loader = build_heldout_batches(corpus, data, DrpConfig(), seed=0, micro_batch_size=8, pairs=60)
    first, second = list(loader), list(loader)
    assert same(first, second)
    labels = np.concatenate([b["drp_labels"].numpy() for b in first])
    # 60 pairs = 20 per relation; the last global batch is padded with ignored rows.
    assert np.bincount(labels[labels >= 0], minlength=3).tolist() == [20, 20, 20]
    assert len(first) == -(-60 // 8) and (labels < 0).sum() == len(first) * 8 - 60
    _, heldout = heldout_split(corpus, data, DrpConfig())
    anchors = loader.sampler.draw(loader.heldout.samples).anchor
    docs = np.searchsorted(corpus.doc_segments, anchors, side="right") - 1
    assert np.isin(docs, heldout).all()
    # Two ranks split the same set: together they see every pair once, in the same number of batches.
    ranks = [
        list(
            build_heldout_batches(
                corpus, data, DrpConfig(), seed=0, micro_batch_size=8, pairs=60, rank=r, world_size=2
            )
        )
        for r in range(2)
    ]
    assert len(ranks[0]) == len(ranks[1])
    seen = np.concatenate(
        [b["sample_index"].numpy()[b["drp_labels"].numpy() >= 0] for rank in ranks for b in rank]
    )
    assert sorted(seen.tolist()) == loader.heldout.samples.tolist()


def test_eval_loader_needs_heldout_documents(corpus: LinkedCorpus) -> None:
    with pytest.raises(PipelineError, match="heldout_fraction"):
        build_heldout_batches(
            corpus, data_config(0, heldout_fraction=0.0), DrpConfig(), seed=0, micro_batch_size=8, pairs=30
        )


def test_linked_split_holds_out_documents_with_links_only(corpus: LinkedCorpus) -> None:
    data = data_config(0, heldout_fraction=0.1)
    train, heldout = heldout_split(corpus, data, DrpConfig())
    has_segments = np.diff(corpus.doc_segments) > 0
    links = count_usable_out_links(corpus.indptr, corpus.indices, has_segments)
    assert len(heldout) > 0 and (links[heldout] > 0).all() and has_segments[heldout].all()
    # About the count a plain split holds out, and a partition of the documents.
    plain = split_documents(corpus.num_docs, 0.1, data.split_seed)[1]
    assert abs(len(heldout) - len(plain)) < 0.3 * len(plain)
    assert sorted([*train, *heldout]) == list(range(corpus.num_docs))
    # "any" is the plain split; a relation list without linked needs no links either.
    any_kind = DataConfig(**{**data.__dict__, "heldout_documents": "any"})
    np.testing.assert_array_equal(heldout_split(corpus, any_kind, DrpConfig())[1], plain)
    two = DrpConfig(relations=("contiguous", "random"))
    np.testing.assert_array_equal(heldout_split(corpus, data, two)[1], plain)


def test_heldout_caps_spread_pairs_over_documents_and_prefer_unseen_pairs(corpus: LinkedCorpus) -> None:
    data = data_config(0, heldout_fraction=0.1)
    loader = build_heldout_batches(
        corpus,
        data,
        DrpConfig(),
        seed=0,
        micro_batch_size=8,
        pairs=150,
        max_pairs_per_edge=2,
        max_pairs_per_document=3,
    )
    held = loader.heldout
    assert held.counts == [50, 50, 50]
    draws = loader.sampler.draw(held.samples)
    np.testing.assert_array_equal(draws.relation, held.relation)
    np.testing.assert_array_equal(
        np.searchsorted(corpus.doc_segments, draws.pair, side="right") - 1, held.pair_doc
    )
    for r in range(3):
        rows = held.relation == r
        _, per_doc = np.unique(held.anchor_doc[rows], return_counts=True)
        assert per_doc.max() <= 3
        between = rows & (held.anchor_doc != held.pair_doc)
        edges = list(zip(held.anchor_doc[between].tolist(), held.pair_doc[between].tolist(), strict=True))
        assert all(edges.count(e) <= 2 for e in set(edges))
    cover = held.coverage()
    assert cover["linked"]["edges"] >= 25 and cover["contiguous"]["unseen_pair_documents"] == 50
    # B's document unseen in training is preferred: the uncapped first draws would use training ones.
    train, _ = heldout_split(corpus, data, DrpConfig())
    assert held.unseen(2) == int((~np.isin(held.pair_doc[held.relation == 2], train)).sum())
    assert held.unseen(1) == 50  # enough held-out documents for every random pair
