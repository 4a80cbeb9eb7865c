"""Held-out evaluation: MLM loss/accuracy/perplexity and DRP loss/accuracy/confusion.

`evaluate_model` is what the trainer calls periodically (every rank calls it, sums are reduced across
processes); `run_eval` is `linkbert eval`: an exported model folder against a corpus's held-out split.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import distributed as dist
from torch import nn
from torch.nn import functional as F

from pipeline.errors import PipelineError
from pretrain.collator import IGNORE_INDEX
from pretrain.heldout import baselines
from pretrain.relations import DEFAULT_RELATIONS

log = logging.getLogger(__name__)

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels", "drp_labels")


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
) -> dict[str, Any]:
    """Held-out metrics of `model` on `batches` (collated pretraining batches with MLM and DRP labels).

    All sums stay on the device until one all-reduce at the end (no per-batch host sync beyond the
    model's own). With an `accelerator`, every rank must call this with the same number of batches
    (ZeRO-3 gathers parameters inside forward). The model's train/eval mode is restored on return.
    `class_names`: the DRP head's labels (the run's drp.relations); default: the held-out set's own
    (`batches.heldout.class_names`), else the first of (contiguous, random, linked).
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
            drp_logits, drp_labels = out.drp_logits.float(), inputs["drp_labels"].reshape(-1)
            # Rows labelled IGNORE_INDEX pad the last held-out batch (pretrain/heldout.py): counted nowhere.
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


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """A plain-text table: scalar metrics, then the DRP confusion matrix (rows: true, columns: predicted)."""
    lines = []
    for key in (
        "mlm_loss",
        "mlm_acc",
        "perplexity",
        "drp_loss",
        "drp_acc",
        "drp_chance_acc",
        "drp_majority_acc",
    ):
        if key in metrics:
            lines.append(f"{key:<24}{metrics[key]:>12.4f}")
    for name in metrics["drp_classes"]:
        lines.append(f"{'drp_acc_' + name:<24}{metrics['drp_acc_' + name]:>12.4f}")
    for key in ("mlm_tokens", "drp_examples", "batches"):
        lines.append(f"{key:<24}{metrics[key]:>12d}")
    verdict = drp_verdict(metrics)
    if verdict:
        lines += ["", verdict]
    names = metrics["drp_classes"]
    width = max(12, *(len(n) + 2 for n in names))
    lines.append("")
    lines.append("DRP confusion (rows: true, columns: predicted)")
    lines.append(" " * width + "".join(f"{n:>{width}}" for n in names))
    for name, row in zip(names, metrics["confusion"], strict=True):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)


# Held-out DRP accuracy must beat the majority-class baseline by this much to count as learned, not guessed.
LEARNED_MARGIN = 0.10


def drp_verdict(metrics: Mapping[str, Any]) -> str | None:
    """One sentence on whether DRP learned: accuracy against always answering the held-out set's
    largest class and against chance, with the weakest relation named."""
    acc, majority = metrics.get("drp_acc"), metrics.get("drp_majority_acc")
    chance = metrics.get("drp_chance_acc")
    if acc is None or majority is None or acc != acc or majority != majority:
        return None
    names = metrics.get("drp_classes") or []
    per_class = {n: metrics.get(f"drp_acc_{n}") for n in names if metrics.get(f"drp_acc_{n}") is not None}
    weakest = min(per_class, key=per_class.get) if per_class else None
    margin = acc - majority
    if margin >= LEARNED_MARGIN:
        head = f"DRP learned: held-out accuracy {acc:.3f} beats the majority-class baseline {majority:.3f} by {margin:.3f}"
    elif margin > 0:
        head = (
            f"DRP barely above a guess: held-out accuracy {acc:.3f} is only {margin:.3f} above the "
            f"majority-class baseline {majority:.3f}"
        )
    else:
        head = (
            f"DRP not learned: held-out accuracy {acc:.3f} does not beat the majority-class baseline "
            f"{majority:.3f} (the model may answer one class for everything)"
        )
    tail = f" (chance {chance:.3f})" if chance is not None else ""
    if weakest is not None and len(per_class) > 1:
        tail += f"; weakest relation: {weakest} ({per_class[weakest]:.3f})"
    return head + tail + "."


def _json_safe(metrics: Mapping[str, Any]) -> dict[str, Any]:
    # JSON has no NaN/inf: write them as null so every reader can parse the file.
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return {k: clean(v) for k, v in metrics.items()}


def write_metrics(metrics: Mapping[str, Any], path: str | Path) -> None:
    from pipeline.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(_json_safe(metrics), indent=2) + "\n")


__all__ = [
    "drp_verdict",
    "evaluate_model",
    "format_metrics",
    "run_eval",
    "summarize",
    "write_metrics",
]


# ----------------------------------------------------------------------------------------------
# `linkbert eval`: an exported model folder against a corpus's held-out split


def _saved_run_config(model_dir: Path, fallback: Any) -> Any:
    from pipeline.tree import load_config
    from pretrain.export import RUN_CONFIG_FILE

    path = model_dir / RUN_CONFIG_FILE
    if path.is_file():
        return load_config(path)
    log.warning(
        "%s has no %s (not exported by `linkbert export`): the held-out split comes from the given config",
        model_dir,
        RUN_CONFIG_FILE,
    )
    return fallback


def _check_corpus(folder: Path, corpus_path: Path, *, explicit: bool) -> None:
    """The export's tokenizer must be the corpus's; without --corpus, the corpus must be the run's own."""
    from pretrain.export import EXPORT_MANIFEST
    from pretrain.pin import corpus_identity, describe, mismatch

    try:
        manifest = json.loads((folder / EXPORT_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # not made by `linkbert export`: only the vocabulary size can be checked (below)
    now = corpus_identity(corpus_path)
    pinned = manifest.get("tokenizer_hash")
    if pinned and now["tokenizer_hash"] and pinned != now["tokenizer_hash"]:
        raise PipelineError(
            f"{folder} was exported with tokenizer {pinned[:12]}, but corpus {describe(now)} is tokenized with "
            f"another one: evaluate on the corpus the model was trained on ({manifest.get('corpus')}, or --corpus)"
        )
    identity = manifest.get("corpus_identity")
    if not explicit and identity:
        problem = mismatch(identity, corpus_path)
        if problem is not None:
            raise PipelineError(
                f"{folder}: the saved config's corpus is not the one the model was trained on ({problem}); "
                "restore that folder, or pass --corpus to evaluate on another corpus with the same tokenizer"
            )


def run_eval(
    model_dir: str, corpus_dir: str | None, output: str | None, cfg: Any, *, pairs: int | None = None
) -> dict[str, Any]:
    """Evaluate an exported model on the held-out split it was trained with and write the metrics as JSON.

    The split, pair sampling and masking come from the config saved in the export, so by default this
    evaluates exactly the pairs (and masks) of the run's own held-out evaluations (`eval.pairs`, equal
    counts per relation); `pairs` asks for another size of the set.
    """
    from pipeline.paths import resolve_path
    from pretrain.corpus_data import LinkedCorpus
    from pretrain.loader import build_heldout_batches
    from pretrain.model import LinkBertForPreTraining

    folder = Path(model_dir)
    if not (folder / "config.json").is_file() or not any(folder.glob("*.safetensors")):
        raise PipelineError(
            f"{folder} is not an exported model folder (config.json + model.safetensors): "
            "make one with `linkbert export`"
        )
    run_cfg = _saved_run_config(folder, cfg)
    corpus_path = resolve_path(corpus_dir if corpus_dir is not None else run_cfg.data.corpus)
    corpus = LinkedCorpus.open(corpus_path)
    _check_corpus(folder, corpus_path, explicit=corpus_dir is not None)
    model = LinkBertForPreTraining.from_pretrained(str(folder), dtype=torch.float32)
    if model.config.vocab_size != corpus.vocab_size:
        raise PipelineError(
            f"{folder} has a vocabulary of {model.config.vocab_size} tokens, corpus {corpus_path} of "
            f"{corpus.vocab_size}: evaluate on the corpus the model was trained on (--corpus)"
        )
    num_classes = int(getattr(model.config, "num_drp_labels", 3))
    if num_classes != run_cfg.drp.num_classes:
        raise PipelineError(
            f"{folder}: the DRP head has {num_classes} classes but the saved config has "
            f"{run_cfg.drp.num_classes} relations (drp.relations={list(run_cfg.drp.relations)}); the export is "
            "inconsistent, export the checkpoint again"
        )
    loader = build_heldout_batches(
        corpus,
        run_cfg.data,
        run_cfg.drp,
        seed=run_cfg.train.seed,
        micro_batch_size=run_cfg.train.micro_batch_size,
        pairs=pairs if pairs is not None else run_cfg.eval.pairs,
    )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    log.info("evaluating %s on %s of %s", folder, loader.heldout.describe(), corpus_path)
    metrics = evaluate_model(model, loader, class_names=run_cfg.drp.relations)
    metrics.update(model=str(folder), corpus=str(corpus_path))
    out = Path(output) if output is not None else folder / "eval.json"
    write_metrics(metrics, out)
    print(format_metrics(metrics))
    print(f"metrics written to {out}")
    return metrics
