"""The learning-rate schedule as a pure function of the config and the step: warmup, then linear decay.

Nothing of it lives in a checkpoint. A resumed run computes the lr of its next update from the step it
restored (`trainer_state.json`) and the config it was given now, so a changed `train.max_steps` or
`train.lr` takes effect at once and no scheduler's private state is saved or restored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pretrain.config import TrainConfig


@dataclass(frozen=True)
class WarmupLinearDecay:
    """lr multiplier: 0 for the first `hold` steps, then 0 -> 1 linearly over the next `warmup` steps,
    then linearly down to `min_ratio` at `total` (and that floor past it)."""

    warmup: int
    total: int
    min_ratio: float
    hold: int = 0

    def __call__(self, step: int) -> float:
        if step < self.hold:
            return 0.0
        step -= self.hold
        if step < self.warmup:
            return (step + 1) / self.warmup
        span = max(1, self.total - self.hold - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return self.min_ratio + (1.0 - self.min_ratio) * (1.0 - progress)


def peak_lr(group: dict[str, Any], cfg: TrainConfig) -> float:
    """A parameter group's peak lr: `train.lr`, times `train.fresh_lr_scale` for newly initialized tensors."""
    return cfg.lr * (cfg.fresh_lr_scale if group.get("fresh", False) else 1.0)


@dataclass(frozen=True)
class LrSchedule:
    """Per parameter group: its peak lr and its multiplier function.

    With fresh (newly initialized) groups present, the warm-started groups wait `train.fresh_warmup_steps`
    (lr 0) while the fresh heads learn to read the encoder, then warm up and decay over the rest of the
    run; the fresh groups follow the plain schedule from step 0 at `train.fresh_lr_scale` times the lr.
    """

    peaks: tuple[float, ...]
    multipliers: tuple[WarmupLinearDecay, ...]

    @classmethod
    def for_groups(cls, groups: Sequence[dict[str, Any]], cfg: TrainConfig) -> LrSchedule:
        has_fresh = any(group.get("fresh", False) for group in groups)
        multipliers = []
        for group in groups:
            hold = cfg.fresh_warmup_steps if has_fresh and not group.get("fresh", False) else 0
            multipliers.append(
                WarmupLinearDecay(cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio, hold=hold)
            )
        return cls(tuple(peak_lr(group, cfg) for group in groups), tuple(multipliers))

    def lrs(self, update: int) -> list[float]:
        """The lr of each group for the update numbered `update` (0 for the first)."""
        return [peak * fn(update) for peak, fn in zip(self.peaks, self.multipliers, strict=True)]

    def apply(self, groups: Sequence[dict[str, Any]], update: int) -> list[float]:
        """Set each group's lr for update `update`; returns them (group 0's is the one logged)."""
        lrs = self.lrs(update)
        for group, lr in zip(groups, lrs, strict=True):
            group["lr"] = lr
        return lrs


__all__ = ["LrSchedule", "WarmupLinearDecay", "peak_lr"]
