"""MetricsLogger: the rows it writes (window sums, per-relation accuracy, skipped steps), resume, tensorboard."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from formats.run import metrics_path, read_metrics, split_rows
from pretrain.config import LoggingConfig
from pretrain.modeling.linkbert import LinkBertPreTrainingOutput
from pretrain.training.metrics import MetricsLogger, wandb_logged_in

RELATIONS = ("contiguous", "random", "linked")
QUIET = LoggingConfig(wandb=False, tensorboard=False, progress_bar=False)


def make_logger(run_dir: Path, cfg: LoggingConfig = QUIET, *, start_step: int = 0, **kw) -> MetricsLogger:
    return MetricsLogger(
        Accelerator(cpu=True),
        run_dir,
        cfg,
        run_name="test",
        run_config={},
        drp_relations=RELATIONS,
        start_step=start_step,
        total_steps=10,
        **kw,
    )


def micro_batch(kind: str) -> tuple[LinkBertPreTrainingOutput, dict[str, torch.Tensor]]:
    """Two hand-made micro batches with known hits.

    "a": MLM 3 of 4 (one exact tie, which counts), DRP labels [contiguous, linked] answered
    [contiguous, random]; 5 real tokens of 8. "b": MLM 0 of 2, DRP labels [random, random] answered
    [random, contiguous]; 8 real tokens of 8."""
    if kind == "a":
        mlm_logits = torch.tensor(
            [
                [5.0, 0.0, 0.0, 0.0, 0.0],
                [0.0, 5.0, 0.0, 0.0, 0.0],
                [9.0, 0.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, 0.0, 2.0, 2.0],
            ]
        )
        mlm_labels = torch.tensor([0, 1, 2, 3])
        drp_logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 1.0]])
        drp_labels = torch.tensor([0, 2])
        attention = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
        losses = (2.0, 1.5, 0.5)
    else:
        mlm_logits = torch.tensor([[0.0, 4.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 4.0]])
        mlm_labels = torch.tensor([0, 3])
        drp_logits = torch.tensor([[0.0, 2.0, 0.0], [2.0, 0.0, 0.0]])
        drp_labels = torch.tensor([1, 1])
        attention = torch.ones(2, 4, dtype=torch.long)
        losses = (4.0, 3.0, 1.0)
    out = LinkBertPreTrainingOutput(
        loss=torch.tensor(losses[0]),
        mlm_loss=torch.tensor(losses[1]),
        drp_loss=torch.tensor(losses[2]),
        mlm_logits=mlm_logits,
        mlm_labels=mlm_labels,
        drp_logits=drp_logits,
    )
    batch = {"drp_labels": drp_labels, "attention_mask": attention, "input_ids": torch.zeros(2, 4)}
    return out, batch


def test_a_window_averages_micro_batches_and_counts_hits_per_relation(tmp_path: Path) -> None:
    """Loss means over micro batches, accuracies over masked tokens and pairs, grad norm over steps."""
    metrics = make_logger(tmp_path, flops_per_token=1000.0, peak_flops=1e6)
    metrics.add(*micro_batch("a"))
    metrics.add(*micro_batch("b"))
    assert metrics.step_tokens().item() == 13
    metrics.end_step(1, skipped=False, grad_norm=2.0)
    assert metrics.step_tokens().item() == 0
    metrics.add(*micro_batch("a"))
    metrics.end_step(2, skipped=False, grad_norm=4.0)
    row = metrics.log_train(2, {"lr": 1e-4})
    metrics.close()

    assert row["step"] == 2 and row["split"] == "train" and row["lr"] == 1e-4
    assert row["loss"] == pytest.approx(8 / 3)
    assert row["mlm_loss"] == pytest.approx(2.0)
    assert row["drp_loss"] == pytest.approx(2 / 3)
    assert row["mlm_acc"] == pytest.approx(6 / 10)
    assert row["drp_acc"] == pytest.approx(3 / 6)
    assert [row[f"drp_acc_{n}"] for n in RELATIONS] == pytest.approx([1.0, 0.5, 0.0])
    assert row["grad_norm"] == pytest.approx(3.0)
    # Throughput and MFU share the window's clock: MFU / tokens_per_s = padded * flops / (real * peak).
    assert row["tokens_per_s"] > 0
    assert row["mfu"] / row["tokens_per_s"] == pytest.approx(24 * 1000.0 / (18 * 1e6))
    assert read_metrics(tmp_path) == [json.loads(json.dumps(row))]


def test_skipped_steps_count_nowhere_and_an_empty_window_writes_a_bare_row(tmp_path: Path) -> None:
    """A skipped step adds neither losses nor grad norm; a window of only skipped steps has no losses."""
    metrics = make_logger(tmp_path)
    metrics.add(*micro_batch("a"))
    metrics.end_step(1, skipped=False, grad_norm=1.0)
    metrics.add(*micro_batch("b"))
    metrics.end_step(2, skipped=True, grad_norm=50.0)
    first = metrics.log_train(2, {})
    assert first["loss"] == pytest.approx(2.0) and first["grad_norm"] == pytest.approx(1.0)
    assert first["mlm_acc"] == pytest.approx(0.75)
    metrics.add(*micro_batch("b"))
    metrics.end_step(3, skipped=True, grad_norm=None)
    second = metrics.log_train(3, {"lr": 0.5})
    metrics.close()
    assert second == {"step": 3, "split": "train", "lr": 0.5}
    assert [r["step"] for r in read_metrics(tmp_path)] == [2, 3]


def test_eval_rows_are_marked_as_eval(tmp_path: Path) -> None:
    """`log_eval` writes the given metrics under `split: eval`, apart from the train rows."""
    metrics = make_logger(tmp_path)
    metrics.add(*micro_batch("a"))
    metrics.end_step(1, skipped=False, grad_norm=None)
    metrics.log_train(1, {})
    metrics.log_eval(1, {"mlm_loss": 1.25, "drp_acc": 0.5, "drp_classes": list(RELATIONS)})
    metrics.close()
    train, evals = split_rows(read_metrics(tmp_path))
    assert len(train) == 1 and "grad_norm" not in train[0]
    assert evals == [
        {"step": 1, "split": "eval", "mlm_loss": 1.25, "drp_acc": 0.5, "drp_classes": list(RELATIONS)}
    ]


def test_a_resumed_run_drops_the_rows_after_its_checkpoint(tmp_path: Path) -> None:
    """Rows of steps after `start_step` are removed (they are replayed), earlier ones and blanks are kept."""
    old = [
        {"step": 1, "split": "train", "loss": 3.0},
        {"step": 2, "split": "train", "loss": 2.0},
        {"step": 2, "split": "eval", "mlm_loss": 2.5},
        {"step": 3, "split": "train", "loss": 1.0},
        {"step": 4, "split": "eval", "mlm_loss": 1.5},
    ]
    lines = [json.dumps(r) for r in old]
    metrics_path(tmp_path).write_text("\n".join([*lines[:2], "", *lines[2:]]) + "\n")
    metrics = make_logger(tmp_path, start_step=2)
    metrics.log_eval(3, {"mlm_loss": 9.0})
    metrics.close()
    assert read_metrics(tmp_path) == [*old[:3], {"step": 3, "split": "eval", "mlm_loss": 9.0}]


def test_a_resumed_run_survives_a_cut_last_line(tmp_path: Path) -> None:
    """A run killed mid-write leaves a cut last line; resuming drops it and keeps the whole rows."""
    metrics_path(tmp_path).write_text('{"step": 1, "split": "train", "loss": 3.0}\n{"step": 2, "spl')
    metrics = make_logger(tmp_path, start_step=1)
    metrics.log_eval(2, {"mlm_loss": 1.0})
    metrics.close()
    assert read_metrics(tmp_path) == [
        {"step": 1, "split": "train", "loss": 3.0},
        {"step": 2, "split": "eval", "mlm_loss": 1.0},
    ]


def test_tensorboard_gets_finite_scalars_under_split_prefixes(tmp_path: Path) -> None:
    """Numbers go to tensorboard as train/... or eval/...; non-finite values and lists stay out."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    metrics = make_logger(tmp_path, LoggingConfig(wandb=False, tensorboard=True, progress_bar=False))
    metrics.add(*micro_batch("a"))
    metrics.end_step(1, skipped=False, grad_norm=None)
    metrics.log_train(1, {"lr": 0.25})
    metrics.log_eval(1, {"mlm_loss": 1.25, "perplexity": math.inf, "confusion": [[1, 0], [0, 1]]})
    metrics.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/drp_acc_linked", "eval/mlm_loss"} <= tags
    assert not {"eval/perplexity", "eval/confusion", "train/step", "train/split"} & tags
    assert events.Scalars("train/loss")[0].value == pytest.approx(2.0)
    assert events.Scalars("eval/mlm_loss")[0].step == 1
    assert read_metrics(tmp_path)[-1]["perplexity"] == math.inf


def test_wandb_counts_as_logged_in_with_a_key_or_a_netrc_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API key in the environment or an api.wandb.ai entry in ~/.netrc; a missing or bad netrc is not."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not wandb_logged_in()
    netrc_file = tmp_path / ".netrc"
    netrc_file.write_text("machine example.org login user password secret\n")
    netrc_file.chmod(0o600)
    assert not wandb_logged_in()
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password 0123456789\n")
    assert wandb_logged_in()
    netrc_file.chmod(0o644)  # readable by others: the netrc module refuses a file holding a password
    assert not wandb_logged_in()
    netrc_file.write_text("garbage\n")
    netrc_file.chmod(0o600)
    assert not wandb_logged_in()
    netrc_file.unlink()
    monkeypatch.setenv("WANDB_API_KEY", "0123456789")
    assert wandb_logged_in()
