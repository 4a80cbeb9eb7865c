"""Held-out evaluation: MLM loss/accuracy/perplexity and DRP loss/accuracy/confusion.

`evaluate_model` is what the trainer calls periodically (every rank calls it, sums are reduced across
processes); `run_eval` is `linkbert eval`: an exported model folder against a corpus's held-out split.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import distributed as dist
from torch import nn
from torch.nn import functional as F

from formats import export as export_format
from formats import run as run_format
from pipeline.errors import PipelineError
from pretrain.collator import IGNORE_INDEX
from pretrain.config import APART_READOUTS, load_pretrain_config
from pretrain.heldout import baselines
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
        "drp_chance_acc",
        "drp_majority_acc",
    ):
        if key in metrics:
            lines.append(f"{key:<24}{metrics[key]:>12.4f}")
    lines += ["", _accuracy_table(metrics)]
    for key in ("mlm_tokens", "drp_examples", "batches"):
        lines.append(f"{key:<24}{metrics[key]:>12d}")
    verdict = drp_verdict(metrics)
    if verdict:
        lines += ["", verdict]
    if metrics.get("heldout_coverage"):
        lines += [
            "",
            "held-out pairs: "
            + "; ".join(
                f"{n} {c['pairs']} from {c['edges']} document pairs, {c['anchor_documents']} anchors, "
                f"{c['unseen_pair_documents']} with B unseen in training"
                for n, c in metrics["heldout_coverage"].items()
            ),
        ]
    if metrics.get("retrieval"):
        from pretrain.retrieval import format_retrieval

        lines += ["", format_retrieval(metrics["retrieval"])]
    names = metrics["drp_classes"]
    width = max(12, *(len(n) + 2 for n in names))
    lines.append("")
    lines.append("DRP confusion (rows: true, columns: predicted)")
    lines.append(" " * width + "".join(f"{n:>{width}}" for n in names))
    for name, row in zip(names, metrics["confusion"], strict=True):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)


def _accuracy_table(metrics: Mapping[str, Any]) -> str:
    """Held-out DRP accuracy, overall and per relation, of the model beside the zero-training baselines
    on the same pairs (with 95% bootstrap intervals where `linkbert eval` computed them)."""
    names = ["", *metrics["drp_classes"]]
    model_ci = metrics.get("drp_acc_ci95") or {}
    base_ci = metrics.get("baseline_cosine_acc_ci95") or {}
    majority = metrics.get("drp_majority_acc")
    header = f"{'DRP accuracy':<20}{'model':>22}{'frozen cosine':>22}{'majority':>10}"
    rows = [header]
    for name in names:
        key = f"acc_{name}" if name else "acc"
        label = name or "all pairs"
        model = _with_ci(metrics.get(f"drp_{key}"), model_ci.get(key))
        base = _with_ci(metrics.get(f"baseline_cosine_{key}"), base_ci.get(key))
        maj = f"{majority:.3f}" if (not name and majority is not None) else ""
        rows.append(f"{label:<20}{model:>22}{base:>22}{maj:>10}")
    return "\n".join(rows)


def _with_ci(value: Any, ci: Any) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{value:.3f}"


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
    against = baseline_comparison(metrics)
    return head + tail + "." + (f" {against}" if against else "")


def baseline_comparison(metrics: Mapping[str, Any]) -> str | None:
    """One sentence against the frozen warm-start cosine baseline on the same pairs, overall and for the
    relation where the two differ most; None without that baseline."""
    acc, base = metrics.get("drp_acc"), metrics.get("baseline_cosine_acc")
    if acc is None or base is None or acc != acc:
        return None
    names = metrics.get("drp_classes") or []
    gaps = {
        n: (metrics[f"drp_acc_{n}"], metrics[f"baseline_cosine_acc_{n}"])
        for n in names
        if metrics.get(f"drp_acc_{n}") is not None and metrics.get(f"baseline_cosine_acc_{n}") is not None
    }
    verb = "beats" if acc > base else "matches" if acc == base else "is below"
    text = f"Against the frozen warm-start cosine baseline on the same pairs, DRP {verb} it: {acc:.3f} vs {base:.3f}"
    if gaps:
        per = ", ".join(f"{n} {a:.2f} vs {b:.2f}" for n, (a, b) in gaps.items())
        text += f" ({per})"
    return text + "."


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
    "baseline_comparison",
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
    path = model_dir / export_format.RUN_CONFIG_FILE
    if path.is_file():
        return load_pretrain_config(path)
    log.warning(
        "%s has no %s (not exported by `linkbert export`): the held-out split comes from the given config",
        model_dir,
        export_format.RUN_CONFIG_FILE,
    )
    return fallback


def _check_corpus(folder: Path, corpus_path: Path, *, explicit: bool) -> None:
    """The export's tokenizer must be the corpus's; without --corpus, the corpus must be the run's own."""
    from pretrain.pin import corpus_identity, describe, mismatch

    manifest = export_format.read_manifest(folder)
    if not manifest:
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
    model_dir: str,
    corpus_dir: str | None,
    output: str | None,
    cfg: Any,
    *,
    pairs: int | None = None,
    retrieval: bool = True,
) -> dict[str, Any]:
    """Evaluate an exported model on the held-out split it was trained with and write the metrics as JSON.

    The split, pair sampling and masking come from the config saved in the export, so by default this
    evaluates exactly the pairs (and masks) of the run's own held-out evaluations (`eval.pairs`, equal
    counts per relation); `pairs` asks for another size of the set. Beside the model's figures: the
    zero-training baselines on the same pairs (majority class, frozen warm-start cosine), bootstrap 95%
    intervals, one row per held-out document pair, and (`retrieval`) cross-document retrieval.
    """
    from pipeline.paths import resolve_path
    from pretrain.corpus_data import LinkedCorpus
    from pretrain.loader import build_heldout_batches, heldout_split
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
        max_pairs_per_edge=run_cfg.eval.max_pairs_per_edge,
        max_pairs_per_document=run_cfg.eval.max_pairs_per_document,
    )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    log.info("evaluating %s on %s of %s", folder, loader.heldout.describe(), corpus_path)
    probabilities: list[torch.Tensor] = []
    metrics = evaluate_model(model, loader, class_names=run_cfg.drp.relations, predictions=probabilities)
    metrics.update(model=str(folder), corpus=str(corpus_path), drp_readout=model.drp_readout)
    probs = torch.cat(probabilities).numpy()[: len(loader.heldout.samples)] if probabilities else None
    cache = _baseline_cache(folder)
    metrics.update(_heldout_report(corpus, corpus_path, loader, probs, run_cfg, cache))
    if retrieval and run_cfg.eval.retrieval_queries > 0:
        from pretrain.retrieval import evaluate_retrieval, plot_retrieval

        _, heldout_docs = heldout_split(corpus, run_cfg.data, run_cfg.drp)
        warm = resolve_path(run_cfg.model.init_from) if run_cfg.model.init_from else None
        metrics["retrieval"] = evaluate_retrieval(
            folder,
            corpus,
            heldout_docs,
            warm_start=warm,
            linked_sources=run_cfg.drp.linked_sources,
            num_candidates=run_cfg.eval.retrieval_candidates,
            max_queries=run_cfg.eval.retrieval_queries,
            seed=run_cfg.train.seed,
            max_len=run_cfg.data.max_seq_len,
            model=model,
        )
        out_dir = Path(output).parent if output is not None else folder
        plot_retrieval(metrics["retrieval"], out_dir / RETRIEVAL_PLOT)
    out = Path(output) if output is not None else folder / export_format.EVAL_FILE
    write_metrics(metrics, out)
    if output is None:  # the export's own card gets the figures of its own eval.json
        from pretrain.model_card import add_eval_section, eval_section

        picture = RETRIEVAL_PLOT if (folder / RETRIEVAL_PLOT).is_file() else None
        add_eval_section(folder, eval_section(_json_safe(metrics), picture))
    print(format_metrics(metrics))
    print(f"metrics written to {out}")
    return metrics


RETRIEVAL_PLOT = export_format.RETRIEVAL_PLOT


def _baseline_cache(folder: Path) -> Path:
    """Where the frozen-cosine baseline of the run is cached: the run folder of the export's manifest
    (the trainer computed it there), else the export folder itself."""
    try:
        manifest = export_format.read_manifest(folder)
    except PipelineError:
        manifest = {}
    run_dir = Path(manifest["run_dir"]) if manifest.get("run_dir") else None
    if run_dir is not None and run_dir.is_dir() and os.access(run_dir, os.W_OK):
        return run_dir / run_format.BASELINE_FILE
    return folder / run_format.BASELINE_FILE


def _heldout_report(
    corpus: Any, corpus_path: Path, loader: Any, probs: Any, run_cfg: Any, cache: Path
) -> dict[str, Any]:
    """Baselines, intervals, coverage and the per-document-pair rows of the held-out set."""
    import numpy as np

    from formats.graph import read_nodes
    from pretrain.baselines import cached_cosine_baseline
    from pretrain.drp_report import bootstrap_intervals, per_edge

    heldout = loader.heldout
    names = tuple(heldout.class_names)
    labels = heldout.relation
    report: dict[str, Any] = {"heldout_coverage": heldout.coverage()}
    predictions: dict[str, Any] = {}
    if probs is not None:
        predictions["model"] = probs.argmax(-1)
        report["drp_acc_ci95"] = bootstrap_intervals(labels, predictions["model"], names)
    baseline = cached_cosine_baseline(corpus, loader, run_cfg, cache)
    if baseline is not None:
        report.update(baseline.metrics)
        predictions["baseline_cosine"] = baseline.predicted
        report["baseline_cosine_acc_ci95"] = bootstrap_intervals(labels, baseline.predicted, names)
    majority = int(np.argmax(heldout.counts)) if len(labels) else 0
    predictions["majority"] = np.full(len(labels), majority)
    try:
        titles = read_nodes(corpus_path, ["title"]).column("title").to_pylist()
    except Exception:  # a corpus without readable titles still gets node ids
        titles = None
    report["drp_per_edge"] = per_edge(
        labels,
        heldout.anchor_doc,
        heldout.pair_doc,
        heldout.pair_unseen,
        predictions,
        names,
        titles,
    )
    return report
