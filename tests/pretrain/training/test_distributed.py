"""Real 2-process launches on CPU through `accelerate launch` and our accelerate configs: DDP over gloo
(world size, disjoint data, identical weights, bitwise exact resume) and DeepSpeed ZeRO-2 (train,
checkpoint, resume). Each launch costs ~10 s of start-up, so checks share launches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from formats.run import COMPLETE_MARKER as MARKER
from formats.run import list_checkpoints
from foundation.errors import PipelineError
from pretrain.config import TrainConfig
from pretrain.training.distributed import plan_batches
from tests.pretrain.training.test_trainer import read_metrics, tiny_args

REPO = Path(__file__).resolve().parents[3]
ACCELERATE = str(Path(sys.executable).with_name("accelerate"))


def launch(config: str, args: list[str], cwd: Path, *, debug: bool = False) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    if debug:
        env["LINKBERT_DEBUG"] = "1"
    cmd = [
        ACCELERATE,
        "launch",
        "--config_file",
        str(REPO / "configs" / "accelerate" / config),
        "--num_processes",
        "2",
        "--main_process_port",
        "0",  # a free port: tests may run next to other launches
        "-m",
        "pipeline.cli",
        "pretrain",
        *args,
    ]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return out


def test_batch_plan():
    plan = plan_batches(TrainConfig(global_batch_size=2048, micro_batch_size=32), world_size=8)
    assert plan.accumulation == 8 and plan.samples_per_micro_step == 256
    with pytest.raises(PipelineError, match="not a multiple of train.micro_batch_size=32 x 3 processes"):
        plan_batches(TrainConfig(global_batch_size=2048, micro_batch_size=32), world_size=3)


@pytest.mark.slow
def test_ddp_two_processes_split_data_stay_in_sync_and_resume_exactly(
    synthetic_corpus_dir: Path, tmp_path: Path
):
    common = ("train.max_steps=12", "train.micro_batch_size=2", "checkpoint.every=3")
    straight = tiny_args(synthetic_corpus_dir, tmp_path, "straight", *common)
    split = tiny_args(synthetic_corpus_dir, tmp_path, "split", *common)
    out = launch("cpu.yaml", straight, tmp_path, debug=True)
    assert "world_size=2, accumulation=2" in out  # really two processes, global batch kept at 8

    debug = tmp_path / "straight" / "debug"
    seen = []
    for rank in (0, 1):
        rows = [
            json.loads(line) for line in (debug / f"samples-rank-{rank:05d}.jsonl").read_text().splitlines()
        ]
        assert len(rows) == 12 * 2  # 12 steps x 2 micro batches
        seen.append({s for r in rows for s in r["samples"]})
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(12 * 8))  # every global sample exactly once, none replayed
    digests = [(debug / f"weights-rank-{rank:05d}.sha256").read_text() for rank in (0, 1)]
    assert digests[0] == digests[1]

    launch("cpu.yaml", [*split, "train.stop_after=6"], tmp_path)
    launch("cpu.yaml", [*split, "--resume", "auto"], tmp_path)
    a, b = read_metrics(tmp_path / "straight"), read_metrics(tmp_path / "split")
    assert [r["step"] for r in b] == list(range(1, 13))
    for key in ("loss", "mlm_loss", "drp_loss", "grad_norm", "lr"):
        assert [r[key] for r in a] == [r[key] for r in b], key
    ckpt = "checkpoints/step-00000012/model.safetensors"
    assert (tmp_path / "straight" / ckpt).read_bytes() == (tmp_path / "split" / ckpt).read_bytes()
    state = json.loads(
        (tmp_path / "split" / "checkpoints" / "step-00000012" / "trainer_state.json").read_text()
    )
    assert state["world_size"] == 2 and state["samples_consumed"] == 96


@pytest.mark.slow
def test_deepspeed_zero2_two_processes_trains_checkpoints_and_resumes(
    synthetic_corpus_dir: Path, tmp_path: Path
):
    args = tiny_args(
        synthetic_corpus_dir,
        tmp_path,
        "zero2",
        "train.max_steps=8",
        "train.micro_batch_size=2",
        "checkpoint.every=4",
    )
    out = launch("deepspeed_zero2.yaml", [*args, "train.stop_after=4"], tmp_path)
    assert "world_size=2, accumulation=2" in out
    first = list_checkpoints(tmp_path / "zero2" / "checkpoints")
    assert [s for s, _ in first] == [4] and (first[0][1] / MARKER).is_file()
    assert (first[0][1] / "pytorch_model").is_dir()  # DeepSpeed's sharded checkpoint
    launch("deepspeed_zero2.yaml", [*args, "--resume", "auto"], tmp_path)
    rows = read_metrics(tmp_path / "zero2")
    assert [r["step"] for r in rows] == list(range(1, 9))
    lrs = [r["lr"] for r in rows]
    assert lrs[2:] == sorted(lrs[2:], reverse=True) and lrs[-1] < lrs[3]  # the schedule continued
    assert rows[-1]["loss"] < rows[0]["loss"] + 1.0 and all(r["grad_norm"] > 0 for r in rows)
    state = json.loads(
        (tmp_path / "zero2" / "checkpoints" / "step-00000008" / "trainer_state.json").read_text()
    )
    assert state["step"] == 8 and state["samples_consumed"] == 64 and state["world_size"] == 2


def test_auto_precision_is_bf16_exactly_where_the_device_computes_it_natively():
    from pretrain.training.distributed import native_bf16, resolve_precision

    assert resolve_precision("auto") == ("bf16" if native_bf16() else "no")
    for fixed in ("no", "bf16", "fp16"):
        assert resolve_precision(fixed) == fixed
