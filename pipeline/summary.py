"""`linkbert summary`: what a pipeline run produced, read back from its outputs on disk.

Reads only the stage outputs (manifests, stats, and the run and export folders through `formats/`), so it describes
what is really there, not what a command believed it wrote. A missing output shows as `-`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from formats import documents
from formats import export as export_format
from formats import graph as graph_format
from formats import run as run_format
from formats import segments as segments_format
from foundation.errors import PipelineError
from pretrain.evaluation.report import drp_verdict
from pretrain.relations import DEFAULT_RELATIONS, describe_settings


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as e:
        raise PipelineError(f"{path} is not valid YAML ({e}); it is written by `linkbert pretrain`") from e


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def _where(path: Path) -> str:
    return str(path.resolve()) if path.exists() else f"- (no {path})"


def _baselines(row: dict[str, Any]) -> str:
    """Chance and majority-class accuracy of the held-out set, beside the accuracy they put in context."""
    if row.get("drp_majority_acc") is None:
        return ""
    text = f"; chance {_fmt(row.get('drp_chance_acc'))}, majority class {_fmt(row.get('drp_majority_acc'))}"
    if row.get("baseline_cosine_acc") is not None:
        per = ", ".join(f"{n} {_fmt(row.get(f'baseline_cosine_acc_{n}'), 2)}" for n in _relation_names(row))
        text += f", frozen warm-start cosine {_fmt(row.get('baseline_cosine_acc'))} ({per})"
    return text


def _verdict(row: dict[str, Any]) -> list[tuple[str, str]]:
    verdict = drp_verdict(row)
    return [("DRP verdict", verdict)] if verdict else []


def _coverage(row: dict[str, Any]) -> list[tuple[str, str]]:
    """How many distinct document pairs each relation's held-out pairs come from."""
    cover = row.get("heldout_coverage") or {}
    if not cover:
        return []
    text = ", ".join(
        f"{name} {c['edges']} ({c['unseen_pair_documents']} of {c['pairs']} pairs with B unseen in training)"
        for name, c in cover.items()
    )
    return [("eval document pairs", text)]


def _retrieval(row: dict[str, Any]) -> list[tuple[str, str]]:
    """Cross-document retrieval: MRR and recall@1 of each ranker."""
    result = row.get("retrieval") or {}
    rankers = result.get("rankers") or {}
    if not rankers:
        return [("eval retrieval", result["reason"])] if result.get("reason") else []
    text = ", ".join(
        f"{name} MRR {_fmt(r.get('mrr'), 3)} R@1 {_fmt(r.get('recall@1'), 3)}" for name, r in rankers.items()
    )
    head = f"{result.get('queries')} links, 1 + {result.get('candidates')} candidates each: "
    return [("eval retrieval", head + text)]


def _relation_names(row: dict[str, Any]) -> list[str]:
    """The run's DRP relations as the row records them: eval rows and eval.json name them
    (`drp_classes`), train rows hold one `drp_acc_<relation>` each, in the head's label order."""
    return list(
        row.get("drp_classes") or [k.removeprefix("drp_acc_") for k in row if k.startswith("drp_acc_")]
    )


def _per_class(row: dict[str, Any]) -> str:
    parts = [f"{name} {_fmt(row.get(f'drp_acc_{name}'))}" for name in _relation_names(row)]
    return ", ".join(parts) or "-"


def _drp_setup(config: dict[str, Any]) -> str:
    """The DRP relations of a saved run config (`drp.classes: 2|3` in configs written before relations)."""
    drp = config.get("drp") or {}
    relations = drp.get("relations") or list(DEFAULT_RELATIONS[: drp.get("classes") or 3])
    parts = [", ".join(relations), *describe_settings(relations, drp)]
    return "; ".join(parts) if config else "-"


def _by_source(graph: dict[str, Any]) -> str:
    # Graphs built before edge sources existed are hyperlinks only.
    by_source = graph.get("edges_by_source") or ({"hyperlinks": graph["edges"]} if "edges" in graph else {})
    return ", ".join(f"{name} {_fmt(count)}" for name, count in by_source.items()) or "-"


def _corpus_rows(corpus: Path) -> list[tuple[str, str]]:
    extract = documents.peek_stats(corpus)
    graph = graph_format.peek_stats(corpus)
    segments = segments_format.peek_manifest(corpus)
    if not extract and not graph and not segments:
        raise PipelineError(
            f"{corpus} holds no corpus outputs (stats.json, graph/, segments/); build it with `make corpus`"
        )
    links = extract.get("links_by_kind", {})
    return [
        ("corpus", _where(corpus)),
        ("pages read", _fmt(extract.get("pages_read"))),
        ("documents (articles)", _fmt(extract.get("articles"))),
        ("redirects", _fmt(extract.get("redirects"))),
        ("failed pages", _fmt(extract.get("failed"))),
        ("links in text / hatnote templates", f"{_fmt(links.get('body'))} / {_fmt(links.get('template'))}"),
        ("graph nodes / edges", f"{_fmt(graph.get('nodes'))} / {_fmt(graph.get('edges'))}"),
        ("graph edges by source", _by_source(graph)),
        ("graph", _where(corpus / "graph")),
        ("segments / tokens", f"{_fmt(segments.get('num_segments'))} / {_fmt(segments.get('num_tokens'))}"),
        ("documents dropped (too short)", _fmt(segments.get("docs_dropped"))),
        ("segments", _where(corpus / "segments")),
    ]


def _run_rows(run: Path) -> list[tuple[str, str]]:
    config = _read_yaml(run / run_format.CONFIG_FILE)
    train, evals = run_format.split_rows(run_format.read_metrics(run))
    checkpoints = [p.name for p in reversed(run_format.complete_checkpoints(run_format.checkpoints_dir(run)))]
    max_steps = (config.get("train") or {}).get("max_steps")
    rows = [("run", _where(run)), ("DRP relations", _drp_setup(config))]
    if train:
        first, last = train[0], train[-1]
        rows += [
            ("steps", f"{_fmt(last.get('step'))} of {_fmt(max_steps)}"),
            ("logged steps", f"{len(train)} ({_fmt(first.get('step'))} .. {_fmt(last.get('step'))})"),
            ("loss first -> last", f"{_fmt(first.get('loss'))} -> {_fmt(last.get('loss'))}"),
            ("MLM loss first -> last", f"{_fmt(first.get('mlm_loss'))} -> {_fmt(last.get('mlm_loss'))}"),
            ("DRP loss first -> last", f"{_fmt(first.get('drp_loss'))} -> {_fmt(last.get('drp_loss'))}"),
            ("DRP accuracy (train, last window)", f"{_fmt(last.get('drp_acc'))} ({_per_class(last)})"),
        ]
    else:
        rows.append(("steps", f"- of {_fmt(max_steps)} (no metrics logged)"))
    if evals:
        last_eval = evals[-1]
        rows += [
            (f"held-out MLM accuracy (step {_fmt(last_eval.get('step'))})", _fmt(last_eval.get("mlm_acc"))),
            (
                f"held-out DRP accuracy (step {_fmt(last_eval.get('step'))})",
                f"{_fmt(last_eval.get('drp_acc'))} ({_per_class(last_eval)}){_baselines(last_eval)}",
            ),
            ("held-out DRP pictures", _where(run / run_format.PLOTS_DIR)),
        ]
    rows += [
        ("checkpoints", f"{', '.join(checkpoints) or '-'} in {_where(run_format.checkpoints_dir(run))}"),
        ("config", _where(run / run_format.CONFIG_FILE)),
        ("metrics", _where(run_format.metrics_path(run))),
        ("tensorboard", _where(run / "tb")),
        ("wandb", _where(run / "wandb")),
    ]
    return rows


def _model_rows(model: Path) -> list[tuple[str, str]]:
    manifest = export_format.read_manifest(model)
    ev = export_format.read_eval(model)
    rows = [
        ("exported model", _where(model)),
        ("exported from", f"step {_fmt(manifest.get('step'))} ({_fmt(manifest.get('checkpoint'))})"),
    ]
    if ev:
        rows += [
            ("eval MLM loss / accuracy", f"{_fmt(ev.get('mlm_loss'))} / {_fmt(ev.get('mlm_acc'))}"),
            ("eval perplexity", _fmt(ev.get("perplexity"), 1)),
            ("eval DRP accuracy", f"{_fmt(ev.get('drp_acc'))} ({_per_class(ev)}){_baselines(ev)}"),
            ("eval examples (DRP)", _fmt(ev.get("drp_examples"))),
            *_coverage(ev),
            *_verdict(ev),
            *_retrieval(ev),
        ]
    rows.append((export_format.EVAL_FILE, _where(model / export_format.EVAL_FILE)))
    return rows


def summarize(
    corpus_dir: str | Path, run_dir: str | Path | None = None, model_dir: str | Path | None = None
) -> str:
    """A two-column text table: counts, losses, accuracies and the path of every output."""
    rows = _corpus_rows(Path(corpus_dir))
    if run_dir is not None:
        rows += _run_rows(Path(run_dir))
    if model_dir is not None:
        rows += _model_rows(Path(model_dir))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
