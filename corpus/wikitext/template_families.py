"""Renderers shared by many wikis' templates: one function per family of templates that carry prose
(interlanguage links, numbers with units, dates and centuries, language tags...), each a pure function
of the call's arguments that returns the wikitext a reader sees, without MediaWiki's exact formatting
(a conversion, a language's name, an icon).

`corpus/wikitext/template_aliases.py` says which local template of which wiki belongs to which family;
`corpus/wikitext/templates.py` holds the registry that every wiki shares.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TemplateArgs:
    """A template call's arguments: positional ones in order and named ones (`name=value`)."""

    positional: list[str]
    named: dict[str, str]
    title: str  # the page's title ({{PAGENAME}})
    name: str = ""  # the template's name as written (families keyed by a pattern show it: `{{3e}}`)

    def get(self, index: int, default: str = "") -> str:
        """Positional argument `index` (1-based), or the named argument of that number."""
        value = self.named.get(str(index))
        if value is not None:
            return value
        return self.positional[index - 1] if 0 < index <= len(self.positional) else default

    def first_named(self, *names: str) -> str:
        for name in names:
            value = self.named.get(name)
            if value:
                return value
        return ""


Renderer = Callable[[TemplateArgs], str]


# -- interlanguage links: the local title or the label, never the foreign title --------------------


def interlanguage(a: TemplateArgs) -> str:
    """en `{{ill|Target|de|Ziel|lt=label}}`, fr `{{Lien|fr=Cible|texte=label|langue=en}}`,
    ja `{{仮リンク|記事名|en|Article|label=表示}}`: the label, else the local title."""
    return a.first_named("texte", "text", "label", "lt", "display", "fr", "1") or a.get(1)


def interlanguage_shown_second(a: TemplateArgs) -> str:
    """ru `{{нп5|Статья|показанный текст|en|Article}}`: the shown text, else the title."""
    return a.get(2) or a.get(1)


def interlanguage_shown_third(a: TemplateArgs) -> str:
    """zh `{{le|中文名|English name|显示文字}}`, `{{link-en|...}}`: the shown text, else the title."""
    return a.get(3) or a.get(1)


# -- numbers and units ------------------------------------------------------------------------------

_SUPERSCRIPTS = {"2": "²", "3": "³", "-1": "⁻¹", "-2": "⁻²", "-3": "⁻³"}
_EXPONENT_RE = re.compile(r"^-?\d$")


def number_unit(a: TemplateArgs) -> str:
    """fr `{{unité|30546|km|2}}` -> `30546 km²`, `{{unité|440 millions}}`, `{{nombre|42.7|ans}}`,
    it `{{TA|70 km}}`, hu `{{szám|180000}}`: the number, then each unit with its exponent."""
    pieces = [p for p in a.positional if p]
    if not pieces:
        return ""
    out = pieces[0]
    if a.named.get("e"):
        out += f"×10^{a.named['e']}"
    for piece in pieces[1:]:
        if _EXPONENT_RE.match(piece) and out[-1:].isalpha():
            out += _SUPERSCRIPTS.get(piece, f"^{piece}")
        else:
            out += " " + piece
    return out


def suffixed(suffix: str) -> Renderer:
    """fr `{{euro|77.80}}` -> `77.80 €`: the number and a fixed unit."""
    return lambda a: f"{a.get(1)} {suffix}" if a.get(1) else ""


def hour(a: TemplateArgs) -> str:
    """fr `{{heure|4|30}}` -> `4 h 30`, `{{heure|1}}` -> `1 h`."""
    h, m = a.get(1), a.get(2)
    return f"{h} h {m}" if m else (f"{h} h" if h else "")


_TEMPERATURE_UNITS = {"C": "°C", "F": "°F", "K": "K"}


def conversion(a: TemplateArgs) -> str:
    """ro `{{conversie|22|–|25|C|F}}` -> `22 – 25 °C`: the numbers and the first unit, as written."""
    out: list[str] = []
    for piece in a.positional:
        out.append(_TEMPERATURE_UNITS.get(piece, piece))
        if not _looks_numeric(piece) and piece not in ("–", "-", "to", "și", "la"):
            break  # the first unit: the ones after it are the conversion's targets
    return " ".join(out)


def _looks_numeric(text: str) -> bool:
    return bool(re.fullmatch(r"[-+−]?[\d.,  ]*\d[\d.,  ]*", text))


# -- dates and centuries -----------------------------------------------------------------------------


def date_words(a: TemplateArgs) -> str:
    """fr `{{Date de naissance|11|novembre|1866}}` -> `11 novembre 1866`, `{{date-|19 janvier}}`,
    eo `{{daton|18|januaro|1791}}`: the day, month and year as written, in order."""
    return " ".join(p for p in a.positional[:3] if p)


def century(pattern: str) -> Renderer:
    """fr `{{s-|XXI}}` -> `XXIe siècle` (pattern `{}e siècle`), ca `{{segle|XIII}}` -> `segle XIII`."""
    return lambda a: pattern.format(a.get(1)) if a.get(1) else ""


def own_name_and_text(a: TemplateArgs) -> str:
    """fr ordinals `{{1er|champion}}` -> `1er champion`, `{{XXe siècle}}`, `{{Ier}}`: the name, then
    the text it qualifies."""
    return " ".join(p for p in (a.name.strip(), *a.positional) if p)


# -- languages, pronunciation, wrapped text ---------------------------------------------------------


def tagged_text(a: TemplateArgs) -> str:
    """fr `{{langue|de|Österreich}}`, `{{lang|de|texte=...}}`: the text (the code goes)."""
    return a.first_named("texte", "text") or a.get(2) or a.get(1)


def wrapped_text(a: TemplateArgs) -> str:
    """it `{{Senza fonte|frase}}`, `{{chiarire|frase|motivo}}`, fr `{{latin|Austria}}`, he `{{ה|...}}`:
    templates that mark up a piece of the sentence show it."""
    return a.first_named("testo", "text", "texte") or a.get(1)


def incise(a: TemplateArgs) -> str:
    """fr `{{incise|notamment après ...}}`: the aside between dashes."""
    return f"– {a.get(1)} –" if a.get(1) else ""


def transcription(a: TemplateArgs) -> str:
    """fr `{{MSAPI|b|ɛ|ʁ}}` -> `bɛʁ`, eo `{{prononco|berLIN|bɛʁˈliːn}}` -> the IPA (the last argument)."""
    return "".join(a.positional) if len(a.positional) > 2 else (a.positional[-1] if a.positional else "")


def named_value(name: str) -> Renderer:
    """vi `{{hn|hn=𥔦化}}`: the value of one named argument."""
    return lambda a: a.named.get(name, "") or a.get(1)


def const(text: str) -> Renderer:
    return lambda a: text
