"""`linkbert eval`: an exported model folder against the held-out split of the run it came from.

The split, pair sampling and masking come from the config saved in the export, so this evaluates
exactly the pairs (and masks) of the run's own held-out evaluations. Beside the model's figures it
writes the zero-training baselines on the same pairs, bootstrap intervals, one row per held-out
document pair and cross-document retrieval into eval.json, and the figures into the model card.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from formats import export as export_format
from formats import run as run_format
from formats.graph import read_nodes
from formats.pin import corpus_identity, describe, mismatch
from foundation.errors import PipelineError
from foundation.paths import resolve_path
from pretrain.config import load_pretrain_config
from pretrain.data.corpus_data import LinkedCorpus
from pretrain.data.loader import build_heldout_batches, heldout_split
from pretrain.evaluation.baselines import cached_cosine_baseline
from pretrain.evaluation.drp_report import bootstrap_intervals, per_edge
from pretrain.evaluation.evaluate import evaluate_model
from pretrain.evaluation.report import format_metrics, json_safe, plot_retrieval, write_metrics
from pretrain.evaluation.retrieval import evaluate_retrieval
from pretrain.export.model_card import add_eval_section, eval_section
from pretrain.modeling.linkbert import LinkBertForPreTraining

log = logging.getLogger(__name__)


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
        picture = RETRIEVAL_PLOT if (folder / RETRIEVAL_PLOT).is_file() else None
        add_eval_section(folder, eval_section(json_safe(metrics), picture))
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


__all__ = ["run_eval"]
