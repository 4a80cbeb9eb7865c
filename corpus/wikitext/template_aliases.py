"""Which local templates of which wiki belong to which prose family (corpus/wikitext/template_families.py).

Names are keys as the cleaner compares them (lower case, `_` = space). A wiki's table is consulted
before the registry every wiki shares (corpus/wikitext/templates.py), so a local meaning wins: French
`{{date|12|novembre|1918}}` is a whole date, English `{{date|...}}` its first argument. Chosen by
measuring which in-sentence templates cost the most words on real pages of each language
(bench/fidelity.py); a family covers a new wiki's template by one line here.
"""

from __future__ import annotations

import re

from corpus.wikitext import template_families as f
from corpus.wikitext.template_families import Renderer

_SPACING = f.const(" ")  # direction marks, paragraph breaks: no words, but not to be reported missing

LOCAL_TEMPLATES: dict[str, dict[str, Renderer]] = {
    "fr": {
        "lien": f.interlanguage,
        "unité": f.number_unit,
        "nombre": f.number_unit,
        "nb": f.number_unit,
        "tmp": f.number_unit,
        "euro": f.suffixed("€"),
        "heure": f.hour,
        "date": f.date_words,
        "date-": f.date_words,
        "date de naissance": f.date_words,
        "date de décès": f.date_words,
        "date de naissance-": f.date_words,
        "s": f.century("{}e siècle"),
        "s-": f.century("{}e siècle"),
        "siècle": f.century("{}e siècle"),
        "langue": f.tagged_text,
        "lang": f.tagged_text,
        "en langue": f.tagged_text,
        "latin": f.wrapped_text,
        "incise": f.incise,
        "msapi": f.transcription,
        "api": f.transcription,
        ",": f.const(","),
        "etc.": f.const("etc."),
        "souverain2": f.wrapped_text,
        "souverain": f.wrapped_text,
    },
    "it": {
        "ta": f.wrapped_text,
        "senza fonte": f.wrapped_text,
        "chiarire": f.wrapped_text,
        "link audio": f.interlanguage_shown_second,
        "sec": f.century("{} secolo"),
        "converti": f.conversion,
        "formatnum": f.wrapped_text,
    },
    "ca": {"segle": f.century("segle {}"), "lang": f.tagged_text, "ill": f.interlanguage},
    "es": {"siglo": f.century("siglo {}"), "convertir": f.conversion, "lang": f.tagged_text},
    "pt": {"séc": f.century("século {}"), "converter": f.conversion},
    "hu": {"szám": f.number_unit, "nyelv": f.tagged_text},
    "eo": {"daton": f.date_words, "prononco": f.transcription},
    "ro": {"conversie": f.conversion, "lang": f.tagged_text},
    "de": {
        "interlanguage link": f.interlanguage,
        "formatnum": f.wrapped_text,
        "formnum": f.wrapped_text,
        "absatz": _SPACING,
    },
    "he": {"ה": f.wrapped_text, "גר": f.wrapped_text, "כ": _SPACING, "ש": _SPACING},
    "vi": {"hn": f.named_value("hn")},
    "ja": {"仮リンク": f.interlanguage},
    "zh": {"le": f.interlanguage_shown_third, "link-en": f.interlanguage_shown_third, "ill": f.interlanguage},
    "ru": {"нп5": f.interlanguage_shown_second, "не переведено 5": f.interlanguage_shown_second},
}

# Templates named by a pattern: French ordinals and centuries (`{{1er|champion}}`, `{{84e|Congrès}}`,
# `{{Ier}}`, `{{XXe siècle}}`), Arabic language tags (`{{لغة-أل|Berlin}}`).
_FR_ORDINAL_RE = re.compile(r"^(?:\d+|[ivxlcdm]+)(?:e|er|re|ère|ème|es|ers|res)(?: siècle| millénaire)?$")
LOCAL_PATTERNS: dict[str, tuple[tuple[re.Pattern[str], Renderer], ...]] = {
    "fr": ((_FR_ORDINAL_RE, f.own_name_and_text),),
    "ar": ((re.compile(r"^لغة-"), f.wrapped_text),),
}


def local_renderer(key: str, language: str) -> Renderer | None:
    """The renderer a wiki of `language` gives its template `key`, if it has its own."""
    if not language:
        return None
    base = language.split("-")[0]
    table = LOCAL_TEMPLATES.get(language) or LOCAL_TEMPLATES.get(base)
    if table is not None:
        fn = table.get(key)
        if fn is not None:
            return fn
    for pattern, fn in LOCAL_PATTERNS.get(language) or LOCAL_PATTERNS.get(base, ()):
        if pattern.match(key):
            return fn
    return None
