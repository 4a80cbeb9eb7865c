"""The mwparserfromhell fallback for pages the fast cleaner refuses: its text and its spanless links."""

from __future__ import annotations

import pytest

from corpus.site.siteinfo import SiteInfo
from corpus.wikitext.clean import MAX_NESTING, CleanPage, Link, WikitextError, clean_wikitext
from corpus.wikitext.fallback import clean_with_mwparserfromhell


@pytest.fixture(scope="module")
def site() -> SiteInfo:
    return SiteInfo.default()


def targets(page: CleanPage) -> list[str]:
    """Link targets in page order, checking every link is spanless with the target as anchor."""
    for link in page.links:
        assert (link.anchor, link.start, link.end, link.kind) == (link.target, -1, -1, "template")
    return [link.target for link in page.links]


def test_page_nested_past_the_limit_is_cleaned(site):
    """A page the fast cleaner refuses for its nesting depth comes out with its text and links."""
    deep = "[[File:a.png|" * (MAX_NESTING + 5) + "x" + "]]" * (MAX_NESTING + 5)
    wikitext = f"Intro with a [[Target]] link. {deep} End."
    with pytest.raises(WikitextError):
        clean_wikitext(wikitext, "Deep", site)
    page = clean_with_mwparserfromhell(wikitext, site)
    assert page == CleanPage(
        text="Intro with a Target link. x End.",
        links=[Link("Target", "Target", -1, -1, "template")],
        is_disambiguation=False,
    )


def test_links_are_normalized_spanless_and_kept_per_occurrence(site):
    """Targets are normalized titles (case, `_`, fragment, spaces); each occurrence is one link."""
    page = clean_with_mwparserfromhell("[[dog_food#History|x]] [[Dog food]] [[ dog food ]] [[cat]]s", site)
    assert targets(page) == ["Dog food", "Dog food", "Dog food", "Cat"]
    assert page.text == "x Dog food dog food cats"


def test_links_inside_templates_and_refs_are_found(site):
    """Links in template parameters (nested ones too) and in references are links of the page."""
    page = clean_with_mwparserfromhell(
        "{{Infobox|capital=[[Paris]]|x={{nested|[[Lyon]]}}}} Text.<ref>See [[Nice]].</ref>", site
    )
    assert targets(page) == ["Paris", "Lyon", "Nice"]
    assert page.text.startswith("Text.")
    assert "Infobox" not in page.text and "capital" not in page.text


def test_only_article_links_are_kept(site):
    """Namespace, interwiki, interlanguage, fragment, URL and invalid targets give no link."""
    page = clean_with_mwparserfromhell(
        "[[:Category:X]] [[Category:Y]] [[File:a.png|thumb|cap]] [[Help:Me]] [[WP:NPOV]] "
        "[[wikt:word]] [[fr:Chien]] [[#Section]] [[http://example.org y]] [[<bad>]] [[Real]]",
        site,
    )
    assert targets(page) == ["Real"]


def test_namespaces_follow_the_site_language():
    """`Hilfe:` and `Benutzer:` are namespaces on a German site and article prefixes on an English one."""
    wikitext = "[[Datei:x.jpg|mini|Bild]] [[Kategorie:Stadt]] [[Hilfe:Suche]] [[Benutzer:Max]] [[berlin]]"
    assert targets(clean_with_mwparserfromhell(wikitext, SiteInfo.default("de"))) == ["Berlin"]
    assert targets(clean_with_mwparserfromhell(wikitext, SiteInfo.default("en"))) == [
        "Hilfe:Suche",
        "Benutzer:Max",
        "Berlin",
    ]


def test_whitespace_is_collapsed(site):
    """Space, tab and no-break space runs become one space, blank-line runs one blank line."""
    page = clean_with_mwparserfromhell("  Line one\nline two\n\n\n\n third\t\t \u00a0tab  \n\n", site)
    assert page.text == "Line one\nline two\n\nthird tab"
    assert page.links == []


def test_empty_and_markup_only_pages(site):
    """An empty page and a page of templates only give no text and no links."""
    empty = CleanPage(text="", links=[], is_disambiguation=False)
    assert clean_with_mwparserfromhell("", site) == empty
    assert clean_with_mwparserfromhell("{{Infobox|a=b}}\n\n{{Navbox}}", site) == empty
