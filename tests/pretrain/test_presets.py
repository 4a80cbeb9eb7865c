"""Every preset and accelerate config loads against the code, so none can rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from foundation.errors import ConfigError
from foundation.paths import resolve_path
from pipeline.tree import load_config
from pretrain.training.distributed import plan_batches

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRESETS = sorted((CONFIGS / "pretrain").glob("*.yaml"))


def test_all_presets_are_present():
    assert {p.stem for p in PRESETS} >= {"demo", "tiny", "base", "large"}


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_loads_and_its_batch_splits(preset: Path):
    cfg = load_config(preset)
    worlds = (1, 2) if preset.stem == "demo" else (1, 2, 4, 8)
    for world in worlds:
        plan = plan_batches(cfg.train, world)
        assert plan.accumulation * plan.micro_batch_size * world == cfg.train.global_batch_size
    assert cfg.train.warmup_steps < cfg.train.max_steps
    assert cfg.data.max_seq_len <= cfg.model.max_position_embeddings


def test_preset_values_follow_the_recipes():
    demo, tiny, base, large = (
        load_config(CONFIGS / "pretrain" / f"{n}.yaml") for n in ("demo", "tiny", "base", "large")
    )
    assert resolve_path(demo.model.init_from).joinpath("config.json").is_file()  # a real BERT, shipped
    assert demo.data.max_seq_len == 128 and demo.drp.num_classes == 3 and 100 <= demo.train.max_steps <= 250
    # The demo's warm start lacks MLM and NSP heads: it uses the fresh-head settings; the paper's presets do not.
    assert (
        demo.train.fresh_lr_scale > 1 and demo.train.fresh_warmup_steps > 0 and 0 < demo.model.drp_weight <= 1
    )
    # Its DRP reads the cosine of A and B encoded apart (a mean-pooling warm start); the paper's presets the
    # pooler.
    assert demo.drp.readout == "cosine" and {tiny.drp.readout, base.drp.readout, large.drp.readout} == {
        "pooler"
    }
    for cfg in (tiny, base, large):
        assert (cfg.train.fresh_lr_scale, cfg.train.fresh_warmup_steps, cfg.model.drp_weight) == (1.0, 0, 1.0)
        assert cfg.model.mlm_weight == 1.0
    assert (tiny.model.init_from, tiny.model.num_hidden_layers, tiny.model.hidden_size) == (None, 2, 128)
    assert (tiny.train.lr, tiny.train.warmup_steps, tiny.train.max_steps) == (5e-3, 5000, 10000)
    for cfg in (tiny, base, large):
        assert (cfg.train.global_batch_size, cfg.data.max_seq_len, cfg.train.mixed_precision) == (
            2048,
            512,
            "bf16",
        )
    assert base.train.lr == 3e-4 and base.train.max_steps == 40000 and base.model.init_from
    assert large.model.num_hidden_layers == 24 and large.model.hidden_size == 1024
    for name in ("base", "large"):
        assert "REQUIRED" in (CONFIGS / "pretrain" / f"{name}.yaml").read_text()


def test_unknown_keys_and_wrong_types_are_clear_errors(tmp_path: Path):
    text = (CONFIGS / "pretrain" / "demo.yaml").read_text()
    bad = tmp_path / "typo.yaml"
    bad.write_text(text.replace("  max_steps: ", "  max_step: "))
    with pytest.raises(ConfigError, match=r"unknown config key train.max_step .*typo.yaml"):
        load_config(bad)
    bad.write_text(re.sub(r"  max_steps: \d+", "  max_steps: eighty", text))
    with pytest.raises(ConfigError, match="train.max_steps: expected an integer, got 'eighty'"):
        load_config(bad)
    with pytest.raises(ConfigError, match="train.mixed_precision"):
        load_config(CONFIGS / "pretrain" / "demo.yaml", ["train.mixed_precision=fp8"])


@pytest.mark.parametrize(
    "name", ["cpu", "gpu", "multi_gpu", "deepspeed_zero2", "deepspeed_zero3", "multinode"]
)
def test_accelerate_configs(name: str):
    cfg = yaml.safe_load((CONFIGS / "accelerate" / f"{name}.yaml").read_text())
    assert cfg["compute_environment"] == "LOCAL_MACHINE"
    if name == "cpu":
        # MULTI_CPU (or use_cpu) without an MPI hostfile makes accelerate launch start ONE process.
        assert (cfg["distributed_type"], cfg["num_processes"], cfg["use_cpu"]) == ("MULTI_GPU", 2, False)
    if name.startswith("deepspeed"):
        assert cfg["distributed_type"] == "DEEPSPEED" and cfg["use_cpu"] is False
        assert cfg["deepspeed_config"]["zero_stage"] == int(name[-1])
        assert "gradient_accumulation_steps" not in cfg["deepspeed_config"]  # set from the run config
    if name == "deepspeed_zero3":
        assert cfg["deepspeed_config"]["zero3_save_16bit_model"] is True
    if name == "multinode":
        assert cfg["num_machines"] > 1
