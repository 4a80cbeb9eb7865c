"""The extract stage's last step in every task: account for each page a reader step yields and write the
task's docs and redirects shards and its result file (corpus/readers/ give the steps before it)."""

from __future__ import annotations

import glob
import os
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

from corpus.readers.base import ARTICLE, FAILED, REDIRECT, REDIRECT_DROPPED, SKIPPED
from formats import documents
from formats.documents import DOCS_SCHEMA, REDIRECTS_SCHEMA, ShardWriter, shard_name
from foundation.atomic import write_json_atomic
from foundation.errors import PipelineError
from foundation.executor import quiet_input_errors

LOGS = "logs/extract"


MAX_FAILED_PAGES = 1000  # failed pages listed by id/title/reason in stats.json (all are counted)


PROGRESS_EVERY_S = 30.0


MIN_PAGES_FOR_FAILURE_CHECK = 100


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


__all__ = ["LOGS", "MAX_FAILED_PAGES", "CorpusShardWriter"]
