"""DRP is learnable end to end: sampler -> collator -> model -> loss, on a corpus where one relation is separable.

Every document gets its own six tokens, so a contiguous pair shares its tokens and a random or linked
pair does not. The best a model can do is then: contiguous always right, random vs linked a coin toss
(DRP loss 2/3 ln 2 ~ 0.46, accuracy ~ 0.67). A broken label, pair or pooling path stays at ln 3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.tree import load_config
from pretrain.data.corpus_data import LinkedCorpus
from pretrain.data.loader import build_train_loader
from pretrain.data.synthetic import write_synthetic_corpus
from pretrain.modeling.linkbert import build_model

STEPS = 400


def _corpus_with_document_vocabularies(root: Path) -> LinkedCorpus:
    out = write_synthetic_corpus(root, num_docs=300, seed=1, segment_tokens=(12, 30), segments_per_doc=(2, 5))
    corpus = LinkedCorpus.open(out)
    tokens = np.memmap(out / "segments" / "tokens.bin", dtype=corpus.tokens.dtype, mode="r+")
    rng = np.random.default_rng(0)
    first = max(corpus.special_ids.values()) + 1
    for doc in range(corpus.num_docs):
        lo = corpus.segment_offsets[corpus.doc_segments[doc]]
        hi = corpus.segment_offsets[corpus.doc_segments[doc + 1]]
        own = first + (doc * 7 + np.arange(6)) % (corpus.vocab_size - first)
        tokens[lo:hi] = rng.choice(own, size=hi - lo)
    tokens.flush()
    return LinkedCorpus.open(out)


@pytest.mark.slow  # 400 optimizer steps: about a minute alone, several on a loaded machine
def test_drp_head_learns_a_separable_relation(tmp_path: Path):
    torch.manual_seed(0)
    corpus = _corpus_with_document_vocabularies(tmp_path / "corpus")
    cfg = load_config(
        None,
        [
            "data.max_seq_len=64",
            "data.num_workers=0",
            "model.hidden_size=64",
            "model.num_hidden_layers=2",
            "model.num_attention_heads=2",
            "model.intermediate_size=128",
            "model.hidden_dropout_prob=0.0",
            "model.attention_probs_dropout_prob=0.0",
        ],
    )
    model, _ = build_model(cfg.model, vocab_size=corpus.vocab_size, drp_classes=3, pad_token_id=corpus.pad_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches = iter(
        build_train_loader(corpus, cfg.data, cfg.drp, seed=0, micro_batch_size=32, rank=0, world_size=1)
    )
    losses, hits = [], []
    for _ in range(STEPS):
        batch = next(batches)
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
            labels=batch["labels"],
            drp_labels=batch["drp_labels"],
        )
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(out.drp_loss.item())
        contiguous = batch["drp_labels"] == 0
        hits.append((out.drp_logits.argmax(-1)[contiguous] == 0).float().mean().item())
    first, last = np.mean(losses[:50]), np.mean(losses[-100:])
    assert first > 1.05  # chance: ln 3 = 1.099
    assert last < 0.9, f"DRP loss {first:.3f} -> {last:.3f}: the relation signal does not reach the loss"
    assert np.mean(hits[-100:]) > 0.8  # the separable class is recognized
