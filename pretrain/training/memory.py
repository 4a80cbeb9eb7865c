"""How much memory a launch needs per process, estimated from the config, and how much the machine has.

`linkbert preflight` refuses a launch whose estimate does not fit the available memory with headroom
(pretrain/training/preflight.py); the estimate's parts are printed with it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import PipelineError
from foundation.paths import resolve_path
from pretrain.config import PretrainConfig

SMALL_PRESET = "tiny-cpu"  # the preset a refusal suggests on CPU

GIB = 1024**3


# Share of the available memory a launch may plan for: the estimate is rough, the allocator fragments,
# and other programs keep running.
HEADROOM = 0.85


# Measured peak memory per sequence over the formula's (see estimate_memory).
CALIBRATION = 1.25


@dataclass(frozen=True)
class LaunchShape:
    processes: int  # in all (accelerate's num_processes counts every machine's)
    per_machine: int
    gpu: bool


@dataclass(frozen=True)
class MemoryEstimate:
    parameters: int
    states: int  # weights, gradients, AdamW moments (fp32)
    activations: int  # kept for backward, one micro batch
    logits: int  # MLM vocabulary projection of the masked positions, with its softmax and gradient
    runtime: int  # interpreter, torch, CUDA context

    @property
    def total(self) -> int:
        return self.states + self.activations + self.logits + self.runtime


def model_dims(cfg: PretrainConfig, vocab_size: int) -> dict[str, int]:
    """Layers, widths and vocabulary of the model the run builds (a warm start's own config.json)."""
    m = cfg.model
    dims = {
        "hidden": m.hidden_size,
        "layers": m.num_hidden_layers,
        "heads": m.num_attention_heads,
        "intermediate": m.intermediate_size,
        "positions": m.max_position_embeddings,
        "vocab": vocab_size,
    }
    if m.init_from:
        config = json.loads((resolve_path(m.init_from) / "config.json").read_text(encoding="utf-8"))
        dims.update(
            hidden=config["hidden_size"],
            layers=config["num_hidden_layers"],
            heads=config["num_attention_heads"],
            intermediate=config["intermediate_size"],
            positions=config["max_position_embeddings"],
        )
    return dims


def estimate_memory(
    cfg: PretrainConfig, dims: dict[str, int], micro_batch: int | None = None
) -> MemoryEstimate:
    """A rough upper estimate of one training process's peak memory.

    Activations follow Korthikanti et al. (2022), 34*s*b*h + 5*a*s^2*b bytes per layer in 16-bit (twice
    that in fp32), with the attention matrix materialized (CPU, eager); the MLM head projects the masked
    ~15% of positions onto the vocabulary (logits, softmax, gradient in fp32). Calibrated against the
    peak RSS of one CPU process (tiny architecture, 256 tokens, micro batch 8/32/64: 0.66/1.25/2.07 GiB
    measured, 0.76/1.35/2.14 GiB estimated): the per-sequence terms x1.25, 0.5 GiB of runtime.
    """
    h, layers, a, i, v = dims["hidden"], dims["layers"], dims["heads"], dims["intermediate"], dims["vocab"]
    b, s = micro_batch or cfg.train.micro_batch_size, cfg.data.max_seq_len
    per_layer = 4 * (h * h + h) + 2 * h * i + i + h + 4 * h
    params = layers * per_layer + (v + dims["positions"] + 2) * h + 2 * h + 2 * (h * h + h) + 2 * h + v
    params += h * cfg.drp.num_classes + cfg.drp.num_classes
    # Deferred: loads torch and accelerate; the config checks before it run without them.
    from pretrain.training.distributed import resolve_precision

    scale = 1 if resolve_precision(cfg.train.mixed_precision) in ("bf16", "fp16") else 2
    activations = layers * scale * (34 * s * b * h + 5 * a * s * s * b)
    if cfg.drp.readout == "siamese":
        # A and B encoded apart: the same tokens once more (half-length rows, attention a quarter).
        activations += layers * scale * (34 * s * b * h + 5 * a * s * s * b // 4)
    logits = int(b * s * cfg.data.mlm_probability * v * 4 * 3)
    return MemoryEstimate(
        parameters=params,
        states=16 * params,
        activations=int(activations * CALIBRATION),
        logits=int(logits * CALIBRATION),
        runtime=GIB // 2,
    )


def available_memory(shape: LaunchShape) -> int:
    """Bytes one process may use: its GPU's memory, or this machine's available memory shared by its processes."""
    if shape.gpu:
        # Deferred: the config checks run without torch; only this check needs it.
        import torch

        return int(torch.cuda.mem_get_info(0)[1])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 // shape.per_machine
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")) // shape.per_machine


def check_memory(cfg: PretrainConfig, dims: dict[str, int], shape: LaunchShape, available: int) -> str:
    """The estimate as a line; a PipelineError naming a smaller setting when it does not fit."""
    need = estimate_memory(cfg, dims)
    line = (
        f"~{need.total / GIB:.1f} GiB per process (estimate) of {available / GIB:.1f} GiB available "
        f"({'GPU' if shape.gpu else f'RAM / {shape.per_machine} processes'})"
    )
    budget = int(available * HEADROOM)
    if need.total <= budget:
        return line
    per_process = cfg.train.global_batch_size // shape.processes
    fits = [
        m
        for m in range(1, cfg.train.micro_batch_size)
        if per_process % m == 0 and estimate_memory(cfg, dims, m).total <= budget
    ]
    hint = (
        f"lower train.micro_batch_size to {max(fits)} (ARGS=train.micro_batch_size={max(fits)}; the global "
        f"batch stays {cfg.train.global_batch_size} through gradient accumulation), or use"
        if fits
        else "use"
    )
    raise PipelineError(
        f"train.micro_batch_size={cfg.train.micro_batch_size} x data.max_seq_len={cfg.data.max_seq_len} needs "
        f"{line}: the processes would be killed for memory; {hint} a smaller preset "
        f"(make pretrain PRESET={SMALL_PRESET} on CPU)"
    )


__all__ = [
    "LaunchShape",
    "MemoryEstimate",
    "available_memory",
    "check_memory",
    "estimate_memory",
    "model_dims",
]
