"""The README.md model card of an export: what was trained on what, for how long, and how well.

Sources: the run's resolved config, the corpus's stats and manifests (corpus, graph, segments), the
checkpoint's trainer state, and the run's metrics rows (final held-out row, loss curves as a PNG).
A missing source leaves its section out with a note; it never fails an export.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formats import documents as documents_format
from formats import graph as graph_format
from formats import run as run_format
from formats import segments as segments_format
from foundation.atomic import write_text_atomic
from foundation.config import to_dict
from pretrain.config import PretrainConfig
from pretrain.evaluation.drp_plots import CONFUSION_FILE, PER_CLASS_FILE, write_drp_plots
from pretrain.evaluation.report import baseline_comparison, drp_verdict
from pretrain.export.card_metadata import front_matter, resolved_config_yaml
from pretrain.relations import describe_settings

log = logging.getLogger(__name__)

CURVES_FILE = "loss_curves.png"
CORPUS_KEYS = ("pages_read", "articles", "redirects", "failed")
GRAPH_KEYS = ("nodes", "edges", "resolved_direct", "resolved_via_redirect", "unresolved", "self_links")
SEGMENT_KEYS = ("num_docs", "num_segments", "num_tokens", "vocab_size", "docs_dropped")
EVAL_KEYS = (
    "mlm_loss",
    "mlm_acc",
    "perplexity",
    "drp_loss",
    "drp_acc",
    "drp_chance_acc",
    "drp_majority_acc",
    "baseline_cosine_acc",
)
# `linkbert eval` writes its figures between these markers of the card (replaced on every eval).
EVAL_BEGIN, EVAL_END = "<!-- linkbert eval -->", "<!-- /linkbert eval -->"


@dataclass
class ModelCard:
    text: str
    final_eval: dict[str, Any] | None
    curves: bool


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.4g}"
    return str(value)


def _table(rows: list[tuple[str, Any]], header: tuple[str, str] = ("", "")) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | ---: |"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in rows]
    return lines


def plot_curves(rows: list[dict[str, Any]], path: Path) -> bool:
    """Training and held-out losses and accuracies against the step; False when there is nothing to plot."""
    train = [r for r in rows if r.get("split", "train") == "train" and "loss" in r]
    evals = [r for r in rows if r.get("split") == "eval" and "mlm_loss" in r]
    if not train and not evals:
        return False
    # Deferred: matplotlib loads only when a picture is drawn.
    import matplotlib

    matplotlib.use("Agg")
    # Deferred: matplotlib loads only when a picture is drawn.
    from matplotlib import pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    # One colour per quantity: training as a line, held-out evaluations as dots on the same colour.
    colours = {"loss": "C0", "mlm_loss": "C1", "drp_loss": "C2", "mlm_acc": "C1", "drp_acc": "C2"}
    for ax, keys in ((ax_loss, ("loss", "mlm_loss", "drp_loss")), (ax_acc, ("mlm_acc", "drp_acc"))):
        for key in keys:
            points = [(r["step"], r[key]) for r in train if r.get(key) is not None]
            if points:
                ax.plot(*zip(*points, strict=True), "-", color=colours[key], label=f"train {key}")
            points = [(r["step"], r[key]) for r in evals if r.get(key) is not None]
            if points:
                ax.plot(*zip(*points, strict=True), "o--", color=colours[key], label=f"held-out {key}")
    ax_loss.set(xlabel="step", ylabel="loss", title="losses")
    ax_acc.set(xlabel="step", ylabel="accuracy", title="accuracies", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _data_section(cfg: PretrainConfig, corpus_dir: Path) -> list[str]:
    lines = ["## Data", "", f"Corpus folder: `{cfg.data.corpus}`.", ""]
    graph = graph_format.peek_stats(corpus_dir) or graph_format.peek_manifest(corpus_dir)
    sources = [
        ("documents (extraction)", documents_format.peek_stats(corpus_dir), CORPUS_KEYS),
        ("graph", graph, GRAPH_KEYS),
        ("segments", segments_format.peek_manifest(corpus_dir), SEGMENT_KEYS),
    ]
    rows: list[tuple[str, Any]] = []
    for label, data, keys in sources:
        rows += [(f"{label}: {k}", data[k]) for k in keys if k in data]
    if rows:
        lines += _table(rows, ("statistic", "value"))
    else:
        lines.append(f"(no corpus statistics found under `{corpus_dir}`)")
    probabilities = ", ".join(f"{p:.3g}" for p in cfg.drp.class_probabilities)
    names = cfg.drp.relations
    settings = describe_settings(names, to_dict(cfg.drp))
    lines += [
        "",
        f"Examples: `[CLS] A [SEP] B [SEP]`, at most {cfg.data.max_seq_len} tokens; {cfg.data.mlm_probability:.0%} "
        f"of tokens masked (80/10/10); DRP classes {', '.join(names)} with probabilities {probabilities}"
        f"{' (' + '; '.join(settings) + ')' if settings else ''}. "
        f"{cfg.data.heldout_fraction:.1%} of documents (split seed {cfg.data.split_seed}) are held out.",
    ]
    return lines


def _eval_section(final: dict[str, Any] | None, pictures: list[str]) -> list[str]:
    lines = ["## Held-out evaluation", ""]
    if final is None:
        return [*lines, "(no held-out evaluation in the run's metrics up to this checkpoint)"]
    lines.append(
        f"Step {final.get('step')}, {_fmt(final.get('mlm_tokens'))} masked tokens, "
        f"{_fmt(final.get('drp_examples'))} DRP pairs from held-out documents, equal counts per relation where "
        "the held-out documents allow it (`drp_chance_acc`: a uniform guess; `drp_majority_acc`: always "
        "answering the set's largest class; `baseline_cosine_acc`: the frozen warm start's cosine of A's and "
        "B's mean-pooled embeddings, with thresholds fit on training pairs)."
    )
    verdict = drp_verdict(final)
    if verdict:
        lines += ["", f"**{verdict}**"]
    lines.append("")
    rows = [(k, final[k]) for k in EVAL_KEYS if k in final]
    rows += [(k, v) for k, v in final.items() if k.startswith("drp_acc_")]
    rows += [(k, v) for k, v in final.items() if k.startswith("baseline_cosine_acc_")]
    lines += _table(rows, ("metric", "value"))
    names, confusion = final.get("drp_classes"), final.get("confusion")
    if names and confusion:
        lines += ["", "DRP confusion (rows: true class, columns: predicted):", ""]
        lines.append("| | " + " | ".join(names) + " |")
        lines.append("| --- |" + " ---: |" * len(names))
        lines += [
            f"| {n} | " + " | ".join(_fmt(v) for v in row) + " |"
            for n, row in zip(names, confusion, strict=False)
        ]
    captions = {PER_CLASS_FILE: "held-out DRP accuracy per relation", CONFUSION_FILE: "DRP confusion matrix"}
    images = [f"![{captions[name]}]({name})" for name in (PER_CLASS_FILE, CONFUSION_FILE) if name in pictures]
    if images:
        lines += ["", " ".join(images)]
    return lines


def write_model_card(
    out: Path,
    *,
    cfg: PretrainConfig,
    run_dir: Path,
    corpus_dir: Path,
    step: int,
    trainer_state: dict[str, Any],
    model_config: Any,
    num_parameters: int,
    dtype: str,
) -> ModelCard:
    """Write `out/README.md` (and `out/loss_curves.png` when the run logged metrics)."""
    rows = run_format.read_metrics(run_dir, up_to_step=step)
    _, evals = run_format.split_rows(rows)
    final = evals[-1] if evals else None
    curves = plot_curves(rows, out / CURVES_FILE)
    pictures = write_drp_plots(evals, out)
    t = cfg.train
    drp = int(getattr(model_config, "num_drp_labels", cfg.drp.num_classes))
    lines = [
        *front_matter(cfg, corpus_dir),
        "",
        f"# {t.run_name}: a LinkBERT-style encoder",
        "",
        "A BERT encoder pretrained with masked language modeling and Document Relation Prediction "
        "(DRP: is segment B the continuation of A, a random segment, or from a document A links to?) "
        "by linkbert-pipeline.",
        "",
        "```python",
        "from transformers import AutoModelForMaskedLM, AutoTokenizer",
        "tokenizer = AutoTokenizer.from_pretrained(PATH)",
        "model = AutoModelForMaskedLM.from_pretrained(PATH)  # or AutoModel, AutoModelForSequenceClassification, ...",
        "```",
        "",
        f"The {drp}-way DRP head is stored too (`cls.seq_relationship.*`, reading the pair through the "
        f"`{getattr(model_config, 'drp_readout', 'pooler')}` read-out, `drp_readout` in config.json): "
        "`linkbert score --model PATH --text ... --candidates FILE` (or `pretrain.evaluation.scoring.DocumentScorer`) "
        "ranks documents by how likely they are linked from a text; `pretrain.modeling.linkbert.LinkBertForPreTraining"
        ".from_pretrained(PATH)`, or `model.init_from: PATH` in a pretraining config, restores it to continue "
        "pretraining. Standard transformers classes skip it.",
        "",
        "## Model",
        "",
        *_table(
            [
                ("layers", model_config.num_hidden_layers),
                ("hidden size", model_config.hidden_size),
                ("attention heads", model_config.num_attention_heads),
                ("intermediate size", model_config.intermediate_size),
                ("max positions", model_config.max_position_embeddings),
                ("vocabulary", model_config.vocab_size),
                ("parameters (encoder + heads)", num_parameters),
                ("DRP classes", drp),
                ("DRP read-out", getattr(model_config, "drp_readout", "pooler")),
                ("weights dtype", dtype),
                ("initialized from", cfg.model.init_from or "scratch"),
            ],
            ("", ""),
        ),
        "",
        "## Training",
        "",
        *_table(
            [
                ("steps", step),
                ("schedule length (train.max_steps)", t.max_steps),
                ("tokens seen", trainer_state.get("tokens_seen")),
                ("sequences per step", t.global_batch_size),
                ("optimizer", t.optimizer),
                ("peak lr", t.lr),
                ("warmup steps", t.warmup_steps),
                ("weight decay", t.weight_decay),
                ("mixed precision", t.mixed_precision),
                ("processes", trainer_state.get("world_size")),
                ("skipped non-finite steps", trainer_state.get("nonfinite_steps")),
                ("MLM / DRP loss weights", f"{cfg.model.mlm_weight:g} / {cfg.model.drp_weight:g}"),
            ],
            ("", ""),
        ),
        "",
        *(
            [f"![losses and accuracies]({CURVES_FILE})", ""]
            if curves
            else ["(no training metrics were logged up to this checkpoint)", ""]
        ),
        *_data_section(cfg, corpus_dir),
        "",
        *_eval_section(final, pictures),
        "",
        "## Full configuration",
        "",
        "<details><summary>resolved configuration (run, model, corpus)</summary>",
        "",
        "```yaml",
        resolved_config_yaml(cfg, model_config, corpus_dir),
        "```",
        "",
        "</details>",
        "",
    ]
    text = "\n".join(lines)
    (out / "README.md").write_text(text, encoding="utf-8")
    return ModelCard(text=text, final_eval=final, curves=curves)


def add_eval_section(folder: Path, section: list[str]) -> None:
    """Put `linkbert eval`'s figures into the card of an export, replacing those of an earlier eval."""
    card = folder / "README.md"
    if not card.is_file():
        return
    text = card.read_text(encoding="utf-8")
    if EVAL_BEGIN in text and EVAL_END in text:
        head, _, rest = text.partition(EVAL_BEGIN)
        text = head.rstrip("\n") + "\n" + rest.partition(EVAL_END)[2].lstrip("\n")
    block = "\n".join([EVAL_BEGIN, *section, EVAL_END])
    marker = "## Full configuration"
    if marker in text:
        head, _, tail = text.partition(marker)
        text = f"{head.rstrip()}\n\n{block}\n\n{marker}{tail}"
    else:
        text = f"{text.rstrip()}\n\n{block}\n"
    write_text_atomic(card, text)


def eval_section(metrics: dict[str, Any], retrieval_picture: str | None) -> list[str]:
    """The card's `linkbert eval` section: DRP against both baselines (with 95% intervals) on the
    held-out pairs, where they come from, and cross-document retrieval."""
    names = metrics.get("drp_classes") or []
    model_ci = metrics.get("drp_acc_ci95") or {}
    base_ci = metrics.get("baseline_cosine_acc_ci95") or {}

    def cell(value: Any, ci: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{value:.3f}"

    lines = [
        "## Evaluation (`linkbert eval`)",
        "",
        f"Held-out DRP on {metrics.get('drp_examples')} unmasked pairs (95% bootstrap intervals); "
        "the frozen warm-start cosine baseline and the majority class on the same pairs.",
        "",
        "| pairs | model | frozen cosine | majority |",
        "| --- | ---: | ---: | ---: |",
        f"| all | {cell(metrics.get('drp_acc'), model_ci.get('acc'))} | "
        f"{cell(metrics.get('baseline_cosine_acc'), base_ci.get('acc'))} | "
        f"{cell(metrics.get('drp_majority_acc'), None)} |",
    ]
    for n in names:
        lines.append(
            f"| {n} | {cell(metrics.get(f'drp_acc_{n}'), model_ci.get(f'acc_{n}'))} | "
            f"{cell(metrics.get(f'baseline_cosine_acc_{n}'), base_ci.get(f'acc_{n}'))} | |"
        )
    comparison = baseline_comparison(metrics)
    if comparison:
        lines += ["", comparison]
    cover = metrics.get("heldout_coverage") or {}
    if cover:
        lines += [
            "",
            "Held-out pairs: "
            + "; ".join(
                f"{n}: {c['pairs']} pairs, {c['edges']} document pairs, {c['anchor_documents']} anchor documents, "
                f"{c['unseen_pair_documents']} with B's document unseen in training"
                for n, c in cover.items()
            )
            + ".",
        ]
    retrieval = metrics.get("retrieval") or {}
    if retrieval.get("rankers"):
        lines += [
            "",
            f"Cross-document retrieval: each of {retrieval['queries']} held-out links ranks its target among "
            f"{retrieval['candidates']} documents the anchor does not link to (text: each document's "
            f"{retrieval.get('text', 'first segment')}).",
            "",
            "| ranker | MRR | recall@1 | recall@5 |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, r in retrieval["rankers"].items():
            lines.append(f"| {name} | {r['mrr']:.3f} | {r['recall@1']:.3f} | {r['recall@5']:.3f} |")
        if retrieval_picture:
            lines += ["", f"![cross-document retrieval]({retrieval_picture})"]
    elif retrieval.get("reason"):
        lines += ["", f"Cross-document retrieval: not run ({retrieval['reason']})."]
    return lines
