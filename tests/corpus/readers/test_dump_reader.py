"""The dump reader on the real samples in every storage form, and on hand-written dumps."""

from __future__ import annotations

import bz2
import gzip
import shutil
from collections import Counter
from pathlib import Path

import pytest

from corpus.readers.dump import _PageParser, bz2_command, read_pages, slice_chunks
from corpus.readers.multistream import Slice
from foundation.errors import PipelineError

WIKI = Path(__file__).resolve().parents[2] / "data" / "wiki"
SAMPLE = WIKI / "enwiki-sample.xml.bz2"

GREEK_DUMP = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="el">
  <siteinfo>
    <sitename>Βικιπαίδεια</sitename>
    <dbname>elwiki</dbname>
    <case>first-letter</case>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="10" case="first-letter">Πρότυπο</namespace>
      <namespace key="14" case="first-letter">Κατηγορία</namespace>
    </namespaces>
  </siteinfo>
  <page>
    <title>Αθήνα</title>
    <ns>0</ns>
    <id>1</id>
    <revision><id>11</id><text xml:space="preserve">Η '''Αθήνα''' είναι η πρωτεύουσα της [[Ελλάδα|Ελλάδας]].</text></revision>
  </page>
  <page>
    <title>Αθήναι</title>
    <ns>0</ns>
    <id>2</id>
    <redirect title="Αθήνα" />
    <revision><id>12</id><text xml:space="preserve">#ΑΝΑΚΑΤΕΥΘΥΝΣΗ [[Αθήνα]]</text></revision>
  </page>
  <page>
    <title>Πρότυπο:Πόλη</title>
    <ns>10</ns>
    <id>3</id>
    <revision><id>13</id><text xml:space="preserve">{{{1}}}</text></revision>
  </page>
  <page>
    <title>Κατηγορία:Πόλεις</title>
    <ns>14</ns>
    <id>4</id>
    <revision><id>14</id><text xml:space="preserve">[[Κατηγορία:Ελλάδα]]</text></revision>
  </page>
</mediawiki>
"""

# Export schema 0.3 had no <ns>: the namespace comes from the title prefix.
NO_NS_DUMP = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.3/" version="0.3">
  <siteinfo><dbname>enwiki</dbname><case>first-letter</case><namespaces>
    <namespace key="0" /><namespace key="1">Talk</namespace><namespace key="14">Category</namespace>
  </namespaces></siteinfo>
  <page><title>Dog</title><id>5</id><revision><id>1</id><text>A dog.</text></revision></page>
  <page><title>Talk:Dog</title><id>6</id><revision><id>2</id><text>Chat.</text></revision></page>
  <page><title>Category:Dogs</title><id>7</id><revision><id>3</id><text>Dogs.</text></revision></page>
</mediawiki>
"""


def summary(pages) -> Counter:
    return Counter("redirect" if p.redirect is not None else f"ns{p.ns}" for p in pages)


def test_enwiki_sample_has_106_articles_and_99_redirects():
    pages = list(read_pages(str(SAMPLE)))
    assert len(pages) == 206
    ns0 = [p for p in pages if p.ns == 0]
    assert sum(p.redirect is None for p in ns0) == 106
    assert sum(p.redirect is not None for p in ns0) == 99
    assert [p.ns for p in pages if p.ns != 0] == [4]
    assert len({p.id for p in pages}) == 206
    first = pages[0]
    assert first.site.dbname == "enwiki" and first.site.namespace_id("Category") == 14
    assert all(p.text for p in ns0 if p.redirect is None)


def first_pages(xml: bytes, n: int) -> bytes:
    """A complete dump of the first `n` pages of `xml`."""
    head_end = xml.index(b"<page>")
    pages = xml[head_end:].split(b"<page>")[1 : n + 1]
    return xml[:head_end] + b"".join(b"<page>" + p for p in pages) + b"</mediawiki>\n"


def test_every_storage_form_reads_the_same_pages(tmp_path):
    xml = first_pages(bz2.decompress(SAMPLE.read_bytes()), 40)
    plain = tmp_path / "enwiki.xml"
    plain.write_bytes(xml)
    gz = tmp_path / "enwiki.xml.gz"
    gz.write_bytes(gzip.compress(xml))
    # Two bz2 streams back to back, as some tools write them: still one document.
    multi = tmp_path / "enwiki-two-streams.xml.bz2"
    cut = xml.index(b"<page>", len(xml) // 2)
    multi.write_bytes(bz2.compress(xml[:cut]) + bz2.compress(xml[cut:]))
    reference = [(p.id, p.title, p.ns, p.redirect, p.text) for p in read_pages(str(plain))]
    assert len(reference) == 40
    for path in (gz, multi):
        assert [(p.id, p.title, p.ns, p.redirect, p.text) for p in read_pages(str(path))] == reference


@pytest.mark.skipif(shutil.which("bzip2") is None, reason="needs the bzip2 binary")
def test_external_decompressor_reads_the_same_pages(tmp_path):
    command = bz2_command("bzip2")
    dump = WIKI / "enwiki-schema09-sample.xml.bz2"
    reference = [(p.id, p.text) for p in read_pages(str(dump))]
    assert [(p.id, p.text) for p in read_pages(str(dump), decompressor=command)] == reference
    truncated = tmp_path / "truncated.xml.bz2"
    truncated.write_bytes(dump.read_bytes()[:10_000])
    with pytest.raises(PipelineError, match=r"truncated\.xml\.bz2.*truncated or damaged"):
        list(read_pages(str(truncated), decompressor=command))
    assert bz2_command("python") is None
    with pytest.raises(PipelineError, match="not on PATH"):
        bz2_command("no-such-decompressor")


def test_schema_09_and_tiny_samples():
    pages = list(read_pages(str(WIKI / "enwiki-schema09-sample.xml.bz2")))
    assert summary(pages) == Counter({"ns0": 2, "redirect": 1})
    tiny = list(read_pages(str(WIKI / "enwiki-tiny.xml.bz2")))
    assert summary(tiny) == Counter({"ns0": 9})


def test_localized_redirect_and_other_namespaces(tmp_path):
    path = tmp_path / "elwiki.xml"
    path.write_text(GREEK_DUMP, encoding="utf-8")
    pages = {p.id: p for p in read_pages(str(path))}
    assert pages[1].ns == 0 and pages[1].redirect is None
    # The localized #ΑΝΑΚΑΤΕΥΘΥΝΣΗ is known from the <redirect> element, not from the text.
    assert pages[2].redirect == "Αθήνα"
    assert (pages[3].ns, pages[4].ns) == (10, 14)
    assert pages[1].site.dbname == "elwiki"


def test_missing_ns_falls_back_to_the_title_prefix(tmp_path):
    path = tmp_path / "old.xml"
    path.write_text(NO_NS_DUMP, encoding="utf-8")
    assert {p.title: p.ns for p in read_pages(str(path))} == {"Dog": 0, "Talk:Dog": 1, "Category:Dogs": 14}


def test_utf16_dump_is_decoded(tmp_path):
    path = tmp_path / "elwiki-utf16.xml"
    path.write_bytes(('<?xml version="1.0" encoding="UTF-16"?>\n' + GREEK_DUMP).encode("utf-16"))
    assert [p.title for p in read_pages(str(path))] == ["Αθήνα", "Αθήναι", "Πρότυπο:Πόλη", "Κατηγορία:Πόλεις"]


def test_finished_pages_are_dropped_from_the_tree():
    # Flat memory: the parser never holds more than the page it is building.
    parser = _PageParser(str(SAMPLE))
    seen = 0
    for chunk in slice_chunks(Slice(str(SAMPLE))):
        for _ in parser.feed(chunk):
            seen += 1
            assert len(parser.root) <= 1
    list(parser.close())
    assert seen == 206


def test_content_language_comes_from_the_dump_or_an_override():
    greek = next(read_pages(str(WIKI / "elwikivoyage-p2566p2583.xml.bz2")))
    assert greek.site.language == "el" and "ς" in greek.site.link_trail
    # The Russian fragment carries English Wikipedia's siteinfo: the override gives Russian rules.
    russian = next(read_pages(str(WIKI / "ruwiki-minidump.xml.bz2"), language="ru"))
    assert russian.site.language == "ru"
    assert russian.site.split_namespace("Файл:X.jpg")[0] == 6
    assert russian.site.split_namespace("Категория:Y")[0] == 14
    assert russian.site.split_namespace("Шаблон:Z")[0] == 10  # from the packaged site data
    english = next(read_pages(str(WIKI / "ruwiki-minidump.xml.bz2")))
    assert english.site.language == "en" and english.site.split_namespace("Шаблон:Z")[0] == 0
    # Another wiki's File and Category names are never articles, whatever the language: an embed
    # needs a file name to be read so (`Файл:X` without one stays a title).
    assert english.site.split_namespace("Файл:X.jpg")[0] == 6
    assert english.site.split_namespace("Категория:Y")[0] == 14
    assert english.site.split_namespace("Файл:X")[0] == 0
