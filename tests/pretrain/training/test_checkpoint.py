"""Checkpointer: atomic layout, marker last, keep-last pruning, newest-complete selection, full restore."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState

from formats.run import COMPLETE_MARKER as MARKER
from formats.run import list_checkpoints, newest_complete
from foundation.errors import PipelineError
from pretrain.config import CheckpointConfig, TrainConfig
from pretrain.training.checkpoint import Checkpointer, TrainerState
from pretrain.training.optim import build_optimizer
from tests.pretrain.training.test_optim import tiny_model


@pytest.fixture
def accelerator():
    acc = Accelerator(cpu=True)
    yield acc
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def _prepared(acc: Accelerator, seed: int):
    torch.manual_seed(seed)
    model = tiny_model()
    cfg = TrainConfig(lr=1e-2, warmup_steps=1, max_steps=10)
    opt = build_optimizer(model, cfg)
    return acc.prepare(model, opt)


def _train(model, opt, steps: int) -> None:
    ids = torch.randint(5, 50, (2, 8))
    for _ in range(steps):
        out = model(input_ids=ids, labels=ids, drp_labels=torch.tensor([0, 2]))
        out.loss.backward()
        opt.step()
        opt.zero_grad()


def test_save_is_complete_pruned_and_restores_everything(accelerator: Accelerator, tmp_path: Path):
    model, opt = _prepared(accelerator, seed=0)
    ckpt = Checkpointer(accelerator, tmp_path, CheckpointConfig(every=1, keep_last=2, resume="auto"))
    for step in (1, 2, 3):
        _train(model, opt, 1)
        path = ckpt.save(
            TrainerState(step=step, samples_consumed=8 * step, config_hash="h"), {"hidden_size": 16}
        )
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [2, 3]  # keep_last=2
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))
    assert {p.name for p in path.iterdir()} >= {
        MARKER,
        "trainer_state.json",
        "model_config.json",
        "model.safetensors",
        "optimizer.bin",
        "random_states_0.pkl",
    }
    assert json.loads((path / "trainer_state.json").read_text())["samples_consumed"] == 24
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    rng_after_save = torch.rand(3)

    _train(model, opt, 2)  # move away from the checkpoint, then restore it
    assert ckpt.resume_path() == path
    state = ckpt.load(path, expected_hash="h")
    assert state.step == 3 and state.samples_consumed == 24
    for k, v in model.state_dict().items():
        assert torch.equal(v, expected[k]), k
    assert not (path / "scheduler.bin").exists()  # the lr schedule is a function of the step: nothing saved
    assert torch.equal(torch.rand(3), rng_after_save)  # RNG state restored too
    with pytest.raises(PipelineError, match="another data/model config"):
        ckpt.load(path, expected_hash="other")


def test_newest_complete_skips_cut_off_folders(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "checkpoints"
    for step, complete in ((10, True), (20, True), (30, False)):
        folder = root / f"step-{step:08d}"
        folder.mkdir(parents=True)
        if complete:
            (folder / MARKER).write_text(f"{step}\n")
    (root / ".step-00000040.tmp").mkdir()  # a save in progress is not even a candidate
    with caplog.at_level(logging.WARNING):
        assert newest_complete(root) == root / "step-00000020"
    assert "step-00000030" in caplog.text and "no COMPLETE marker" in caplog.text
    assert newest_complete(tmp_path / "missing") is None


def test_resume_spec(accelerator: Accelerator, tmp_path: Path):
    folder = tmp_path / "checkpoints" / "step-00000005"
    folder.mkdir(parents=True)
    assert Checkpointer(accelerator, tmp_path, CheckpointConfig(resume="none")).resume_path() is None
    assert Checkpointer(accelerator, tmp_path, CheckpointConfig(resume="auto")).resume_path() is None
    with pytest.raises(PipelineError, match="no COMPLETE marker"):
        Checkpointer(accelerator, tmp_path, CheckpointConfig(resume=str(folder))).resume_path()
    with pytest.raises(PipelineError, match="no such checkpoint folder"):
        Checkpointer(accelerator, tmp_path, CheckpointConfig(resume=str(tmp_path / "nope"))).resume_path()
    (folder / MARKER).write_text("5\n")
    assert Checkpointer(accelerator, tmp_path, CheckpointConfig(resume=str(folder))).resume_path() == folder
