"""Training metrics: summed on the device per micro step, reduced across ranks once per logging window,
written to the run's metrics rows (always; `formats/run.py`), wandb and tensorboard (optional), and a progress bar on rank 0."""

from __future__ import annotations

import json
import logging
import math
import netrc
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from formats import run as run_format
from foundation.atomic import write_text_atomic
from pretrain.config import LoggingConfig

log = logging.getLogger(__name__)

# Slots of the per-window sum vector; per-class DRP counts follow at _CLASS_SLOTS.
_LOSS, _MLM_LOSS, _DRP_LOSS, _MICRO, _MLM_CORRECT, _MLM_TOTAL, _TOKENS, _PADDED = range(8)
_CLASS_SLOTS = 8


def _hits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Whether the label's logit is the largest. The label logit against `amax` costs ~1/10 of `argmax`
    on CPU (a vocab-wide argmax was 5% of a small model's step); exact float ties count as hits."""
    logits = logits.detach()
    return logits.gather(-1, labels[:, None]).squeeze(-1) >= logits.amax(-1)


def wandb_logged_in() -> bool:
    """An API key is configured (env or ~/.netrc from `wandb login`): only then does `auto` go online."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


class MetricsLogger:
    """All ranks call `add`/`end_step`/`log_*` (they all-reduce); only rank 0 writes anything."""

    def __init__(
        self,
        accelerator: Accelerator,
        run_dir: Path,
        cfg: LoggingConfig,
        *,
        run_name: str,
        run_config: dict[str, Any],
        drp_relations: Sequence[str],
        start_step: int,
        total_steps: int,
        flops_per_token: float | None = None,
        peak_flops: float | None = None,
    ) -> None:
        self.acc = accelerator
        self.cfg = cfg
        self.path = run_format.metrics_path(run_dir)
        self.class_names = tuple(drp_relations)  # the DRP head's labels, in order
        self.flops_per_token = flops_per_token
        self.peak_flops = peak_flops
        size = _CLASS_SLOTS + 2 * len(self.class_names)
        device = accelerator.device
        self._step_sums = torch.zeros(size, dtype=torch.float64, device=device)
        self._window = torch.zeros(size, dtype=torch.float64, device=device)
        self._grad_norms: list[float] = []
        self._t0 = time.perf_counter()
        self._file = self._wandb = self._tb = self._bar = None
        if accelerator.is_main_process:
            self._open(run_dir, run_name, run_config, start_step, total_steps)

    def _open(self, run_dir: Path, run_name: str, run_config: dict, start_step: int, total: int) -> None:
        # A resumed run replays the steps after its checkpoint: drop their rows so none appears twice.
        # A cut last line (a run killed mid-write) goes with them: the contract's one rule.
        if self.path.exists():
            kept = run_format.read_metrics(run_dir, up_to_step=start_step)
            write_text_atomic(self.path, "".join(json.dumps(row) + "\n" for row in kept))
        self._file = self.path.open("a", encoding="utf-8")
        if self.cfg.tensorboard:
            # Deferred: torch.utils.tensorboard loads the tensorboard package, only for logging.tensorboard.
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=start_step + 1)
        if self.cfg.wandb:
            self._wandb = _init_wandb(self.cfg, Path(run_dir), run_name, run_config)
        if self.cfg.progress_bar:
            self._bar = tqdm(total=total, initial=start_step, unit="step", dynamic_ncols=True)

    # --- accumulation (device tensors only: no host sync per micro step) ---------------------------

    @torch.no_grad()
    def add(self, out: Any, batch: dict[str, torch.Tensor]) -> None:
        """Add one micro batch's output to the current step's sums."""
        n = len(self.class_names)
        mlm_correct = _hits(out.mlm_logits, out.mlm_labels).sum()
        labels = batch["drp_labels"]
        hits = _hits(out.drp_logits, labels)
        sums = self._step_sums
        sums[_LOSS] += out.loss.detach().double()
        sums[_MLM_LOSS] += out.mlm_loss.detach().double()
        sums[_DRP_LOSS] += out.drp_loss.detach().double()
        sums[_MICRO] += 1
        sums[_MLM_CORRECT] += mlm_correct
        sums[_MLM_TOTAL] += out.mlm_labels.numel()
        sums[_TOKENS] += batch["attention_mask"].sum()
        sums[_PADDED] += batch["input_ids"].numel()
        # Comparison against the class ids, not bincount/boolean indexing: those sync with the host on GPU.
        one_hot = labels[:, None] == torch.arange(n, device=labels.device)[None, :]
        sums[_CLASS_SLOTS : _CLASS_SLOTS + n] += (one_hot & hits[:, None]).sum(0)
        sums[_CLASS_SLOTS + n :] += one_hot.sum(0)

    def step_tokens(self) -> torch.Tensor:
        """Non-padding tokens of this rank in the current step (a device scalar)."""
        return self._step_sums[_TOKENS]

    def end_step(self, step: int, *, skipped: bool, grad_norm: float | None) -> None:
        """Fold the step into the logging window; a skipped (non-finite) step contributes nothing."""
        if not skipped:
            self._window += self._step_sums
            if grad_norm is not None:
                self._grad_norms.append(grad_norm)
        self._step_sums.zero_()
        if self._bar is not None:
            self._bar.update(1)

    def pause(self) -> None:
        """Restart the throughput clock (after evaluation or a checkpoint, which are not training)."""
        self._t0 = time.perf_counter()

    # --- emitting --------------------------------------------------------------------------------

    def log_train(self, step: int, extra: dict[str, Any]) -> dict[str, Any] | None:
        totals = self.acc.reduce(self._window.clone(), reduction="sum").tolist()
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        self._window.zero_()
        grad_norms, self._grad_norms = self._grad_norms, []
        self._t0 = time.perf_counter()
        micro = totals[_MICRO]
        if micro == 0:  # every step of the window was skipped
            row: dict[str, Any] = {"step": step, "split": "train"}
        else:
            n = len(self.class_names)
            row = {
                "step": step,
                "split": "train",
                "loss": totals[_LOSS] / micro,
                "mlm_loss": totals[_MLM_LOSS] / micro,
                "mlm_acc": totals[_MLM_CORRECT] / max(totals[_MLM_TOTAL], 1),
                "drp_loss": totals[_DRP_LOSS] / micro,
                "drp_acc": sum(totals[_CLASS_SLOTS : _CLASS_SLOTS + n])
                / max(sum(totals[_CLASS_SLOTS + n :]), 1),
            }
            for i, name in enumerate(self.class_names):
                row[f"drp_acc_{name}"] = totals[_CLASS_SLOTS + i] / max(totals[_CLASS_SLOTS + n + i], 1)
            if grad_norms:
                row["grad_norm"] = sum(grad_norms) / len(grad_norms)
            row["tokens_per_s"] = totals[_TOKENS] / elapsed
            if self.flops_per_token and self.peak_flops:
                achieved = totals[_PADDED] / elapsed * self.flops_per_token
                row["mfu"] = achieved / (self.peak_flops * self.acc.num_processes)
        row.update(extra)
        self._emit(row, step)
        if self._bar is not None and "loss" in row:
            shown = {"loss": f"{row['loss']:.4f}", "lr": f"{row.get('lr', 0):.2e}"}
            if "lr_fresh" in row:
                shown["lr_heads"] = f"{row['lr_fresh']:.2e}"
            self._bar.set_postfix(shown)
        return row

    def log_eval(self, step: int, metrics: dict[str, Any]) -> None:
        self._emit({"step": step, "split": "eval", **metrics}, step)

    def _emit(self, row: dict[str, Any], step: int) -> None:
        if not self.acc.is_main_process:
            return
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        prefix = "eval/" if row.get("split") == "eval" else "train/"
        scalars = {
            f"{prefix}{k}": v
            for k, v in row.items()
            if k not in ("step", "split") and isinstance(v, int | float) and not isinstance(v, bool)
        }
        if self._tb is not None:
            for key, value in scalars.items():
                if math.isfinite(value):
                    self._tb.add_scalar(key, value, step)
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(scalars, step=step)

    def write(self, message: str) -> None:
        """A log line that does not break the progress bar."""
        if not self.acc.is_main_process:
            return
        if self._bar is not None:
            self._bar.write(message)
        else:
            log.info(message)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
        if self._file is not None:
            self._file.close()
        self._file = self._wandb = self._tb = self._bar = None


def _init_wandb(cfg: LoggingConfig, run_dir: Path, run_name: str, run_config: dict):
    # Deferred: wandb loads only when logging.wandb is on.
    import wandb

    mode = cfg.wandb_mode
    if mode == "auto":
        mode = "online" if wandb_logged_in() else "offline"
    wandb_dir = run_dir / "wandb"
    wandb_dir.mkdir(parents=True, exist_ok=True)
    os.environ["WANDB_DIR"] = str(run_dir)
    os.environ.setdefault("WANDB_SILENT", "true")  # its run summary would bury the training log
    # The same wandb run id across resumes, so the curves continue instead of starting a new run.
    id_file = wandb_dir / "run_id"
    run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(4)
    write_text_atomic(id_file, run_id + "\n")
    try:
        return wandb.init(
            project=cfg.wandb_project,
            name=run_name,
            id=run_id,
            resume="allow",
            dir=str(run_dir),
            mode=mode,
            config=run_config,
        )
    except Exception as e:  # wandb is a mirror of the metrics file: losing it must not stop a training run
        log.warning(
            "wandb disabled: wandb.init failed (%s: %s); %s is still written",
            type(e).__name__,
            e,
            run_format.metrics_path(run_dir),
        )
        return None
