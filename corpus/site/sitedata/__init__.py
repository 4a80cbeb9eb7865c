"""Site data of every Wikipedia, packaged with the code: namespace names and aliases, localized
`#REDIRECT` keywords, the `__DISAMBIG__` switch, disambiguation templates and behaviour switches.

A dump's `<siteinfo>` lists its wiki's namespaces but not their aliases, and files assembled by other
tools often carry another wiki's siteinfo (English, usually): then `[[Fichier:x.jpg|vignette|...]]`
would read as an article link and its caption as text. These tables fill what the dump lacks; the
dump's own names win where both exist. `wikipedia.json` is converted from the MediaWiki API data
of 346 Wikipedias (README.md here says where from and under which terms; `convert.py` rebuilds it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class WikiData:
    language: str
    namespaces: dict[int, tuple[str, ...]]  # id -> local name, canonical name, aliases
    redirect: tuple[str, ...]  # `#REDIRECTION`, `#WEITERLEITUNG`, ... (always with `#REDIRECT`)
    disambiguation_switches: tuple[str, ...]  # `__DISAMBIG__` and its local forms
    disambiguation_templates: tuple[str, ...]  # template names without the namespace prefix


@lru_cache(maxsize=1)
def _data() -> dict:
    with resources.files(__package__).joinpath("wikipedia.json").open(encoding="utf-8") as f:
        return json.load(f)


def languages() -> frozenset[str]:
    return frozenset(_data()["wikis"])


@lru_cache(maxsize=512)
def wiki(language: str) -> WikiData | None:
    """The site data of a language's Wikipedia (`de`, `zh-yue`; `de-at` falls back to `de`), or None."""
    wikis = _data()["wikis"]
    language = language.strip().lower().replace("_", "-")
    entry = wikis.get(language) or wikis.get(language.split("-")[0])
    if entry is None:
        return None
    return WikiData(
        language=language if language in wikis else language.split("-")[0],
        namespaces={int(k): tuple(v) for k, v in entry["ns"].items()},
        redirect=tuple(dict.fromkeys([*entry.get("redirect", ()), "#REDIRECT"])),
        disambiguation_switches=tuple(dict.fromkeys([*entry.get("disambig", ()), "__DISAMBIG__"])),
        disambiguation_templates=tuple(entry.get("disambig_templates", ())),
    )


@lru_cache(maxsize=1)
def behaviour_switches() -> frozenset[str]:
    """Every wiki's behaviour switches (`__NOTOC__`, `__AUCUNSOMMAIRE__`, `__БЕЗ_ОГЛАВЛЕНИЯ__`), upper-cased."""
    return frozenset(s.upper() for s in _data()["switches"])


@lru_cache(maxsize=1)
def image_options() -> frozenset[str]:
    """Every wiki's fixed image options (`thumb`, `vignette`, `bélyegkép`, `jmpl`...), case-folded."""
    return frozenset(s.casefold() for s in _data()["image_options"])


@lru_cache(maxsize=1)
def media_prefixes() -> dict[str, frozenset[str]]:
    """Case-folded File (6) and Category (14) names of every wiki -> the languages that use them:
    which language a dump's `[[Fájl:...]]` and `[[Kategória:...]]` links say it is written in."""
    out: dict[str, set[str]] = {}
    for language, entry in _data()["wikis"].items():
        for ns_id in ("6", "14"):
            for name in entry["ns"].get(ns_id, ()):
                out.setdefault(name.replace("_", " ").casefold(), set()).add(language)
    return {name: frozenset(langs) for name, langs in out.items()}


@lru_cache(maxsize=1)
def media_namespaces() -> dict[str, int]:
    """Case-folded File and Category names of every wiki -> 6 or 14 (a name some wiki uses for
    another namespace is left out: it could not be read as File or Category without a doubt)."""
    out: dict[str, int] = {}
    other: set[str] = set()
    for entry in _data()["wikis"].values():
        for ns_id, names in entry["ns"].items():
            for name in names:
                key = name.replace("_", " ").casefold()
                if ns_id in ("6", "14") and out.get(key, int(ns_id)) == int(ns_id):
                    out[key] = int(ns_id)
                elif ns_id not in ("6", "14"):
                    other.add(key)
    return {name: ns_id for name, ns_id in out.items() if name not in other}
