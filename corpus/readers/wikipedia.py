"""`corpus.format=wikipedia`: MediaWiki XML dumps (plain, .bz2, multistream .bz2 with its index).

A task reads its slices of the dumps page by page (`DumpReaderStep`) and cleans each page's wikitext
into text and links, or files it as a redirect, a page of another namespace, or a failure
(`WikitextCleanerStep`). A multistream dump is cut at its streams, so many tasks share one file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

from corpus.readers.base import ARTICLE, FAILED, REDIRECT, REDIRECT_DROPPED, SKIPPED, InputFormat
from corpus.readers.dump import bz2_command, read_pages
from corpus.readers.multistream import Slice, index_path_for, plan_tasks
from corpus.readers.template_pages import collect_templates
from corpus.site.titles import normalize_title
from corpus.wikitext.clean import MAX_PAGE_CHARS, WikitextError, clean_wikitext
from corpus.wikitext.fallback import clean_with_mwparserfromhell
from corpus.wikitext.template_expander import TemplateLibrary
from foundation.atomic import write_json_atomic
from foundation.errors import PipelineError

if TYPE_CHECKING:
    from corpus.config import CorpusConfig


class WikipediaFormat(InputFormat):
    name = "wikipedia"

    def indexes(self, cfg: CorpusConfig, paths: list[str], index: str | None) -> dict[str, Path | None]:
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

    def plan(
        self, cfg: CorpusConfig, paths: list[str], indexes: dict[str, Path | None], logs: Path
    ) -> list[list[Slice]]:
        return plan_tasks(paths, cfg.tasks, indexes=indexes)

    def steps(
        self,
        cfg: CorpusConfig,
        paths: list[str],
        plan: list[list[Slice]],
        indexes: dict[str, Path | None],
        logs: Path,
    ) -> list[PipelineStep]:
        templates_path = collect_template_library(cfg, paths, indexes, logs) if cfg.expand_templates else ""
        return [
            DumpReaderStep(plan, bz2_command(cfg.bz2_decompressor), cfg.language, cfg.allow_truncated),
            WikitextCleanerStep(cfg.hatnote_templates, cfg.variant, templates_path),
        ]


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


def collect_template_library(
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
