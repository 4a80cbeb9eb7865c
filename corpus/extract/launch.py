"""`linkbert corpus extract`: inputs -> docs/ and redirects/ parquet shards, stats, manifest.

The launcher. A datatrove pipeline per task: the input format's steps (corpus/readers/: its slice of the
inputs read, and for Wikipedia cleaned) -> the shard writer (corpus/extract/steps.py). Every page read becomes one Document whose `metadata["status"]` says what it became (article,
redirect, redirect_dropped, skipped, failed), so the writer, the last step, accounts for every page
and the counts add up by construction.

Restartability: each task writes its shards under temporary names and renames them when its input is
exhausted, then a per-task result file; datatrove then marks the task complete. The launching process
merges the results into `stats.json` and writes the manifest `extract.json` last. A task that fails
records its one-line error under `logs/extract/errors/`, which `run_extract` raises as a
PipelineError; the manifest is then never written. On Slurm the tasks run as a job array and a
dependent one-task job (started only if all succeed) merges and writes the manifest.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from datatrove.utils.logging import logger

from corpus.config import CorpusConfig
from corpus.extract.steps import LOGS, MAX_FAILED_PAGES, CorpusShardWriter
from corpus.readers import input_format
from formats import documents
from foundation.config import to_dict
from foundation.errors import PipelineError
from foundation.executor import build_executor
from foundation.stage import FinalizeStep, StageOutput, file_identity, forget_incomplete, read_json

MANIFEST = documents.EXTRACT_MANIFEST
# How the extraction runs, not what it makes: left out of the fingerprint (and the corpus build's key).
EXECUTION_ONLY = ("workers", "executor", "bz2_decompressor")


def _check_writable(out: Path) -> None:
    """The output folder can be created and written to: a one-line error now, not a traceback
    from a task later."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except (NotADirectoryError, FileExistsError):
        blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), out)
        raise PipelineError(
            f"--output {out}: {blocker} is a file, not a folder; pass another --output"
        ) from None
    except OSError as e:
        raise PipelineError(
            f"--output {out}: cannot write there ({e.strerror}); pass a writable folder"
        ) from None


def _fingerprint(cfg: CorpusConfig, paths: list[str], indexes: dict[str, Path | None]) -> dict[str, Any]:
    """What decides the output: a different fingerprint must never reuse a folder's tasks or manifest."""
    config = {k: v for k, v in to_dict(cfg).items() if k not in EXECUTION_ONLY}
    inputs = [{**file_identity(p), "index": str(indexes.get(p) or "")} for p in paths]
    return {"config": config, "inputs": inputs}


def merge_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the per-task results into the corpus `stats.json`."""
    stats: dict[str, Any] = {
        "pages_read": 0,
        "articles": 0,
        "redirects": 0,
        "redirects_dropped": 0,
        "skipped_by_namespace": Counter(),
        "failed": 0,
        "failed_pages": [],
        "damaged": 0,
        "damaged_pages": [],
        "cleaned_by_mwparserfromhell": 0,
        "links_by_kind": Counter({"body": 0, "template": 0}),
    }
    for r in sorted(results, key=lambda r: r["rank"]):
        for key in ("pages_read", "articles", "redirects", "redirects_dropped", "failed"):
            stats[key] += r[key]
        stats["cleaned_by_mwparserfromhell"] += r.get("cleaned_by_mwparserfromhell", 0)
        stats["skipped_by_namespace"].update(r["skipped_by_namespace"])
        stats["links_by_kind"].update(r["links_by_kind"])
        stats["failed_pages"].extend(r["failed_pages"])
        stats["damaged"] += r.get("damaged", 0)
        stats["damaged_pages"].extend(r.get("damaged_pages", []))
    stats["failed_pages"] = stats["failed_pages"][:MAX_FAILED_PAGES]
    stats["damaged_pages"] = stats["damaged_pages"][:MAX_FAILED_PAGES]
    stats["skipped_by_namespace"] = dict(
        sorted(stats["skipped_by_namespace"].items(), key=lambda kv: int(kv[0]))
    )
    stats["links_by_kind"] = dict(stats["links_by_kind"])
    return stats


def _raise_task_errors(out: Path, cause: BaseException | None) -> None:
    errors = []
    for path in sorted(glob.glob(str(out / LOGS / "errors" / "rank-*.json"))):
        with open(path, encoding="utf-8") as f:
            errors.append(json.load(f))
    if not errors:
        if cause is not None:
            raise cause
        return
    first = next((e for e in errors if e["kind"] == "input"), errors[0])
    others = f" ({len(errors) - 1} more tasks failed; see {out / LOGS}/errors/)" if len(errors) > 1 else ""
    if first["kind"] == "input":
        raise PipelineError(f"{first['message']}{others}") from None
    raise RuntimeError(f"extract task {first['rank']} crashed{others}:\n{first['traceback']}") from cause


def extract_stage(out: Path, fingerprint: dict[str, Any]) -> StageOutput:
    """The extract stage's output: the corpus folder itself, keyed by the fingerprint."""
    return StageOutput(
        stage="extract",
        folder=out,
        manifest=MANIFEST,
        key={"fingerprint": fingerprint},
        write_manifest=documents.write_manifest,
        read_manifest=_read_done,
        pending=out / LOGS / "fingerprint.json",
        pending_value=fingerprint,
        keep_pending=True,
        leftovers=tuple(
            out / name for name in (LOGS, documents.DOCS_DIR, documents.REDIRECTS_DIR, documents.STATS)
        ),
        refusals={
            "fingerprint": f"{out} already holds a corpus extracted from other inputs or another config; "
            "pass a new --output, or delete that folder to redo it"
        },
    )


def _read_done(folder: Path) -> dict[str, Any] | None:
    found = read_json(folder / MANIFEST)
    if not isinstance(found, dict):
        return None
    documents.manifest_version(found, folder / MANIFEST)
    return found


def _task_outputs_exist(out: Path, rank: int) -> bool:
    result = read_json(out / LOGS / "results" / f"rank-{rank:05d}.json")
    return isinstance(result, dict) and all((out / s["path"]).is_file() for s in result["shards"].values())


def finalize_extract(stage: StageOutput, tasks: int, manifest: dict[str, Any]) -> dict[str, Any]:
    """Merge the task results into stats.json and write the manifest last; refuses if a task is missing."""
    out = stage.folder
    _raise_task_errors(out, None)
    results = []
    missing = []
    for rank in range(tasks):
        result = read_json(out / LOGS / "results" / f"rank-{rank:05d}.json")
        if result is None:
            missing.append(rank)
        else:
            results.append(result)
    if missing:
        raise PipelineError(
            f"{out}: extract tasks {missing[:10]} did not finish (see {out / LOGS}); "
            "run the same command again to redo only those"
        )
    stats = merge_results(results)
    documents.write_stats(out, stats)
    manifest = dict(manifest)
    manifest["shards"] = {
        kind: [r["shards"][kind] for r in sorted(results, key=lambda r: r["rank"])]
        for kind in ("docs", "redirects")
    }
    manifest["stats"] = {k: v for k, v in stats.items() if k not in ("failed_pages", "damaged_pages")}
    manifest["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    stage.complete(manifest)
    return stats


def run_extract(cfg: CorpusConfig, inputs: list[str], output: str, index: str | None = None) -> dict:
    """Extract `inputs` into the corpus folder `output`; returns the merged stats.

    A folder whose manifest matches these inputs and config is returned as is (no work); one made
    from other inputs or config is refused. Unfinished tasks of an earlier attempt with the same
    inputs and config are redone, finished ones kept.
    """
    fmt = input_format(cfg.format)
    paths = fmt.check_inputs(inputs)
    indexes = fmt.indexes(cfg, paths, index)
    fingerprint = _fingerprint(cfg, paths, indexes)
    out = Path(os.path.abspath(output))
    logs = out / LOGS
    if out.exists() and not out.is_dir():
        raise PipelineError(f"--output {out} is a file; pass a folder")
    _check_writable(out)

    stage = extract_stage(out, fingerprint)
    done = stage.finished()
    if done is not None:
        logger.info(f"{out}: extraction already complete, nothing to do")
        return documents.peek_stats(out) or done.get("stats", {})
    if stage.started_key() is None and out.exists() and any(out.iterdir()):
        raise PipelineError(f"{out} exists and is not a corpus folder; pass a new or empty --output")
    # Our own folder and unfinished: the tasks of another fingerprint are discarded, never reused.
    stage.begin()

    plan = fmt.plan(cfg, paths, indexes, logs)
    idle = sum(1 for slices in plan if not slices) if fmt.splits_files else 0
    if idle:
        logger.warning(
            f"{idle} of {cfg.tasks} tasks have no input: without a multistream index only whole files "
            "can be handed out, so at most one task per file does work"
        )
    forget_incomplete(logs, cfg.tasks, lambda rank: _task_outputs_exist(out, rank))
    for stale in glob.glob(str(logs / "errors" / "rank-*.json")):
        os.unlink(stale)

    steps = [
        *fmt.steps(cfg, paths, plan, indexes, logs),
        CorpusShardWriter(str(out), cfg.max_failed_fraction),
    ]
    manifest = {
        "stage": "extract",
        "format": cfg.format,
        "config": to_dict(cfg),
        "inputs": [
            {"path": p, "size": os.path.getsize(p), "index": str(indexes.get(p) or "") or None} for p in paths
        ],
        "plan": [[vars(s) for s in slices] for slices in plan],
        "tasks": cfg.tasks,
    }
    executor = build_executor(
        steps,
        tasks=cfg.tasks,
        workers=cfg.workers,
        logging_dir=str(logs),
        executor=cfg.executor,
        job_name="linkbert-extract",
    )
    if cfg.executor.kind == "slurm":
        finalize = build_executor(
            [FinalizeStep("extract", finalize_extract, stage, cfg.tasks, manifest)],
            tasks=1,
            workers=1,
            logging_dir=str(logs / "finalize"),
            executor=cfg.executor,
            job_name="linkbert-extract-manifest",
            depends=executor,
        )
        finalize.run()
        logger.info(f"submitted; {out / MANIFEST} is written by the last job once every task has succeeded")
        return {}
    try:
        executor.run()
    except Exception as e:  # noqa: BLE001 - the task's own record says what went wrong
        _raise_task_errors(out, e)
    stats = finalize_extract(stage, cfg.tasks, manifest)
    logger.info(
        f"{out}: {stats['articles']} articles, {stats['redirects']} redirects, "
        f"{stats['failed']} failed pages, {sum(stats['links_by_kind'].values())} links"
    )
    if stats["damaged"]:
        shown = "; ".join(
            f"page id {p['id']} {p['title']!r}: {p['cause']} ({p['action']})"
            for p in stats["damaged_pages"][:5]
        )
        more = f" and {stats['damaged'] - 5} more" if stats["damaged"] > 5 else ""
        logger.warning(
            f"{out}: {stats['damaged']} damaged pages (invalid characters or bytes, empty titles) were "
            f"repaired with U+FFFD or skipped: {shown}{more}; all are listed in {documents.STATS}"
        )
    return stats
