"""Held-out evaluation: MLM loss/accuracy/perplexity and DRP loss/accuracy/confusion.

`evaluate_model` is what the trainer calls periodically (every rank calls it, sums are reduced across
processes) and what `linkbert eval` (pretrain/export/evaluate_export.py) calls on an export.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import distributed as dist
from torch import nn
from torch.nn import functional as F

from foundation.errors import PipelineError
from pretrain.config import APART_READOUTS
from pretrain.data.collator import IGNORE_INDEX
from pretrain.data.heldout import baselines
from pretrain.relations import DEFAULT_RELATIONS

log = logging.getLogger(__name__)

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels", "drp_labels")


def unmasked_ids(input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Input ids with every MLM-masked position (label != IGNORE_INDEX) given back its original token."""
    masked = labels != IGNORE_INDEX
    return torch.where(masked, labels, input_ids)


def _unwrap(model: nn.Module, accelerator: Any | None) -> nn.Module:
    if accelerator is not None:
        return accelerator.unwrap_model(model)
    while hasattr(model, "module"):  # DDP / DeepSpeed engine
        model = model.module
    return model


def _device(model: nn.Module, accelerator: Any | None) -> torch.device:
    if accelerator is not None:
        return accelerator.device
    return next(model.parameters()).device


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    *,
    accelerator: Any | None = None,
    max_batches: int | None = None,
    class_names: Sequence[str] | None = None,
    predictions: list[torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Held-out metrics of `model` on `batches` (collated pretraining batches with MLM and DRP labels).

    All sums stay on the device until one all-reduce at the end (no per-batch host sync beyond the
    model's own). With an `accelerator`, every rank must call this with the same number of batches
    (ZeRO-3 gathers parameters inside forward). The model's train/eval mode is restored on return.
    `class_names`: the DRP head's labels (the run's drp.relations); default: the held-out set's own
    (`batches.heldout.class_names`), else the first of (contiguous, random, linked).
    MLM is scored on the masked batch, DRP on the same pairs unmasked. `predictions` (one process only):
    a list that receives each batch's DRP class probabilities [micro batch, classes], padding rows included.
    """
    core = _unwrap(model, accelerator)
    num_classes = int(getattr(core.config, "num_drp_labels", 3))
    if class_names is None:
        heldout = getattr(batches, "heldout", None)
        class_names = heldout.class_names if heldout is not None else DEFAULT_RELATIONS[:num_classes]
    if len(class_names) != num_classes:
        raise PipelineError(
            f"the DRP head has {num_classes} classes, the relations are {list(class_names)}: evaluate with "
            "the run's own drp.relations"
        )
    device = _device(model, accelerator)
    # [mlm nll sum, mlm correct, mlm tokens, drp nll sum, drp correct, drp examples, batches] + confusion
    sums = torch.zeros(7 + num_classes * num_classes, dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    try:
        for i, batch in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            inputs = {k: batch[k].to(device, non_blocking=True) for k in MODEL_INPUTS if k in batch}
            if "labels" not in inputs or "drp_labels" not in inputs:
                raise PipelineError(
                    f"evaluation batch {i} has no {'labels' if 'labels' not in inputs else 'drp_labels'}: "
                    "evaluate on collated pretraining batches (MLM and DRP labels)"
                )
            out = model(**inputs)
            mlm_logits, mlm_labels = out.mlm_logits.float(), out.mlm_labels
            # DRP is scored on the pair as a user would give it, without the MLM masks: a second pass
            # with every masked position given back its token.
            if getattr(core, "drp_readout", None) in APART_READOUTS:
                drp_logits = out.drp_logits.float()  # these read-outs already read the unmasked pair
            else:
                drp_logits = core.drp_logits(
                    unmasked_ids(inputs["input_ids"], inputs["labels"]),
                    inputs.get("attention_mask"),
                    inputs.get("token_type_ids"),
                ).float()
            drp_labels = inputs["drp_labels"].reshape(-1)
            if predictions is not None:
                predictions.append(torch.softmax(drp_logits, -1).cpu())
            # Rows labelled IGNORE_INDEX pad the last held-out batch (pretrain/data/heldout.py): counted nowhere.
            valid = drp_labels != IGNORE_INDEX
            drp_logits, drp_labels = drp_logits[valid], drp_labels[valid]
            drp_pred = drp_logits.argmax(-1)
            confusion = torch.bincount(
                drp_labels * num_classes + drp_pred, minlength=num_classes * num_classes
            ).to(torch.float64)
            sums += torch.cat(
                [
                    torch.stack(
                        [
                            F.cross_entropy(mlm_logits, mlm_labels, reduction="sum").double(),
                            (mlm_logits.argmax(-1) == mlm_labels).sum().double(),
                            torch.tensor(mlm_labels.numel(), dtype=torch.float64, device=device),
                            F.cross_entropy(drp_logits, drp_labels, reduction="sum").double(),
                            (drp_pred == drp_labels).sum().double(),
                            torch.tensor(drp_labels.numel(), dtype=torch.float64, device=device),
                            torch.ones((), dtype=torch.float64, device=device),
                        ]
                    ),
                    confusion,
                ]
            )
    finally:
        model.train(was_training)
    sums = _sum_across_processes(sums, accelerator)
    return summarize(sums.cpu().tolist(), class_names)


def _sum_across_processes(sums: torch.Tensor, accelerator: Any | None) -> torch.Tensor:
    # The process group itself, not accelerate's view of it: under a bare torchrun on CPU accelerate
    # reports distributed_type NO (and its reduce is then a silent no-op) while 2 ranks exist.
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
    elif accelerator is not None and accelerator.num_processes > 1:
        sums = accelerator.reduce(sums, reduction="sum")
    return sums


def summarize(sums: list[float], class_names: Sequence[str]) -> dict[str, Any]:
    num_classes = len(class_names)
    mlm_nll, mlm_correct, mlm_tokens, drp_nll, drp_correct, drp_examples, num_batches = sums[:7]
    confusion = [
        [int(round(v)) for v in sums[7 + r * num_classes : 7 + (r + 1) * num_classes]]
        for r in range(num_classes)
    ]
    nan = float("nan")
    mlm_loss = mlm_nll / mlm_tokens if mlm_tokens else nan
    metrics: dict[str, Any] = {
        "mlm_loss": mlm_loss,
        "mlm_acc": mlm_correct / mlm_tokens if mlm_tokens else nan,
        # exp of a huge early loss overflows: report inf rather than raise
        "perplexity": math.exp(mlm_loss) if mlm_loss < 700 else (nan if mlm_loss != mlm_loss else math.inf),
        "drp_loss": drp_nll / drp_examples if drp_examples else nan,
        "drp_acc": drp_correct / drp_examples if drp_examples else nan,
    }
    for c, name in enumerate(class_names):
        row = sum(confusion[c])
        metrics[f"drp_acc_{name}"] = confusion[c][c] / row if row else nan
    metrics.update(baselines([sum(row) for row in confusion]))
    metrics.update(
        confusion=confusion,
        drp_classes=list(class_names),
        mlm_tokens=int(mlm_tokens),
        drp_examples=int(drp_examples),
        batches=int(num_batches),
    )
    return metrics


__all__ = ["MODEL_INPUTS", "evaluate_model", "summarize", "unmasked_ids"]
