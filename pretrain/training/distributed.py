"""The one `Accelerator` of a run, built so that the same code is right on CPUs, one GPU, DDP and DeepSpeed.

The backend (single process, DDP, DeepSpeed) comes from the accelerate config file given to
`accelerate launch`; a plain `linkbert pretrain` is one process. Silent traps handled here (each one
reproduced by tests/pretrain/training/test_distributed.py):
- without a GPU accelerate picks no process-group backend: gloo is requested explicitly, else the
  DeepSpeed ranks all act as rank 0 and DDP replicas run unwrapped and unsynchronised;
- DDP on CPUs needs `cpu=True`, which with DeepSpeed would silently drop the DeepSpeed plugin;
- the world size accelerate sees is checked against the launcher's (`--cpu` launches start one process);
- oversubscribed CPU threads make multi-process CPU runs 30-60x slower and change bits: one thread each;
- accelerate steps a prepared scheduler once per process per step: the trainer steps it itself, once;
- DeepSpeed needs the micro batch, accumulation and clipping in its own config, which accelerate can
  only infer from a prepared DataLoader (ours is not one: each rank reads its own slice of the stream);
- DeepSpeed JIT-compiles a shared-memory op on CPU start-up that training never uses: skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, InitProcessGroupKwargs

from foundation.errors import PipelineError
from pretrain.config import TrainConfig

# DeepSpeed guesses its accelerator on import and warns on every process of a CPU machine that it found no
# GPU; told which one, it stays quiet.
os.environ.setdefault("DS_ACCELERATOR", "cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class BatchPlan:
    """How one optimizer step of `global_batch_size` sequences is cut across processes and micro steps."""

    global_batch_size: int
    micro_batch_size: int
    world_size: int
    accumulation: int

    @property
    def samples_per_micro_step(self) -> int:
        return self.micro_batch_size * self.world_size


def plan_batches(cfg: TrainConfig, world_size: int) -> BatchPlan:
    per_micro_step = cfg.micro_batch_size * world_size
    if cfg.global_batch_size % per_micro_step:
        raise PipelineError(
            f"train.global_batch_size={cfg.global_batch_size} is not a multiple of train.micro_batch_size="
            f"{cfg.micro_batch_size} x {world_size} processes = {per_micro_step}; choose a micro batch size "
            f"that divides {cfg.global_batch_size // world_size if cfg.global_batch_size % world_size == 0 else 'it'}"
            " or another number of processes"
        )
    return BatchPlan(
        cfg.global_batch_size, cfg.micro_batch_size, world_size, cfg.global_batch_size // per_micro_step
    )


def _launched_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _launched_with_deepspeed() -> bool:
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def _skip_deepspeed_shm_build() -> None:
    """DeepSpeed JIT-compiles a shared-memory all-reduce op when its process group starts on CPUs (1-8
    minutes of C++ build on a fresh machine). Training never uses it (gloo does the collectives), so it
    is marked unavailable; DeepSpeed then falls back to torch.distributed as it does off Linux."""
    # Deferred: deepspeed loads only for DeepSpeed runs.
    import deepspeed.ops

    compatible = getattr(deepspeed.ops, "__compatible_ops__", None)
    if isinstance(compatible, dict):
        compatible["deepspeed_shm_comm"] = False


def native_bf16() -> bool:
    """Whether this process's device computes bf16 natively: a CUDA GPU with bf16, or a CPU whose
    oneDNN kernels run bf16 matmuls in hardware (AVX512-BF16 or AMX); elsewhere bf16 is emulated."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(value: str) -> str:
    """`train.mixed_precision` as it runs here: "auto" becomes "bf16" or "no" (`native_bf16`)."""
    if value != "auto":
        return value
    return "bf16" if native_bf16() else "no"


def build_accelerator(cfg: TrainConfig, *, project_dir: str | None = None) -> Accelerator:
    has_gpu = torch.cuda.is_available()
    precision = resolve_precision(cfg.mixed_precision)
    world = _launched_world_size()
    kwargs: dict = {}
    if not has_gpu:
        if precision == "fp16":
            raise PipelineError("train.mixed_precision=fp16 needs a GPU; use bf16 or no on CPU")
        if world > 1:
            torch.set_num_threads(1)
            # Without a GPU accelerate picks no backend: gloo, or DeepSpeed ranks all act as rank 0.
            kwargs["kwargs_handlers"] = [
                InitProcessGroupKwargs(backend="gloo", timeout=timedelta(minutes=30))
            ]
            # DDP on CPUs needs cpu=True (else accelerate runs unwrapped, unsynchronised replicas);
            # with DeepSpeed cpu=True would silently drop the DeepSpeed plugin.
            kwargs["cpu"] = not _launched_with_deepspeed()
            if _launched_with_deepspeed():
                _skip_deepspeed_shm_build()
    acc = Accelerator(
        mixed_precision=precision,
        step_scheduler_with_optimizer=False,
        project_dir=project_dir,
        **kwargs,
    )
    if acc.num_processes != world or (world > 1 and acc.distributed_type == DistributedType.NO):
        raise PipelineError(
            f"launched {world} processes but accelerate sees {acc.num_processes} ({acc.distributed_type}); "
            "launch with an accelerate config from configs/accelerate/ (not --cpu)"
        )
    return acc


def is_deepspeed(accelerator: Accelerator) -> bool:
    return accelerator.distributed_type == DistributedType.DEEPSPEED


def configure_batches(accelerator: Accelerator, cfg: TrainConfig) -> BatchPlan:
    """Fix accumulation (and DeepSpeed's own batch config) from the global batch; call before `prepare`."""
    plan = plan_batches(cfg, accelerator.num_processes)
    if is_deepspeed(accelerator):
        ds = accelerator.state.deepspeed_plugin.deepspeed_config
        ds["train_micro_batch_size_per_gpu"] = plan.micro_batch_size
        ds["gradient_accumulation_steps"] = plan.accumulation
        ds["train_batch_size"] = plan.global_batch_size
        ds["gradient_clipping"] = cfg.max_grad_norm
        if resolve_precision(cfg.mixed_precision) == "bf16":
            # Without this DeepSpeed applies a bf16 step with non-finite gradients instead of skipping it.
            ds.setdefault("bf16", {})["check_grad_overflow"] = True
    accelerator.gradient_accumulation_steps = plan.accumulation
    return plan
