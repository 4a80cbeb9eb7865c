"""What MediaWiki knows per content language and a dump does not carry: link trails, and (from the
packaged site data of every Wikipedia, `corpus/site/sitedata`) the local names and aliases of namespaces.

A dump's `<siteinfo>` lists the namespaces of its wiki but not the aliases MediaWiki adds from the
language files (`Image:` and `Bild:` on German wikis, `分類:` next to `分类:` on Chinese ones), and
not the language's `$linkTrail` (the letters glued after `]]` that join a link's text: `[[Ρωσία]]ς`).
The trails below restate `languages/messages/MessagesXx.php` for the languages people pretrain on
most; any other language gets any Unicode letter as its trail, which is what a reader expects.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from corpus.site import sitedata

# `$linkTrail` character classes. An empty string: the language has no trail (CJK).
LINK_TRAILS: dict[str, str] = {
    "en": "a-z",
    "simple": "a-z",
    "de": "a-zäöüß",
    "fr": "a-zàâçéèêîôûäëïöüùÇÉÂÊÎÔÛÄËÏÖÜÀÈÙ",
    "vi": "a-zàâçéèêîôûäëïöüùÇÉÂÊÎÔÛÄËÏÖÜÀÈÙ",
    "es": "a-zàáèéìíòóùúñç",
    "it": "a-zàéèíîìóòúù",
    "pt": "áâãàéêẽçíòóôõq̃úüűũa-z",
    "nl": "a-zäöüïëéèà",
    "sv": "a-zåäöéÅÄÖÉ",
    "pl": "a-zęóąśłżźćńĘÓĄŚŁŻŹĆŃ",
    "ru": "a-zабвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "uk": "a-zабвгдеєжзиіїйклмнопрстуфхцчшщьюяґ’`",
    "el": "a-zαβγδεζηθικλμνξοπρστυφχψωςΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώϊϋΐΰΆΈΉΊΌΎΏΪΫ",
    "ar": "a-zء-ي",
    "he": "a-zא-ת",
    "fa": "a-zآ-ی",
    "zh": "",
    "ja": "",
    "ko": "",
    "th": "",
}
# Unknown languages: any letter (Python's `[^\W\d_]`), which is what a reader expects of a trail.
DEFAULT_TRAIL = r"^\W\d_"

# `elwikivoyage` -> `el`; `zh_yuewiki` -> `zh-yue`.
_DBNAME_RE = re.compile(
    r"^([a-z_]+?)(?:wiki|wikivoyage|wiktionary|wikibooks|wikinews|wikiquote|wikisource|wikiversity)$"
)


def language_of(dbname: str = "", xml_lang: str | None = None, base: str = "") -> str:
    """The content language of a dump: the root's `xml:lang`, else the dbname's prefix, else the
    `<base>` URL's subdomain; "" when none says."""
    if xml_lang:
        return xml_lang.strip().lower()
    m = _DBNAME_RE.match(dbname.strip().lower())
    if m:
        return m.group(1).replace("_", "-")
    host = urlsplit(base).hostname or ""
    if host.count(".") >= 2 and host.split(".")[-2] in {"wikipedia", "wikivoyage", "wiktionary"}:
        return host.split(".")[0]
    return ""


def link_trail_class(language: str) -> str:
    """The regex character class (without brackets) of the letters a link trail may hold."""
    base = language.split("-")[0]
    return LINK_TRAILS.get(language, LINK_TRAILS.get(base, DEFAULT_TRAIL))


def local_namespace_names(language: str) -> dict[int, tuple[str, ...]]:
    """Every namespace's names on the language's Wikipedia (local, canonical, aliases); {} if unknown."""
    data = sitedata.wiki(language) if language else None
    return data.namespaces if data is not None else {}
