"""`linkbert summary`: what a pipeline run produced, read back from its outputs on disk.

Reads only the stage outputs (manifests, stats, metrics.jsonl, eval.json), so it describes what is
really there, not what a command believed it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        raise PipelineError(f"{path} is not valid JSON ({e}); rerun the stage that writes it") from e


def _read_metrics(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    train, evals = [], []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                (evals if row.get("split") == "eval" else train).append(row)
    return train, evals


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def summarize(
    corpus_dir: str | Path, run_dir: str | Path | None = None, model_dir: str | Path | None = None
) -> str:
    corpus = Path(corpus_dir)
    extract = _read_json(corpus / "stats.json")
    graph = _read_json(corpus / "graph" / "stats.json")
    segments = _read_json(corpus / "segments" / "manifest.json")
    if not extract and not graph and not segments:
        raise PipelineError(f"{corpus} holds no corpus outputs; run `make corpus` first")
    links = extract.get("links_by_kind", {})
    rows: list[tuple[str, str]] = [
        ("corpus", str(corpus.resolve())),
        ("pages read", _fmt(extract.get("pages_read"))),
        ("documents (articles)", _fmt(extract.get("articles"))),
        ("redirects", _fmt(extract.get("redirects"))),
        ("links in text / hatnote templates", f"{_fmt(links.get('body'))} / {_fmt(links.get('template'))}"),
        ("graph nodes / edges", f"{_fmt(graph.get('nodes'))} / {_fmt(graph.get('edges'))}"),
        ("segments / tokens", f"{_fmt(segments.get('num_segments'))} / {_fmt(segments.get('num_tokens'))}"),
    ]
    if run_dir is not None:
        run = Path(run_dir)
        train, evals = _read_metrics(run / "metrics.jsonl")
        checkpoints = sorted(
            p.name for p in (run / "checkpoints").glob("step-*") if (p / "COMPLETE").exists()
        )
        rows.append(("run", str(run.resolve())))
        if train:
            first, last = train[0], train[-1]
            rows += [
                ("steps", _fmt(last.get("step"))),
                ("loss first -> last", f"{_fmt(first.get('loss'))} -> {_fmt(last.get('loss'))}"),
                ("MLM loss first -> last", f"{_fmt(first.get('mlm_loss'))} -> {_fmt(last.get('mlm_loss'))}"),
                ("DRP loss first -> last", f"{_fmt(first.get('drp_loss'))} -> {_fmt(last.get('drp_loss'))}"),
                ("DRP accuracy (train, last window)", _fmt(last.get("drp_acc"))),
            ]
        if evals:
            rows.append(("held-out DRP accuracy (last eval)", _fmt(evals[-1].get("drp_acc"))))
            rows.append(("held-out MLM accuracy (last eval)", _fmt(evals[-1].get("mlm_acc"))))
        rows.append(("checkpoints", ", ".join(checkpoints) or "-"))
        rows.append(("metrics", str(run / "metrics.jsonl")))
    if model_dir is not None:
        model = Path(model_dir)
        rows.append(("exported model", str(model.resolve())))
        ev = _read_json(model / "eval.json")
        for key in (
            "mlm_acc",
            "perplexity",
            "drp_acc",
            "drp_acc_contiguous",
            "drp_acc_random",
            "drp_acc_linked",
        ):
            if key in ev:
                rows.append((f"eval {key}", _fmt(ev[key])))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
