"""The export behaves as any Hugging Face BERT checkpoint: `transformers.Trainer` fine-tunes it for
extractive QA and for sequence classification, and the fine-tuned folders reload.

The data comes from the bundled Wikipedia sample: a sentence with a wikilink is a context whose anchor
is the answer to the question "the linked article's title"; sentences with and without a link are the
two classes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

pytestmark = pytest.mark.slow  # builds the sample corpus, runs 2 real pretraining steps, fine-tunes twice

MAX_LENGTH = 96


def _sentences(corpus_dir: Path, limit: int = 64) -> tuple[list[dict], list[str]]:
    """(sentences with one body link: text, anchor, start, target), (sentences without a link)."""
    linked, plain = [], []
    for part in sorted((corpus_dir / "docs").glob("*.parquet")):
        for doc in pq.read_table(part, columns=["text", "links"]).to_pylist():
            text, links = doc["text"], [lk for lk in doc["links"] if lk["kind"] == "body"]
            for match in re.finditer(r"[^.\n]{40,240}\.", text):
                s, e = match.span()
                inside = [lk for lk in links if s <= lk["start"] and lk["end"] <= e]
                if len(inside) == 1 and len(linked) < limit:
                    lk = inside[0]
                    linked.append(
                        {
                            "context": text[s:e],
                            "answer": lk["anchor"],
                            "start": lk["start"] - s,
                            "question": lk["target"],
                        }
                    )
                elif not any(s < lk["end"] and lk["start"] < e for lk in links) and len(plain) < limit:
                    plain.append(text[s:e])
            if len(linked) >= limit and len(plain) >= limit:
                return linked, plain
    return linked, plain


class Rows(torch.utils.data.Dataset):
    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


def _qa_rows(tokenizer, examples: list[dict]) -> list[dict]:
    rows = []
    for ex in examples:
        enc = tokenizer(
            ex["question"],
            ex["context"],
            truncation="only_second",
            max_length=MAX_LENGTH,
            padding="max_length",
            return_offsets_mapping=True,
        )
        seq, offsets = enc.sequence_ids(), enc.pop("offset_mapping")
        start_char, end_char = ex["start"], ex["start"] + len(ex["answer"])
        tokens = [
            i
            for i, (sid, (a, b)) in enumerate(zip(seq, offsets, strict=True))
            if sid == 1 and a < end_char and b > start_char
        ]
        if not tokens:
            continue  # the answer was cut off
        rows.append(
            {
                **{k: torch.tensor(v) for k, v in enc.items()},
                "start_positions": tokens[0],
                "end_positions": tokens[-1],
            }
        )
    return rows


def _trainer(model, rows: list[dict], out: Path, lr: float):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        max_steps=16,
        learning_rate=lr,
        warmup_steps=0,
        logging_steps=4,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    return Trainer(model=model, args=args, train_dataset=Rows(rows), eval_dataset=Rows(rows))


def _reloads_identically(cls, model, out: Path, batch: dict) -> None:
    reloaded = cls.from_pretrained(str(out)).eval()
    model.eval()
    with torch.no_grad():
        a, b = model(**batch), reloaded(**batch)
    for key in ("logits", "start_logits", "end_logits"):
        if key in a:
            torch.testing.assert_close(a[key], b[key])


def test_trainer_fine_tunes_the_export_for_extractive_qa(
    minilm_export: Path, sample_corpus_dir: Path, tmp_path: Path
):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_export))
    linked, _ = _sentences(sample_corpus_dir)
    rows = _qa_rows(tokenizer, linked)
    assert len(rows) >= 32
    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(str(minilm_export))
    trainer = _trainer(model, rows, tmp_path / "qa", lr=3e-4)
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_loss"]
    assert after < 0.7 * before, (before, after)
    trainer.save_model(str(tmp_path / "qa-model"))
    tokenizer.save_pretrained(str(tmp_path / "qa-model"))
    batch = {
        k: torch.stack([r[k] for r in rows[:4]]) for k in ("input_ids", "attention_mask", "token_type_ids")
    }
    _reloads_identically(AutoModelForQuestionAnswering, model, tmp_path / "qa-model", batch)


def test_trainer_fine_tunes_the_export_for_sequence_classification(
    minilm_export: Path, sample_corpus_dir: Path, tmp_path: Path
):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_export))
    linked, plain = _sentences(sample_corpus_dir, limit=32)
    texts = [ex["context"] for ex in linked] + plain
    labels = [1] * len(linked) + [0] * len(plain)
    enc = tokenizer(texts, truncation=True, max_length=MAX_LENGTH, padding="max_length", return_tensors="pt")
    rows = [{**{k: v[i] for k, v in enc.items()}, "labels": labels[i]} for i in range(len(texts))]
    assert sum(labels) >= 16 and len(labels) - sum(labels) >= 16
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(minilm_export), num_labels=2)
    trainer = _trainer(model, rows, tmp_path / "cls", lr=1e-4)
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_loss"]
    assert after < before, (before, after)
    trainer.save_model(str(tmp_path / "cls-model"))
    batch = {k: v[:4] for k, v in enc.items()}
    _reloads_identically(AutoModelForSequenceClassification, model, tmp_path / "cls-model", batch)
