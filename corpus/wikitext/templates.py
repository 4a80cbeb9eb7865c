"""Inline templates that carry words and numbers, rendered as a reader sees them.

The cleaner drops templates (most are infoboxes, citations, navigation and maintenance tags), but
some sit inside sentences and hold the sentence's words: `an area of {{convert|1000|km2}}`,
`{{nihongo|Tokyo|東京}} is`, `the {{lang|ko|[[chaebol]]}}`. Each renderer here is a small pure
function of the template's arguments (already split at top-level `|`, nested templates rendered)
that returns wikitext: links inside it stay links, so `[[chaebol]]` becomes a body link. The registry
here is what every wiki shares; a wiki's own names come first (corpus/wikitext/template_aliases.py maps them
onto the families of corpus/wikitext/template_families.py). A template without a renderer is dropped, or
expanded from its definition when the input holds it (corpus/wikitext/template_expander.py). Coverage was
chosen by measuring which templates inside sentences cost the most text on the bundled dumps
(bench/fidelity.py reports the share rendered per language).

Renderers do not try to reproduce MediaWiki's exact output (unit conversions, language names,
icons): they keep the words and numbers the author wrote.
"""

from __future__ import annotations

import re

from corpus.wikitext import template_families as families
from corpus.wikitext.expr import ExprError, evaluate
from corpus.wikitext.template_aliases import local_renderer
from corpus.wikitext.template_families import Renderer, TemplateArgs

__all__ = ["REGISTRY", "Renderer", "TemplateArgs", "render", "renderer_for", "split_named"]


_NAMED_ARG_RE = re.compile(r"^\s*([^=\[\]{}|]+?)\s*=(.*)$", re.DOTALL)


def split_named(args: list[str], title: str, name: str = "") -> TemplateArgs:
    positional: list[str] = []
    named: dict[str, str] = {}
    for arg in args:
        m = _NAMED_ARG_RE.match(arg) if "=" in arg else None
        if m:
            named[m.group(1).strip().lower()] = m.group(2).strip()
        else:
            positional.append(arg.strip())
    return TemplateArgs(positional, named, title, name)


# -- renderers ------------------------------------------------------------------------------------


def _first(a: TemplateArgs) -> str:
    return a.get(1)


def _second(a: TemplateArgs) -> str:
    return a.get(2)


def _last(a: TemplateArgs) -> str:
    return a.positional[-1] if a.positional else ""


def _lang(a: TemplateArgs) -> str:
    """`{{lang|fr|texte}}`: the text (named `text=` on some wikis)."""
    return a.named.get("text") or a.get(2)


def _lang_xx(a: TemplateArgs) -> str:
    """`{{lang-de|Stadt}}`, `{{ألمانية|Spree}}`: the text (MediaWiki adds the language's name)."""
    return a.named.get("text") or a.get(1)


def _join(a: TemplateArgs) -> str:
    return "".join(a.positional)


def _nihongo(a: TemplateArgs) -> str:
    """`{{nihongo|Tokyo|東京|Tōkyō}}` -> `Tokyo (東京, Tōkyō)`."""
    english, rest = a.get(1), [x for x in (a.get(2), a.get(3)) if x]
    if not english:
        return ", ".join(rest)
    return f"{english} ({', '.join(rest)})" if rest else english


# Words between the numbers of a range (`{{convert|10|to|20|km}}`), shown as written.
_RANGE_WORDS = frozenset(["-", "–", "to", "and", "or", "by", "x", "×", "+/-", "±", "&", "to(-)", "and(-)"])
_NUMBER_RE = re.compile(r"^[-+−]?[\d.,]*\d[\d.,]*(?:e-?\d+)?$|^[-+−]?\d*\.?\d+/\d+$")


def _convert(a: TemplateArgs) -> str:
    """`{{convert|1000|km2|sqmi}}` -> `1000 km2`; `{{convert|5|ft|6|in}}` -> `5 ft 6 in`;
    `{{convert|10|to|20|km}}` -> `10 to 20 km`. The conversion itself is left out."""
    args = a.positional
    out: list[str] = []
    i = 0
    while i < len(args) and _NUMBER_RE.match(args[i].replace(" ", "")):
        out.append(args[i])
        nxt = args[i + 1] if i + 1 < len(args) else ""
        if nxt in _RANGE_WORDS and i + 2 < len(args):
            out.append(nxt)
            i += 2
            continue
        if nxt:
            out.append(nxt)  # the unit as written (`km2`, `ft`)
        i += 2
        # `5|ft|6|in` continues with another number; a first non-number is the output unit.
    if not out:
        return ""
    return " ".join(out)


def _frac(a: TemplateArgs) -> str:
    p = a.positional
    if len(p) == 3:
        return f"{p[0]} {p[1]}/{p[2]}"
    if len(p) == 2:
        return f"{p[0]}/{p[1]}"
    return f"1/{p[0]}" if p else ""


def _val(a: TemplateArgs) -> str:
    """`{{val|1.2|e=3|u=m}}` -> `1.2×10^3 m`."""
    out = a.get(1)
    if a.named.get("e"):
        out += f"×10^{a.named['e']}"
    unit = a.named.get("u") or a.named.get("ul") or ""
    return f"{out} {unit}".strip()


_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


def _date(a: TemplateArgs) -> str:
    """`{{start date|1990|5|12}}` -> `May 12, 1990` (`df=y`: `12 May 1990`)."""
    parts = [p for p in a.positional[:3] if p.strip().isdigit()]
    if not parts:
        return a.get(1)
    year = parts[0]
    if len(parts) == 1:
        return year
    month_no = int(parts[1])
    month = _MONTHS[month_no - 1] if 1 <= month_no <= 12 else parts[1]
    if len(parts) == 2:
        return f"{month} {year}"
    day = str(int(parts[2]))
    if a.named.get("df", "").lower() in ("y", "yes", "1", "true"):
        return f"{day} {month} {year}"
    return f"{month} {day}, {year}"


def _as_of(a: TemplateArgs) -> str:
    """`{{as of|2010|5}}` -> `As of May 2010`."""
    date = _date(a)
    lead = "as of" if a.named.get("lc", "").lower() in ("y", "yes") else "As of"
    return f"{lead} {date}" if date else ""


def _ipa(a: TemplateArgs) -> str:
    """`{{IPA|/x/}}`, `{{IPA-de|ˈʃpʁeː|lang}}`: the transcription."""
    return a.get(1)


_IPAC_LABELS = frozenset(["lang", "local", "pron", "us", "uk", "audio", "ipa", "also", "or", "label"])


def _ipac(a: TemplateArgs) -> str:
    """`{{IPAc-en|ˈ|æ|k|ɪ|l|iː|z}}` -> `/ˈækɪliːz/` (labels like `US` left out)."""
    pieces = [p for p in a.positional if p.lower() not in _IPAC_LABELS]
    return f"/{''.join(pieces)}/" if pieces else ""


def _respell(a: TemplateArgs) -> str:
    return "-".join(a.positional)


def _listing(a: TemplateArgs) -> str:
    """Wikivoyage `{{see|name=...|alt=...|content=...}}`, `{{marker|name=...}}`: the name, then the
    description."""
    name = a.named.get("name", "")
    alt = a.named.get("alt", "")
    content = a.named.get("content", "") or a.named.get("description", "")
    head = f"{name} ({alt})" if name and alt else name
    if head and content:
        return head + ("" if head[-1:] in ".!?" else ".") + " " + content
    return head or content


def _shown_or_target(a: TemplateArgs) -> str:
    return a.get(2) or a.get(1)


def _pagename(a: TemplateArgs) -> str:
    return a.title


def _flag(a: TemplateArgs) -> str:
    """`{{flag|Germany}}`: the icon goes, the country's name stays."""
    return a.named.get("name") or a.get(1)


def _formatnum(a: TemplateArgs) -> str:
    return a.get(1)


def _const(text: str) -> Renderer:
    return lambda a: text


def _ucfirst(a: TemplateArgs) -> str:
    text = a.get(1)
    return text[:1].upper() + text[1:]


def _lcfirst(a: TemplateArgs) -> str:
    text = a.get(1)
    return text[:1].lower() + text[1:]


def _quote_de(a: TemplateArgs) -> str:
    """German Wikipedia's `{{"|Text}}`: the text in German quotation marks."""
    return f"„{a.get(1)}“" if a.get(1) else ""


def _height(a: TemplateArgs) -> str:
    """German `{{Höhe|123|DE-NHN}}`: the height in metres."""
    return f"{a.get(1)} m" if a.get(1) else ""


def _expr(a: TemplateArgs) -> str:
    """`{{#expr: 3645000/891.8 round 0}}` -> `4087`; nothing when it is not arithmetic."""
    try:
        return evaluate(a.get(1))
    except ExprError:
        return ""


def _nowrap_like(a: TemplateArgs) -> str:
    return a.get(1)


# Template name (compared like the cleaner does: lower case, `_` = space) -> renderer.
REGISTRY: dict[str, Renderer] = {
    # units and numbers
    "convert": _convert,
    "cvt": _convert,
    "convinfobox": _convert,
    "frac": _frac,
    "fraction": _frac,
    "sfrac": _frac,
    "val": _val,
    "formatnum:": _formatnum,
    "#expr:": _expr,
    "höhe": _height,
    # languages and transliterations
    "lang": _lang,
    "langx": _lang_xx,
    "nihongo": _nihongo,
    "nihongo2": _first,
    "transl": _last,
    "transliteration": _last,
    "script": _last,
    "audio": _second,
    "ήχος": _second,  # Greek {{ήχος|file.ogg|shown text}} ("sound")
    "ipa": _ipa,
    "ipa-all": _ipa,
    "ipac-en": _ipac,
    "ipac-de": _ipac,
    "ipa2": _ipa,
    "respell": _respell,
    "lsj": _shown_or_target,
    # text formatting: the text stays
    "nowrap": _nowrap_like,
    "nobr": _nowrap_like,
    "nobold": _nowrap_like,
    "noitalic": _nowrap_like,
    "small": _nowrap_like,
    "smaller": _nowrap_like,
    "big": _nowrap_like,
    "larger": _nowrap_like,
    "sc": _nowrap_like,
    "smallcaps": _nowrap_like,
    "small caps": _nowrap_like,
    "em": _nowrap_like,
    "strong": _nowrap_like,
    "var": _nowrap_like,
    "mvar": _nowrap_like,
    "math": _nowrap_like,
    "midsize": _nowrap_like,
    "resize": _last,
    "chem": _join,
    "abbr": _first,
    "abbrlink": _first,
    "keypress": _first,
    "vr": _first,
    "angbr": lambda a: f"⟨{a.get(1)}⟩",
    '"': _quote_de,
    # dates
    "date": _first,
    "start date": _date,
    "end date": _date,
    "birth date": _date,
    "death date": _date,
    "birth date and age": _date,
    "death date and age": _date,
    "start date and age": _date,
    "film date": _date,
    "as of": _as_of,
    # punctuation and spacing
    "!": _const("|"),
    "=": _const("="),
    "'s": _const("'s"),
    "'": _const("'"),
    "' \"": _const("'\""),  # a single quote before a double one, kept apart
    "\" '": _const("\"'"),
    "linktext": _join,  # words each linked to Wiktionary: the words
    "nbsp": _const(" "),
    "snd": _const(" – "),
    "spaced ndash": _const(" – "),
    "ndash": _const("–"),
    "mdash": _const("—"),
    "em dash": _const("—"),
    "en dash": _const("–"),
    "dash": _const("–"),
    "thinsp": _const(" "),
    "spaces": _const(" "),
    "mdashb": _const("—"),
    "·": _const(" · "),
    "dot": _const(" · "),
    "e": lambda a: f"×10^{a.get(1)}" if a.get(1) else "",
    "rtl-lang": _lang,
    # ship names: `{{HMS|Dreadnought|1906}}` -> `HMS Dreadnought`
    "hms": lambda a: f"HMS {a.get(1)}",
    "uss": lambda a: f"USS {a.get(1)}",
    "ss": lambda a: f"SS {a.get(1)}",
    # flags: the name stays
    "flag": _flag,
    "flagcountry": _flag,
    "flag country": _flag,
    # Wikivoyage listings
    "listing": _listing,
    "see": _listing,
    "do": _listing,
    "buy": _listing,
    "eat": _listing,
    "drink": _listing,
    "sleep": _listing,
    "go": _listing,
    "marker": _listing,
    # magic words and parser functions that show text
    "pagename": _pagename,
    "fullpagename": _pagename,
    "lc:": lambda a: a.get(1).lower(),
    "uc:": lambda a: a.get(1).upper(),
    "lcfirst:": _lcfirst,
    "ucfirst:": _ucfirst,
    # other wikis' equivalents of the above
    "нп5": _shown_or_target,  # ruwiki "not translated": {{нп5|Article|shown text|lang|foreign}}
    "не переведено 5": _shown_or_target,
    "iw": families.interlanguage,
    "ill": families.interlanguage,
    "interlanguage link": families.interlanguage,
    "ألمانية": _lang_xx,  # arwiki {{German|...}}
    "إنجليزية": _lang_xx,
    "فرنسية": _lang_xx,
    "אנ": _lang_xx,  # hewiki {{English|...}}
}

# Templates whose output is their own name as a word (with an icon): Greek Wikivoyage's travel
# headings `=== {{Οδικώς}} ===` ("By road").
OWN_NAME_TEMPLATES: frozenset[str] = frozenset(
    ["οδικώς", "αεροπορικώς", "σιδηροδρομικώς", "ακτοπλοϊκώς", "λεωφορείο", "μετρό", "ποδηλάτου", "πεζή"]
)

# `lang-de`, `lang-ko`, `ipa-de`, `ipac-fr`...: families named by a prefix.
_PREFIX_RENDERERS: tuple[tuple[str, Renderer], ...] = (
    ("lang-", _lang_xx),
    ("ipa-", _ipa),
    ("ipac-", _ipac),
    ("audio-", _second),
)


def renderer_for(key: str, language: str = "") -> Renderer | None:
    """The renderer of a template (its key as `corpus.wikitext.clean._template_key` makes it) on a wiki of
    `language`, if any: the wiki's own (corpus/wikitext/template_aliases.py) first, then the shared one."""
    fn = local_renderer(key, language)
    if fn is not None:
        return fn
    fn = REGISTRY.get(key)
    if fn is not None:
        return fn
    if ":" in key:  # a parser function: `{{lc:X}}` is keyed `lc:X`
        head = key.partition(":")[0] + ":"
        fn = REGISTRY.get(head)
        if fn is not None:
            return fn
    for prefix, fn in _PREFIX_RENDERERS:
        if key.startswith(prefix):
            return fn
    return None


def render(key: str, raw_name: str, args: list[str], title: str, language: str = "") -> str | None:
    """Wikitext for a template call, or None when the template is not in the registry (dropped).

    `key` is the compared name, `raw_name` the name as written (a parser function's first argument
    follows its colon: `{{ucfirst:word}}`)."""
    if key in OWN_NAME_TEMPLATES:
        return raw_name.strip()
    fn = renderer_for(key, language)
    if fn is None:
        return None
    if ":" in key and key not in REGISTRY and local_renderer(key, language) is None:
        args = [raw_name.partition(":")[2], *args]
    return fn(split_named(args, title, raw_name))
