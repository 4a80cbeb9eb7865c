"""The `<siteinfo>` of a MediaWiki dump: namespaces, their aliases and their title case rule.

Link targets are classified by their namespace prefix, and titles are case-folded by the rule of
their namespace, so every title decision downstream needs this table.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from corpus.site import sitedata
from corpus.site.languages import language_of, link_trail_class, local_namespace_names
from foundation.errors import PipelineError

FIRST_LETTER = "first-letter"
CASE_SENSITIVE = "case-sensitive"

# MediaWiki's canonical (English) namespace names: valid on every wiki whatever its language, so a
# Greek wiki still understands [[File:x.jpg]] and [[Category:X]].
CANONICAL_NAMES: dict[int, str] = {
    -2: "Media",
    -1: "Special",
    1: "Talk",
    2: "User",
    3: "User talk",
    4: "Project",
    5: "Project talk",
    6: "File",
    7: "File talk",
    8: "MediaWiki",
    9: "MediaWiki talk",
    10: "Template",
    11: "Template talk",
    12: "Help",
    13: "Help talk",
    14: "Category",
    15: "Category talk",
}

# Aliases MediaWiki core defines on every wiki (`$wgNamespaceAliases` defaults).
CORE_ALIASES: dict[int, tuple[str, ...]] = {6: ("Image",), 7: ("Image talk",)}

# Site-specific aliases that dumps do not list in <siteinfo> (they live in the site config).
SITE_ALIASES: dict[str, dict[int, tuple[str, ...]]] = {
    "enwiki": {4: ("WP",), 5: ("WT",), 10: ("TM",)},
}

# English Wikipedia's namespaces, as its dumps list them (used for JSONL corpora and tests): the canonical
# ones, with enwiki's names for the project namespace, plus its extension namespaces.
_ENWIKI_NAMESPACES: dict[int, str] = {
    **CANONICAL_NAMES,
    0: "",
    4: "Wikipedia",
    5: "Wikipedia talk",
    100: "Portal",
    101: "Portal talk",
    108: "Book",
    109: "Book talk",
    118: "Draft",
    119: "Draft talk",
    446: "Education Program",
    447: "Education Program talk",
    710: "TimedText",
    711: "TimedText talk",
    828: "Module",
    829: "Module talk",
    2300: "Gadget",
    2301: "Gadget talk",
    2302: "Gadget definition",
    2303: "Gadget definition talk",
    2600: "Topic",
}
_ENWIKI_CASE_SENSITIVE = {2302, 2303}

_SPACES_RE = re.compile(r"[ _]+")
# A file name: what tells `[[Datei:Berlin.jpg|...]]` on a page in a file of another language (a
# mixed dump, a wrong siteinfo) from an article title with a colon.
_MEDIA_FILE_RE = re.compile(
    r"\.(?:jpe?g|png|gif|svg|tiff?|webp|xcf|ogg|ogv|oga|opus|webm|mp3|mp4|wav|flac|midi?|pdf|djvu|stl)\s*$",
    re.IGNORECASE,
)
_MAX_PREFIX_CHARS = 100  # longer than any namespace name or alias


def _namespace_key(name: str) -> str:
    """Namespace names compare case-insensitively, with `_` and space runs equivalent."""
    return _SPACES_RE.sub(" ", name).strip().casefold()


@dataclass(frozen=True)
class Namespace:
    id: int
    name: str  # canonical local name, "" for the main namespace
    case: str  # "first-letter" or "case-sensitive"
    aliases: tuple[str, ...] = ()  # e.g. "Image" for File; canonical English names too


@dataclass
class SiteInfo:
    dbname: str
    case: str
    namespaces: dict[int, Namespace]
    # Content language ("el", "zh", "" when unknown): link trails and localized namespace aliases.
    language: str = ""
    _lookup: dict[str, int] = field(init=False, repr=False, compare=False)
    # Raw link target -> classification, filled by `corpus.site.titles` (targets repeat heavily).
    title_cache: dict[str, tuple[str, str | None]] = field(init=False, repr=False, compare=False)
    link_trail: str = field(init=False, repr=False, compare=False)  # regex class, "" = no trail
    # `#REDIRECT [[X]]` in the language's spellings (`#WEITERLEITUNG`, `#REDIRECTION`): group 1 is X.
    redirect_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    # Templates and `__DISAMBIG__` switches marking a disambiguation page on the language's wiki
    # (template names compared like the cleaner does: lower case, `_` = space).
    disambiguation_templates: frozenset[str] = field(init=False, repr=False, compare=False)
    disambiguation_switches: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup: dict[str, int] = {}
        for ns in self.namespaces.values():
            if ns.id == 0:
                continue
            for name in (ns.name, *ns.aliases):
                if name:
                    lookup.setdefault(_namespace_key(name), ns.id)
        # The language's namespace names and aliases (packaged site data) beyond those the siteinfo
        # lists: a dump assembled with another wiki's siteinfo still knows `Fichier:` on a French page.
        for ns_id, names in local_namespace_names(self.language).items():
            for name in names:
                lookup.setdefault(_namespace_key(name), ns_id)
        self._lookup = lookup
        self.title_cache = {}
        self.link_trail = link_trail_class(self.language)
        data = sitedata.wiki(self.language) if self.language else None
        keywords = data.redirect if data is not None else ("#REDIRECT",)
        alternatives = "|".join(re.escape(k) for k in sorted(keywords, key=len, reverse=True))
        self.redirect_re = re.compile(rf"\s*(?:{alternatives})\s*:?\s*\[\[([^\[\]|\n]+)", re.IGNORECASE)
        self.disambiguation_templates = frozenset(
            _SPACES_RE.sub(" ", t).strip().lower() for t in (data.disambiguation_templates if data else ())
        )
        self.disambiguation_switches = data.disambiguation_switches if data else ("__DISAMBIG__",)

    @classmethod
    def from_xml(cls, siteinfo_xml: str | bytes, language: str | None = None) -> SiteInfo:
        """Parse a `<siteinfo>...</siteinfo>` element (export schemas 0.9-0.11, with or without the
        export namespace URI). Per-namespace `case` attributes win over the site-wide `<case>`.
        `language` is the dump root's `xml:lang` (or a user's override); without it the dbname says."""
        try:
            root = ET.fromstring(siteinfo_xml)
        except ET.ParseError as exc:
            raise PipelineError(
                f"<siteinfo> is not well-formed XML ({exc}); is the dump truncated or not a MediaWiki export?"
            ) from None
        if _local(root.tag) != "siteinfo":
            raise PipelineError(f"expected a <siteinfo> element, got <{_local(root.tag)}>")
        dbname = ""
        base = ""
        site_case = FIRST_LETTER
        raw: list[tuple[int, str, str | None]] = []
        for child in root:
            tag = _local(child.tag)
            if tag == "dbname":
                dbname = (child.text or "").strip()
            elif tag == "base":
                base = (child.text or "").strip()
            elif tag == "case":
                site_case = (child.text or FIRST_LETTER).strip()
            elif tag == "namespaces":
                for ns in child:
                    if _local(ns.tag) != "namespace":
                        continue
                    key = ns.get("key")
                    try:
                        ns_id = int(key or "")
                    except ValueError:
                        raise PipelineError(
                            f"<siteinfo>: namespace {ns.text!r} has a non-integer key {key!r}"
                        ) from None
                    raw.append((ns_id, (ns.text or "").strip(), ns.get("case")))
        if site_case not in (FIRST_LETTER, CASE_SENSITIVE):
            raise PipelineError(
                f"<siteinfo>: unknown <case> {site_case!r} (expected first-letter or case-sensitive)"
            )
        if not raw:
            raw = [(0, "", None)]
        extra = SITE_ALIASES.get(dbname, {})
        namespaces: dict[int, Namespace] = {}
        for ns_id, name, case in raw:
            aliases = [CANONICAL_NAMES[ns_id]] if ns_id in CANONICAL_NAMES else []
            aliases += [*CORE_ALIASES.get(ns_id, ()), *extra.get(ns_id, ())]
            aliases = tuple(dict.fromkeys(a for a in aliases if a != name))
            namespaces[ns_id] = Namespace(ns_id, name, case or site_case, aliases)
        if 0 not in namespaces:
            namespaces[0] = Namespace(0, "", site_case)
        language = language_of(dbname, language, base)
        return cls(dbname=dbname, case=site_case, namespaces=namespaces, language=language)

    @classmethod
    def default(cls, language: str = "en") -> SiteInfo:
        """English Wikipedia's namespaces (with its canonical names and aliases); `language` sets the
        link trail and localized aliases (JSONL corpora and dumps without a <siteinfo>)."""
        extra = SITE_ALIASES["enwiki"]
        namespaces = {}
        for ns_id, name in _ENWIKI_NAMESPACES.items():
            aliases = [CANONICAL_NAMES.get(ns_id, name), *CORE_ALIASES.get(ns_id, ()), *extra.get(ns_id, ())]
            namespaces[ns_id] = Namespace(
                ns_id,
                name,
                CASE_SENSITIVE if ns_id in _ENWIKI_CASE_SENSITIVE else FIRST_LETTER,
                tuple(dict.fromkeys(a for a in aliases if a != name)),
            )
        return cls(dbname="enwiki", case=FIRST_LETTER, namespaces=namespaces, language=language)

    def redirect_target(self, text: str) -> str | None:
        """The target of a page whose wikitext starts with a redirect keyword of the language
        (MediaWiki's rule for pages a dump does not mark with `<redirect>`), else None."""
        m = self.redirect_re.match(text) if text.lstrip()[:1] == "#" else None
        return m.group(1).strip() if m else None

    def namespace_id(self, prefix: str) -> int | None:
        """The namespace a prefix (name or alias, any case) names, or None."""
        return self._lookup.get(_namespace_key(prefix))

    def split_namespace(self, title: str) -> tuple[int, str]:
        """`"Category:Foo"` -> `(14, "Foo")`; a title without a known prefix is `(0, title)`."""
        prefix, colon, rest = title.partition(":")
        if not colon or len(prefix) > _MAX_PREFIX_CHARS:
            return 0, title
        key = _namespace_key(prefix)
        ns_id = self._lookup.get(key)
        if ns_id is None:
            # Another wiki's File or Category name (`Fájl:`, `Kategória:`): an embed or a category
            # line whatever the site, never an article; a file needs a file name to be taken so.
            ns_id = sitedata.media_namespaces().get(key)
            if ns_id is None or (ns_id == 6 and not _MEDIA_FILE_RE.search(rest)):
                return 0, title
        # MediaWiki trims spaces/underscores around the colon.
        return ns_id, rest.lstrip(" _")


def _local(tag: str) -> str:
    """`{http://www.mediawiki.org/xml/export-0.10/}page` -> `page`."""
    return tag.rpartition("}")[2]
