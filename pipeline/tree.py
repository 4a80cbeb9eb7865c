"""The whole configuration tree: every stage's section side by side, as a preset file holds them.

The stages own their sections (`corpus/config.py`, `graph/config.py`, `pretrain/config.py`); the config
machinery knows none of them. This module puts them together for what sees the whole pipeline: the
command line, the corpus build and the ablations. Each stage is handed its own sections
(`PipelineConfig.pretraining()` for pretraining).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from corpus.config import CorpusConfig, SegmentsConfig
from foundation import config as machinery
from graph.config import GraphConfig
from pretrain.config import (
    CheckpointConfig,
    DataConfig,
    DrpConfig,
    EvalConfig,
    LoggingConfig,
    ModelConfig,
    PretrainConfig,
    TrainConfig,
)


@dataclass
class PipelineConfig:
    """The whole tree. A preset file may set any subset; the rest keeps these defaults."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    segments: SegmentsConfig = field(default_factory=SegmentsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    drp: DrpConfig = field(default_factory=DrpConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def pretraining(self) -> PretrainConfig:
        """Pretraining's sections: what `linkbert pretrain`, export and eval are given."""
        return PretrainConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(PretrainConfig)})


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> PipelineConfig:
    """Read a preset (or the defaults when `path` is None), apply overrides, validate everything."""
    return machinery.load_tree(PipelineConfig, path, overrides)


__all__ = ["PipelineConfig", "load_config"]
