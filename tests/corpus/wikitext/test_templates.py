"""The inline-template renderers, each on cases taken from the bundled dumps, and through the cleaner."""

from __future__ import annotations

import pytest

from corpus.site.siteinfo import SiteInfo
from corpus.wikitext.clean import clean_wikitext
from corpus.wikitext.templates import render, renderer_for


def r(call: str, title: str = "Page") -> str | None:
    """Render `name|arg|...` the way the cleaner calls the registry (no nesting)."""
    raw_name, _, rest = call.partition("|")
    args = rest.split("|") if rest else []
    return render(raw_name.strip().lower(), raw_name, args, title)


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        ("convert|1000|km2|sqmi", "1000 km2"),
        ("convert|5|ft|6|in", "5 ft 6 in"),
        ("convert|10|to|20|km|abbr=on", "10 to 20 km"),
        ("convert|3.5|-|4|m|ft", "3.5 - 4 m"),
        ("cvt|28|mi", "28 mi"),
        ("lang|ko-Latn|[[chaebol]]", "[[chaebol]]"),
        ("lang-de|Spree", "Spree"),
        ("lang-grc|Ἀχιλλεύς", "Ἀχιλλεύς"),
        ("ألمانية|Spree", "Spree"),
        ("nihongo|Tokyo|東京|Tōkyō", "Tokyo (東京, Tōkyō)"),
        ("nihongo|Naruto|ナルト", "Naruto (ナルト)"),
        ("transl|ar|DIN|al-Qāhirah", "al-Qāhirah"),
        ("nowrap|10 May 1990", "10 May 1990"),
        ("small|(in thousands)", "(in thousands)"),
        ("abbr|UK|United Kingdom", "UK"),
        ("start date|1990|5|12", "May 12, 1990"),
        ("start date|1990|5|12|df=y", "12 May 1990"),
        ("birth date and age|1948|11|3", "November 3, 1948"),
        ("as of|2010|5", "As of May 2010"),
        ("IPA|/ˈæl/", "/ˈæl/"),
        ("IPAc-en|ˈ|æ|k|ɪ|l|iː|z", "/ˈækɪliːz/"),
        ("IPAc-en|US|ˈ|æ", "/ˈæ/"),
        ("IPA-de|ˈʃpʁeː|lang", "ˈʃpʁeː"),
        ("respell|AK|il|eez", "AK-il-eez"),
        ("!", "|"),
        ("frac|3|1|2", "3 1/2"),
        ("chem|H|2|O", "H2O"),
        ("see|name=Museum|alt=Musée|content=Open daily.", "Museum (Musée). Open daily."),
        ("marker|type=city|lat=51.4|name=[[Μίντελμπουρχ]]|image=", "[[Μίντελμπουρχ]]"),
        ("нп5|Гумбольдт, Александр|Гумбольдт|de|Alexander", "Гумбольдт"),
        ("PAGENAME", "Page"),
        ("Οδικώς", "Οδικώς"),
        ("ήχος|239 Zeeland.ogg|Zeeland", "Zeeland"),
    ],
)
def test_renderers(call, shown):
    assert r(call) == shown


def test_parser_functions_take_the_text_after_the_colon():
    assert render("ucfirst:word", "ucfirst:word", [], "T") == "Word"
    assert render("formatnum:1234", "formatnum:1234", [], "T") == "1234"


def test_unknown_templates_are_not_rendered():
    assert renderer_for("cite web") is None
    assert r("infobox settlement|name=X") is None
    assert renderer_for("lang-ko") is not None  # a family by prefix


def clean(text: str, **kw):
    return clean_wikitext(text, "Test", SiteInfo.default(), **kw)


def test_rendered_templates_keep_prose_and_links():
    page = clean(
        "Seoul has an area of about {{convert|605|km2|sqmi}}. Samsung is the largest South Korean "
        "{{lang|ko-Latn|[[chaebol]]}} ({{nowrap|business conglomerate}}). "
        "{{nihongo|'''Naruto'''|ナルト}} is a Japanese manga series.{{citation needed}}"
    )
    assert page.text == (
        "Seoul has an area of about 605 km2. Samsung is the largest South Korean chaebol "
        "(business conglomerate). Naruto (ナルト) is a Japanese manga series."
    )
    link = next(link for link in page.links if link.target == "Chaebol")
    assert link.kind == "body" and page.text[link.start : link.end] == "chaebol"


def test_nested_templates_render_inside_out_and_dropped_children_keep_their_links():
    page = clean("A {{nowrap|{{convert|5|km}} and {{unknown|[[Hidden]]}} more}} b.")
    assert page.text == "A 5 km and more b."
    assert [(link.target, link.kind) for link in page.links] == [("Hidden", "template")]


def test_a_language_code_link_left_out_stays_a_spanless_link():
    page = clean("X {{lang|[[French language|fr]]|texte}} y.")
    assert page.text == "X texte y."
    assert [(link.target, link.kind) for link in page.links] == [("French language", "template")]


def test_deep_nesting_of_rendered_templates_is_bounded():
    text = "{{nowrap|" * 5000 + "x" + "}}" * 5000
    assert "{{" not in clean(text).text


# -- families with per-language aliases -------------------------------------------------------------
def clean_in(language: str, text: str) -> str:
    from corpus.site.siteinfo import SiteInfo
    from corpus.wikitext.clean import clean_wikitext

    return clean_wikitext(text, "Page", SiteInfo.default(language)).text


def test_french_prose_templates_keep_their_dates_numbers_and_words():
    text = "né le {{Date de naissance|11|novembre|1866}} à Moulins et mort le {{date-|21 septembre 1936}}"
    assert clean_in("fr", text) == "né le 11 novembre 1866 à Moulins et mort le 21 septembre 1936"
    assert clean_in("fr", "{{unité|30546|km|2}}, {{unité|440 millions}} et {{nombre|42.7|ans}}") == (
        "30546 km², 440 millions et 42.7 ans"
    )
    assert clean_in("fr", "au {{s-|XIX}}, le {{XXe siècle}}, {{1er|champion}}, {{euro|77.80}}") == (
        "au XIXe siècle, le XXe siècle, 1er champion, 77.80 €"
    )
    assert clean_in("fr", "{{langue|de|Österreich}} ({{Lien|langue=en|fr=ASFINAG|texte=Asfinag}})") == (
        "Österreich (Asfinag)"
    )
    # The same name means another thing elsewhere: English {{date}} shows its first argument.
    assert clean_in("fr", "le {{date|12|novembre|1918}}") == "le 12 novembre 1918"
    assert clean_in("en", "on {{date|12 November 1918|dmy}}") == "on 12 November 1918"


def test_interlanguage_links_show_the_local_title_or_label():
    assert (
        clean_in("ja", "{{仮リンク|ヨハン・シュミット|de|Johann Schmidt|label=シュミット}}は")
        == "シュミットは"
    )
    assert (
        clean_in("zh", "{{le|柏林墙|Berlin Wall}}和{{link-en|勃兰登堡门|Brandenburg Gate|门}}")
        == "柏林墙和门"
    )
    assert clean_in("en", "{{ill|Karl Schmidt|de|Karl Schmidt (Politiker)}} said") == "Karl Schmidt said"


def test_units_dates_and_centuries_of_other_wikis():
    assert clean_in("it", "una superficie di {{TA|891,8 km²}}") == "una superficie di 891,8 km²"
    assert clean_in("ca", "al {{segle|XIII}}") == "al segle XIII"
    assert clean_in("hu", "{{szám|3645000}} lakos") == "3645000 lakos"
    assert clean_in("eo", "naskiĝis {{daton|18|januaro|1791}}") == "naskiĝis 18 januaro 1791"
    assert clean_in("ro", "între {{conversie|22|–|25|C|F}} vara") == "între 22 – 25 °C vara"
    # A wiki without the alias drops the template, as before.
    assert clean_in("en", "a {{szám|5}} b") == "a b"


def test_listings_of_any_wikivoyage_are_rendered_by_their_shape():
    text = "* {{proorismos | name=[[Ακρόπολη]] | alt=Acropolis | content= Ο βράχος της πόλης.}}"
    assert clean_in("el", text) == "Ακρόπολη (Acropolis). Ο βράχος της πόλης."
    assert clean_in("de", "{{vCard|name=Museum|description=Alt.}}") == "Museum. Alt."
    assert clean_in("en", "a {{infobox|name=X|population=5}} b") == "a b"  # a name alone is no listing


def test_expr_computes_arithmetic_and_drops_what_is_not():
    assert clean_in("de", "Dichte {{#expr: 3645000/891.8 round 0}} je km²") == "Dichte 4087 je km²"
    assert clean_in("de", "{{formatnum:{{#expr:1/4}}}}") == "0.25"
    assert clean_in("de", "a {{#expr:{{Unbekannt}}/2}} b") == "a b"


def test_an_equals_sign_a_nested_template_shows_is_text():
    # MediaWiki splits a call's arguments before it expands the templates inside them.
    assert clean_in("en", "{{nowrap|''Z'' {{=}} 13 to 92}}") == "Z = 13 to 92"
    assert clean_in("en", "{{lang|grc|{{linktext|ἄνθρωπος}}}}") == "ἄνθρωπος"
