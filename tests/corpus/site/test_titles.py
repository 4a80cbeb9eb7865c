"""Title normalization, link-target classification and <siteinfo> parsing."""

from __future__ import annotations

import bz2
import re
from pathlib import Path

import pytest

from corpus.site.siteinfo import CASE_SENSITIVE, FIRST_LETTER, Namespace, SiteInfo
from corpus.site.titles import classify_link_target, normalize_title
from foundation.errors import PipelineError

DATA = Path(__file__).resolve().parents[2] / "data" / "wiki"


def _siteinfo_xml(name: str) -> str:
    with bz2.open(DATA / name, "rt", encoding="utf-8") as f:
        head = f.read(20_000)
    return re.search(r"<siteinfo>.*?</siteinfo>", head, re.DOTALL).group()


@pytest.fixture(scope="module")
def site() -> SiteInfo:
    return SiteInfo.default()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("foo_bar", "Foo bar"),  # underscores are spaces, first letter upper-cased
        ("  foo \t  bar  ", "Foo bar"),  # whitespace runs collapsed, trimmed
        (":foo", "Foo"),  # one leading colon dropped
        ("Foo#History", "Foo"),  # fragment dropped
        ("Foo_bar#History_of", "Foo bar"),
        ("Caf%C3%A9%20au%20lait", "Café au lait"),  # percent-escapes decoded
        ("AT&amp;T", "AT&T"),  # HTML entities decoded
        ("Caf&eacute;", "Café"),
        ("Foo&nbsp;bar", "Foo bar"),  # a non-breaking space is a space in titles
        ("éclair", "Éclair"),  # non-ASCII first letter
        ("iPhone", "IPhone"),  # MediaWiki upper-cases it too (the page shows a DISPLAYTITLE)
        ("ßtraße", "ßtraße"),  # no single-character upper case: left alone
        ("Foo\u200ebar", "Foobar"),  # bidi marks stripped
        ("Foo: bar", "Foo: bar"),  # not a known prefix: an article title with a colon
    ],
)
def test_normalize_title(site, raw, expected):
    assert normalize_title(raw, site) == expected
    assert classify_link_target(raw, site) == ("article", expected)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("Category:Anarchism", "namespace"),
        ("category :Anarchism", "namespace"),  # prefix case-insensitive, spaces before the colon
        (":Category:Anarchism", "namespace"),  # colon link to a category: visible text, not an article
        ("File:Albedo-e hg.svg", "namespace"),
        ("Image:Alkane.png", "namespace"),  # alias of File
        ("Template:Main", "namespace"),
        ("Wikipedia:Manual of Style", "namespace"),
        ("WP:NPOV", "namespace"),  # enwiki alias of the project namespace
        ("Project:About", "namespace"),  # canonical name of the project namespace
        ("Special:BookSources/0-19-852663-6", "namespace"),
        ("wikt:anarchism", "interwiki"),
        ("Wiktionary:anarchism", "interwiki"),
        ("commons:Category:Anarchism", "interwiki"),
        ("s:Author:Peter Kropotkin", "interwiki"),
        ("fr:Anarchisme", "interwiki"),  # interlanguage
        (":fr:Anarchisme", "interwiki"),
        ("zh-min-nan:A", "interwiki"),
        ("#History", "fragment"),
        ("", "invalid"),
        ("  ", "invalid"),
        (":", "invalid"),
        ("Foo[bar", "invalid"),
        ("Foo{bar}", "invalid"),
        ("Foo|bar", "invalid"),
        ("A" * 256, "invalid"),  # over 255 bytes
        ("Foo%2", "article"),  # not an escape: kept
    ],
)
def test_classify_link_target(site, raw, kind):
    got_kind, title = classify_link_target(raw, site)
    assert got_kind == kind
    assert (title is None) == (kind != "article")


def test_case_sensitive_namespace_keeps_first_letter():
    site = SiteInfo(
        dbname="wiktionary", case=CASE_SENSITIVE, namespaces={0: Namespace(0, "", CASE_SENSITIVE)}
    )
    assert normalize_title("anarchism", site) == "anarchism"
    assert normalize_title("anarchism_(word)#Noun", site) == "anarchism (word)"


def test_split_namespace(site):
    assert site.split_namespace("Category:Foo") == (14, "Foo")
    assert site.split_namespace("Category: Foo") == (14, "Foo")
    assert site.split_namespace("image:Foo.jpg") == (6, "Foo.jpg")
    assert site.split_namespace("User_talk:Bob") == (3, "Bob")
    assert site.split_namespace("Foo") == (0, "Foo")
    assert site.split_namespace("Foo: bar") == (0, "Foo: bar")


@pytest.mark.parametrize(
    ("name", "schema"),
    [
        ("enwiki-sample.xml.bz2", "0.10"),
        ("enwiki-schema09-sample.xml.bz2", "0.9"),
        ("elwikivoyage-p2566p2583.xml.bz2", "0.11"),
    ],
)
def test_siteinfo_from_real_dumps(name, schema):
    site = SiteInfo.from_xml(_siteinfo_xml(name))
    assert site.case == FIRST_LETTER
    assert site.namespaces[0].name == ""
    assert site.namespaces[14].case == FIRST_LETTER
    # Canonical English names work on every wiki, whatever its language.
    assert site.split_namespace("File:x.jpg")[0] == 6
    assert site.split_namespace("Image:x.jpg")[0] == 6
    assert site.split_namespace("Category:X")[0] == 14
    if name.startswith("el"):
        assert site.dbname == "elwikivoyage"
        assert site.namespaces[14].name == "Κατηγορία"
        assert site.split_namespace("Κατηγορία:Ελλάδα") == (14, "Ελλάδα")
        assert normalize_title("Αρχείο:x.jpg", site) is None
        assert normalize_title("αθήνα", site) == "Αθήνα"
    else:
        assert site.dbname == "enwiki"
    if schema == "0.10":  # per-namespace case attributes win over the site-wide <case>
        assert site.namespaces[2302].case == CASE_SENSITIVE


def test_siteinfo_with_export_namespace_and_site_wide_case():
    xml = (
        '<siteinfo xmlns="http://www.mediawiki.org/xml/export-0.9/"><dbname>xwiki</dbname>'
        "<case>case-sensitive</case><namespaces>"
        '<namespace key="0" /><namespace key="6">Datei</namespace><namespace key="14">Kategorie</namespace>'
        "</namespaces></siteinfo>"
    )
    site = SiteInfo.from_xml(xml.encode())
    assert site.case == CASE_SENSITIVE
    assert site.namespaces[0].case == CASE_SENSITIVE  # no per-namespace attribute: the site's case
    assert site.split_namespace("datei:x.png")[0] == 6
    assert site.split_namespace("File:x.png")[0] == 6
    assert normalize_title("kleinschreibung", site) == "kleinschreibung"


@pytest.mark.parametrize(
    "xml",
    [
        "<siteinfo><dbname>x</dbname>",  # truncated
        "<page><title>x</title></page>",  # not a siteinfo
        '<siteinfo><namespaces><namespace key="abc">X</namespace></namespaces></siteinfo>',
        "<siteinfo><case>upper</case></siteinfo>",
    ],
)
def test_bad_siteinfo_is_a_pipeline_error(xml):
    with pytest.raises(PipelineError):
        SiteInfo.from_xml(xml)
