"""The export's README.md: its sections, tables and figures from the run's metrics, config and corpus,
notes for missing sources, and the `linkbert eval` section put into it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from transformers import BertConfig

from formats import graph as graph_format
from formats import segments as segments_format
from formats.run import metrics_path
from pretrain.config import DataConfig, ModelConfig, PretrainConfig, TrainConfig
from pretrain.evaluation.drp_plots import CONFUSION_FILE, PER_CLASS_FILE
from pretrain.export.model_card import (
    CURVES_FILE,
    EVAL_BEGIN,
    EVAL_END,
    add_eval_section,
    eval_section,
    plot_curves,
    write_model_card,
)

THREE = ["contiguous", "random", "linked"]
SECTIONS = ("## Model", "## Training", "## Data", "## Held-out evaluation", "## Full configuration")


def config(corpus_dir: Path) -> PretrainConfig:
    return PretrainConfig(
        data=DataConfig(corpus=str(corpus_dir), max_seq_len=64, heldout_fraction=0.1, split_seed=3),
        model=ModelConfig(drp_weight=0.5),
        train=TrainConfig(
            run_name="card-test", max_steps=8, global_batch_size=16, micro_batch_size=8, lr=5e-4
        ),
    )


def model_config() -> BertConfig:
    return BertConfig(
        vocab_size=1000,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        num_drp_labels=3,
        drp_readout="segments",
    )


def train_row(step: int) -> dict[str, Any]:
    return {"step": step, "split": "train", "loss": 5.0 - step / 2, "mlm_loss": 4.0, "drp_loss": 1.0}


def eval_row(step: int, drp_acc: float) -> dict[str, Any]:
    return {
        "step": step,
        "split": "eval",
        "mlm_loss": 2.5,
        "mlm_acc": 0.25,
        "perplexity": 12.18,
        "drp_loss": 0.9,
        "drp_acc": drp_acc,
        "drp_chance_acc": 1 / 3,
        "drp_majority_acc": 1 / 3,
        "mlm_tokens": 1500,
        "drp_examples": 30,
        "drp_classes": THREE,
        "confusion": [[8, 1, 1], [2, 6, 2], [3, 3, 4]],
        "drp_acc_contiguous": 0.8,
        "drp_acc_random": 0.6,
        "drp_acc_linked": 0.4,
    }


def write_metrics(run_dir: Path, rows: list[dict[str, Any]], tail: str = "") -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path(run_dir).write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)


def card(out: Path, run_dir: Path, corpus_dir: Path, step: int = 4):
    out.mkdir(parents=True, exist_ok=True)
    return write_model_card(
        out,
        cfg=config(corpus_dir),
        run_dir=run_dir,
        corpus_dir=corpus_dir,
        step=step,
        trainer_state={"tokens_seen": 8192, "world_size": 2, "nonfinite_steps": 0},
        model_config=model_config(),
        num_parameters=1_234_567,
        dtype="float32",
    )


def is_png(path: Path) -> bool:
    with Image.open(path) as image:
        image.load()
        return image.format == "PNG"


def test_a_card_of_a_run_with_metrics_has_every_section_and_figure(
    tmp_path: Path, synthetic_corpus_dir: Path
) -> None:
    """Sections in order, model/training/data tables, the last held-out row up to the step with its
    verdict and confusion table, and the three figures written beside the README."""
    rows = [train_row(s) for s in range(1, 7)] + [eval_row(2, 0.5), eval_row(4, 0.6), eval_row(6, 0.9)]
    write_metrics(tmp_path / "run", rows)
    out = tmp_path / "export"
    result = card(out, tmp_path / "run", synthetic_corpus_dir)
    text = (out / "README.md").read_text()
    assert text == result.text
    assert result.final_eval == eval_row(4, 0.6) and result.curves
    assert [text.index(s) for s in SECTIONS] == sorted(text.index(s) for s in SECTIONS)
    assert text.startswith("---\n") and "# card-test: a LinkBERT-style encoder" in text
    for line in (
        "| layers | 2 |",
        "| vocabulary | 1,000 |",
        "| parameters (encoder + heads) | 1,234,567 |",
        "| DRP classes | 3 |",
        "| DRP read-out | segments |",
        "| initialized from | scratch |",
        "| steps | 4 |",
        "| schedule length (train.max_steps) | 8 |",
        "| tokens seen | 8,192 |",
        "| sequences per step | 16 |",
        "| peak lr | 0.0005 |",
        "| processes | 2 |",
        "| MLM / DRP loss weights | 1 / 0.5 |",
        f"![losses and accuracies]({CURVES_FILE})",
        "Step 4, 1,500 masked tokens, 30 DRP pairs from held-out documents",
        "**DRP learned: held-out accuracy 0.600 beats the majority-class baseline 0.333 by 0.267 "
        "(chance 0.333); weakest relation: linked (0.400).**",
        "| drp_acc | 0.6 |",
        "| drp_chance_acc | 0.3333 |",
        "| drp_acc_linked | 0.4 |",
        "| | contiguous | random | linked |",
        "| contiguous | 8 | 1 | 1 |",
        "| linked | 3 | 3 | 4 |",
        f"![held-out DRP accuracy per relation]({PER_CLASS_FILE}) ![DRP confusion matrix]({CONFUSION_FILE})",
        "at most 64 tokens; 15% of tokens masked",
        "10.0% of documents (split seed 3) are held out.",
    ):
        assert line in text, line
    graph_stats = graph_format.peek_stats(synthetic_corpus_dir)
    segments = segments_format.peek_manifest(synthetic_corpus_dir)
    assert f"| graph: edges | {graph_stats['edges']:,} |" in text
    assert f"| segments: num_segments | {segments['num_segments']:,} |" in text
    assert "documents (extraction)" not in text
    for name in (CURVES_FILE, PER_CLASS_FILE, CONFUSION_FILE):
        assert is_png(out / name)


def test_the_card_records_hub_metadata_and_the_resolved_configuration(
    tmp_path: Path, synthetic_corpus_dir: Path
) -> None:
    """The front matter is hub YAML; the configuration block holds the model's real sizes and the
    corpus's recorded graph config."""
    text = card(tmp_path / "export", tmp_path / "run", synthetic_corpus_dir).text
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["library_name"] == "transformers" and meta["license"] == "apache-2.0"
    assert "base_model" not in meta
    resolved = yaml.safe_load(text.split("```yaml\n")[1].split("\n```")[0])
    assert resolved["model"]["hidden_size"] == 32 and resolved["model"]["num_hidden_layers"] == 2
    assert resolved["train"]["run_name"] == "card-test"
    assert resolved["graph"] == graph_format.peek_manifest(synthetic_corpus_dir)["config"]


def test_missing_sources_leave_notes_instead_of_sections(tmp_path: Path) -> None:
    """No metrics file and an empty corpus folder: a card with notes and no figures."""
    corpus = tmp_path / "no-corpus"
    corpus.mkdir()
    out = tmp_path / "export"
    result = card(out, tmp_path / "no-run", corpus)
    assert result.final_eval is None and not result.curves
    text = (out / "README.md").read_text()
    assert "(no training metrics were logged up to this checkpoint)" in text
    assert "(no held-out evaluation in the run's metrics up to this checkpoint)" in text
    assert f"(no corpus statistics found under `{corpus}`)" in text
    assert "![" not in text
    assert sorted(p.name for p in out.iterdir()) == ["README.md"]


def test_a_cut_last_metrics_line_is_skipped(tmp_path: Path, synthetic_corpus_dir: Path) -> None:
    """A run killed mid-write: the card uses the whole rows and ignores the cut one."""
    rows = [train_row(1), train_row(2), eval_row(2, 0.4)]
    write_metrics(tmp_path / "run", rows, tail='{"step": 3, "split": "eval", "drp_acc": 0.')
    result = card(tmp_path / "export", tmp_path / "run", synthetic_corpus_dir)
    assert result.final_eval == eval_row(2, 0.4) and result.curves
    assert "Step 2, 1,500 masked tokens" in result.text
    assert "**DRP barely above a guess: held-out accuracy 0.400 is only 0.067 above" in result.text


def test_loss_curves_need_a_loss(tmp_path: Path) -> None:
    """Rows without any loss draw nothing; held-out rows alone are enough for a 1100x400 picture."""
    path = tmp_path / CURVES_FILE
    assert not plot_curves([], path)
    assert not plot_curves([{"step": 1, "split": "train"}, {"step": 1, "split": "eval"}], path)
    assert not path.exists()
    assert plot_curves([eval_row(2, 0.5), eval_row(4, 0.6)], path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1100, 400)


def test_eval_section_goes_before_the_configuration_and_replaces_an_earlier_one(tmp_path: Path) -> None:
    """The block sits between markers before "## Full configuration"; a second eval replaces the first;
    a card without that heading gets it at the end; a folder without a card is left alone."""
    readme = tmp_path / "README.md"
    readme.write_text("# model\n\n## Held-out evaluation\n\ntable\n\n## Full configuration\n\nyaml\n")
    add_eval_section(tmp_path, ["## Evaluation", "first"])
    add_eval_section(tmp_path, ["## Evaluation", "second"])
    assert readme.read_text() == (
        "# model\n\n## Held-out evaluation\n\ntable\n\n"
        f"{EVAL_BEGIN}\n## Evaluation\nsecond\n{EVAL_END}\n\n## Full configuration\n\nyaml\n"
    )
    readme.write_text("# model\n\ntext\n")
    add_eval_section(tmp_path, ["x"])
    assert readme.read_text() == f"# model\n\ntext\n\n{EVAL_BEGIN}\nx\n{EVAL_END}\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    add_eval_section(empty, ["x"])
    assert list(empty.iterdir()) == []


def test_eval_section_tables_intervals_coverage_and_retrieval() -> None:
    """Per-relation rows with intervals where given, '-' for a missing baseline, the coverage sentence,
    the retrieval table and its figure."""
    metrics = {
        "drp_examples": 30,
        "drp_classes": ["contiguous", "linked"],
        "drp_acc": 0.6,
        "drp_acc_contiguous": 0.8,
        "drp_acc_linked": 0.4,
        "drp_acc_ci95": {"acc": [0.5, 0.7], "acc_contiguous": [0.6, 0.95]},
        "baseline_cosine_acc": 0.4,
        "baseline_cosine_acc_contiguous": 0.5,
        "baseline_cosine_acc_ci95": {"acc": [0.3, 0.5]},
        "drp_majority_acc": 0.5,
        "heldout_coverage": {
            "contiguous": {"pairs": 15, "edges": 9, "anchor_documents": 9, "unseen_pair_documents": 15},
            "linked": {"pairs": 15, "edges": 14, "anchor_documents": 8, "unseen_pair_documents": 6},
        },
        "retrieval": {
            "queries": 12,
            "candidates": 20,
            "rankers": {"model": {"mrr": 0.5, "recall@1": 0.25, "recall@5": 0.75}},
        },
    }
    lines = eval_section(metrics, "retrieval.png")
    assert lines[0] == "## Evaluation (`linkbert eval`)"
    assert "Held-out DRP on 30 unmasked pairs" in lines[2]
    assert lines[6:9] == [
        "| all | 0.600 [0.50, 0.70] | 0.400 [0.30, 0.50] | 0.500 |",
        "| contiguous | 0.800 [0.60, 0.95] | 0.500 | |",
        "| linked | 0.400 | - | |",
    ]
    assert (
        "Against the frozen warm-start cosine baseline on the same pairs, DRP beats it: 0.600 vs 0.400 "
        "(contiguous 0.80 vs 0.50)."
    ) in lines
    assert (
        "Held-out pairs: contiguous: 15 pairs, 9 document pairs, 9 anchor documents, 15 with B's document "
        "unseen in training; linked: 15 pairs, 14 document pairs, 8 anchor documents, 6 with B's document "
        "unseen in training."
    ) in lines
    assert "| model | 0.500 | 0.250 | 0.750 |" in lines
    assert lines[-1] == "![cross-document retrieval](retrieval.png)"
    assert any(line.startswith("Cross-document retrieval: each of 12 held-out links") for line in lines)


@pytest.mark.parametrize("retrieval", [{"reason": "no held-out links"}, {}])
def test_eval_section_without_baseline_or_retrieval(retrieval: dict[str, Any]) -> None:
    """No baseline: no comparison sentence; retrieval not run: its reason, or nothing without one."""
    metrics = {"drp_examples": 9, "drp_acc": 0.5, "drp_classes": ["random"], "retrieval": retrieval}
    lines = eval_section(metrics, None)
    assert lines[6:8] == ["| all | 0.500 | - | - |", "| random | - | - | |"]
    assert not any(line.startswith("Against the frozen") for line in lines)
    expected = ["Cross-document retrieval: not run (no held-out links)."] if retrieval else []
    assert [line for line in lines if line.startswith("Cross-document")] == expected
    assert len(lines) == 8 + 2 * len(expected)
