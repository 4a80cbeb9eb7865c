"""Benchmark of `linkbert corpus extract` and its dump reader.

Builds a multistream dump (+ index) from copies of the real enwiki sample (each copy with fresh page
ids), then measures in the same run:
  1. the dump reader (bz2 -> pages) against a plain `bz2.open` + `ElementTree.iterparse` loop;
  2. the whole stage (read, clean, write parquet) with 1 task and with N tasks split by stream offsets,
     against wikiextractor 3.1 (`--json`, one process) on the same file.
The last line is the RESULT line: stage pages/s with one task, wikiextractor pages/s as baseline.

    .venv/bin/python bench/extract.py [--copies 8] [--tasks 2]
"""

from __future__ import annotations

import argparse
import bz2
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus.config import CorpusConfig  # noqa: E402
from corpus.extract.launch import run_extract  # noqa: E402
from corpus.readers.dump import read_pages  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2"
PAGES_PER_STREAM = 100  # as Wikimedia's multistream dumps
_ID_RE = re.compile(rb"<id>(\d+)</id>")


def build_multistream(copies: int, folder: Path) -> tuple[Path, int, int]:
    """(dump path, pages, decompressed bytes) of a multistream dump holding `copies` of the sample."""
    xml = bz2.decompress(SAMPLE.read_bytes())
    head_end, foot = xml.index(b"<page>"), xml.rindex(b"</mediawiki>")
    pages = [b"<page>" + p for p in xml[head_end:foot].split(b"<page>")[1:]]
    dump = folder / "bench-multistream.xml.bz2"
    index_lines = []
    size = 0
    with open(dump, "wb") as f:
        f.write(bz2.compress(xml[:head_end]))
        size += head_end
        all_pages = []
        for k in range(copies):
            for p in pages:
                # A fresh page id per copy (the first <id> of a page is the page's own).
                old = int(_ID_RE.search(p).group(1))
                all_pages.append(
                    (old + k * 10_000_000, _ID_RE.sub(f"<id>{old + k * 10_000_000}</id>".encode(), p, 1))
                )
        for start in range(0, len(all_pages), PAGES_PER_STREAM):
            group = all_pages[start : start + PAGES_PER_STREAM]
            offset = f.tell()
            data = b"".join(p for _, p in group)
            f.write(bz2.compress(data))
            size += len(data)
            index_lines += [f"{offset}:{pid}:x" for pid, _ in group]
        f.write(bz2.compress(xml[foot:]))
        size += len(xml) - foot
    (folder / "bench-multistream-index.txt.bz2").write_bytes(
        bz2.compress("\n".join(index_lines).encode() + b"\n")
    )
    return dump, len(all_pages), size


def naive_reader(path: Path) -> int:
    count = 0
    with bz2.open(path, "rb") as f:
        for _, elem in ET.iterparse(f):
            if elem.tag.endswith("}page"):
                count += 1
                elem.clear()
    return count


def _cpu() -> float:
    # This process and its waited-for children: on a shared machine CPU seconds are the stable figure.
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn):
    """(value, wall seconds, CPU seconds)."""
    start, cpu = time.perf_counter(), _cpu()
    value = fn()
    return value, time.perf_counter() - start, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=8, help="copies of the 206-page sample in the dump")
    parser.add_argument("--tasks", type=int, default=2, help="tasks (and workers) of the split run")
    parser.add_argument("--skip-wikiextractor", action="store_true", help="no baseline run of the full stage")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dump, pages, xml_bytes = build_multistream(args.copies, folder)
        mb = xml_bytes / 1e6
        print(f"dump: {pages} pages, {mb:.1f} MB of XML, {dump.stat().st_size / 1e6:.1f} MB bz2")

        ours, w_ours, c_ours = timed(lambda: sum(1 for _ in read_pages(str(dump), decompressor=None)))
        naive, w_naive, c_naive = timed(lambda: naive_reader(dump))
        assert ours == naive == pages
        print(f"reader:          {mb / c_ours:6.1f} MB/CPU-s  (wall {mb / w_ours:.1f} MB/s)")
        print(
            f"bz2 + iterparse: {mb / c_naive:6.1f} MB/CPU-s  (wall {mb / w_naive:.1f} MB/s); "
            f"reader ratio {c_naive / c_ours:.2f}"
        )

        cfg1 = CorpusConfig(tasks=1, bz2_decompressor="python")
        stats, w1, c1 = timed(lambda: run_extract(cfg1, [str(dump)], str(folder / "out1")))
        assert stats["pages_read"] == pages, stats
        print(f"extract, 1 task: {pages / c1:6.1f} pages/CPU-s  (wall {pages / w1:.1f} pages/s, {w1:.1f} s)")
        cfgn = CorpusConfig(tasks=args.tasks, workers=args.tasks, bz2_decompressor="python")
        statsn, wn, _ = timed(lambda: run_extract(cfgn, [str(dump)], str(folder / "outn")))
        assert statsn == stats
        print(
            f"extract, {args.tasks} tasks: wall {pages / wn:.1f} pages/s ({wn:.1f} s, {w1 / wn:.2f}x one task)"
        )

        if args.skip_wikiextractor:
            print(f"RESULT extract_pages_per_cpu_s={pages / c1:.1f} pages/s baseline=nan ratio=nan")
            return
        command = [sys.executable, "-m", "wikiextractor.WikiExtractor", str(dump), "--json", "-q"]
        command += ["-o", str(folder / "wx"), "--processes", "1"]
        _, w_wx, c_wx = timed(lambda: subprocess.run(command, check=True, capture_output=True))
        print(
            f"wikiextractor:   {pages / c_wx:6.1f} pages/CPU-s  (wall {pages / w_wx:.1f} pages/s; text, no links)"
        )
        print(
            f"RESULT extract_pages_per_cpu_s={pages / c1:.1f} pages/s baseline={pages / c_wx:.1f} "
            f"ratio={c_wx / c1:.2f}"
        )


if __name__ == "__main__":
    main()
