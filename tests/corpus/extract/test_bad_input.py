"""Bad input: one clear PipelineError naming the file (and where in it), and no manifest."""

from __future__ import annotations

import bz2
import gzip
import json
import logging
from pathlib import Path

import pytest

from corpus.config import CorpusConfig
from corpus.extract.launch import run_extract
from corpus.readers.dump import read_pages
from foundation.errors import PipelineError
from pipeline.cli import main
from tests.corpus.readers.test_dump_reader import GREEK_DUMP

WIKI = Path(__file__).resolve().parents[2] / "data" / "wiki"
SAMPLE = WIKI / "enwiki-sample.xml.bz2"
MULTI = WIKI / "elwikivoyage-p2566p2583-multistream.xml.bz2"


def corrupt_bz2(path: Path) -> None:
    data = bytearray(SAMPLE.read_bytes()[:400_000])
    data[200_000:200_010] = b"\x00" * 10
    path.write_bytes(bytes(data))


def malformed(path: Path) -> None:
    path.write_text(
        GREEK_DUMP.replace("</title>\n    <ns>0</ns>\n    <id>2</id>", "</titel>"), encoding="utf-8"
    )


def no_footer(path: Path) -> None:
    path.write_text(GREEK_DUMP[: GREEK_DUMP.index("</mediawiki>")], encoding="utf-8")


def not_a_dump(path: Path) -> None:
    path.write_text("<html><body><page>hello</page></body></html>", encoding="utf-8")


def empty_bz2(path: Path) -> None:
    path.write_bytes(bz2.compress(b""))


BAD_DUMPS = {
    "empty.xml": (lambda p: p.write_bytes(b""), "the file is empty"),
    "empty.xml.bz2": (empty_bz2, "holds no data"),
    "truncated.xml.bz2": (lambda p: p.write_bytes(SAMPLE.read_bytes()[:100_000]), r"truncated"),
    "corrupt.xml.bz2": (corrupt_bz2, r"corrupt bz2 data near compressed byte \d+"),
    "malformed.xml": (malformed, r"malformed XML at line 19, column \d+ .*after page id 1"),
    "no-footer.xml": (no_footer, r"ends before </mediawiki>.*truncated"),
    "not-a-dump.xml": (not_a_dump, r"root element is <html>"),
}


@pytest.mark.parametrize("name", sorted(BAD_DUMPS))
def test_bad_dump_is_one_clear_error_and_no_manifest(tmp_path, name):
    write, message = BAD_DUMPS[name]
    path = tmp_path / name
    write(path)
    out = tmp_path / "corpus"
    with pytest.raises(PipelineError, match=message) as info:
        run_extract(CorpusConfig(), [str(path)], str(out))
    text = str(info.value)
    assert str(path) in text and "\n" not in text
    assert not (out / "extract.json").exists()


def test_missing_file_and_wrong_index(tmp_path):
    out = str(tmp_path / "corpus")
    with pytest.raises(PipelineError, match=r"nothere\.xml\.bz2: no such file"):
        run_extract(CorpusConfig(), [str(tmp_path / "nothere.xml.bz2")], out)
    with pytest.raises(PipelineError, match="no such multistream index"):
        run_extract(CorpusConfig(), [str(MULTI)], out, index=str(tmp_path / "nothere-index.txt.bz2"))
    other = tmp_path / "other-index.txt.bz2"
    other.write_bytes(bz2.compress(b"999999:1:Far away\n"))
    with pytest.raises(PipelineError, match="beyond the end of its dump"):
        run_extract(CorpusConfig(tasks=2), [str(MULTI)], out, index=str(other))


def test_an_index_of_another_dump_is_named(tmp_path):
    index = WIKI / "elwikivoyage-p2566p2583-multistream-index.txt.bz2"
    with pytest.raises(
        PipelineError, match=r"enwiki-sample\.xml\.bz2: .*the multistream index says.* another dump"
    ):
        run_extract(
            CorpusConfig(tasks=2, workers=1), [str(SAMPLE)], str(tmp_path / "corpus"), index=str(index)
        )


def test_utf16_dump_is_decoded_not_refused(tmp_path):
    path = tmp_path / "utf16.xml"
    path.write_bytes(('<?xml version="1.0" encoding="UTF-16"?>\n' + GREEK_DUMP).encode("utf-16"))
    stats = run_extract(CorpusConfig(), [str(path)], str(tmp_path / "corpus"))
    assert stats["articles"] == 1 and stats["redirects"] == 1


GOOD_LINE = {"id": 1, "title": "A", "text": "a", "links": []}
BAD_LINES = {
    "array": (["not", "an", "object"], r"line 3 is a JSON list, not an object"),
    "invalid-json": ('{"id": 3, "title": ', r"line 3 is not valid JSON"),
    "no-title": ({"id": 3, "text": "t"}, r"line 3 has no title"),
    "bad-links": (
        {"id": 3, "title": "T", "text": "t", "links": "B"},
        r"line 3 has links that are not a list",
    ),
    "float-id": ({"id": 1.5, "title": "T", "text": "t"}, r"line 3 has an id 1\.5"),
    "non-utf8": (b'{"id": 3, "title": "T\xff", "text": "t"}', r"line 3 is not valid UTF-8"),
}


@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_bad_jsonl_line_names_its_line_number(tmp_path, name):
    bad, message = BAD_LINES[name]
    if isinstance(bad, bytes):
        line = bad
    elif isinstance(bad, str):
        line = bad.encode()
    else:
        line = json.dumps(bad).encode()
    path = tmp_path / f"{name}.jsonl"
    good = json.dumps(GOOD_LINE).encode()
    path.write_bytes(good + b"\n\n" + line + b"\n" + good + b"\n")  # the blank line 2 still counts
    out = tmp_path / "corpus"
    with pytest.raises(PipelineError, match=message) as info:
        run_extract(CorpusConfig(format="jsonl"), [str(path)], str(out))
    assert str(path) in str(info.value)
    assert not (out / "extract.json").exists()


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    truncated = tmp_path / "truncated.xml.bz2"
    truncated.write_bytes(SAMPLE.read_bytes()[:100_000])
    code = main(["corpus", "extract", "--input", str(truncated), "--output", str(tmp_path / "corpus")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "truncated.xml.bz2" in err[-1]
    assert not (tmp_path / "corpus" / "extract.json").exists()


# -- inputs a user gets wrong, and dumps cut short ------------------------------------------------
VI_TRUNCATED = WIKI / "viwiki-test-truncated.xml.bz2"


def test_a_folder_as_input_says_so(tmp_path):
    with pytest.raises(PipelineError, match=r"is a folder; pass the dump file\(s\) inside it"):
        run_extract(CorpusConfig(), [str(tmp_path)], str(tmp_path / "corpus"))


def test_output_blocked_by_a_file_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PipelineError, match=r"file is a file, not a folder; pass another --output"):
        run_extract(CorpusConfig(), [str(SAMPLE)], str(blocker / "corpus"))
    code = main(["corpus", "extract", "--input", str(SAMPLE), "--output", str(blocker / "sub" / "corpus")])
    assert code == 2


def test_jsonl_given_as_xml_hints_at_the_format(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps(GOOD_LINE) + "\n")
    with pytest.raises(PipelineError, match=r"docs\.jsonl: holds JSON.*set corpus\.format=jsonl"):
        run_extract(CorpusConfig(), [str(path)], str(tmp_path / "corpus"))


def test_stubs_dump_is_read_with_a_warning(tmp_path, caplog):
    pages = "".join(
        f'<page><title>P{i}</title><ns>0</ns><id>{i}</id><revision><id>{i}</id><text bytes="120" id="{i}" />'
        "</revision></page>"
        for i in range(1, 13)
    )
    path = tmp_path / "stub-articles.xml.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(f'<mediawiki xml:lang="en"><siteinfo><dbname>enwiki</dbname></siteinfo>{pages}</mediawiki>')
    with caplog.at_level(logging.WARNING, logger="corpus.readers.dump"):
        assert len(list(read_pages(str(path)))) == 12
    assert "12 of its 12 pages have no text; a stubs dump" in caplog.text


def test_truncated_dump_is_refused_unless_allowed(tmp_path, caplog):
    with pytest.raises(PipelineError, match=r"ends before </mediawiki>.*corpus\.allow_truncated=true"):
        run_extract(CorpusConfig(), [str(VI_TRUNCATED)], str(tmp_path / "refused"))
    stats = run_extract(CorpusConfig(allow_truncated=True), [str(VI_TRUNCATED)], str(tmp_path / "kept"))
    assert (stats["articles"], stats["redirects"], stats["pages_read"]) == (6, 3, 10)
    # A bz2 cut in the middle of a stream keeps the pages before the cut.
    cut = tmp_path / "cut.xml.bz2"
    cut.write_bytes(SAMPLE.read_bytes()[:400_000])
    with caplog.at_level(logging.WARNING, logger="corpus.readers.dump"):
        pages = list(read_pages(str(cut), allow_truncated=True))
    assert 0 < len(pages) < 206
    assert (
        f"the dump is cut short; kept its {len(pages)} complete pages, the last page id {pages[-1].id}"
        in caplog.text
    )
