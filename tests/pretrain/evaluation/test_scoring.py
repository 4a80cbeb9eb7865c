"""DocumentScorer and `linkbert score` on a tiny real export: probabilities, ranking, errors, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from foundation.errors import PipelineError
from pipeline.cli import main
from pretrain.evaluation.scoring import DocumentScorer, read_candidates
from tests.pretrain.evaluation.test_retrieval import RELATIONS, corpus, corpus_dir, tiny_export  # noqa: F401

TEXT = "w5 w6 w9 ##p7 w13 w17"
CANDIDATES = ["w5 w6 w9", "w21 w22", "w30 w31 w33 w34 w37 w38 w41 w42", "w5", "w50 w9 ##p11 w6", "w101"]


@pytest.fixture(scope="module")
def scorer(tiny_export: Path) -> DocumentScorer:  # noqa: F811
    return DocumentScorer.from_pretrained(tiny_export, device="cpu")


def test_probabilities_sum_to_one_and_do_not_depend_on_batching(scorer, tiny_export):  # noqa: F811
    probs = scorer.score(TEXT, CANDIDATES, between_documents=False)
    assert probs.shape == (len(CANDIDATES), len(RELATIONS)) and scorer.relations == RELATIONS
    assert probs.sum(axis=1) == pytest.approx(np.ones(len(CANDIDATES)), abs=1e-5)
    assert (probs > 0).all()
    # Candidates are other documents by default: contiguous (B from A's own document) gets 0, the others
    # share what it had.
    between = scorer.score(TEXT, CANDIDATES)
    assert (between[:, 0] == 0).all() and between.sum(axis=1) == pytest.approx(
        np.ones(len(CANDIDATES)), abs=1e-5
    )
    assert between[:, 2] == pytest.approx(probs[:, 2] / probs[:, 1:].sum(axis=1), abs=1e-5)
    # Batches of 2 (other padding, other neighbours) give the same numbers.
    small = DocumentScorer.from_pretrained(tiny_export, device="cpu", batch_size=2)
    assert small.score(TEXT, CANDIDATES, between_documents=False) == pytest.approx(probs, abs=1e-5)
    # Each row is the model's own forward of the one pair, text as segment A and candidate as B.
    for row, candidate in zip(probs, CANDIDATES, strict=True):
        pair = scorer.tokenizer(TEXT, candidate, return_tensors="pt")
        assert pair["token_type_ids"].sum() == len(scorer.tokenizer(candidate)["input_ids"]) - 1  # B + [SEP]
        with torch.no_grad():
            direct = torch.softmax(scorer.model(**pair).drp_logits, -1)[0]
        assert row == pytest.approx(direct.numpy(), abs=1e-5)


def test_rank_orders_by_the_relation(scorer):
    probs = scorer.score(TEXT, CANDIDATES)
    ranking = scorer.rank(TEXT, CANDIDATES, "linked")
    assert [i for i, _ in ranking] == np.argsort(-probs[:, 2], kind="stable").tolist()
    assert [p for _, p in ranking] == pytest.approx(sorted(probs[:, 2], reverse=True), abs=1e-6)
    top = scorer.rank(TEXT, CANDIDATES, "random", top=2)
    assert len(top) == 2 and top[0][0] == int(np.argmax(probs[:, 1]))


def test_unknown_relation_names_the_available_ones(scorer):
    with pytest.raises(PipelineError, match="'cited' is not one of .*contiguous, random, linked"):
        scorer.rank(TEXT, CANDIDATES, "cited")


def test_a_folder_that_is_not_an_export_is_refused(tmp_path):
    with pytest.raises(PipelineError, match=f"{tmp_path} is not an exported model folder"):
        DocumentScorer.from_pretrained(tmp_path)
    plain = tmp_path / "bert"
    config = BertConfig(
        vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
    )
    BertModel(config).save_pretrained(str(plain))
    with pytest.raises(PipelineError, match=f"{plain} has no DRP head"):
        DocumentScorer.from_pretrained(plain)


def test_candidate_files_plain_and_jsonl(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("first text\n\n  second text  \n", encoding="utf-8")
    assert [(c.text, c.title) for c in read_candidates(plain)] == [
        ("first text", None),
        ("second text", None),
    ]
    long = "x " * 100
    assert (
        read_candidates_label(tmp_path, long).endswith("…")
        and len(read_candidates_label(tmp_path, long)) == 80
    )
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"title": "A", "text": "a text"}\n{"text": "untitled"}\n', encoding="utf-8")
    assert [(c.text, c.label) for c in read_candidates(jsonl)] == [("a text", "A"), ("untitled", "untitled")]
    jsonl.write_text('{"title": "A", "text": "a text"}\n{"title": "B"}\n', encoding="utf-8")
    with pytest.raises(PipelineError, match='line 2 has no "text"'):
        read_candidates(jsonl)


def read_candidates_label(tmp_path: Path, text: str) -> str:
    path = tmp_path / "one.txt"
    path.write_text(text + "\n", encoding="utf-8")
    return read_candidates(path)[0].label


def test_cli_prints_a_ranking(tiny_export, tmp_path, capsys):  # noqa: F811
    candidates = tmp_path / "candidates.jsonl"
    lines = [json.dumps({"title": f"Doc {i}", "text": text}) for i, text in enumerate(CANDIDATES)]
    candidates.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text_file = tmp_path / "text.txt"
    text_file.write_text(TEXT + "\n", encoding="utf-8")
    args = [
        "score",
        "--model",
        str(tiny_export),
        "--text-file",
        str(text_file),
        "--candidates",
        str(candidates),
    ]

    assert main([*args, "--top", "3"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "p(linked)" in out[0] and len(out) == 4
    expected = DocumentScorer.from_pretrained(tiny_export, device="cpu").rank(TEXT, CANDIDATES, top=3)
    for position, (row, (i, prob)) in enumerate(zip(out[1:], expected, strict=True), 1):
        rank, shown, title = row.split(maxsplit=2)
        assert int(rank) == position and float(shown) == pytest.approx(prob, abs=1e-4) and title == f"Doc {i}"

    assert main([*args, "--json", "--top", "0"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in rows] == list(range(1, len(CANDIDATES) + 1))
    assert rows[0]["title"] == f"Doc {expected[0][0]}" and rows[0]["relation"] == "linked"

    assert main([*args, "--relation", "cited"]) == 2
    assert "not one of this model's DRP relations" in capsys.readouterr().err
