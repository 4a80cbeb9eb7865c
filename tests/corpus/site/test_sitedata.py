"""The packaged site data of every Wikipedia and what the extractor does with it: namespaces a dump's
siteinfo lacks, localized redirect keywords, disambiguation pages, behaviour switches, and the warning
when a dump's content speaks another language than its siteinfo."""

from __future__ import annotations

import logging
from pathlib import Path

from corpus.readers.dump import read_pages
from corpus.site import sitedata
from corpus.site.siteinfo import SiteInfo
from corpus.wikitext.clean import clean_wikitext

WIKI = Path(__file__).resolve().parents[2] / "data" / "wiki"
DATA_FILE = Path(sitedata.__file__).with_name("wikipedia.json")


def test_every_wikipedia_has_its_file_and_category_names_and_the_data_stays_small():
    assert len(sitedata.languages()) == 346
    assert DATA_FILE.stat().st_size < 1_000_000
    for language in sitedata.languages():
        data = sitedata.wiki(language)
        assert data.namespaces[6] and data.namespaces[14], language
        assert "#REDIRECT" in data.redirect
    assert sitedata.wiki("hu").namespaces[6][0] == "Fájl"
    assert "زمرہ" in sitedata.wiki("ur").namespaces[14]
    assert "#WEITERLEITUNG" in sitedata.wiki("de").redirect
    assert sitedata.wiki("de-at").language == "de"
    assert sitedata.wiki("xx") is None


def test_a_language_outside_the_old_table_knows_its_namespaces():
    # af, fi, id, th, ur... were not in the hand-made table: their captions and categories leaked.
    for language, embed, category in [
        ("af", "[[Lêer:Berlyn.jpg|duimnael|links|Die westelike middestad]]", "[[Kategorie:Stede]]"),
        ("fi", "[[Tiedosto:Helsinki.jpg|pienoiskuva|upright 1.8|Kaupunki]]", "[[Luokka:Kaupungit]]"),
        ("id", "[[Berkas:Jakarta.jpg|jmpl|kiri|Kota]]", "[[Kategori:Kota]]"),
        ("ur", "[[تصویر:Lahore.jpg|تصغیر|شہر]]", "[[زمرہ:شہر]]"),
    ]:
        site = SiteInfo.default(language)
        page = clean_wikitext(f"Text.\n{embed}\n{category}", "T", site)
        assert page.text == "Text.", language
        assert page.links == [], language


def test_localized_redirect_keywords(tmp_path):
    dump = tmp_path / "de.xml"
    dump.write_text(
        """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="de">
  <siteinfo><dbname>dewiki</dbname><case>first-letter</case>
    <namespaces><namespace key="0" case="first-letter" /></namespaces></siteinfo>
  <page><title>Berlin (Stadt)</title><ns>0</ns><id>1</id>
    <revision><id>1</id><text xml:space="preserve">#WEITERLEITUNG [[Berlin]]</text></revision></page>
  <page><title>Bärlin</title><ns>0</ns><id>2</id>
    <revision><id>2</id><text xml:space="preserve">#redirect: [[Berlin#Name]]</text></revision></page>
  <page><title>Berlin</title><ns>0</ns><id>3</id>
    <revision><id>3</id><text xml:space="preserve"># Eine Liste, keine Weiterleitung</text></revision></page>
</mediawiki>
""",
        encoding="utf-8",
    )
    assert [p.redirect for p in read_pages(str(dump))] == ["Berlin", "Berlin#Name", None]


def test_localized_disambiguation_templates_and_switches():
    fr = SiteInfo.default("fr")
    assert clean_wikitext("'''Mercure''' peut désigner :\n{{Homonymie}}", "Mercure", fr).is_disambiguation
    assert not clean_wikitext("{{Homonymie}}", "X", SiteInfo.default("en")).is_disambiguation
    assert clean_wikitext("Texte.\n__DISAMBIG__", "X", fr).is_disambiguation


def test_behaviour_switches_of_every_language_leave_the_text():
    site = SiteInfo.default("ru")
    text = "__БЕЗ_ОГЛАВЛЕНИЯ__ Текст. __AUCUNSOMMAIRE__ __NOTOC__ a __init__ b"
    assert clean_wikitext(text, "T", site).text == "Текст. a __init__ b"


def test_a_dump_whose_siteinfo_names_another_language_gets_one_warning(caplog):
    dump = WIKI / "huwiki-minidump.xml.bz2"  # Hungarian pages, English Wikipedia's siteinfo
    with caplog.at_level(logging.WARNING, logger="corpus.site.language_check"):
        list(read_pages(str(dump)))
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "corpus.site.language_check"]
    assert "likely 'hu'" in warning and "corpus.language=hu" in warning and str(dump) in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="corpus.site.language_check"):
        list(read_pages(str(dump), language="hu"))
        list(read_pages(str(WIKI / "enwiki-sample.xml.bz2")))
    assert not [r for r in caplog.records if r.name == "corpus.site.language_check"]


def test_the_warning_names_the_larger_wiki_of_those_sharing_names(caplog):
    for name, language in [("frwiki", "fr"), ("dewiki", "de"), ("itwiki", "it"), ("eowiki", "eo")]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="corpus.site.language_check"):
            list(read_pages(str(WIKI / f"{name}-minidump.xml.bz2")))
        (warning,) = [r.getMessage() for r in caplog.records if r.name == "corpus.site.language_check"]
        assert f"corpus.language={language}" in warning, warning


def test_a_multistream_file_split_across_tasks_warns_once(tmp_path, caplog):
    import bz2

    from corpus.readers.multistream import Slice

    # Hungarian pages with English Wikipedia's siteinfo, as a 3-stream file read by two tasks.
    xml = bz2.decompress((WIKI / "huwiki-minidump.xml.bz2").read_bytes()).decode("utf-8")
    head_end = xml.index("</siteinfo>") + len("</siteinfo>")
    page_start, page_end = xml.index("<page>"), xml.rindex("</page>") + len("</page>")
    page = xml[page_start:page_end]
    streams = [xml[:head_end], page, page.replace("<id>", "<id>9", 1), xml[page_end:]]
    blobs = [bz2.compress(part.encode("utf-8")) for part in streams]
    path = tmp_path / "huwiki-multistream.xml.bz2"
    path.write_bytes(b"".join(blobs))
    second = len(blobs[0]) + len(blobs[1])
    slices = [Slice(str(path), 0, second), Slice(str(path), second, None, header_end=len(blobs[0]))]
    with caplog.at_level(logging.WARNING, logger="corpus.site.language_check"):
        pages = [p for sl in slices for p in read_pages(sl)]
    assert len(pages) == 2
    warnings = [r for r in caplog.records if r.name == "corpus.site.language_check"]
    assert len(warnings) == 1 and "likely 'hu'" in warnings[0].getMessage()
