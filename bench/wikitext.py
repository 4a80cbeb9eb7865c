"""Benchmark of the wikitext cleaner (text + links + spans) against wikiextractor and mwparserfromhell.

Builds a larger dump from the real enwiki sample (its pages replicated under new titles and ids,
~10k pages by default), then measures in one run, on the same file:
  1. ours: `corpus.readers.dump.read_pages` + `clean_wikitext` for articles (`normalize_title` for
     redirects), as the extract stage does; also the reader alone, to show where the time goes;
  2. wikiextractor 3.1 `--no-templates` and `--no-templates --links` as a subprocess, 1 process;
  3. a bare mwparserfromhell `parse` + `strip_code()` + `filter_wikilinks()` loop on a subset.
Rates are per CPU-second of the measured process and its children (the per-core figure; the machine
is shared, so wall-clock rates swing with its load). The input is plain XML unless --bz2: the goal
is the cleaner, and Python's bz2 (~24 MB/s) would otherwise dominate both sides.

    .venv/bin/python bench/wikitext.py [--pages 10000] [--mwph-pages 200] [--bz2]

The last line is `RESULT extract_pages_per_s=<ours> pages/s baseline=<wikiextractor> ratio=<ratio>`.
"""

from __future__ import annotations

import argparse
import bz2
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mwparserfromhell  # noqa: E402

from corpus.site.titles import normalize_title  # noqa: E402
from corpus.wikitext.clean import clean_wikitext  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2"
_ID_RE = re.compile(rb"<id>(\d+)</id>")
_TITLE_RE = re.compile(rb"<title>(.*?)</title>")


def build_dump(n_pages: int, path: Path, compress: bool) -> tuple[int, int]:
    """Write a dump of `n_pages` pages (copies of the sample, each with a new title and page id).
    Returns (pages, bytes of XML)."""
    xml = bz2.decompress(SAMPLE.read_bytes())
    head_end, foot = xml.index(b"  <page>"), xml.rindex(b"</mediawiki>")
    pages = [b"  <page>" + p for p in xml[head_end:foot].split(b"  <page>")[1:]]
    out = [xml[:head_end]]
    for k in range(n_pages):
        page = pages[k % len(pages)]
        copy = k // len(pages)
        if copy:
            old_id = int(_ID_RE.search(page).group(1))
            page = _ID_RE.sub(f"<id>{old_id + copy * 10_000_000}</id>".encode(), page, count=1)
            page = _TITLE_RE.sub(
                lambda m, c=copy: m.group(1).join([b"<title>", f" (copy {c})</title>".encode()]),
                page,
                count=1,
            )
        out.append(page)
    out.append(xml[foot:])
    data = b"".join(out)
    path.write_bytes(bz2.compress(data, 9) if compress else data)
    return n_pages, len(data)


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ours(path: Path) -> tuple[int, int, int, float, float]:
    """(pages, articles, links, CPU s, wall s) for reading + cleaning every page."""
    from corpus.readers.dump import read_pages

    pages = articles = links = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for page in read_pages(str(path)):
        pages += 1
        if page.ns != 0:
            continue
        if page.redirect is not None:
            normalize_title(page.title, page.site)
            normalize_title(page.redirect, page.site)
            continue
        title = normalize_title(page.title, page.site) or page.title
        articles += 1
        links += len(clean_wikitext(page.text, title, page.site).links)
    return pages, articles, links, time.process_time() - cpu, time.perf_counter() - wall


def run_reader(path: Path) -> tuple[int, float]:
    from corpus.readers.dump import read_pages

    cpu = time.process_time()
    pages = sum(1 for _ in read_pages(str(path)))
    return pages, time.process_time() - cpu


def run_wikiextractor(path: Path, out: Path, extra: list[str]) -> tuple[float, float]:
    """(CPU s of wikiextractor and its worker processes, wall s)."""
    cmd = [sys.executable, "-m", "wikiextractor.WikiExtractor", str(path), "-o", str(out), "-q"]
    cmd += ["--processes", "1", *extra]
    cpu, wall = _cpu_children(), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _cpu_children() - cpu, time.perf_counter() - wall


def run_mwparserfromhell(path: Path, n: int) -> tuple[int, float]:
    from corpus.readers.dump import read_pages

    texts = []
    for page in read_pages(str(path)):
        if page.ns == 0 and page.redirect is None:
            texts.append(page.text)
        if len(texts) == n:
            break
    cpu = time.process_time()
    for text in texts:
        code = mwparserfromhell.parse(text)
        code.strip_code()
        code.filter_wikilinks()
    return len(texts), time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=10_000, help="pages in the generated dump")
    ap.add_argument("--mwph-pages", type=int, default=200, help="articles for the mwparserfromhell loop")
    ap.add_argument("--bz2", action="store_true", help="bz2-compress the dump (both sides decompress it)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("bench.xml.bz2" if args.bz2 else "bench.xml")
        n_pages, n_bytes = build_dump(args.pages, path, args.bz2)
        mb = n_bytes / 1e6
        print(f"input: {path.name}, {n_pages} pages, {mb:.1f} MB of XML (copies of {SAMPLE.name})")

        pages, articles, links, cpu, wall = run_ours(path)
        assert pages == n_pages, (pages, n_pages)
        ours = pages / cpu
        print(
            f"ours (corpus.readers.dump + clean_wikitext): {ours:.0f} pages/s, {mb / cpu:.1f} MB/s per CPU-second "
            f"({wall:.1f} s wall), {links} links"
        )
        _, reader_cpu = run_reader(path)
        print(f"  of which reading: {reader_cpu / cpu:.0%} ({mb / reader_cpu:.1f} MB/s)")

        cpu_nt, wall_nt = run_wikiextractor(path, Path(tmp) / "we1", ["--no-templates"])
        baseline = n_pages / cpu_nt
        print(
            f"wikiextractor --no-templates: {baseline:.0f} pages/s, {mb / cpu_nt:.1f} MB/s per CPU-second "
            f"({wall_nt:.1f} s wall)"
        )
        cpu_l, wall_l = run_wikiextractor(path, Path(tmp) / "we2", ["--no-templates", "--links"])
        links_rate = n_pages / cpu_l
        print(f"wikiextractor --no-templates --links: {links_rate:.0f} pages/s ({wall_l:.1f} s wall)")

        m_pages, m_cpu = run_mwparserfromhell(path, args.mwph_pages)
        m_rate = m_pages / m_cpu
        print(
            f"mwparserfromhell parse + strip_code + filter_wikilinks: {m_rate:.1f} articles/s on {m_pages} "
            f"articles (ours: {articles / cpu:.0f} articles/s, {articles / cpu / m_rate:.0f}x)"
        )

    print(
        f"ratios: ours/wikiextractor --no-templates {ours / baseline:.2f}, "
        f"ours/wikiextractor --links {ours / links_rate:.2f}"
    )
    print(
        f"RESULT extract_pages_per_s={ours:.0f} pages/s baseline={baseline:.0f} ratio={ours / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
