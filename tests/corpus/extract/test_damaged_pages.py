"""One damaged page costs one page: invalid characters, character references, bytes that are not
UTF-8 and empty titles are repaired (U+FFFD) or skip their page, counted in stats by id and cause,
while every other page of the file is extracted; damage everywhere still stops the run."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus.config import CorpusConfig
from corpus.extract.launch import run_extract
from corpus.readers.dump import read_pages
from corpus.readers.repair import ByteRepair
from foundation.errors import PipelineError
from pipeline.cli import main

HEAD = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">
  <siteinfo><dbname>enwiki</dbname><case>first-letter</case>
    <namespaces><namespace key="0" case="first-letter" /></namespaces></siteinfo>
"""
PAGE = """  <page><title>{title}</title><ns>0</ns><id>{id}</id>
    <revision><id>{rev}</id><text xml:space="preserve">{text}</text></revision></page>
"""


def dump(damaged_title: str = "Page 3", damaged_text: str = "Text of page 3.", pages: int = 5) -> bytes:
    body = []
    for i in range(1, pages + 1):
        title, text = (
            (damaged_title, damaged_text) if i == 3 else (f"Page {i}", f"Text of page {i}, see [[Page 1]].")
        )
        body.append(PAGE.format(title=title, id=i, rev=100 + i, text=text))
    return (HEAD + "".join(body) + "</mediawiki>\n").encode("utf-8")


def with_bytes(raw: bytes) -> bytes:
    return dump(damaged_text="Text of page 3 XX here.").replace(b"XX", raw)


# name -> (dump bytes, cause in stats, action)
DAMAGE = {
    "nul": (with_bytes(b"\x00"), "character U+0000", "repaired"),
    "char-ref-zero": (with_bytes(b"&#0;"), "character reference &#0;", "repaired"),
    "char-ref-surrogate": (with_bytes(b"&#xD800;"), "character reference &#xD800;", "repaired"),
    "u+fffe": (with_bytes("\ufffe".encode()), "character U+FFFE", "repaired"),
    "invalid-utf8": (with_bytes(b"\xff\xfe"), "invalid UTF-8", "repaired"),
    "empty-title": (dump(damaged_title=""), "empty <title>", "skipped"),
    "nul-in-title": (dump(damaged_title="Page\x003"), "character U+0000", "skipped"),
}


def docs_of(out: Path) -> dict[int, str]:
    table = pq.read_table(out / "docs").to_pydict()
    return dict(zip(table["id"], table["text"], strict=True))


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_a_damaged_page_costs_that_page_only(tmp_path, name, capfd):
    data, cause, action = DAMAGE[name]
    path = tmp_path / f"{name}.xml"
    path.write_bytes(data)
    stats = run_extract(CorpusConfig(), [str(path)], str(tmp_path / "out"))
    err = capfd.readouterr().err
    docs = docs_of(tmp_path / "out")
    assert {1, 2, 4, 5} <= set(docs), name
    assert docs[4] == "Text of page 4, see Page 1."
    (damaged,) = stats["damaged_pages"]
    assert damaged["id"] == 3 and cause in damaged["cause"] and damaged["action"] == action
    assert stats["damaged"] == 1
    if action == "repaired":
        assert stats["articles"] == 5 and "\ufffd" in docs[3] and docs[3].startswith("Text of page 3 ")
    else:
        assert stats["articles"] == 4 and stats["failed"] == 1 and 3 not in docs
        assert stats["failed_pages"][0]["reason"].startswith("damaged page: ")
    written = json.loads((tmp_path / "out" / "stats.json").read_text(encoding="utf-8"))
    assert written["damaged_pages"] == stats["damaged_pages"]
    assert "1 damaged pages" in err and "page id 3" in err  # reported at the end of the run


def test_damage_on_every_page_still_stops_the_run(tmp_path):
    path = tmp_path / "all-damaged.xml"
    pages = "".join(PAGE.format(title="", id=i, rev=i, text="x") for i in range(1, 151))
    path.write_text(HEAD + pages + "</mediawiki>\n", encoding="utf-8")
    with pytest.raises(PipelineError, match="max_failed_fraction"):
        run_extract(CorpusConfig(), [str(path)], str(tmp_path / "out"))
    assert not (tmp_path / "out" / "extract.json").exists()


def test_repairs_across_chunk_boundaries_keep_every_valid_character():
    data = "<t>é &#65; &#x1F600; € ok\u00a0&#0; \ufffe</t>".encode() + b"\xc3"
    for size in (1, 2, 3, 5, 7):
        repair = ByteRepair()
        out = b"".join(repair.feed(data[i : i + size]) for i in range(0, len(data), size)) + repair.flush()
        assert out.decode() == "<t>é &#65; &#x1F600; € ok\u00a0&#xFFFD; \ufffd</t>\ufffd", size
        assert repair.causes == ["character reference &#0;", "character U+FFFE", "invalid UTF-8"], size


def test_the_reader_gives_each_page_its_own_damage(tmp_path):
    text = dump(damaged_text="A &#0; B").replace(b"Text of page 5", b"Text \x00 of page 5")
    path = tmp_path / "two.xml"
    path.write_bytes(text)
    damage = {p.id: p.damage for p in read_pages(str(path))}
    assert damage == {1: "", 2: "", 3: "character reference &#0;", 4: "", 5: "character U+0000"}


def test_input_given_twice_extracts_both_files(tmp_path):
    first, second = tmp_path / "a.xml", tmp_path / "b.xml"
    first.write_bytes(dump())
    second.write_bytes(dump().replace(b"<id>", b"<id>10"))
    out = tmp_path / "out"
    code = main(["corpus", "extract", "--input", str(first), "--input", str(second), "--output", str(out)])
    assert code == 0
    assert len(docs_of(out)) == 10
    manifest = json.loads((out / "extract.json").read_text(encoding="utf-8"))
    assert [Path(i["path"]).name for i in manifest["inputs"]] == ["a.xml", "b.xml"]


def test_causes_queue_in_stream_order_whatever_their_kind(tmp_path):
    text = dump(damaged_text="A \xff B").replace(b"Text of page 2", b"Text \x00 of page 2")
    text = text.replace(b"A \xc3\xbf B", b"A \xff B")  # the raw byte, not its UTF-8 encoding
    path = tmp_path / "mixed.xml"
    path.write_bytes(text)
    damage = {p.id: p.damage for p in read_pages(str(path))}
    assert damage == {1: "", 2: "character U+0000", 3: "invalid UTF-8", 4: "", 5: ""}
