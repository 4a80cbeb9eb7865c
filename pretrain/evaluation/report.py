"""What held-out figures say, in words, tables and pictures: the evaluation report, the verdict against
the baselines, the retrieval table and plot, and eval.json. No torch: the summary and the model card
print these without loading a model."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from foundation.atomic import write_text_atomic


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


def json_safe(metrics: Mapping[str, Any]) -> dict[str, Any]:
    # JSON has no NaN/inf: write them as null so every reader can parse the file.
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return {k: clean(v) for k, v in metrics.items()}


def write_metrics(metrics: Mapping[str, Any], path: str | Path) -> None:
    write_text_atomic(path, json.dumps(json_safe(metrics), indent=2) + "\n")


TEXT = "first segment"  # which text of a document retrieval compares
RECALL_AT = (1, 5)


def chance_metrics(num_candidates: int) -> dict[str, float]:
    """What a uniformly random order of the 1 + N candidates gets on average."""
    n = num_candidates + 1
    out = {"mrr": sum(1.0 / r for r in range(1, n + 1)) / n}
    out.update({f"recall@{k}": min(k, n) / n for k in RECALL_AT})
    return out


def format_retrieval(result: dict[str, Any]) -> str:
    """A plain-text table: one row per ranker and the chance row of 1 + N candidates."""
    if not result.get("rankers"):
        return f"cross-document retrieval: not run ({result.get('reason', 'no queries')})"
    n = int(result["candidates"])
    lines = [
        f"cross-document retrieval: {result['queries']} held-out links from {result['anchors']} anchor documents, "
        f"the target among 1 + {n} candidates (text: {result.get('text', TEXT)})",
        f"  {'ranker':<18} {'MRR':>6} {'R@1':>6} {'R@5':>6}",
    ]
    rows = [*result["rankers"].items(), ("chance", chance_metrics(n))]
    for name, m in rows:
        lines.append(f"  {name:<18} {m['mrr']:>6.3f} {m['recall@1']:>6.3f} {m['recall@5']:>6.3f}")
    return "\n".join(lines)


def plot_retrieval(result: dict[str, Any], path: str | Path) -> bool:
    """MRR, recall@1 and recall@5 of each ranker as grouped bars, with the chance MRR of 1 + N candidates
    as a line; False (nothing written) without rankers."""
    rankers = result.get("rankers") or {}
    if not rankers:
        return False
    # Deferred: matplotlib loads only when a picture is drawn.
    import matplotlib

    matplotlib.use("Agg")
    # Deferred: matplotlib loads only when a picture is drawn.
    from matplotlib import pyplot as plt

    metrics = (("mrr", "MRR"), ("recall@1", "R@1"), ("recall@5", "R@5"))
    names = list(rankers)
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(names), 4))
    x = np.arange(len(names))
    for i, (key, label) in enumerate(metrics):
        values = [rankers[n][key] for n in names]
        bars = ax.bar(x + (i - 1) * width, values, width, label=label, color=f"C{i}")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    chance = chance_metrics(int(result["candidates"]))["mrr"]
    ax.axhline(chance, linestyle="--", color="grey", label=f"chance MRR {chance:.2f}")
    ax.set_xticks(x, names, fontsize=8)
    ax.set(
        ylim=(0, 1.05),
        ylabel="score",
        title=f"cross-document retrieval: {result['queries']} links, 1 + {result['candidates']} candidates",
    )
    # Below the axes: bars of a good ranker reach the top, where a legend inside would hide them.
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


__all__ = [
    "LEARNED_MARGIN",
    "TEXT",
    "baseline_comparison",
    "chance_metrics",
    "drp_verdict",
    "format_metrics",
    "format_retrieval",
    "json_safe",
    "plot_retrieval",
    "write_metrics",
]
