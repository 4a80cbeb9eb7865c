"""Find and read an input's template pages (namespace 10) for `corpus.expand_templates`.

A multistream dump's index names every page, so only the bz2 streams holding a template page are
read: on English Wikipedia about one stream in ten, not the whole 20 GB. A file without an index is
read whole once (a full decompression and XML parse), keeping only namespace-10 pages.
"""

from __future__ import annotations

import bz2
import os
import re
from dataclasses import dataclass
from pathlib import Path

from corpus.readers.dump import read_pages, read_siteinfo
from corpus.readers.multistream import Slice, read_stream_offsets, stream_ranges
from corpus.wikitext.template_expander import TemplateLibrary
from foundation.errors import PipelineError


@dataclass
class TemplateScan:
    library: TemplateLibrary
    streams_read: int  # multistream inputs: streams read for template pages
    streams_total: int
    whole_files: int  # inputs read whole (no index)


def collect_templates(
    paths: list[str],
    indexes: dict[str, Path | None],
    *,
    decompressor: str | None = None,
    language: str | None = None,
    allow_truncated: bool = False,
) -> TemplateScan:
    library = TemplateLibrary()
    scan = TemplateScan(library, 0, 0, 0)
    for path in paths:
        index = indexes.get(path)
        if index is None:
            scan.whole_files += 1
            slices = [Slice(path)]
        else:
            slices, total = _template_streams(path, index, language)
            scan.streams_read += len(slices)
            scan.streams_total += total
        for sl in slices:
            pages = read_pages(
                sl, decompressor=decompressor, language=language, allow_truncated=allow_truncated
            )
            for page in pages:
                if page.ns == 10:
                    library.add(page.site.split_namespace(page.title)[1], page.text, page.redirect)
    return scan


def _template_streams(path: str, index: Path, language: str | None) -> tuple[list[Slice], int]:
    """The slices of the streams whose index lines name a page of namespace 10, and the number of
    streams in the file."""
    size = os.path.getsize(path)
    offsets = read_stream_offsets(index, size)
    header_end, starts, ends = stream_ranges(offsets, size)
    site = read_siteinfo(Slice(path, 0, header_end), language)
    if site is None:
        raise PipelineError(f"{path}: its first bz2 stream holds no <siteinfo>; is --index for this dump?")
    names = [ns.name for ns in site.namespaces.values() if ns.id == 10]
    names += [alias for ns in site.namespaces.values() if ns.id == 10 for alias in ns.aliases]
    prefix = re.compile(
        r"^(\d+):\d+:(?:" + "|".join(re.escape(n) for n in dict.fromkeys(names) if n) + r")\s*:",
        re.IGNORECASE,
    )
    wanted: set[int] = set()
    with bz2.open(index, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:  # a literal-prefixed match per line; the English index (~1 GB) takes about a minute
            m = prefix.match(line)
            if m:
                wanted.add(int(m.group(1)))
    position = {int(o): k for k, o in enumerate(offsets)}
    slices = []
    for offset in sorted(wanted):
        k = position.get(offset)
        if k is None:
            continue
        start, end = int(starts[k]), int(ends[k])
        slices.append(Slice(path, start, end if end < size else None, 0 if start == 0 else header_end))
    return slices, len(offsets)
