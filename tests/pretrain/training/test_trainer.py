"""`linkbert pretrain` in one process, end to end on a generated corpus with a tiny model from scratch:
training, logging, exact resume, preemption by SIGTERM, cut-off checkpoints, non-finite losses."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from formats.run import COMPLETE_MARKER as MARKER
from formats.run import list_checkpoints
from pipeline import cli
from pretrain.data.synthetic import write_synthetic_corpus
from pretrain.modeling.flops import flops_per_token, mfu, peak_flops

REPO = Path(__file__).resolve().parents[3]


def tiny_args(corpus: Path, root: Path, name: str, *extra: str) -> list[str]:
    """Overrides for a ~40k-parameter model: a step takes milliseconds, so tests measure behaviour only."""
    return [
        f"data.corpus={corpus}",
        "data.max_seq_len=64",
        "data.num_workers=0",
        "data.heldout_fraction=0.05",
        "model.hidden_size=32",
        "model.num_hidden_layers=2",
        "model.num_attention_heads=2",
        "model.intermediate_size=64",
        "model.max_position_embeddings=64",
        f"train.output_root={root}",
        f"train.run_name={name}",
        "train.global_batch_size=8",
        "train.micro_batch_size=4",
        "train.lr=2e-3",
        "train.warmup_steps=2",
        "logging.every=1",
        "logging.wandb=false",
        "logging.tensorboard=false",
        "logging.progress_bar=false",
        "eval.every=0",
        "eval.pairs=16",
        *extra,
    ]


def run_cli(args: list[str]) -> int:
    """`linkbert pretrain ...` in this process; accelerate's process-wide state is reset afterwards."""
    from accelerate.state import AcceleratorState, GradientState

    try:
        return cli.main(["pretrain", *args])
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def read_metrics(run_dir: Path, split: str = "train") -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("split") == split]


@pytest.fixture(scope="module")
def learnable_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated corpus with its uniform random tokens replaced by a repeating 16-token cycle that a
    tiny model learns within a few steps (uniform tokens are unlearnable: MLM loss stays at ln(vocab))."""
    corpus = write_synthetic_corpus(tmp_path_factory.mktemp("learnable") / "corpus", num_docs=300, seed=1)
    tokens = np.memmap(corpus / "segments" / "tokens.bin", dtype=np.uint16, mode="r+")
    tokens[:] = 5 + np.arange(len(tokens)) % 16
    tokens.flush()
    return corpus


@pytest.fixture(autouse=True)
def _one_thread():
    # Bitwise comparisons need the same thread count in every run (it changes reduction order).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_single_process_run_learns_and_logs_everywhere(learnable_corpus_dir: Path, tmp_path: Path):
    args = tiny_args(
        learnable_corpus_dir,
        tmp_path,
        "single",
        "train.max_steps=30",
        "train.lr=5e-3",
        "logging.every=2",
        "logging.wandb=true",
        "logging.wandb_mode=offline",
        "logging.tensorboard=true",
        "eval.every=15",
        "checkpoint.every=10",
    )
    assert run_cli(args) == 0
    run = tmp_path / "single"
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == list(range(2, 31, 2))
    for key in ("loss", "mlm_loss", "mlm_acc", "drp_loss", "drp_acc", "drp_acc_linked", "lr", "grad_norm"):
        assert all(key in r for r in rows), key
    assert "mfu" not in rows[0]  # no GPU, no MFU
    assert rows[-1]["tokens_seen"] > 0 and rows[-1]["samples"] == 30 * 8
    first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-3:]) / 3
    assert last < first - 1.0, (first, last)
    evals = read_metrics(run, "eval")
    assert [r["step"] for r in evals] == [15, 30] and "perplexity" in evals[0]
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [10, 20, 30]  # keep_last=3
    assert list((run / "wandb").glob("offline-run-*"))
    assert list((run / "tb").glob("events.out.tfevents.*"))
    state = json.loads((run / "checkpoints" / "step-00000030" / "trainer_state.json").read_text())
    assert state["step"] == 30 and state["samples_consumed"] == 240 and state["world_size"] == 1
    config = json.loads((run / "checkpoints" / "step-00000030" / "model_config.json").read_text())
    assert config["num_drp_labels"] == 3 and config["hidden_size"] == 32


def test_exact_resume_is_bitwise_identical(synthetic_corpus_dir: Path, tmp_path: Path):
    # micro 2 of global 8: 4 accumulation steps, so the accumulation counter crosses the resume too.
    common = ("train.max_steps=20", "train.micro_batch_size=2", "checkpoint.every=5")
    straight = tiny_args(synthetic_corpus_dir, tmp_path, "straight", *common)
    split = tiny_args(synthetic_corpus_dir, tmp_path, "split", *common)
    assert run_cli(straight) == 0
    assert run_cli([*split, "train.stop_after=10"]) == 0
    assert max(s for s, _ in list_checkpoints(tmp_path / "split" / "checkpoints")) == 10
    assert run_cli([*split, "--resume", "auto"]) == 0
    a, b = read_metrics(tmp_path / "straight"), read_metrics(tmp_path / "split")
    assert [r["step"] for r in b] == list(range(1, 21))
    for key in ("loss", "mlm_loss", "drp_loss", "lr", "grad_norm"):
        assert [r[key] for r in a] == [r[key] for r in b], key
    weights = [
        (tmp_path / n / "checkpoints" / "step-00000020" / "model.safetensors").read_bytes()
        for n in ("straight", "split")
    ]
    assert weights[0] == weights[1]


def test_resume_refuses_a_changed_data_stream(synthetic_corpus_dir: Path, tmp_path: Path, capsys):
    args = tiny_args(synthetic_corpus_dir, tmp_path, "changed", "train.max_steps=4", "train.stop_after=2")
    assert run_cli(args) == 0
    capsys.readouterr()
    assert run_cli([*args, "data.mlm_probability=0.2", "--resume", "auto"]) == 2
    assert "data.mlm_probability" in capsys.readouterr().err
    # A fresh start over a run with checkpoints would silently mix two runs: refused as well.
    assert run_cli(args) == 2
    assert "--resume auto" in capsys.readouterr().err
    # lr and the schedule may change on resume.
    assert run_cli([*args, "train.lr=1e-3", "train.stop_after=4", "--resume", "auto"]) == 0


def start_endless_run(
    corpus: Path, tmp_path: Path, name: str, logged_rows: int = 1
) -> tuple[subprocess.Popen, list[str]]:
    """`linkbert pretrain` of the tiny model in a child process with a schedule it will not finish,
    returned once its metrics.jsonl holds `logged_rows` rows (stop it with SIGTERM)."""
    args = tiny_args(corpus, tmp_path, name, "train.max_steps=100000", "checkpoint.every=100000")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "pretrain", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics = tmp_path / name / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= logged_rows):
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read())
        if time.monotonic() >= deadline:
            proc.kill()
            raise AssertionError("no training progress within 120 s")
        time.sleep(0.2)
    return proc, args


def test_sigterm_checkpoints_and_resumes_past_a_cut_off_checkpoint(
    synthetic_corpus_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    proc, args = start_endless_run(synthetic_corpus_dir, tmp_path, "preempted", logged_rows=3)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    checkpoints = list_checkpoints(tmp_path / "preempted" / "checkpoints")
    assert len(checkpoints) == 1 and (checkpoints[0][1] / MARKER).is_file()
    step = checkpoints[0][0]
    assert read_metrics(tmp_path / "preempted")[-1]["step"] == step

    # A newer checkpoint that was cut off mid-write (no marker) must be skipped with a warning.
    cut = tmp_path / "preempted" / "checkpoints" / f"step-{step + 1:08d}"
    shutil.copytree(checkpoints[0][1], cut)
    (cut / MARKER).unlink()
    (cut / "model.safetensors").write_bytes(b"truncated")
    with caplog.at_level(logging.WARNING):
        assert run_cli([*args, f"train.max_steps={step + 2}", "--resume", "auto"]) == 0
    assert str(cut) in caplog.text
    assert [r["step"] for r in read_metrics(tmp_path / "preempted")][-3:] == [step, step + 1, step + 2]


def test_nonfinite_losses_are_skipped_then_stop_the_run(synthetic_corpus_dir: Path, tmp_path: Path, capsys):
    # lr 1e30 sends the weights to inf after the first update: every later loss is NaN.
    args = tiny_args(
        synthetic_corpus_dir,
        tmp_path,
        "nan",
        "train.max_steps=50",
        "train.lr=1e30",
        "train.max_nonfinite_steps=3",
    )
    assert run_cli(args) == 2
    err = capsys.readouterr().err
    assert "step 4: 3 non-finite losses in a row (steps 2-4 skipped" in err
    rows = read_metrics(tmp_path / "nan")
    assert rows[0]["step"] == 1 and rows[0]["nonfinite_steps"] == 0
    assert [r["nonfinite_steps"] for r in rows[1:]] == [1, 2]
    assert all("loss" not in r for r in rows[1:])  # skipped steps add nothing to the averages


def test_global_batch_must_divide(synthetic_corpus_dir: Path, tmp_path: Path, capsys):
    args = tiny_args(
        synthetic_corpus_dir, tmp_path, "div", "train.global_batch_size=10", "train.micro_batch_size=4"
    )
    assert run_cli(args) == 2
    assert (
        "train.global_batch_size=10 is not a multiple of train.micro_batch_size=4" in capsys.readouterr().err
    )


@pytest.mark.slow  # builds the real sample corpus with the corpus stages, then trains a real 6-layer BERT
def test_demo_preset_warm_starts_on_the_real_sample_corpus(tmp_path: Path):
    from pipeline.build import run_build
    from pipeline.tree import load_config

    sample = load_config(REPO / "configs" / "corpus" / "sample.yaml")
    dump = str(REPO / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2")
    corpus = run_build(sample, inputs=[dump], root=str(tmp_path / "corpus"), name="sample")
    args = [
        "--config",
        str(REPO / "configs" / "pretrain" / "demo.yaml"),
        f"data.corpus={corpus}",
        "data.max_seq_len=128",  # half the demo's length: the test checks behaviour, not speed
        f"train.output_root={tmp_path}",
        "train.max_steps=6",
        "train.global_batch_size=4",
        "train.micro_batch_size=2",
        "train.warmup_steps=1",
        "logging.every=1",
        "logging.wandb=false",
        "logging.progress_bar=false",
        "eval.pairs=8",
    ]
    assert run_cli(args) == 0
    rows = read_metrics(tmp_path / "demo")
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert rows[-1]["mlm_loss"] < rows[0]["mlm_loss"]  # the new MLM head learns on top of the real encoder
    # The encoder waits train.fresh_warmup_steps (10, longer than this run) while the new heads learn;
    # the metrics show both lrs.
    assert all(r["lr"] == 0 and r["lr_fresh"] > 0 for r in rows)
    assert read_metrics(tmp_path / "demo", "eval")[0]["step"] == 6
    config = json.loads(
        (tmp_path / "demo" / "checkpoints" / "step-00000006" / "model_config.json").read_text()
    )
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (6, 384, 30522)


def test_flops_and_mfu():
    # BERT-base at 512 tokens: ~6 x 85M encoder parameters per token plus attention and the MLM head.
    per_token = flops_per_token(
        hidden_size=768, num_layers=12, intermediate_size=3072, vocab_size=30522, seq_len=512
    )
    assert 5.5e8 < per_token < 7.5e8
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops("Some Future GPU") is None
    assert mfu(1e5, per_token, 989e12) == pytest.approx(1e5 * per_token / 989e12)
    assert mfu(1e5, per_token, None) is None
