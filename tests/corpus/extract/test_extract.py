"""`run_extract` end to end on the real samples: shards, stats, manifest, restarts, JSONL input."""

from __future__ import annotations

import bz2
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus.config import CorpusConfig
from corpus.extract.launch import run_extract
from corpus.readers.jsonl import read_jsonl, stable_id
from corpus.readers.multistream import Slice
from formats.documents import DOCS_SCHEMA, REDIRECTS_SCHEMA
from foundation.errors import PipelineError
from tests.corpus.readers.test_dump_reader import GREEK_DUMP

WIKI = Path(__file__).resolve().parents[2] / "data" / "wiki"
SAMPLE = WIKI / "enwiki-sample.xml.bz2"
MULTI = WIKI / "elwikivoyage-p2566p2583-multistream.xml.bz2"
SINGLE = WIKI / "elwikivoyage-p2566p2583.xml.bz2"


def read_rows(out: Path, kind: str) -> list[dict]:
    rows = []
    for path in sorted((out / kind).glob("rank-*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def load(out: Path, name: str) -> dict:
    return json.loads((out / name).read_text())


def assert_stats_add_up(stats: dict) -> None:
    parts = stats["articles"] + stats["redirects"] + stats["redirects_dropped"] + stats["failed"]
    assert stats["pages_read"] == parts + sum(stats["skipped_by_namespace"].values())


def split_dump(xml: bytes, parts: int) -> list[bytes]:
    """Cut a dump into `parts` complete dumps, as the `pages-articlesN.xml-p..p..` files are."""
    head_end = xml.index(b"<page>")
    foot = xml.rindex(b"</mediawiki>")
    body = xml[head_end:foot]
    starts = [0]
    for k in range(1, parts):
        starts.append(body.index(b"<page>", len(body) * k // parts))
    starts.append(len(body))
    return [xml[:head_end] + body[a:b] + xml[foot:] for a, b in zip(starts, starts[1:], strict=False)]


def test_enwiki_sample_end_to_end(tmp_path):
    out = tmp_path / "corpus"
    stats = run_extract(CorpusConfig(tasks=1), [str(SAMPLE)], str(out))
    assert stats["articles"] == 106 and stats["redirects"] == 99
    assert stats["skipped_by_namespace"] == {"4": 1}
    assert stats["pages_read"] == 206
    assert_stats_add_up(stats)
    assert stats["failed"] == len(stats["failed_pages"])
    assert stats["links_by_kind"]["body"] > 10_000 and stats["links_by_kind"]["template"] > 0

    assert pq.read_schema(out / "docs" / "rank-00000.parquet") == DOCS_SCHEMA
    assert pq.read_schema(out / "redirects" / "rank-00000.parquet") == REDIRECTS_SCHEMA
    docs = read_rows(out, "docs")
    assert len(docs) == stats["articles"]
    assert len({d["id"] for d in docs}) == len(docs)
    for doc in docs:
        for link in doc["links"]:
            if link["kind"] == "body":
                assert doc["text"][link["start"] : link["end"]] == link["anchor"]
            else:
                assert link["start"] == link["end"] == -1
    links = sum(len(d["links"]) for d in docs)
    assert links == sum(stats["links_by_kind"].values())
    redirects = read_rows(out, "redirects")
    assert len(redirects) == 99 and all("#" not in r["target"] for r in redirects)

    manifest = load(out, "extract.json")
    assert manifest["shards"]["docs"] == [{"path": "docs/rank-00000.parquet", "rows": len(docs)}]
    assert manifest["inputs"][0]["size"] == SAMPLE.stat().st_size
    assert load(out, "stats.json") == stats
    # The manifest is the last file written: nothing in the folder is newer.
    newest = max(p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file())
    assert (out / "extract.json").stat().st_mtime_ns == newest
    assert (out / "logs" / "extract" / "completions" / "00000").is_file()


def test_multistream_across_three_tasks_equals_the_single_stream_file(tmp_path):
    multi = run_extract(CorpusConfig(tasks=3, workers=1), [str(MULTI)], str(tmp_path / "multi"))
    single = run_extract(CorpusConfig(tasks=1), [str(SINGLE)], str(tmp_path / "single"))
    assert multi == single
    assert multi["articles"] == 16 and multi["skipped_by_namespace"] == {"14": 1}
    shards = load(tmp_path / "multi", "extract.json")["shards"]["docs"]
    assert len(shards) == 3 and all(s["rows"] > 0 for s in shards), "every task got streams"
    for kind in ("docs", "redirects"):
        a = sorted(read_rows(tmp_path / "multi", kind), key=str)
        b = sorted(read_rows(tmp_path / "single", kind), key=str)
        assert a == b


def test_split_files_plain_and_bz2_hold_the_whole_dump(tmp_path):
    parts = split_dump(bz2.decompress(SAMPLE.read_bytes()), 3)
    files = []
    for i, part in enumerate(parts):
        path = tmp_path / (f"enwiki-p{i}.xml" if i % 2 == 0 else f"enwiki-p{i}.xml.bz2")
        path.write_bytes(part if i % 2 == 0 else bz2.compress(part))
        files.append(str(path))
    split = run_extract(CorpusConfig(tasks=3, workers=1), files, str(tmp_path / "split"))
    assert (split["articles"], split["redirects"], split["pages_read"]) == (106, 99, 206)
    shards = load(tmp_path / "split", "extract.json")["shards"]["docs"]
    assert [s["rows"] > 0 for s in shards] == [True, True, True], "one file per task"
    assert len({d["id"] for d in read_rows(tmp_path / "split", "docs")}) == 106


def test_schema09_tiny_and_a_handwritten_greek_dump(tmp_path):
    greek = tmp_path / "elwiki.xml"
    greek.write_text(GREEK_DUMP, encoding="utf-8")
    inputs = [str(WIKI / "enwiki-schema09-sample.xml.bz2"), str(WIKI / "enwiki-tiny.xml.bz2"), str(greek)]
    stats = run_extract(CorpusConfig(tasks=2, workers=1), inputs, str(tmp_path / "out"))
    assert stats["articles"] == 2 + 9 + 1
    assert stats["redirects"] == 1 + 1
    assert stats["skipped_by_namespace"] == {"10": 1, "14": 1}
    assert_stats_add_up(stats)
    redirects = {r["source"]: r["target"] for r in read_rows(tmp_path / "out", "redirects")}
    assert redirects["Αθήναι"] == "Αθήνα"
    titles = {d["title"] for d in read_rows(tmp_path / "out", "docs")}
    assert "Αθήνα" in titles


def test_a_page_the_cleaner_cannot_handle_is_counted_and_skipped(tmp_path, monkeypatch):
    import corpus.readers.wikipedia
    import corpus.wikitext.clean

    # A page over the size limit is a broken input: not retried by the fallback parser, counted as failed.
    monkeypatch.setattr(corpus.wikitext.clean, "MAX_PAGE_CHARS", 1000)
    monkeypatch.setattr(corpus.readers.wikipedia, "MAX_PAGE_CHARS", 1000)
    bad_page = f"""  <page>
    <title>Huge</title>
    <ns>0</ns>
    <id>99</id>
    <revision><id>199</id><text xml:space="preserve">{"word " * 300}</text></revision>
  </page>
</mediawiki>"""
    path = tmp_path / "elwiki.xml"
    path.write_text(GREEK_DUMP.replace("</mediawiki>", bad_page), encoding="utf-8")
    stats = run_extract(CorpusConfig(), [str(path)], str(tmp_path / "out"))
    assert stats["failed"] == 1 and stats["articles"] == 1
    (failure,) = stats["failed_pages"]
    assert failure["id"] == 99 and failure["title"] == "Huge" and "limit" in failure["reason"]
    assert_stats_add_up(stats)
    assert (tmp_path / "out" / "extract.json").is_file()


def test_a_rerun_after_a_completed_run_does_no_work(tmp_path):
    out = tmp_path / "corpus"
    cfg = CorpusConfig(tasks=3, workers=1)
    first = run_extract(cfg, [str(MULTI)], str(out))
    files = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert run_extract(cfg, [str(MULTI)], str(out)) == first
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == files

    # Killed after the tasks but before the manifest: the rerun only merges and writes the manifest.
    (out / "extract.json").unlink()
    assert run_extract(cfg, [str(MULTI)], str(out)) == first
    for path, mtime in files.items():
        if path.suffix == ".parquet":
            assert path.stat().st_mtime_ns == mtime, f"{path} was rewritten"
    assert (out / "extract.json").is_file()

    # A completed task whose shard is gone is redone, not trusted.
    (out / "extract.json").unlink()
    (out / "docs" / "rank-00001.parquet").unlink()
    assert run_extract(cfg, [str(MULTI)], str(out)) == first
    assert (out / "docs" / "rank-00001.parquet").is_file()
    assert (out / "docs" / "rank-00000.parquet").stat().st_mtime_ns == files[
        out / "docs" / "rank-00000.parquet"
    ]

    with pytest.raises(PipelineError, match="other inputs or another config"):
        run_extract(cfg, [str(SINGLE)], str(out))


def test_a_failed_run_leaves_no_manifest_and_a_fixed_rerun_completes(tmp_path):
    good = WIKI / "enwiki-schema09-sample.xml.bz2"
    truncated = tmp_path / "enwiki-truncated.xml.bz2"
    truncated.write_bytes(good.read_bytes()[:10_000])
    out = tmp_path / "corpus"
    inputs = [str(WIKI / "enwiki-tiny.xml.bz2"), str(truncated)]
    with pytest.raises(PipelineError, match=r"enwiki-truncated\.xml\.bz2.*truncated"):
        run_extract(CorpusConfig(tasks=2, workers=1), inputs, str(out))
    assert not (out / "extract.json").exists()
    assert not (out / "stats.json").exists()
    assert not list(out.rglob(".*.tmp")), "no temporary shard left behind"

    truncated.write_bytes(good.read_bytes())  # re-downloaded: other bytes, so other inputs
    stats = run_extract(CorpusConfig(tasks=2, workers=1), inputs, str(out))
    assert stats["articles"] == 9 + 2
    assert (out / "extract.json").is_file()


def write_jsonl(path: Path, records: list) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def test_jsonl_end_to_end(tmp_path):
    path = tmp_path / "papers.jsonl"
    write_jsonl(
        path,
        [
            {
                "id": 7,
                "title": "graph neural networks",
                "text": "GNNs pass messages.",
                "links": ["Attention"],
            },
            {
                "id": "arxiv:1706.03762",
                "title": "Attention",
                "text": "Attention is all you need.",
                "links": [],
            },
            {
                "id": 9,
                "title": "BERT",
                "text": "Bidirectional.",
                "links": ["attention", "Category:Skip", "GNN#x"],
            },
        ],
    )
    stats = run_extract(CorpusConfig(format="jsonl", tasks=2, workers=1), [str(path)], str(tmp_path / "out"))
    assert stats["articles"] == 3 and stats["redirects"] == 0 and stats["failed"] == 0
    docs = {d["title"]: d for d in read_rows(tmp_path / "out", "docs")}
    assert docs["Graph neural networks"]["id"] == 7
    assert docs["Attention"]["id"] == stable_id("arxiv:1706.03762") < 2**63
    assert [link["target"] for link in docs["BERT"]["links"]] == ["Attention", "GNN"]
    link = docs["BERT"]["links"][0]
    assert (link["kind"], link["start"], link["end"], link["anchor"]) == ("body", -1, -1, "Attention")
    assert read_rows(tmp_path / "out", "redirects") == []
    assert pq.read_schema(tmp_path / "out" / "redirects" / "rank-00000.parquet") == REDIRECTS_SCHEMA
    assert stats["links_by_kind"]["body"] == 3


def test_jsonl_byte_ranges_partition_the_lines(tmp_path):
    path = tmp_path / "many.jsonl"
    records = [
        {"id": i, "title": f"Doc {i}", "text": "x" * (i % 7), "links": [f"Doc {i + 1}"]} for i in range(60)
    ]
    write_jsonl(path, records)
    size = path.stat().st_size
    line_starts = [0]
    for line in path.read_bytes().splitlines(keepends=True)[:-1]:
        line_starts.append(line_starts[-1] + len(line))
    # Cuts inside lines, exactly at line starts, and at both ends.
    for cuts in ([0, 1, size], [0, line_starts[10], line_starts[10] + 3, size], [0, 333, 334, 900, size]):
        ids = [r.id for a, b in zip(cuts, cuts[1:], strict=False) for r in read_jsonl(Slice(str(path), a, b))]
        assert ids == list(range(60)), cuts
    gz = tmp_path / "many.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert [r.title for r in read_jsonl(str(gz))] == [f"Doc {i}" for i in range(60)]


def test_progress_lines_report_pages_per_second(tmp_path, monkeypatch):
    monkeypatch.setattr("corpus.extract.steps.PROGRESS_EVERY_S", 0.0)
    path = tmp_path / "docs.jsonl"
    write_jsonl(path, [{"id": i, "title": f"Doc {i}", "text": "t"} for i in range(130)])
    run_extract(CorpusConfig(format="jsonl"), [str(path)], str(tmp_path / "out"))
    log = (tmp_path / "out" / "logs" / "extract" / "logs" / "task_00000.log").read_text()
    assert "extract rank 0: 64 pages" in log and "extract rank 0: 128 pages" in log
    assert "extract rank 0 done: 130 pages" in log and "pages/s" in log


def test_too_many_failed_pages_stop_the_run(tmp_path):
    path = tmp_path / "bad-titles.jsonl"
    write_jsonl(path, [{"id": i, "title": "", "text": "x"} for i in range(150)])
    with pytest.raises(PipelineError, match="max_failed_fraction"):
        run_extract(CorpusConfig(format="jsonl"), [str(path)], str(tmp_path / "out"))
    assert not (tmp_path / "out" / "extract.json").exists()
    stats = run_extract(
        CorpusConfig(format="jsonl", max_failed_fraction=1.0), [str(path)], str(tmp_path / "out")
    )
    assert stats["failed"] == 150 and stats["articles"] == 0


@pytest.mark.slow
def test_worker_processes_split_the_multistream_and_report_failures(tmp_path):
    cfg = CorpusConfig(tasks=3, workers=2)
    stats = run_extract(cfg, [str(MULTI)], str(tmp_path / "multi"))
    assert stats["articles"] == 16
    truncated = tmp_path / "cut.xml.bz2"
    truncated.write_bytes(SAMPLE.read_bytes()[:300_000])
    with pytest.raises(PipelineError, match=r"cut\.xml\.bz2.*truncated"):
        run_extract(cfg, [str(WIKI / "enwiki-tiny.xml.bz2"), str(truncated)], str(tmp_path / "bad"))
    assert not (tmp_path / "bad" / "extract.json").exists()
    assert os.listdir(tmp_path / "bad" / "logs" / "extract" / "errors")


@pytest.mark.slow
def test_a_killed_run_leaves_no_shard_or_manifest_and_the_rerun_completes(tmp_path):
    out = tmp_path / "corpus"
    command = [sys.executable, "-m", "pipeline.cli", "corpus", "extract", "--input", str(SAMPLE)]
    command += ["--output", str(out)]
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen(command, cwd=root, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    # Kill while the task is writing: its shard exists only under a temporary name.
    while not list((out / "docs").glob(".rank-00000.parquet.*.tmp")):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "extract.json").exists()
    assert not (out / "docs" / "rank-00000.parquet").exists()

    stats = run_extract(CorpusConfig(), [str(SAMPLE)], str(out))
    assert (stats["articles"], stats["redirects"]) == (106, 99)
    assert not list(out.rglob(".*.tmp")), "the rerun removed the killed task's temporary shard"


def test_a_page_the_fast_cleaner_refuses_goes_through_mwparserfromhell(tmp_path):
    # Wikilinks nested past MAX_NESTING: the scanner refuses the page; the full parser cleans it.
    deep = "[[File:a.png|" * 45 + "x" + "]]" * 45
    text = f"Intro with a [[Target]] link. {deep} End."
    dump = tmp_path / "deep.xml"
    dump.write_text(
        '<mediawiki xml:lang="en"><siteinfo><dbname>enwiki</dbname></siteinfo>'
        f"<page><title>Deep</title><ns>0</ns><id>1</id><revision><id>1</id><text>{text}</text></revision></page>"
        "</mediawiki>",
        encoding="utf-8",
    )
    stats = run_extract(CorpusConfig(), [str(dump)], str(tmp_path / "corpus"))
    assert stats["articles"] == 1 and stats["failed"] == 0
    assert stats["cleaned_by_mwparserfromhell"] == 1
    rows = pq.read_table(tmp_path / "corpus" / "docs").to_pylist()
    assert rows[0]["text"].startswith("Intro with a Target link.")
    assert "Target" in [link["target"] for link in rows[0]["links"]]
