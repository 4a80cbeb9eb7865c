"""Per-language data a dump does not carry: link trails, the dump's content language and the local
namespace names of a language's Wikipedia."""

from __future__ import annotations

import re

import pytest

from corpus.site.languages import (
    DEFAULT_TRAIL,
    LINK_TRAILS,
    language_of,
    link_trail_class,
    local_namespace_names,
)


def absorbed(language: str, after_link: str) -> str:
    """The part of the text right after `]]` that the language's link trail glues to the anchor."""
    trail_class = link_trail_class(language)
    if not trail_class:
        return ""
    return re.match(f"[{trail_class}]*", after_link).group(0)


def test_trail_classes_of_listed_languages():
    """English takes ASCII letters, Greek adds its alphabet, CJK languages have no trail."""
    assert link_trail_class("en") == "a-z"
    assert link_trail_class("simple") == "a-z"
    assert "ς" in link_trail_class("el") and "ά" in link_trail_class("el")
    assert link_trail_class("zh") == ""
    assert link_trail_class("ja") == ""
    assert link_trail_class("de") == "a-zäöüß"


def test_unlisted_and_regional_languages():
    """A regional code falls back to its base language; an unknown or empty one takes any letter."""
    assert link_trail_class("de-at") == LINK_TRAILS["de"]
    assert link_trail_class("zh-yue") == ""
    assert link_trail_class("xx") == DEFAULT_TRAIL
    assert link_trail_class("") == DEFAULT_TRAIL
    assert DEFAULT_TRAIL == r"^\W\d_"


@pytest.mark.parametrize(
    ("language", "after_link", "glued"),
    [
        ("en", "s, and more", "s"),
        ("en", "ςκαι", ""),
        ("en", "'s", ""),
        ("en", "2nd", ""),
        ("en", "ärger", ""),
        ("de", "ärger los", "ärger"),
        ("el", "ς και", "ς"),
        ("el", "sς x", "sς"),
        ("zh", "市长", ""),
        ("xx", "ська мова", "ська"),
        ("xx", "é_x", "é"),
        ("xx", "x2", "x"),
    ],
)
def test_text_a_trail_glues_to_the_link(language: str, after_link: str, glued: str):
    """What each language's trail absorbs after `]]`: its letters only, never digits, `_` or `'`."""
    assert absorbed(language, after_link) == glued


def test_every_trail_class_is_a_valid_character_class():
    """Each listed class compiles inside brackets and, where non-empty, accepts ASCII letters."""
    for language, trail_class in LINK_TRAILS.items():
        pattern = re.compile(f"[{trail_class}]+") if trail_class else None
        if pattern is not None:
            assert pattern.fullmatch("linkbert"), language
            assert not pattern.search("0 _]|"), language
    assert re.fullmatch(f"[{DEFAULT_TRAIL}]+", "abcяß")
    assert not re.search(f"[{DEFAULT_TRAIL}]", "0_ .]")


def test_language_of_prefers_xml_lang_then_dbname_then_base():
    """`xml:lang` wins (trimmed, lower-cased), then the dbname prefix, then the `<base>` subdomain."""
    assert language_of("enwiki", " EL ", "https://fr.wikipedia.org/") == "el"
    assert language_of("enwiki", None, "https://fr.wikipedia.org/") == "en"
    assert language_of("", None, "https://fr.wikipedia.org/wiki/Accueil") == "fr"
    assert language_of("", None, "https://EL.Wiktionary.org/") == "el"
    assert language_of("", "", "") == ""


@pytest.mark.parametrize(
    ("dbname", "language"),
    [
        ("elwikivoyage", "el"),
        ("zh_yuewiki", "zh-yue"),
        ("dewiktionary", "de"),
        ("ENWIKI ", "en"),
        ("frwikisource", "fr"),
        ("wiki", ""),
        ("enwikimedia", ""),
        ("my_dump", ""),
    ],
)
def test_language_of_dbname(dbname: str, language: str):
    """A dbname names its language before the project suffix; other names say nothing."""
    assert language_of(dbname) == language


def test_language_of_ignores_other_hosts():
    """A `<base>` outside Wikipedia, Wikivoyage and Wiktionary, or without a subdomain, says nothing."""
    assert language_of(base="https://commons.wikimedia.org/wiki/Main_Page") == ""
    assert language_of(base="https://wikipedia.org/") == ""
    assert language_of(base="not a url") == ""


def test_local_namespace_names():
    """Packaged site data gives local names and aliases; a regional code uses its base language, an
    empty or unknown language has none."""
    german = local_namespace_names("de")
    assert set(german[6]) >= {"Datei", "File", "Bild", "Image"}
    assert "Kategorie" in german[14]
    assert set(local_namespace_names("zh")[14]) >= {"Category", "分类", "分類"}
    assert local_namespace_names("de-at")[6] == german[6]
    assert local_namespace_names("") == {}
    assert local_namespace_names("xx") == {}
