"""Optimizer: AdamW or LAMB over BERT's parameter groups (the lr schedule is `pretrain/training/schedule.py`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable

import torch

from pretrain.config import TrainConfig
from pretrain.training.schedule import peak_lr


def param_groups(model: torch.nn.Module, weight_decay: float, fresh: Collection[str] = ()) -> list[dict]:
    """Weight decay on matrices only: biases and LayerNorm weights are left undecayed (BERT recipe).

    `fresh` names the parameters a warm start left newly initialized (heads the checkpoint lacks); they
    form groups of their own (`"fresh": True`), so the scheduler can give them their own learning rate
    (`pretrain.training.schedule.peak_lr`) and hold the warm-started ones (`WarmupLinearDecay.hold`). Empty groups are left out:
    a model from scratch keeps BERT's two groups. Group 0 is always the decayed warm-started/encoder
    matrices, whose lr is the one logged.
    """
    fresh = set(fresh)
    groups: dict[tuple[bool, bool], list] = {(f, d): [] for f in (False, True) for d in (True, False)}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name or name.endswith(".bias")
        groups[(name in fresh, not no_decay)].append(param)
    return [
        {
            "params": params,
            "weight_decay": weight_decay if decayed else 0.0,
            "fresh": is_fresh,
        }
        for (is_fresh, decayed), params in groups.items()
        if params or not is_fresh
    ]


class Lamb(torch.optim.Optimizer):
    """LAMB (You et al., 2020): Adam moments with bias correction, decoupled weight decay, and a per-tensor
    trust ratio ||w|| / ||update|| that makes batch sizes of tens of thousands trainable."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid LAMB hyper-parameters lr={lr} betas={betas} eps={eps}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0  # a Python int: a tensor here would cost a device sync per parameter
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                step = state["step"]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                grad = p.grad
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                m_hat = exp_avg / (1 - beta1**step)
                v_hat = exp_avg_sq / (1 - beta2**step)
                update = m_hat / (v_hat.sqrt() + group["eps"])
                if group["weight_decay"]:
                    update.add_(p, alpha=group["weight_decay"])
                w_norm = torch.linalg.vector_norm(p)
                u_norm = torch.linalg.vector_norm(update)
                # A zero weight (fresh bias) or zero update falls back to plain Adam-W scaling.
                trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                p.add_(update * trust, alpha=-group["lr"])
        return loss


def build_optimizer(
    model: torch.nn.Module, cfg: TrainConfig, *, fused: bool = False, fresh: Collection[str] = ()
) -> torch.optim.Optimizer:
    """`fused` selects torch's fused AdamW kernel (CUDA only); the update it computes is the same.
    `fresh`: names of newly initialized parameters (see `param_groups`)."""
    groups = param_groups(model, cfg.weight_decay, fresh)
    for group in groups:
        group["lr"] = peak_lr(group, cfg)
    if cfg.optimizer == "lamb":
        return Lamb(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
    extra = {"fused": True} if fused else {"foreach": True}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, **extra)
