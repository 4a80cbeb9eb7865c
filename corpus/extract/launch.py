"""`linkbert corpus extract`: dumps (or JSONL) -> docs/ and redirects/ parquet shards, stats, manifest.

A datatrove pipeline per task: a reader (its slice of the inputs) -> the wikitext cleaner -> the shard
writer. Every page read becomes one Document whose `metadata["status"]` says what it became (article,
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
import time
import traceback
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

from corpus.config import CorpusConfig
from corpus.readers import hf as hf_reader
from corpus.readers.dump import bz2_command, read_pages
from corpus.readers.jsonl import JsonlRecord, read_jsonl
from corpus.readers.multistream import Slice, index_path_for, plan_tasks
from corpus.readers.template_pages import collect_templates
from corpus.site.siteinfo import SiteInfo
from corpus.site.titles import normalize_title
from corpus.wikitext.clean import MAX_PAGE_CHARS, Link, WikitextError, clean_wikitext
from corpus.wikitext.fallback import clean_with_mwparserfromhell
from corpus.wikitext.template_expander import TemplateLibrary
from formats import documents
from formats.documents import DOCS_SCHEMA, REDIRECTS_SCHEMA, ShardWriter, shard_name
from foundation.atomic import write_json_atomic
from foundation.config import to_dict
from foundation.errors import PipelineError
from foundation.executor import build_executor, quiet_input_errors
from foundation.stage import FinalizeStep, StageOutput, file_identity, forget_incomplete, read_json

MANIFEST = documents.EXTRACT_MANIFEST
LOGS = "logs/extract"
MAX_FAILED_PAGES = 1000  # failed pages listed by id/title/reason in stats.json (all are counted)
PROGRESS_EVERY_S = 30.0
MIN_PAGES_FOR_FAILURE_CHECK = 100
# How the extraction runs, not what it makes: left out of the fingerprint (and the corpus build's key).
EXECUTION_ONLY = ("workers", "executor", "bz2_decompressor")

ARTICLE, REDIRECT, REDIRECT_DROPPED, SKIPPED, FAILED = (
    "article",
    "redirect",
    "redirect_dropped",
    "skipped",
    "failed",
)


# ----------------------------------------------------------------------------------------------
# Pipeline steps (run inside the tasks)


class DumpReaderStep(PipelineStep):
    """Yields every `<page>` of this task's slices of the dumps."""

    name = "MediaWiki dump reader"
    type = "Reader"

    def __init__(
        self,
        plan: list[list[Slice]],
        decompressor: str | None = None,
        language: str = "",
        allow_truncated: bool = False,
    ) -> None:
        super().__init__()
        self.plan = plan
        self.decompressor = decompressor
        self.language = language
        self.allow_truncated = allow_truncated

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if len(self.plan) != world_size:
            raise PipelineError(f"the extract plan has {len(self.plan)} tasks but {world_size} were launched")
        for sl in self.plan[rank]:
            pages = read_pages(
                sl,
                decompressor=self.decompressor,
                language=self.language or None,
                allow_truncated=self.allow_truncated,
            )
            for page in pages:
                self.stat_update("pages")
                yield Document(text=page.text, id=str(page.id), metadata={"page": page})


class WikitextCleanerStep(PipelineStep):
    """Raw pages -> articles (clean text + links), redirects, or skipped/failed pages."""

    name = "wikitext cleaner"
    type = "Formatter"

    def __init__(self, hatnote_templates: list[str], variant: str = "", templates_path: str = "") -> None:
        super().__init__()
        self.hatnote_templates = list(hatnote_templates)
        self.variant = variant
        self.templates_path = templates_path  # the launcher's TemplateLibrary; "" = none

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        hatnotes = tuple(self.hatnote_templates)
        library = TemplateLibrary.load(Path(self.templates_path)) if self.templates_path else None
        for doc in data:
            page = doc.metadata.pop("page")
            meta = doc.metadata
            meta.update(page_id=page.id, title=page.title)
            if page.damage:
                meta["damage"] = page.damage
            if page.damage and (not page.title.strip() or "\ufffd" in page.title):
                # No title to file the page under: skipped, and counted with its id and cause.
                meta.update(status=FAILED, reason=f"damaged page: {page.damage}")
                doc.text = ""
            elif page.ns != 0:
                meta.update(status=SKIPPED, ns=page.ns)
            elif page.redirect is not None:
                source = normalize_title(page.title, page.site)
                target = normalize_title(page.redirect, page.site)
                if source is None or target is None:
                    meta.update(status=REDIRECT_DROPPED, reason=f"redirect target {page.redirect!r}")
                else:
                    meta.update(status=REDIRECT, title=source, target=target)
                doc.text = ""
            else:
                title = normalize_title(page.title, page.site) or page.title
                try:
                    with self.track_time():
                        try:
                            clean = clean_wikitext(
                                doc.text, title, page.site, hatnotes, self.variant, library
                            )
                        except WikitextError as e:
                            if len(doc.text) > MAX_PAGE_CHARS:
                                raise
                            # A structure the fast cleaner bounds on purpose: the full parser takes it.
                            logger.info(f"page id {page.id} {page.title!r}: {e}; cleaned by mwparserfromhell")
                            clean = clean_with_mwparserfromhell(doc.text, page.site)
                            meta["fallback"] = True
                except Exception as e:  # noqa: BLE001 - one bad page must not stop a multi-day run
                    reason = f"{type(e).__name__}: {e}".splitlines()[0][:300]
                    logger.warning(f"page id {page.id} {page.title!r} skipped: {reason}")
                    meta.update(status=FAILED, reason=reason)
                    doc.text = ""
                else:
                    doc.text = clean.text
                    meta.update(
                        status=ARTICLE,
                        title=title,
                        links=clean.links,
                        is_disambiguation=bool(clean.is_disambiguation),
                    )
            yield doc


class JsonlReaderStep(PipelineStep):
    """Yields the records of this task's slices of JSONL files as articles."""

    name = "JSONL reader"
    type = "Reader"

    def __init__(self, plan: list[list[Slice]]) -> None:
        super().__init__()
        self.plan = plan

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if len(self.plan) != world_size:
            raise PipelineError(f"the extract plan has {len(self.plan)} tasks but {world_size} were launched")
        for sl in self.plan[rank]:
            for rec in read_jsonl(sl):
                yield _record_document(rec)


def _record_document(rec: JsonlRecord) -> Document:
    meta: dict[str, Any] = {"page_id": rec.id, "title": rec.raw_title}
    if rec.title is None:
        meta.update(status=FAILED, reason=f"title {rec.raw_title!r} is not a valid title")
    else:
        # JSONL and dataset links have no position in the text: spanless body links (docs/formats.md).
        links = [Link(t, t, -1, -1, "body") for t in rec.links]
        meta.update(status=ARTICLE, title=rec.title, links=links, is_disambiguation=False)
    return Document(text=rec.text, id=str(rec.id), metadata=meta)


class HfReaderStep(PipelineStep):
    """Yields this task's contiguous share of a Hugging Face dataset's rows as articles."""

    name = "Hugging Face dataset reader"
    type = "Reader"

    def __init__(self, paths: list[str], columns: dict[str, str], split: str, cache_dir: str) -> None:
        super().__init__()
        self.paths, self.columns, self.split, self.cache_dir = paths, columns, split, cache_dir

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        ds = hf_reader.load_input(self.paths, self.split, self.cache_dir)  # the launcher's Arrow cache
        where = ", ".join(self.paths)
        for rec in hf_reader.read_rows(ds, self.columns, rank, world_size, SiteInfo.default(), where):
            yield _record_document(rec)


class CorpusShardWriter(PipelineStep):
    """Writes this task's docs and redirects shards and its result file; records a failure for the parent."""

    name = "corpus shard writer"
    type = "Writer"

    def __init__(self, output: str, max_failed_fraction: float = 1.0) -> None:
        super().__init__()
        self.output = output
        self.max_failed_fraction = max_failed_fraction

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        quiet_input_errors()
        out = Path(self.output)
        error_file = out / LOGS / "errors" / f"rank-{rank:05d}.json"
        for stale in glob.glob(str(out / "*" / f".{shard_name(rank)}.*.tmp")):
            os.unlink(stale)  # left by a killed earlier attempt at this task
        docs = ShardWriter(out / documents.DOCS_DIR / shard_name(rank), DOCS_SCHEMA)
        redirects = ShardWriter(out / documents.REDIRECTS_DIR / shard_name(rank), REDIRECTS_SCHEMA)
        counts = _TaskCounts(rank, self.max_failed_fraction)
        try:
            for doc in data:
                counts.add(doc)
                meta = doc.metadata
                if meta["status"] == ARTICLE:
                    docs.add(
                        id=meta["page_id"],
                        title=meta["title"],
                        text=doc.text,
                        links=meta["links"],
                        is_disambiguation=meta["is_disambiguation"],
                    )
                elif meta["status"] == REDIRECT:
                    redirects.add(source=meta["title"], target=meta["target"])
            docs.commit()
            redirects.commit()
        except BaseException as e:
            docs.abort()
            redirects.abort()
            if isinstance(e, Exception):
                _record_error(error_file, rank, e)
            raise
        result = counts.result()
        result["shards"] = {
            "docs": {"path": f"{documents.DOCS_DIR}/{shard_name(rank)}", "rows": docs.rows},
            "redirects": {"path": f"{documents.REDIRECTS_DIR}/{shard_name(rank)}", "rows": redirects.rows},
        }
        write_json_atomic(out / LOGS / "results" / f"rank-{rank:05d}.json", result)
        logger.info(counts.progress_line(final=True))
        return
        yield  # a generator that yields nothing: this is the last step


def _record_error(path: Path, rank: int, e: Exception) -> None:
    kind = "input" if isinstance(e, PipelineError) else "internal"
    message = str(e) if kind == "input" else f"{type(e).__name__}: {e}"
    write_json_atomic(
        path, {"rank": rank, "kind": kind, "message": message, "traceback": traceback.format_exc()}
    )


class _TaskCounts:
    """Per-task accounting of every page, with a periodic pages/s log line."""

    def __init__(self, rank: int, max_failed_fraction: float = 1.0) -> None:
        self.rank = rank
        self.max_failed_fraction = max_failed_fraction
        self.status: Counter[str] = Counter()
        self.skipped_ns: Counter[str] = Counter()
        self.links: Counter[str] = Counter()
        self.failed_pages: list[dict[str, Any]] = []
        # Pages whose bytes were repaired (U+FFFD where the damage was) or that a damage skipped.
        self.damaged_pages: list[dict[str, Any]] = []
        self.damaged = 0
        self.dropped_redirects: list[dict[str, Any]] = []
        self.seen = 0
        self.fallback = 0  # articles cleaned by mwparserfromhell (corpus/wikitext/fallback.py)
        self.started = self.last_log = time.monotonic()

    @property
    def pages(self) -> int:
        return sum(self.status.values())

    def add(self, doc: Document) -> None:
        meta = doc.metadata
        status = meta["status"]
        self.status[status] += 1
        if meta.get("damage"):
            self.damaged += 1
            if len(self.damaged_pages) < MAX_FAILED_PAGES:
                action = "skipped" if status == FAILED else "repaired"
                self.damaged_pages.append(
                    {"id": meta["page_id"], "title": meta["title"], "cause": meta["damage"], "action": action}
                )
        if status == ARTICLE:
            for link in meta["links"]:
                self.links[link.kind] += 1
            if meta.get("fallback"):
                self.fallback += 1
        elif status == SKIPPED:
            self.skipped_ns[str(meta["ns"])] += 1
        elif status == FAILED:
            if len(self.failed_pages) < MAX_FAILED_PAGES:
                self.failed_pages.append(
                    {"id": meta["page_id"], "title": meta["title"], "reason": meta["reason"]}
                )
            self._check_failures()
        self.seen += 1
        # The clock is read once per 64 pages: cheap, and still a line every PROGRESS_EVERY_S.
        if self.seen % 64 == 0 and time.monotonic() - self.last_log >= PROGRESS_EVERY_S:
            self.last_log = time.monotonic()
            logger.info(self.progress_line())

    def _check_failures(self) -> None:
        failed = self.status[FAILED]
        tried = failed + self.status[ARTICLE]
        if tried >= MIN_PAGES_FOR_FAILURE_CHECK and failed > self.max_failed_fraction * tried:
            first = self.failed_pages[0]
            raise PipelineError(
                f"extract rank {self.rank}: {failed} of the {tried} pages cleaned so far failed (first: page id "
                f"{first['id']} {first['title']!r}: {first['reason']}); that is a bug or the wrong input, "
                "not bad pages: fix it, or raise corpus.max_failed_fraction"
            )

    def progress_line(self, final: bool = False) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (
            f"extract rank {self.rank}{' done' if final else ''}: {self.pages} pages in {elapsed:.0f}s "
            f"({self.pages / elapsed:.1f} pages/s), {self.status[ARTICLE]} articles, "
            f"{self.status[REDIRECT]} redirects, {self.status[FAILED]} failed"
        )

    def result(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "pages_read": self.pages,
            "articles": self.status[ARTICLE],
            "redirects": self.status[REDIRECT],
            "redirects_dropped": self.status[REDIRECT_DROPPED],
            "skipped_by_namespace": dict(self.skipped_ns),
            "failed": self.status[FAILED],
            "failed_pages": self.failed_pages,
            "damaged": self.damaged,
            "damaged_pages": self.damaged_pages,
            "cleaned_by_mwparserfromhell": self.fallback,
            "links_by_kind": {"body": self.links["body"], "template": self.links["template"], **self.links},
        }


# ----------------------------------------------------------------------------------------------
# The launching process: plan, run, merge, manifest


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


def _check_inputs(inputs: list[str]) -> list[str]:
    if not inputs:
        raise PipelineError("corpus extract: no --input files given")
    paths = []
    for raw in inputs:
        path = os.path.abspath(raw)
        if os.path.isdir(path):
            raise PipelineError(f"{raw}: is a folder; pass the dump file(s) inside it as --input")
        if not os.path.isfile(path):
            raise PipelineError(f"{raw}: no such file (check --input)")
        if os.path.getsize(path) == 0:
            raise PipelineError(f"{raw}: the file is empty (an interrupted download? fetch it again)")
        paths.append(path)
    if len(set(paths)) != len(paths):
        raise PipelineError("corpus extract: the same --input file is given twice")
    return paths


def _indexes(cfg: CorpusConfig, paths: list[str], index: str | None) -> dict[str, Path | None]:
    if cfg.format != "wikipedia":
        if index:
            raise PipelineError(f"--index is for multistream Wikipedia dumps, not for --format {cfg.format}")
        return {}
    if index is not None:
        if len(paths) != 1:
            raise PipelineError(
                "--index names the index of one multistream dump: give that one --input "
                "(with many inputs, each index is found beside its dump)"
            )
        if not os.path.isfile(index):
            raise PipelineError(f"{index}: no such multistream index (check --index)")
        return {paths[0]: Path(os.path.abspath(index))}
    return {p: index_path_for(p) for p in paths}


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


def _collect_templates(
    cfg: CorpusConfig, paths: list[str], indexes: dict[str, Path | None], logs: Path
) -> str:
    """corpus.expand_templates: the inputs' namespace-10 pages (only the streams holding them, for a
    multistream dump with its index), saved for the tasks. Returns the library's path ("" when the
    inputs hold no template page)."""
    started = time.monotonic()
    scan = collect_templates(
        paths,
        indexes,
        decompressor=bz2_command(cfg.bz2_decompressor),
        language=cfg.language or None,
        allow_truncated=cfg.allow_truncated,
    )
    read = f"{scan.streams_read} of {scan.streams_total} multistream streams" if scan.streams_total else ""
    whole = f"{scan.whole_files} whole files" if scan.whole_files else ""
    logger.info(
        f"corpus.expand_templates: {len(scan.library)} template pages from {', '.join(x for x in (read, whole) if x)}"
        f" in {time.monotonic() - started:.1f}s"
    )
    if not len(scan.library):
        logger.warning(
            "corpus.expand_templates: the inputs hold no template page (namespace 10); nothing to expand"
        )
        return ""
    path = logs / "templates.json"
    write_json_atomic(path, scan.library.to_json())
    return str(path)


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
    paths = hf_reader.check_inputs(inputs) if cfg.format == "hf" else _check_inputs(inputs)
    indexes = _indexes(cfg, paths, index)
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

    if cfg.format == "hf":
        # Loaded once here: data files become the Arrow cache the tasks map, and the columns are checked
        # before any task starts. Tasks split the rows, not the files.
        dataset = hf_reader.load_input(paths, cfg.hf_split, str(logs / "hf-cache"))
        hf_reader.check_columns(dataset, cfg.hf_columns, ", ".join(paths))
        plan: list[list[Slice]] = [[] for _ in range(cfg.tasks)]
    else:
        plan = plan_tasks(paths, cfg.tasks, indexes=indexes, jsonl=cfg.format == "jsonl")
    idle = sum(1 for slices in plan if not slices) if cfg.format != "hf" else 0
    if idle:
        logger.warning(
            f"{idle} of {cfg.tasks} tasks have no input: without a multistream index only whole files "
            "can be handed out, so at most one task per file does work"
        )
    forget_incomplete(logs, cfg.tasks, lambda rank: _task_outputs_exist(out, rank))
    for stale in glob.glob(str(logs / "errors" / "rank-*.json")):
        os.unlink(stale)

    if cfg.format == "jsonl":
        steps: list[PipelineStep] = [JsonlReaderStep(plan)]
    elif cfg.format == "hf":
        steps = [HfReaderStep(paths, cfg.hf_columns, cfg.hf_split, str(logs / "hf-cache"))]
    else:
        templates_path = _collect_templates(cfg, paths, indexes, logs) if cfg.expand_templates else ""
        steps = [
            DumpReaderStep(plan, bz2_command(cfg.bz2_decompressor), cfg.language, cfg.allow_truncated),
            WikitextCleanerStep(cfg.hatnote_templates, cfg.variant, templates_path),
        ]
    steps.append(CorpusShardWriter(str(out), cfg.max_failed_fraction))
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
