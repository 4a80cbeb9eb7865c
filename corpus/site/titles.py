"""MediaWiki title normalization and link-target classification.

Follows MediaWiki's `Title` rules closely enough that a link and the page it names meet on the same
string: percent-escapes and HTML entities decoded, `_` and whitespace runs become one space, the
`#fragment` and one leading `:` are dropped, the first letter is upper-cased where the namespace's
case is `first-letter`. A target whose prefix names another namespace, an interwiki site or a
Wikipedia language is not an article link.

Known simplifications: upper-casing uses Python's `str.upper` on the first character and leaves a
character alone when that would change the length (e.g. `ß`); the interwiki table is a built-in list
(Wikimedia projects and the external prefixes common in English Wikipedia), not the live map.
"""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

from corpus.site.siteinfo import CASE_SENSITIVE, SiteInfo

# Wikipedia language editions (interlanguage prefixes), including historical and alias codes.
_LANGUAGE_CODES_TEXT = """
    aa ab ace ady af ak als alt am ami an ang anp ar arc ary arz as ast atj av avk awa ay az azb ba ban
    bar bat-smg bbc bcl bdr be be-tarask be-x-old bew bg bh bi bjn blk bm bn bo bpy br bs btm bug bxr ca
    cbk-zam cdo ce ceb ch cho chr chy ckb co cr crh cs csb cu cv cy da dag de dga din diq dsb dtp dty dv
    dz ee el eml en eo es et eu ext fa fat ff fi fiu-vro fj fo fon fr frp frr fur fy ga gag gan gcr gd gl
    glk gn gom gor got gpe gsw gu guc gur guw gv ha hak haw he hi hif ho hr hsb ht hu hy hyw hz ia iba id
    ie ig igl ii ik ilo inh io is it iu ja jam jbo jv ka kaa kab kbd kbp kcg kg kge ki kj kk kl km kn knc
    ko koi kr krc ks ksh ku kus kv kw ky la lad lb lbe lez lfn lg li lij lld lmo ln lo lrc lt ltg lv mad
    mai map-bms mdf mg mh mhr mi min mk ml mn mni mnw mo mos mr mrj ms mt mus mwl my myv mzn na nah nap
    nds nds-nl ne new ng nia nl nn no nov nqo nr nrm nso nup nv ny oc olo om or os pa pag pam pap pcd pcm
    pdc pfl pi pih pl pms pnb pnt ps pt pwn qu rm rmy rn ro roa-rup roa-tara rsk ru rue rup rw sa sah sat
    sc scn sco sd se sg sh shi shn shy-latn si simple sk skr sl sm smn sn so sq sr srn ss st stq su sv sw
    syl szl szy ta tay tcy tdd te tet tg th ti tig tk tl tly tn to tpi tr trv ts tt tum tw ty tyv udm ug
    uk ur uz ve vec vep vi vls vo vro wa war wo wuu xal xh xmf yi yo yue za zea zgh zh zh-classical
    zh-cn zh-min-nan zh-tw zh-yue zu nb dk cz jp minnan nan lzh
"""
LANGUAGE_CODES: frozenset[str] = frozenset(_LANGUAGE_CODES_TEXT.split())

# Interwiki prefixes: Wikimedia sister projects and common external prefixes of enwiki's map.
_INTERWIKI_TEXT = """
    w wikipedia wikt wiktionary q wikiquote s wikisource b wikibooks n wikinews v wikiversity voy
    wikivoyage species wikispecies d wikidata c commons m meta metawikimedia metawikipedia mw
    mediawikiwiki wmf foundation wikimedia incubator outreach testwiki
    nost nostalgia phab phabricator bugzilla mediazilla gerrit otrs otrswiki toollabs
    wikitech sulutil labsconsole betawikiversity oldwikisource sep11 wmfblog mailarchive
    wikidataname arxiv doi hdl rfc isbn pmid pmc google googlegroups imdbname
    imdbtitle imdbcompany imdbcharacter wikia wikiapiary wikihow wikitravel wikimedia-uk dictionary
    acronym lyricwiki memoryalpha ethnologue iso639-3 jstor oclc utrecht-ud sourceforge github
"""
INTERWIKI_PREFIXES: frozenset[str] = frozenset(_INTERWIKI_TEXT.split())

# MediaWiki strips these bidi marks from titles and treats these Unicode spaces like `_`.
_BIDI_MARKS_RE = re.compile("[\u200e\u200f\u202a-\u202e]")
_SPACES_RE = re.compile("[ _\t\n\r\u00a0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
# Characters MediaWiki refuses in titles (`$wgLegalTitleChars` complement) and escapes it rejects.
_ILLEGAL_RE = re.compile(r"[<>\[\]{}|\x00-\x1f\x7f\ufffd]|%[0-9A-Fa-f]{2}|&[A-Za-z0-9#\x80-\uffff]+;|~{3}")
_PERCENT_RE = re.compile(r"%[0-9A-Fa-f]{2}")
# `[[http://example.org label]]` is an external link in brackets, not a wikilink.
_URL_RE = re.compile(r"\s*(?i:https?:|ftps?:|mailto:|//)")
_MAX_TITLE_BYTES = 255

_ARTICLE = "article"
_TITLE_CACHE_SIZE = 200_000
_MAX_CACHED_CHARS = 600  # titles are at most 255 bytes; escapes and spacing can triple that


def _decode(raw: str) -> str:
    """Percent-escapes first (as MediaWiki's parser does for link targets), then HTML entities."""
    if "%" in raw and _PERCENT_RE.search(raw):
        decoded = unquote(raw, errors="strict") if raw.isascii() else _unquote_or_keep(raw)
        raw = decoded
    if "&" in raw:
        raw = html.unescape(raw)
    return raw


def _unquote_or_keep(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return raw


def _upper_first(text: str) -> str:
    first = text[0]
    upper = first.upper()
    if upper == first or len(upper) != 1:
        return text
    return upper + text[1:]


def _classify(raw: str, site: SiteInfo) -> tuple[str, str | None]:
    if ("//" in raw or "mailto:" in raw) and _URL_RE.match(raw):
        return "external", None
    try:
        text = _decode(raw)
    except UnicodeDecodeError:
        return "invalid", None
    if not text.isascii():
        text = _BIDI_MARKS_RE.sub("", text)
    text = _SPACES_RE.sub(" ", text).strip()
    if text.startswith(":"):
        text = text[1:].lstrip()
    if not text:
        return "invalid", None
    if text.startswith("#"):
        return "fragment", None
    text = text.partition("#")[0].rstrip()
    if not text:
        return "invalid", None
    ns_id, rest = site.split_namespace(text) if ":" in text else (0, text)
    if ns_id != 0:
        return "namespace", None
    if ":" in text:
        prefix = text.partition(":")[0].strip().lower()
        if prefix in INTERWIKI_PREFIXES or prefix in LANGUAGE_CODES:
            return "interwiki", None
        # A title cannot start with a colon after its namespace has been taken off ("Foo::" is fine).
    if _ILLEGAL_RE.search(text) or len(text.encode("utf-8")) > _MAX_TITLE_BYTES:
        return "invalid", None
    if text in (".", "..") or text.startswith(("./", "../")) or "/./" in text or "/../" in text:
        return "invalid", None
    ns = site.namespaces.get(0)
    if ns is None or ns.case != CASE_SENSITIVE:
        text = _upper_first(text)
    return _ARTICLE, text


def classify_link_target(raw: str, site: SiteInfo) -> tuple[str, str | None]:
    """What a `[[raw]]` target points to: `("article", title)`, `("namespace", None)`,
    `("interwiki", None)` (interwiki and interlanguage), `("fragment", None)` (`[[#x]]`),
    `("external", None)` (`[[http://...]]`: a URL in brackets) or `("invalid", None)` (empty, illegal
    characters, too long)."""
    cache = site.title_cache
    hit = cache.get(raw)
    if hit is None:
        hit = _classify(raw, site)
        if len(raw) > _MAX_CACHED_CHARS:  # invalid anyway; keeps a hostile page from filling memory
            return hit
        if len(cache) >= _TITLE_CACHE_SIZE:
            # Link targets repeat heavily within a wiki; a bounded cache keeps memory flat per task.
            cache.clear()
        cache[raw] = hit
    return hit


def normalize_title(raw: str, site: SiteInfo) -> str | None:
    """The normalized article title `raw` names, or None when it is not an article link."""
    return classify_link_target(raw, site)[1]


def is_interlanguage_prefix(prefix: str) -> bool:
    """`fr` in `[[fr:Chien]]`: an interlanguage link, which MediaWiki moves out of the page text."""
    return prefix.strip().lower() in LANGUAGE_CODES
