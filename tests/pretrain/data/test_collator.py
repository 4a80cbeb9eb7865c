from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from foundation.errors import PipelineError
from pretrain.config import DataConfig, DrpConfig
from pretrain.data.collator import IGNORE_INDEX, MlmCollator, continuation_table
from pretrain.data.corpus_data import LinkedCorpus
from pretrain.data.sampler import PairSampler


@pytest.fixture(scope="module")
def corpus(synthetic_corpus_dir: Path) -> LinkedCorpus:
    return LinkedCorpus.open(synthetic_corpus_dir)


@pytest.fixture(scope="module")
def sampler(corpus: LinkedCorpus) -> PairSampler:
    return PairSampler(corpus, DrpConfig(), max_seq_len=256, seed=21)


def masked_batches(collator: MlmCollator, sampler: PairSampler, batches: int = 40, size: int = 32):
    for i in range(batches):
        raw = sampler.batch(np.arange(i * size, (i + 1) * size))
        yield raw, collator.collate(raw)


def test_masking_rates_and_labels(corpus: LinkedCorpus, sampler: PairSampler) -> None:
    collator = MlmCollator(corpus)
    specials = torch.tensor(list(corpus.special_ids.values()))
    counts = dict(text=0, selected=0, masked=0, random=0, kept=0)
    for raw, batch in masked_batches(collator, sampler):
        original = torch.from_numpy(raw["input_ids"])
        width = original.shape[1]
        assert batch["input_ids"].shape[1] % 8 == 0 and batch["input_ids"].dtype == torch.int64
        original = torch.nn.functional.pad(
            original, (0, batch["input_ids"].shape[1] - width), value=corpus.pad_id
        )
        text = (batch["attention_mask"] > 0) & ~torch.isin(original, specials)
        selected = batch["labels"] != IGNORE_INDEX
        assert not (selected & ~text).any()  # specials and padding are never targets
        assert torch.equal(batch["labels"][selected], original[selected])
        assert torch.equal(batch["input_ids"][~selected], original[~selected])
        assert selected.any(dim=1).all()
        ids = batch["input_ids"][selected]
        counts["text"] += int(text.sum())
        counts["selected"] += int(selected.sum())
        counts["masked"] += int((ids == corpus.mask_id).sum())
        counts["kept"] += int((ids == original[selected]).sum())
        replaced = (ids != corpus.mask_id) & (ids != original[selected])
        counts["random"] += int(replaced.sum())
        assert not torch.isin(ids[replaced], specials).any()
    assert abs(counts["selected"] / counts["text"] - 0.15) < 0.005
    n = counts["selected"]
    assert abs(counts["masked"] / n - 0.8) < 0.015
    # A random replacement hits the original token with probability 1/vocab: it counts as kept.
    assert abs(counts["random"] / n - 0.1) < 0.01
    assert abs(counts["kept"] / n - 0.1) < 0.01


def test_random_replacements_cover_the_vocabulary(corpus: LinkedCorpus, sampler: PairSampler) -> None:
    collator = MlmCollator(corpus)
    drawn = []
    for raw, batch in masked_batches(collator, sampler, batches=60):
        padded = np.pad(
            raw["input_ids"], ((0, 0), (0, batch["input_ids"].shape[1] - raw["input_ids"].shape[1]))
        )
        changed = (batch["input_ids"].numpy() != padded) & (batch["input_ids"].numpy() != corpus.mask_id)
        drawn.append(batch["input_ids"].numpy()[changed])
    drawn = np.concatenate(drawn)
    assert drawn.min() >= 5 and drawn.max() < corpus.vocab_size  # ids 0..4 are the specials
    assert len(np.unique(drawn)) > 0.5 * min(len(drawn), corpus.vocab_size - 5)


def test_every_sequence_gets_a_target_even_when_short(corpus: LinkedCorpus) -> None:
    collator = MlmCollator(corpus)
    examples = [
        {"input_ids": np.array([corpus.cls_id, 7 + i, corpus.sep_id, 9, corpus.sep_id]), "mask_key": i}
        for i in range(200)
    ]
    batch = collator(examples)
    selected = batch["labels"] != IGNORE_INDEX
    assert selected.sum(dim=1).min() >= 1
    assert batch["input_ids"].shape == (200, 8)
    assert not selected[:, [0, 2, 4, 5, 6, 7]].any()
    only_specials = [{"input_ids": np.array([corpus.cls_id, corpus.sep_id, corpus.sep_id]), "mask_key": 1}]
    assert (collator(only_specials)["labels"] == IGNORE_INDEX).all()


def test_masking_depends_only_on_the_example(corpus: LinkedCorpus, sampler: PairSampler) -> None:
    collator = MlmCollator(corpus)
    examples = [sampler.example(0, k) for k in range(16)]
    together = collator(examples)
    for i in (0, 7, 15):
        alone = collator([examples[i]])
        n = alone["input_ids"].shape[1]
        assert torch.equal(together["input_ids"][i, :n], alone["input_ids"][0])
        assert torch.equal(together["labels"][i, :n], alone["labels"][0])
    assert torch.equal(collator(examples)["input_ids"], together["input_ids"])
    # Same as the vectorized path the loader takes.
    direct = collator.collate(sampler.batch(np.arange(16), pad_to_multiple_of=8))
    assert all(torch.equal(direct[k], together[k]) for k in direct)
    assert set(direct) == {
        "input_ids",
        "token_type_ids",
        "attention_mask",
        "labels",
        "drp_labels",
        "sample_index",
    }


def test_examples_without_keys_use_the_given_generator(corpus: LinkedCorpus, sampler: PairSampler) -> None:
    collator = MlmCollator(corpus.special_ids, vocab_size=corpus.vocab_size)
    examples = [{"input_ids": sampler.example(0, k)["input_ids"]} for k in range(8)]
    a = collator(examples, np.random.default_rng(5))
    b = collator(examples, np.random.default_rng(5))
    c = collator(examples, np.random.default_rng(6))
    assert torch.equal(a["labels"], b["labels"]) and not torch.equal(a["labels"], c["labels"])


def test_continuation_table_from_the_tokenizer(corpus: LinkedCorpus) -> None:
    from transformers import AutoTokenizer

    table = continuation_table(corpus.tokenizer_dir, corpus.vocab_size)
    tokens = AutoTokenizer.from_pretrained(corpus.tokenizer_dir).convert_ids_to_tokens(
        list(range(corpus.vocab_size))
    )
    assert np.array_equal(table, np.array([t.startswith("##") for t in tokens]))
    assert 0.2 < table.mean() < 0.3


def test_whole_word_masking_masks_whole_words(corpus: LinkedCorpus, sampler: PairSampler) -> None:
    collator = MlmCollator.from_config(corpus, DataConfig(whole_word_masking=True))
    is_piece = continuation_table(corpus.tokenizer_dir, corpus.vocab_size)
    text_tokens = selected_tokens = 0
    for raw, batch in masked_batches(collator, sampler, batches=30):
        ids = raw["input_ids"]
        selected = (batch["labels"] != IGNORE_INDEX).numpy()[:, : ids.shape[1]]
        text = (raw["attention_mask"] > 0) & (ids > 4)
        # A "##" piece right after another text token belongs to that token's word: same fate.
        follows = text[:, 1:] & text[:, :-1] & is_piece[ids[:, 1:]]
        assert np.array_equal(selected[:, 1:][follows], selected[:, :-1][follows])
        assert not (selected & ~text).any()
        text_tokens += int(text.sum())
        selected_tokens += int(selected.sum())
    assert abs(selected_tokens / text_tokens - 0.15) < 0.01


def test_whole_word_masking_needs_wordpiece(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": {}}}')
    with pytest.raises(PipelineError, match="WordPiece"):
        MlmCollator(
            {"cls": 0, "sep": 1, "mask": 2, "pad": 3, "unk": 4},
            vocab_size=100,
            whole_word_masking=True,
            tokenizer_dir=tmp_path,
        )


def test_token_ids_outside_the_vocabulary_are_refused(corpus: LinkedCorpus) -> None:
    collator = MlmCollator(corpus)
    with pytest.raises(PipelineError, match="outside the vocabulary"):
        collator(
            [{"input_ids": np.array([corpus.cls_id, corpus.vocab_size + 3, corpus.sep_id]), "mask_key": 0}]
        )
