"""The wikitext cleaner: each rule on hand-written wikitext, named real pages, and invariants on all
206 pages of the real sample."""

from __future__ import annotations

import bz2
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from corpus.config import CorpusConfig
from corpus.site.siteinfo import SiteInfo
from corpus.wikitext.clean import DEFAULT_HATNOTES, CleanPage, Link, WikitextError, clean_wikitext

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "wiki" / "enwiki-sample.xml.bz2"


@pytest.fixture(scope="module")
def site() -> SiteInfo:
    return SiteInfo.default()


@pytest.fixture(scope="module")
def sample(site) -> dict[str, tuple[str, CleanPage]]:
    """title -> (wikitext, cleaned page) for all 206 pages."""
    out = {}
    with bz2.open(SAMPLE) as f:
        for _, el in ET.iterparse(f):
            if el.tag.rpartition("}")[2] == "page":
                title = el.findtext("{*}title")
                text = el.findtext("{*}revision/{*}text") or ""
                out[title] = (text, clean_wikitext(text, title, site))
                el.clear()
    assert len(out) == 206
    return out


def clean(text: str, title: str = "Test", **kw) -> CleanPage:
    return clean_wikitext(text, title, SiteInfo.default(), **kw)


def body(page: CleanPage) -> list[tuple[str, str]]:
    for link in page.links:
        if link.kind == "body":
            assert page.text[link.start : link.end] == link.anchor
    return [(link.target, link.anchor) for link in page.links if link.kind == "body"]


def spanless(page: CleanPage) -> list[str]:
    for link in page.links:
        if link.kind == "template":
            assert (link.start, link.end, link.anchor) == (-1, -1, link.target)
    return [link.target for link in page.links if link.kind == "template"]


# -- links -----------------------------------------------------------------------------------------
def test_piped_link_and_spans():
    page = clean("An [[Political philosophy|ideology]] and [[state (polity)|the state]].")
    assert page.text == "An ideology and the state."
    assert page.links == [
        Link("Political philosophy", "ideology", 3, 11, "body"),
        Link("State (polity)", "the state", 16, 25, "body"),
    ]


def test_link_trail_joins_the_anchor():
    page = clean("Many [[dog]]s, [[cat|kitten]]s, [[bus]]es; not [[Foo]]'s or [[Bar]]2 or [[Baz]]é.")
    assert page.text == "Many dogs, kittens, buses; not Foo's or Bar2 or Bazé."
    assert body(page) == [
        ("Dog", "dogs"),
        ("Cat", "kittens"),
        ("Bus", "buses"),
        ("Foo", "Foo"),
        ("Bar", "Bar"),
        ("Baz", "Baz"),
    ]


def test_anchor_is_the_target_as_written():
    page = clean("[[foo_bar]] and [[Foo#History]] and [[ spaced  out ]]")
    assert body(page) == [("Foo bar", "foo_bar"), ("Foo", "Foo#History"), ("Spaced out", "spaced out")]


def test_colon_links_keep_their_text():
    page = clean("a [[:Category:Dogs]] b [[:fr:Chien|chien]] c [[:File:X.jpg|the file]] d [[:Dog|dog]]")
    assert page.text == "a Category:Dogs b chien c the file d dog"
    assert body(page) == [("Dog", "dog")]  # a colon link to an article is still an article link


def test_interwiki_interlanguage_namespace_and_fragment_links():
    page = clean(
        "a [[wikt:dog|dog]] b [[Wikipedia:NPOV]] c [[#History|above]] d [[s:Author:X|X]] e\n[[fr:Chien]]\n[[de:Hund]]"
    )
    assert page.text == "a dog b Wikipedia:NPOV c above d X e"  # interlanguage links vanish
    assert page.links == []


def test_categories_and_embeds_are_dropped():
    page = clean(
        "Text [[Image:A.png|thumb|200px|left|A [[Nested]] caption with [[x|two]] links]].\n"
        "[[File:B.svg|Egyptian hieroglyph]]\n[[Media:C.ogg]]\n[[Category:Dogs| ]]\n[[category:Cats]]"
    )
    assert page.text == "Text."  # no space left where the embed was
    # Caption links are links of the page (mwparserfromhell finds them too), just not in the text.
    assert sorted(spanless(page)) == ["Nested", "X"]


def test_caption_with_single_brackets():
    page = clean("[[File:A.png|thumb|Bicyclo[1.1.0]butane and [[tetrahedrane]] [above] here]] After.")
    assert page.text == "After."
    assert spanless(page) == ["Tetrahedrane"]


def test_links_in_comments_are_not_links():
    page = clean("Keep <!-- [[Hidden]] {{main|Gone}} --> this. <!-- unclosed [[Also hidden]]")
    assert page.text == "Keep this."
    assert page.links == []


def test_link_inside_link_text_the_inner_one_wins():
    page = clean("[[Outer|see [[Inner]] here]]")
    assert page.text == "see Inner here"
    assert body(page) == [("Inner", "Inner")]
    assert spanless(page) == ["Outer"]


def test_invalid_and_empty_anchor_links():
    page = clean("a [[Foo<bar]] b [[Foo|]] c [[]] d")
    assert "[[" not in page.text and "]]" not in page.text
    assert body(page) == []
    assert spanless(page) == ["Foo"]  # an empty anchor: a link of the page without a span


# -- templates, hatnotes, disambiguation -----------------------------------------------------------
def test_templates_are_removed_with_their_links_spanless():
    page = clean(
        "{{Infobox person\n| name = X\n| birth_place = [[London]], {{flag|UK}}\n| spouse = {{marriage|[[Y Z]]|1990}}\n}}"
        "'''X''' ({{pronunciation|x}}) is a [[writer]].{{citation needed|date=May 2015}}"
    )
    assert page.text == "X is a writer."
    assert body(page) == [("Writer", "writer")]
    assert sorted(spanless(page)) == ["London", "Y Z"]


def test_hatnotes_yield_template_links():
    page = clean(
        "{{Main|Foo|Bar|l1=label}} {{see_also|baz#Section}} {{Further information|Qux}}\n"
        "{{for|the city|Paris, Texas|Paris (disambiguation)}}\n"
        "{{About|the letter|the article|English articles#Indefinite|other uses}}\n"
        "{{Redirect|Anarchist|the comics character|Anarchist (comics)}}\n"
        "{{main}} {{Unknown|NotALink}} {{main|[[Linked]]}}\n"
        "Body."
    )
    assert page.text == "Body."
    assert spanless(page) == [
        "Foo",
        "Bar",
        "Baz",
        "Qux",
        "Paris, Texas",
        "Paris (disambiguation)",
        "English articles",
        "Anarchist (comics)",
        "Linked",  # the wikilink inside the template's parameter
    ]


def test_hatnote_list_is_configurable():
    text = "{{main|Foo}} {{Hauptartikel|Bar}} x"
    assert spanless(clean(text)) == ["Foo"]
    assert spanless(clean(text, hatnote_templates=["hauptartikel"])) == ["Bar"]
    assert tuple(CorpusConfig().hatnote_templates) == DEFAULT_HATNOTES


@pytest.mark.parametrize(
    ("text", "title", "expected"),
    [
        ("{{disambiguation}}", "Mercury", True),
        ("{{Disambig|geo}}", "Mercury", True),
        ("{{dab}}", "Mercury", True),
        ("{{hndis|Smith, John}}", "John Smith", True),
        ("{{geodis}}", "Springfield", True),
        ("x __DISAMBIG__", "Mercury", True),
        ("plain", "Mercury (disambiguation)", True),
        ("{{set index article}}", "List of ships named X", False),  # a list, not a disambiguation
        ("{{Infobox planet}}", "Mercury (planet)", False),
    ],
)
def test_disambiguation(text, title, expected):
    assert clean(text, title).is_disambiguation is expected


# -- tables, refs, tags ----------------------------------------------------------------------------
def test_tables_are_removed_nested_and_unclosed():
    page = clean(
        'Before.\n{| class="wikitable"\n|-\n| [[InTable]] || {|\n| [[Nested]]\n|}\n|}\nAfter [[x]].\n'
        ":{| indented\n| [[Indented]]\n|}\nLast.\n{|\n| [[Unclosed]] runs to the end"
    )
    # A removed table leaves a paragraph break; an unclosed one runs to the end of the page.
    assert page.text == "Before.\n\nAfter x.\n\nLast."
    assert body(page) == [("X", "x")]
    assert sorted(spanless(page)) == ["InTable", "Indented", "Nested", "Unclosed"]


def test_refs_and_extension_tags():
    page = clean(
        'A<ref name="a">[[Cited]] {{cite web|url=x}}</ref> b<ref name=a /> c\n'
        "<math>x^2 + [[y]]</math> d <syntaxhighlight lang=python>[[z]]</syntaxhighlight>e "
        "<nowiki>[[not a link]] &lt;tag&gt;</nowiki> <pre>{{kept}}</pre> <code>f(x)</code> "
        "<references/><REF>upper [[Upper]]</REF><ref>unclosed"
    )
    assert page.text == "A b c\nd e [[not a link]] <tag> {{kept}} f(x) unclosed"
    assert spanless(page) == ["Cited", "Upper"]


def test_gallery_links_count_spanless():
    page = clean(
        "<gallery>\nFile:A.jpg|The [[Cathedral]]\nImage:B.jpg|[[River|the river]]\n</gallery>\nText."
    )
    assert page.text == "Text."
    assert spanless(page) == ["Cathedral", "River"]


def test_html_markup_entities_quotes_and_external_links():
    page = clean(
        "'''Bold''' and ''italic'' and '''''both''''' and ''''four''''. H<sub>2</sub>O<br/>x "
        '<span style="x">kept</span> <div>in div</div> a < b > c\n'
        "A&nbsp;B &amp; C &ndash; D &#91;1&#93; [http://example.com a label] [http://bare.org] "
        "[//proto.org rel] http://plain.org __TOC__ __NOTOC__"
    )
    assert page.text == (
        "Bold and italic and both and 'four'. H2O\nx kept in div a < b > c\n"
        "A B & C – D [1] a label rel http://plain.org"
    )


def test_headings_lists_and_paragraphs():
    page = clean(
        "Intro line one\nline two.\n\n\n\n== History ==\nText [[here]].\n=== Sub [[Heading]] ===\n"
        "* item [[One]]\n** nested\n# numbered\n: indented\n; term : definition\n----\n====== Six ======\n"
        "= not closed\n"
    )
    assert page.text == (
        "Intro line one\nline two.\n\nHistory\n\nText here.\n\nSub Heading\n\n"
        "item One\nnested\nnumbered\nindented\nterm : definition\n\nSix\n\n= not closed"
    )
    assert body(page) == [("Here", "here"), ("Heading", "Heading"), ("One", "One")]


def test_unbalanced_brackets_never_reach_the_text():
    page = clean("a {{ unclosed [[Link]] b }} c ]] d [[ e {{x}} }} f")
    for debris in ("{{", "}}", "[[", "]]"):
        assert debris not in page.text
    for link in page.links:
        if link.kind == "body":
            assert page.text[link.start : link.end] == link.anchor


# -- bounded work --------------------------------------------------------------------------------
def test_pathological_link_nesting_is_a_wikitext_error():
    with pytest.raises(WikitextError, match="nested"):
        clean("[[a|" * 100 + "x" + "]]" * 100)


def test_pathological_inputs_finish():
    # Each would be quadratic (or worse) in a naive scanner; these must run in linear time.
    n = 100_000
    for text in (
        "{{" * n,
        "}}" * n,
        "{{a|" * n + "}}" * n,  # deep template nesting: one stack pass
        "[[" * n,
        "<ref>" * n,
        "<!--" * n,
        "{|\n" * n,
        "{|" * n,  # table tokens on one long line
        "{{main|" * n + "}}" * n,  # nested hatnotes
        "[[" + "a_" * n + ":b]]",  # a long would-be namespace prefix
        "".join(f"[[{i:07d}{'x' * 1000}]]" for i in range(1000)),  # long distinct targets
        "=" * n,
        "'" * n,
        "[http://x " * n,
        "&" * n,
    ):
        page = clean(text)
        assert "{{" not in page.text and "[[" not in page.text


def test_huge_page_is_a_wikitext_error(monkeypatch):
    import corpus.wikitext.clean as wikitext

    monkeypatch.setattr(wikitext, "MAX_PAGE_CHARS", 1000)
    with pytest.raises(WikitextError, match="limit"):
        clean("x" * 1001)


# -- real pages ------------------------------------------------------------------------------------
def _find(page: CleanPage, target: str, kind: str = "body") -> Link:
    return next(link for link in page.links if link.target == target and link.kind == kind)


def test_real_page_anarchism(sample):
    _, page = sample["Anarchism"]
    assert page.text.startswith("Anarchism is a political philosophy that advocates self-governed societies")
    assert _find(page, "Political philosophy") == Link(
        "Political philosophy", "political philosophy", 15, 35, "body"
    )
    assert _find(page, "Self-governance") == Link("Self-governance", "self-governed", 51, 64, "body")
    assert _find(page, "Stateless society").anchor == "stateless societies"
    # [[File:...|thumb|...[[anarcho-syndicalist]]...]]: the caption link, without a span.
    assert any(
        link.target == "Anarcho-syndicalism" and link.kind == "template" for link in page.links
    ) or any(link.target.startswith("Anarcho-syndicalis") for link in page.links)
    assert "thumb" not in page.text and "Category:" not in page.text
    assert not page.is_disambiguation


def test_real_page_autism(sample):
    _, page = sample["Autism"]
    assert page.text.startswith(
        "Autism is a neurodevelopmental disorder characterized by impaired social interaction"
    )
    assert _find(page, "Neurodevelopmental disorder") == Link(
        "Neurodevelopmental disorder", "neurodevelopmental disorder", 12, 39, "body"
    )
    assert _find(page, "Interpersonal relationship") == Link(
        "Interpersonal relationship", "social interaction", 66, 84, "body"
    )
    # The links of the hidden editor notes (<!-- [[WP:MEDMOS]] -->) and the infobox field are not text.
    assert "MEDMOS" not in page.text and "Psychiatry" not in page.text[:200]
    assert _find(page, "Psychiatry", "template")  # the infobox's [[Psychiatry]]


def test_real_page_albedo(sample):
    _, page = sample["Albedo"]
    # {{IPAc-en|...}} is rendered, as a reader sees it.
    assert page.text.startswith("Albedo (/ælˈbiːdoʊ/) or reflection coefficient, derived from Latin albedo")
    assert _find(page, "Latin") == Link("Latin", "Latin", 61, 66, "body")
    assert _find(page, "Diffuse reflection").anchor == "diffuse reflectivity"
    assert _find(page, "Lambertian reflectance").anchor == "Lambertian surfaces"


def test_real_page_a(sample):
    _, page = sample["A"]
    assert page.text.startswith("A (named /'eɪ/, plural As, A's, as, a's or aes) is the first letter")
    assert _find(page, "English alphabet") == Link("English alphabet", "named", 3, 8, "body")
    assert _find(page, "Letter (alphabet)").anchor == "letter"
    # {{about|the letter of the alphabet|the English indefinite article|English articles#...|other uses}}
    assert _find(page, "English articles", "template").anchor == "English articles"
    # The history table ({| ... |}) is gone, its links kept without span.
    assert "wikitable" not in page.text and "Egyptian hieroglyphic" not in page.text
    assert "\nHistory\n" in page.text


def test_all_sample_pages_are_clean(sample):
    links = 0
    for title, (_, page) in sample.items():
        for debris in ("{{", "}}", "[[", "]]", "<ref", "thumb|", "px|", "\x01", "\x02", "\x03"):
            assert debris not in page.text, f"{title}: {debris!r} left in the text"
        for link in page.links:
            assert link.kind in ("body", "template")
            assert link.target and "#" not in link.target and "_" not in link.target
            if link.kind == "body":
                assert page.text[link.start : link.end] == link.anchor, f"{title}: bad span {link}"
                assert link.anchor == link.anchor.strip() and link.anchor
            else:
                assert (link.start, link.end, link.anchor) == (-1, -1, link.target)
        links += len(page.links)
    assert links > 30_000
    starts = [link.start for link in sample["Anarchism"][1].links if link.kind == "body"]
    assert starts == sorted(starts)  # body links come in text order


def test_punctuation_orphaned_by_templates_is_tidied():
    page = clean(
        "Achilles ({{pron|ə|ˈ|k}}; {{grc|Ἀχιλλεύς}}, ''Akhilleus'', {{el|a.kʰilːeús|}}) was. "
        "Zeeland (Dutch: {{nl|Zeeland}}) is. The Greek {{grc|ἀναρχία}}, i.e. anarchy. "
        "Albedo ({{pron|æ}}) or. Kept (a, b) and f(x). Over {{x}}. Full-width （{{x}}） gone. 5 : 3 ."
    )
    assert page.text == (
        "Achilles (Akhilleus) was. Zeeland (Dutch) is. The Greek, i.e. anarchy. Albedo or. "
        "Kept (a, b) and f(x). Over. Full-width gone. 5 : 3 ."
    )
    # Brackets glued to a word are prose (`main()`); empty ones after a space or full-width go.
    assert clean("Call main() or x () and y （）.").text == "Call main() or x and y."
    # Rendered templates keep their words in place.
    page = clean(
        "Achilles ({{IPAc-en|ə|ˈ|k}}; {{lang-grc|Ἀχιλλεύς}}, ''Akhilleus'', {{IPA-el|a.kʰilːeús|}}) was. "
        "Zeeland (Dutch: {{lang|nl|Zeeland}}) is."
    )
    assert page.text == "Achilles (/əˈk/; Ἀχιλλεύς, Akhilleus, a.kʰilːeús) was. Zeeland (Dutch: Zeeland) is."


def test_markup_around_a_link_never_leaves_marker_bytes_or_bad_spans():
    # A tag or URL that swallows a link's marked anchor (removals after the link pass) must not
    # leave marker bytes, brackets brought together, or spans off by their length.
    page = clean(
        '<span title="[[Foo]]">x</span> a [[Bar]] [http://x.org/[[Baz]] label] b [[Qux]] ]<span/>] '
        "<nowiki>[[kept]]</nowiki> [[End]]"
    )
    assert not any(c in page.text for c in "\x01\x02\x03\x04\x05")
    assert "]]" not in page.text.replace("[[kept]]", "")
    assert [anchor for _, anchor in body(page)] == ["Bar", "Qux", "End"]


# -- per-language rules and layout ---------------------------------------------------------------
def _site(language: str) -> SiteInfo:
    return SiteInfo.default(language)


def test_link_trails_follow_the_wiki_language():
    greek = clean_wikitext("Η [[Ρωσία]]ς και η [[Ελλάδα]].", "T", _site("el"))
    assert [(link.anchor, link.target) for link in greek.links] == [("Ρωσίας", "Ρωσία"), ("Ελλάδα", "Ελλάδα")]
    english = clean_wikitext("The [[Ρωσία]]ς and [[dog]]s.", "T", _site("en"))
    assert [link.anchor for link in english.links] == ["Ρωσία", "dogs"]
    chinese = clean_wikitext("[[北京]]市", "T", _site("zh"))  # no trail in Chinese
    assert chinese.links[0].anchor == "北京"
    unknown = clean_wikitext("[[Kyiv]]ська", "T", _site("xx"))  # any letter by default
    assert unknown.links[0].anchor == "Kyivська"


def test_nowiki_ends_a_link_trail():
    page = clean_wikitext("[[Pháo đài Point]]<nowiki/>tại đây", "T", _site("vi"))
    assert page.text == "Pháo đài Pointtại đây"
    assert page.links[0].anchor == "Pháo đài Point"
    assert page.text[page.links[0].start : page.links[0].end] == "Pháo đài Point"


def test_interwiki_and_sister_links_show_the_title_only():
    page = clean(
        "See [[w:el:Κιλκίς]], [[Commons:Category:Kilkis]] and [[:w:Tunis#Climate]]; "
        "[[wikt:dog|a dog]]. [[fr:Chien]]"
    )
    assert page.text == "See Κιλκίς, Kilkis and Tunis; a dog."
    assert page.links == []
    # On a wiki whose project namespace is not "Wikipedia" (Greek Wikivoyage), that is interwiki too.
    voyage = SiteInfo.from_xml(
        '<siteinfo><dbname>elwikivoyage</dbname><namespaces><namespace key="0"/>'
        '<namespace key="4">Βικιταξίδια</namespace></namespaces></siteinfo>'
    )
    assert clean_wikitext("[[wikipedia:el:Κιλκίς]]", "T", voyage).text == "Κιλκίς"


def test_localized_namespace_aliases_drop_categories_and_files():
    zh = clean_wikitext("文本[[分類:城市]][[分类:城市]][[Image:X.png|thumb|圖]]。", "T", _site("zh"))
    assert zh.text == "文本。" and zh.links == []
    de = clean_wikitext("Text [[Datei:X.jpg|mini|Bild]] [[Kategorie:Stadt]]", "T", _site("de"))
    assert de.text == "Text"


def test_external_url_in_double_brackets_is_not_a_wikilink():
    page = clean("A [[http://example.org/x Example site]] b [[//example.org]] c.")
    assert page.text == "A Example site b c."
    assert page.links == []


def test_variant_markup_resolves_to_one_variant():
    text = "字-{zh-cn:域; zh-tw:體;}-。-{H|zh-cn:计算机; zh-tw:電腦;}-電腦。-{R|raw}- -{plain}-"
    assert clean(text).text == "字域。電腦。raw plain"
    assert clean(text, variant="zh-tw").text == "字體。電腦。raw plain"
    assert clean(text, variant="zh-hant").text == "字體。電腦。raw plain"  # fallback zh-hant -> zh-tw
    assert clean("a-{{x}}-b").text == "a--b"  # a template after a hyphen is not variant markup


def test_headings_of_empty_sections_are_dropped():
    page = clean(
        "Intro.\n== Getting in ==\n=== By road ===\n=== By air ===\nFly.\n== See ==\n"
        "== Eat ==\n=== Cheap ===\n\n== {{x}} ==\nLast [[words]].\n== Sleep ==\n"
    )
    assert page.text == "Intro.\n\nGetting in\n\nBy air\n\nFly.\n\nLast words."
    link = page.links[0]
    assert page.text[link.start : link.end] == "words"


def test_rows_of_a_table_a_template_opens_or_closes_leave_no_syntax():
    from corpus.site.siteinfo import SiteInfo

    site = SiteInfo.default("eo")
    text = "Loĝantaro.\n{{TabelKapoLaŭĈarta}}\n! Jaro\n! Nombro\n|-----\n| 1999 || [[Berlino|3 386 667]]\n|-{{GrizaLinio}}\n| 2000 || 3 382 169\n|}\nPli da teksto."
    page = clean_wikitext(text, "Berlino", site)
    assert page.text == "Loĝantaro.\n\nPli da teksto."
    assert [(link.target, link.kind) for link in page.links] == [("Berlino", "template")]
    opened_here = "Teksto.\n{| class=wikitable\n| a || b\n{{Tabelfino}}\nPost."
    assert clean_wikitext(opened_here, "T", site).text == "Teksto."  # unclosed: runs to the end
    prose = "A line | with a pipe.\n| not a table row without a separator"
    assert clean_wikitext(prose, "T", site).text == prose


def test_variant_markup_whose_rules_held_templates_leaves_nothing():
    from corpus.site.siteinfo import SiteInfo

    site = SiteInfo.default("zh")
    assert clean_wikitext("前-{zh-hant:; zh-hans:;}-後", "T", site).text == "前後"
    assert clean_wikitext("前-{zh-hant:{{foo}}; zh-hans:{{bar}};}-後", "T", site).text == "前後"
