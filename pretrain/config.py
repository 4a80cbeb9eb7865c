"""Config sections of pretraining: data, drp, model, train, checkpoint, logging, eval."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from foundation.config import load_tree
from pretrain.relations import DEFAULT_RELATIONS, RELATIONS

log = logging.getLogger(__name__)

# What the DRP classifier reads (pretrain/modeling/linkbert.py): BERT's pooled [CLS] (the paper's), the bare [CLS]
# state, both segments' mean token states in the pair's pass, A and B encoded apart, or their cosine.
DRP_READOUTS = ("pooler", "cls", "segments", "siamese", "cosine")
# Read-outs that encode A and B apart: one more encoder pass, over the unmasked pair.
APART_READOUTS = ("siamese", "cosine")


@dataclass
class DataConfig:
    """Which corpus to train on and how examples are built from it."""

    corpus: str = "data/corpus/sample"  # a folder made by `make corpus` (graph/ and segments/ inside)
    max_seq_len: int = 512
    mlm_probability: float = 0.15
    whole_word_masking: bool = False
    pad_to_multiple_of: int = 8
    num_workers: int = 2  # DataLoader workers per process; the stream is the same for any count
    prefetch_factor: int = 4  # micro batches each worker builds ahead of the training step
    heldout_fraction: float = 0.02  # documents kept out of training for evaluation (hash of node id)
    # Which documents are held out: "linked" takes them among documents with usable out-links when the
    # DRP relations need links (so the held-out set can measure "linked"), "any" among all documents.
    heldout_documents: Literal["linked", "any"] = "linked"
    split_seed: int = 0

    def __post_init__(self) -> None:
        if self.max_seq_len < 16:
            raise ValueError("data.max_seq_len must be >= 16")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError("data.mlm_probability must be in (0, 1)")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ValueError("data.heldout_fraction must be in [0, 1)")
        if self.num_workers < 0:
            raise ValueError("data.num_workers must be >= 0")
        if self.prefetch_factor < 1 or self.pad_to_multiple_of < 1:
            raise ValueError("data.prefetch_factor and data.pad_to_multiple_of must be >= 1")


@dataclass
class DrpConfig:
    """Document Relation Prediction: which relations, how often, how linked documents are drawn."""

    # The relations, in the DRP head's label order (pretrain/relations/: contiguous, random, linked;
    # [contiguous, random] is BERT's NSP for corpora without links).
    relations: tuple[str, ...] = DEFAULT_RELATIONS
    # Probabilities of the relations, in their order; null = uniform.
    probabilities: list[float] | None = None
    linked_alpha: float = 1.0  # linked document drawn with weight in_degree ** -alpha (0 = uniform)
    # Graph sources (edge kinds) linked pairs are drawn from; null = every kind the graph has.
    linked_sources: list[str] | None = None
    # What the DRP head reads (docs/architecture.md, "DRP read-out"): "cosine" (A and B encoded apart,
    # their cosine; the best measured on the bundled sample), "siamese", "segments", "cls", or "pooler"
    # (the paper's tanh(W h_[CLS]), which the BERT-warm-started base/large presets keep).
    readout: Literal["pooler", "cls", "segments", "siamese", "cosine"] = "cosine"
    # Deprecated: 2 or 3 = the first 2 or 3 of (contiguous, random, linked); read from older configs.
    classes: Literal[2, 3] | None = None

    def __post_init__(self) -> None:
        self.relations = tuple(self.relations)
        if self.classes is not None:
            mapped = DEFAULT_RELATIONS[: self.classes]
            if self.relations not in (DEFAULT_RELATIONS, mapped):
                raise ValueError(
                    f"drp.classes={self.classes} contradicts drp.relations={list(self.relations)}: "
                    "drop drp.classes (deprecated)"
                )
            log.warning(
                "drp.classes=%d is deprecated: read as drp.relations=[%s]", self.classes, ",".join(mapped)
            )
            # Saved as the list only: a resolved config names its relations one way.
            self.relations, self.classes = mapped, None
        unknown = [r for r in self.relations if r not in RELATIONS]
        if unknown:
            raise ValueError(
                f"drp.relations: unknown relation {unknown[0]!r} (known: {', '.join(RELATIONS)})"
            )
        if len(set(self.relations)) != len(self.relations) or len(self.relations) < 2:
            raise ValueError(
                f"drp.relations needs at least two distinct relations, got {list(self.relations)}"
            )
        if self.probabilities is not None:
            if len(self.probabilities) != len(self.relations):
                raise ValueError(
                    f"drp.probabilities needs {len(self.relations)} values (one per relation in "
                    f"drp.relations), got {len(self.probabilities)}"
                )
            if any(p < 0 for p in self.probabilities) or abs(sum(self.probabilities) - 1.0) > 1e-6:
                raise ValueError("drp.probabilities must be non-negative and sum to 1")
        if self.readout not in DRP_READOUTS:
            raise ValueError(f"drp.readout={self.readout!r}: choose one of {', '.join(DRP_READOUTS)}")
        if self.linked_alpha < 0:
            raise ValueError("drp.linked_alpha must be >= 0")
        if self.linked_sources is not None and not self.linked_sources:
            raise ValueError("drp.linked_sources must name at least one graph source, or be null (all)")

    @property
    def num_classes(self) -> int:
        return len(self.relations)

    @property
    def class_probabilities(self) -> list[float]:
        n = len(self.relations)
        return list(self.probabilities) if self.probabilities is not None else [1.0 / n] * n


def drp_stream_view(drp: dict[str, Any]) -> dict[str, Any]:
    """The `drp` section as it enters a run's stream hash and resume check.

    Configs before `drp.relations` held `classes: 2|3`; a relation list that such a config could express
    (the first 2 or 3 of the default, every edge kind) is written that way, so runs and checkpoints made
    before keep resuming (their pairs are drawn exactly as then). The pooler read-out, which every run
    before `drp.readout` used, is left out of the view for the same reason."""
    view = dict(drp)
    if view.get("readout", "pooler") == "pooler":
        view.pop("readout", None)
    classes = view.pop("classes", None)
    relations = tuple(view.pop("relations", None) or DEFAULT_RELATIONS[: classes or 3])
    sources = view.pop("linked_sources", None)
    if sources is None and relations in (DEFAULT_RELATIONS[:2], DEFAULT_RELATIONS):
        view["classes"] = len(relations)
    else:
        view.update(relations=list(relations), linked_sources=sources)
    return view


@dataclass
class ModelConfig:
    """The encoder. `init_from` warm-starts from a local Hugging Face BERT folder; otherwise sizes below."""

    init_from: str | None = None
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"
    mlm_weight: float = 1.0
    drp_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("model.hidden_size must be a multiple of model.num_attention_heads")


@dataclass
class TrainConfig:
    """The optimization: batch, schedule, precision."""

    run_name: str = "demo"
    output_root: str = "runs"
    seed: int = 42
    max_steps: int = 1000  # length of the lr schedule
    stop_after: int | None = None  # stop at this step as a preemption would (checkpoint, exit 0)
    global_batch_size: int = 256  # sequences per optimizer step, whatever the world size
    micro_batch_size: int = 8  # sequences per process per forward pass
    optimizer: Literal["adamw", "lamb"] = "adamw"
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0
    max_grad_norm: float = 1.0
    # Warm starts from checkpoints without trained heads (see docs/architecture.md, "DRP from a warm
    # start"): lr multiplier of the parameters the checkpoint lacks, and steps during which only they
    # learn while the warm-started weights wait. 1.0 / 0 is the paper's setting (BERT with its heads).
    fresh_lr_scale: float = 1.0
    fresh_warmup_steps: int = 0
    # "auto": bf16 where the device computes it natively (a bf16 GPU, or a CPU with AVX512-BF16/AMX,
    # where it is ~1.7x faster than fp32), else fp32 ("no").
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] = "no"
    max_nonfinite_steps: int = 10  # this many non-finite losses in a row stop the run

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError("train.max_steps must be >= 1")
        if self.stop_after is not None and self.stop_after < 1:
            raise ValueError("train.stop_after must be >= 1")
        if self.micro_batch_size < 1 or self.global_batch_size < self.micro_batch_size:
            raise ValueError("train.global_batch_size must be >= train.micro_batch_size >= 1")
        if self.warmup_steps < 0:
            raise ValueError("train.warmup_steps must be >= 0")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError("train.min_lr_ratio must be in [0, 1]")
        if self.lr <= 0 or self.max_grad_norm <= 0:
            raise ValueError("train.lr and train.max_grad_norm must be > 0")
        if self.max_nonfinite_steps < 1:
            raise ValueError("train.max_nonfinite_steps must be >= 1")
        if self.fresh_lr_scale <= 0 or self.fresh_warmup_steps < 0:
            raise ValueError("train.fresh_lr_scale must be > 0 and train.fresh_warmup_steps >= 0")


@dataclass
class CheckpointConfig:
    every: int = 500  # steps between checkpoints (also at the end and on SIGTERM/SIGINT)
    keep_last: int = 3
    resume: str = "none"  # "none", "auto" (newest complete checkpoint of the run) or a checkpoint folder

    def __post_init__(self) -> None:
        if self.every < 1 or self.keep_last < 1:
            raise ValueError("checkpoint.every and checkpoint.keep_last must be >= 1")


@dataclass
class LoggingConfig:
    every: int = 10
    wandb: bool = True  # offline unless the user is logged in
    wandb_project: str = "linkbert"
    wandb_mode: Literal["auto", "offline", "online"] = "auto"
    tensorboard: bool = True
    progress_bar: bool = True

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("logging.every must be >= 1")


@dataclass
class EvalConfig:
    every: int = 500  # steps between held-out evaluations (0 = only at the end)
    # Held-out DRP pairs, equal counts per relation (pretrain/data/heldout.py): the same set at every
    # evaluation, for any world size, and in `linkbert eval`.
    pairs: int = 300
    # Caps that spread the held-out set over many documents and links: pairs per (anchor document,
    # pair document) and per anchor document, for each relation.
    max_pairs_per_edge: int = 5
    max_pairs_per_document: int = 10
    # Training pairs (equal per relation) the frozen-cosine baseline fits its thresholds on.
    baseline_fit_pairs: int = 600
    # Cross-document retrieval (`linkbert eval`): each held-out link is one query, ranked against this
    # many documents the anchor does not link to; at most `retrieval_queries` queries.
    retrieval_candidates: int = 19
    retrieval_queries: int = 200

    def __post_init__(self) -> None:
        if self.every < 0 or self.pairs < 1:
            raise ValueError("eval.every must be >= 0 and eval.pairs >= 1")
        if self.max_pairs_per_edge < 1 or self.max_pairs_per_document < 1:
            raise ValueError("eval.max_pairs_per_edge and eval.max_pairs_per_document must be >= 1")
        if self.baseline_fit_pairs < 0 or self.retrieval_candidates < 1 or self.retrieval_queries < 0:
            raise ValueError(
                "eval.baseline_fit_pairs and eval.retrieval_queries must be >= 0, eval.retrieval_candidates >= 1"
            )


@dataclass
class PretrainConfig:
    """Pretraining's sections of the configuration tree: what a run reads, and records in its config.yaml.

    The corpus stages' sections sit beside these in a preset (`pipeline/tree.py` puts the whole tree
    together); pretraining reads a corpus only through its folder (`data.corpus`)."""

    data: DataConfig = field(default_factory=DataConfig)
    drp: DrpConfig = field(default_factory=DrpConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def load_pretrain_config(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> PretrainConfig:
    """Pretraining's sections of a preset or of a run's saved config, validated; other sections are left out."""
    return load_tree(PretrainConfig, path, overrides, own_sections_only=True)
