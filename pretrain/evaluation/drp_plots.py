"""Pictures of held-out DRP: per-relation accuracy over steps, and the confusion matrix of the last evaluation.

Both are drawn from the held-out evaluation rows of a run's metrics (`formats/run.py`), so the trainer (into the run folder)
and the export (into the model card) make the same pictures from the same numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PER_CLASS_FILE = "drp_per_class.png"
CONFUSION_FILE = "drp_confusion.png"


def _pyplot():
    # Deferred: matplotlib loads only when a picture is drawn.
    import matplotlib

    matplotlib.use("Agg")
    # Deferred: matplotlib loads only when a picture is drawn.
    from matplotlib import pyplot as plt

    return plt


def plot_per_class(evals: list[dict[str, Any]], path: Path) -> bool:
    """Held-out DRP accuracy of each relation and overall against the step, with the chance, majority-class
    and frozen-cosine baselines as horizontal lines (the cosine one per relation too, dotted in the
    relation's colour); False when no evaluation has DRP metrics."""
    evals = [r for r in evals if r.get("drp_classes") and r.get("drp_acc") is not None]
    if not evals:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [r["step"] for r in evals]
    for i, name in enumerate(evals[-1]["drp_classes"]):
        values = [r.get(f"drp_acc_{name}") for r in evals]
        ax.plot(steps, [float("nan") if v is None else v for v in values], "o-", color=f"C{i}", label=name)
    ax.plot(steps, [r["drp_acc"] for r in evals], "s-", color="black", linewidth=2, label="all pairs")
    final = evals[-1]
    for key, style, label in (
        ("drp_chance_acc", ":", "chance"),
        ("drp_majority_acc", "--", "majority class"),
    ):
        if final.get(key) is not None:
            ax.axhline(final[key], linestyle=style, color="grey", label=f"{label} {final[key]:.2f}")
    # The zero-training baseline on the same pairs: overall (black) and per relation (its colour).
    if final.get("baseline_cosine_acc") is not None:
        ax.axhline(
            final["baseline_cosine_acc"],
            linestyle="--",
            color="black",
            linewidth=1,
            label=f"frozen cosine {final['baseline_cosine_acc']:.2f}",
        )
        for i, name in enumerate(final["drp_classes"]):
            value = final.get(f"baseline_cosine_acc_{name}")
            if value is not None:
                ax.axhline(value, linestyle=(0, (2, 3)), color=f"C{i}", linewidth=1)
    ax.set(xlabel="step", ylabel="held-out accuracy", title="DRP accuracy per relation", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_confusion(final: dict[str, Any] | None, path: Path) -> bool:
    """The confusion matrix of one evaluation (rows: true relation, columns: predicted), counts and row
    shares in each cell; False without one."""
    if not final or not final.get("confusion") or not final.get("drp_classes"):
        return False
    names, confusion = final["drp_classes"], final["confusion"]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 1.4 * len(names) + 1.5))
    shares = [[v / max(sum(row), 1) for v in row] for row in confusion]
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for r, row in enumerate(confusion):
        for c, count in enumerate(row):
            colour = "white" if shares[r][c] > 0.6 else "black"
            ax.text(c, r, f"{count}\n{shares[r][c]:.0%}", ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title=f"DRP confusion, step {final.get('step', '?')}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_drp_plots(evals: list[dict[str, Any]], folder: Path) -> list[str]:
    """Both pictures into `folder`; the names of those written."""
    folder.mkdir(parents=True, exist_ok=True)
    # A resumed run logs again the steps after its checkpoint: the last row of a step wins.
    evals = sorted({r["step"]: r for r in evals if "step" in r}.values(), key=lambda r: r["step"])
    written = []
    if plot_per_class(evals, folder / PER_CLASS_FILE):
        written.append(PER_CLASS_FILE)
    if plot_confusion(evals[-1] if evals else None, folder / CONFUSION_FILE):
        written.append(CONFUSION_FILE)
    return written


__all__ = ["CONFUSION_FILE", "PER_CLASS_FILE", "plot_confusion", "plot_per_class", "write_drp_plots"]
