from pathlib import Path

import pytest

from foundation.config import config_hash, dump_yaml, read_yaml
from foundation.errors import ConfigError
from pipeline.tree import PipelineConfig, load_config


def test_defaults_validate():
    cfg = load_config()
    assert isinstance(cfg, PipelineConfig)
    assert cfg.train.betas == (0.9, 0.98)
    assert cfg.drp.class_probabilities == pytest.approx([1 / 3] * 3)


def test_dotted_overrides_are_type_checked():
    cfg = load_config(
        None,
        [
            "train.lr=3e-4",
            "drp.relations=[contiguous,random]",
            "model.init_from=null",
            "train.betas=[0.9, 0.999]",
        ],
    )
    assert cfg.train.lr == pytest.approx(3e-4)
    assert cfg.drp.relations == ("contiguous", "random") and cfg.drp.num_classes == 2
    assert cfg.model.init_from is None
    assert cfg.train.betas == (0.9, 0.999)
    with pytest.raises(ConfigError, match="train.max_steps: expected an integer"):
        load_config(None, ["train.max_steps=ten"])
    with pytest.raises(ConfigError, match="drp.classes"):
        load_config(None, ["drp.classes=4"])
    with pytest.raises(ConfigError, match="unknown relation 'linkd'"):
        load_config(None, ["drp.relations=[contiguous,linkd]"])
    with pytest.raises(ConfigError, match="drp.probabilities needs 2 values"):
        load_config(None, ["drp.relations=[contiguous,random]", "drp.probabilities=[0.2,0.3,0.5]"])
    with pytest.raises(ConfigError, match="not of the form"):
        load_config(None, ["train.lr"])


def test_unknown_keys_are_errors(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  lr: 1e-3\n  learning_rate: 1e-3\n")
    with pytest.raises(ConfigError, match=r"unknown config key train.learning_rate .*bad.yaml"):
        load_config(path)
    path.write_text("trian:\n  lr: 1e-3\n")
    with pytest.raises(ConfigError, match="unknown config key trian"):
        load_config(path)


def test_invalid_values_name_the_section():
    with pytest.raises(ConfigError, match="global_batch_size"):
        load_config(None, ["train.micro_batch_size=64", "train.global_batch_size=32"])


def test_resolved_config_round_trips(tmp_path: Path):
    cfg = load_config(None, ["train.lr=0.001", "segments.max_tokens=126"])
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_yaml(cfg))
    again = load_config(path)
    assert again == cfg
    assert config_hash(again.segments) == config_hash(cfg.segments)
    assert config_hash(load_config().segments) != config_hash(cfg.segments)
    assert read_yaml(path)["train"]["lr"] == 0.001
