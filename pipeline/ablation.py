"""The link ablations' table: one row per run (variant), from the last held-out evaluation of each.

`linkbert ablation` (pipeline/ablation_runs.py, `make ablation`) trains the variants (by default
hyperlinks, tfidf and random graphs, and hyperlinks without the in-degree weighting,
`drp.linked_alpha=0`) with the same preset and budget, each a run of its own, then calls
`write_ablation`; runs made otherwise are tabled with

    python -m pipeline.ablation --out runs/ablation hyperlinks=runs/ablation-hyperlinks tfidf=...

It writes `table.md`, `table.csv` and `ablation.png` (held-out MLM loss, and DRP accuracy per
relation beside the majority-class and frozen-cosine baselines) into `--out` and prints the markdown
table. The columns come from the eval rows' keys (`mlm_loss`, `drp_acc`, `drp_acc_<relation>`,
`drp_majority_acc`, `baseline_cosine_acc[_<relation>]`), so any set of relations is tabled, and from
the export's eval.json where the run was exported and evaluated (cross-document retrieval MRR and
recall@1 per ranker).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np

from formats import export as export_format
from formats import run as run_format
from foundation.atomic import atomic_path, write_text_atomic
from foundation.errors import PipelineError

FIXED = ("step", "mlm_loss", "drp_acc", "baseline_cosine_acc", "drp_majority_acc")


def last_eval(run: Path) -> dict[str, Any]:
    """The run's last held-out evaluation, with the cross-document retrieval of its export's eval.json
    (`retrieval_mrr_<ranker>`, `retrieval_r@1_<ranker>`) when there is one."""
    _, evals = run_format.split_rows(run_format.read_metrics(run))
    if not evals:
        raise PipelineError(
            f"{run_format.metrics_path(run)} has no held-out evaluation row: the run did not reach an eval step "
            f"(eval.every, or train.max_steps); rerun it"
        )
    row = dict(evals[-1])
    exported = export_format.read_eval(run / export_format.RUN_EXPORT_DIR)
    for ranker, figures in ((exported.get("retrieval") or {}).get("rankers") or {}).items():
        row[f"retrieval_mrr_{ranker}"] = figures.get("mrr")
        row[f"retrieval_r@1_{ranker}"] = figures.get("recall@1")
    return row


def relations(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Relations with a per-class accuracy in any row, in first-seen order."""
    seen: list[str] = []
    for row in rows.values():
        for key in row:
            name = key.removeprefix("drp_acc_")
            if key.startswith("drp_acc_") and name not in seen:
                seen.append(name)
    return seen


def retrieval_columns(rows: dict[str, dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for row in rows.values():
        seen += [k for k in row if k.startswith("retrieval_") and k not in seen]
    return seen


def table(rows: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    names = relations(rows)
    header = [
        "variant",
        *FIXED,
        *(f"drp_acc_{n}" for n in names),
        *(f"baseline_cosine_acc_{n}" for n in names),
        *retrieval_columns(rows),
    ]
    body = [[variant, *(row.get(k) for k in header[1:])] for variant, row in rows.items()]
    return header, body


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown(header: list[str], body: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def plot(rows: dict[str, dict[str, Any]], path: Path) -> None:
    # Deferred: matplotlib loads only when a picture is drawn.
    import matplotlib

    matplotlib.use("Agg")
    # Deferred: matplotlib loads only when a picture is drawn.
    import matplotlib.pyplot as plt

    variants, names = list(rows), relations(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    bars = left.bar(variants, [rows[v].get("mlm_loss", np.nan) for v in variants], color="tab:blue")
    left.bar_label(bars, fmt="%.3f")  # variants often differ in the second decimal only
    left.set_ylabel("held-out MLM loss")
    left.set_title("MLM loss (lower is better)")
    width = 0.8 / max(len(names) + 1, 1)
    x = np.arange(len(variants))
    for i, name in enumerate([*names, "all"]):
        key = "drp_acc" if name == "all" else f"drp_acc_{name}"
        right.bar(x + i * width, [rows[v].get(key, np.nan) for v in variants], width, label=name)
    majority = [rows[v].get("drp_majority_acc", np.nan) for v in variants]
    right.scatter(x + 0.4 - width / 2, majority, color="black", marker="_", s=400, label="majority class")
    cosine = [rows[v].get("baseline_cosine_acc", np.nan) for v in variants]
    right.scatter(x + 0.4 - width / 2, cosine, color="red", marker="_", s=400, label="frozen cosine")
    right.set_xticks(x + 0.4 - width / 2, variants)
    right.set_ylim(0, 1)
    right.set_ylabel("held-out DRP accuracy")
    right.set_title("DRP accuracy per relation")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_ablation(runs: dict[str, Path], out: Path) -> str:
    """Table the runs' last evaluations into `out`; returns the markdown table."""
    rows = {variant: last_eval(run) for variant, run in runs.items()}
    header, body = table(rows)
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(header, body)
    write_text_atomic(out / "table.md", md)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *body])
    write_text_atomic(out / "table.csv", buf.getvalue())
    plot(rows, out / "ablation.png")
    return md


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="table of the link ablations: one row per run")
    p.add_argument("--out", required=True, help="folder for table.md, table.csv and ablation.png")
    p.add_argument("runs", nargs="+", metavar="VARIANT=RUN_DIR", help="a variant name and its run folder")
    args = p.parse_args(argv)
    runs = {}
    for spec in args.runs:
        variant, sep, run = spec.partition("=")
        if not sep or not variant or not run:
            p.error(f"{spec!r} is not VARIANT=RUN_DIR")
        runs[variant] = Path(run)
    try:
        md = write_ablation(runs, Path(args.out))
    except PipelineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(md, end="")
    print(f"written: {args.out}/table.md, table.csv, ablation.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
