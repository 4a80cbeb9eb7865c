"""Generic linked corpora as JSONL: one `{"id", "title", "text", "links": [title, ...]}` object per line.

For papers with citations, internal wikis and the like. Ids are ints, or strings mapped to a stable
63-bit int; titles and link targets are normalized with English Wikipedia's title rules
(`SiteInfo.default()`) so a link meets the title it names. Links carry no position in the text: they
are `body` links with `start = end = -1` (docs/formats.md).

A plain `.jsonl` file can be read in byte ranges by many tasks: a range owns every line that starts
inside it. `.jsonl.gz` / `.jsonl.bz2` are read whole.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpus.readers.base import ARTICLE, FAILED, InputFormat
from corpus.readers.multistream import Slice, plan_tasks
from corpus.site.siteinfo import SiteInfo
from corpus.site.titles import normalize_title
from corpus.wikitext.clean import Link
from foundation.errors import PipelineError

if TYPE_CHECKING:
    from corpus.config import CorpusConfig

READ_BYTES = 1 << 20


def stable_id(text: str) -> int:
    """A string id as a non-negative int64 that is the same on every machine and run."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & ((1 << 63) - 1)


@dataclass
class JsonlRecord:
    id: int
    title: str | None  # None: the title is not a valid article title after normalization
    raw_title: str
    text: str
    links: list[str]  # normalized, in input order; targets that are not article titles are dropped
    links_dropped: int


def _lines(sl: Slice) -> Iterator[tuple[int, bytes]]:
    """(byte offset of the line in the file, line) for every line starting in [start, end)."""
    if sl.path.endswith((".gz", ".bz2")):
        opener = gzip.open if sl.path.endswith(".gz") else bz2.open
        try:
            with opener(sl.path, "rb") as f:
                offset = 0
                for line in f:
                    yield offset, line
                    offset += len(line)
        except (OSError, EOFError) as e:
            raise PipelineError(f"{sl.path}: corrupt or truncated compressed data ({e})") from None
        return
    with open(sl.path, "rb") as f:
        pos = sl.start
        if pos > 0:
            # The line that straddles `start` belongs to the previous range.
            f.seek(pos - 1)
            pos = pos - 1 + len(f.readline())
        end = sl.end
        while end is None or pos < end:
            line = f.readline()
            if not line:
                break
            yield pos, line
            pos += len(line)


def _line_number(path: str, offset: int) -> int:
    """1-based line number of the line starting at `offset` (counted only on the error path)."""
    count = 0
    with open(path, "rb") as f:
        remaining = offset
        while remaining > 0:
            block = f.read(min(READ_BYTES, remaining))
            if not block:
                break
            count += block.count(b"\n")
            remaining -= len(block)
    return count + 1


def read_jsonl(sl: Slice | str, site: SiteInfo | None = None) -> Iterator[JsonlRecord]:
    """The records of one slice of a JSONL file; any malformed line is a PipelineError naming its line."""
    if isinstance(sl, str):
        sl = Slice(sl)
    site = site or SiteInfo.default()

    def fail(offset: int, what: str) -> PipelineError:
        line = _line_number(sl.path, offset) if not sl.path.endswith((".gz", ".bz2")) else None
        where = f"line {line}" if line is not None else f"the line at decompressed byte {offset}"
        return PipelineError(f"{sl.path}: {where} {what}; fix or remove that line")

    for offset, raw in _lines(sl):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except UnicodeDecodeError as e:
            raise fail(offset, f"is not valid UTF-8 (byte {e.start} of the line)") from None
        except json.JSONDecodeError as e:
            raise fail(offset, f"is not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise fail(offset, f"is a JSON {type(obj).__name__}, not an object with id, title, text, links")
        try:
            yield parse_record(obj, site)
        except ValueError as e:
            raise fail(offset, str(e)) from None


def parse_record(obj: dict, site: SiteInfo) -> JsonlRecord:
    """One `{"id", "title", "text", "links"}` object as a record; ValueError says what is wrong with it
    (worded to follow "line N" or "row N"). Shared by the JSONL and the Hugging Face readers."""
    missing = [k for k in ("id", "title", "text") if k not in obj]
    if missing:
        raise ValueError(f"has no {', '.join(missing)}")
    raw_id, raw_title, text, links = obj["id"], obj["title"], obj["text"], obj.get("links", [])
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str):
        raise ValueError(f"has an id {raw_id!r} that is neither an integer nor a string")
    if isinstance(raw_id, int) and not 0 <= raw_id < (1 << 63):
        raise ValueError(f"has an integer id {raw_id} outside 0..2^63-1")
    if not isinstance(raw_title, str) or not isinstance(text, str):
        raise ValueError("has a title or text that is not a string")
    if links is None:
        links = []
    if not isinstance(links, list) or not all(isinstance(t, str) for t in links):
        raise ValueError("has links that are not a list of title strings")
    targets = [normalize_title(t, site) for t in links]
    kept = [t for t in targets if t is not None]
    return JsonlRecord(
        id=raw_id if isinstance(raw_id, int) else stable_id(raw_id),
        title=normalize_title(raw_title, site),
        raw_title=raw_title,
        text=text,
        links=kept,
        links_dropped=len(targets) - len(kept),
    )


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
                yield record_document(rec)


def record_document(rec: JsonlRecord) -> Document:
    """An article from a record with a title, text and links (JSONL, datasets and formats like them)."""
    meta: dict[str, Any] = {"page_id": rec.id, "title": rec.raw_title}
    if rec.title is None:
        meta.update(status=FAILED, reason=f"title {rec.raw_title!r} is not a valid title")
    else:
        # Records' links have no position in the text: spanless body links (docs/formats.md).
        links = [Link(t, t, -1, -1, "body") for t in rec.links]
        meta.update(status=ARTICLE, title=rec.title, links=links, is_disambiguation=False)
    return Document(text=rec.text, id=str(rec.id), metadata=meta)


class JsonlFormat(InputFormat):
    """`corpus.format=jsonl`: one JSON object per line (id, title, text, links); plain JSONL is cut into
    16 MB blocks across tasks, compressed files go whole to one task."""

    name = "jsonl"

    def plan(
        self, cfg: CorpusConfig, paths: list[str], indexes: dict[str, Path | None], logs: Path
    ) -> list[list[Slice]]:
        return plan_tasks(paths, cfg.tasks, indexes=indexes, jsonl=True)

    def steps(
        self,
        cfg: CorpusConfig,
        paths: list[str],
        plan: list[list[Slice]],
        indexes: dict[str, Path | None],
        logs: Path,
    ) -> list[PipelineStep]:
        return [JsonlReaderStep(plan)]
