"""Wikitext -> clean plain text + article links with their character spans.

A hand-written scanner instead of a full parse (mwparserfromhell is ~10x slower and stays the
reference: tests/corpus/wikitext/test_wikitext_reference.py proves the links equal on the real sample).
Every construct is found by a literal-prefixed regex (C speed); templates, tables and extension
tags are paired with a stack over their tokens, wikilinks are resolved innermost first (one
nesting level per pass, at most MAX_NESTING passes), so the work is linear in the page size.
Passes, in order:

1. comments removed (links in comments are not links);
2. extension tags: `<ref>`, `<gallery>`, `<imagemap>` dropped with their links kept spanless;
   `<math>`, `<syntaxhighlight>`, `<timeline>`... dropped; `<nowiki>`/`<pre>` content kept as
   literal text (entities decoded); `<nowiki/>` ends a link trail; then `-{...}-` language-variant
   markup resolved to one variant;
3. templates `{{...}}`: those in `corpus/wikitext/templates.py`'s registry (prose: `convert`, `lang`,
   `nihongo`..., and each wiki's own names from `corpus/wikitext/template_aliases.py`) or shaped like a
   Wikivoyage listing rendered, nested ones first, their output left for the link pass; with a
   `TemplateLibrary` (the input's namespace-10 pages) the others are expanded from their
   definitions where simple; the rest dropped (nested), wikilinks in their parameters kept
   spanless; hatnote templates (`{{main|X}}`) yield their title arguments; disambiguation templates
   (English and the wiki's own) mark the page;
4. tables `{| ... |}` dropped (nested; an unclosed one runs to the end), and the rows of a table a
   template opened or closed; wikilinks kept spanless;
5. wikilinks, with the link trail of the wiki's language: file/image embeds with their captions,
   categories and interlanguage links dropped (caption links kept spanless); article links become
   marked anchors (`\x01 i \x02 anchor \x03`); links into other namespaces and colon links
   (`[[:Category:X]]`) leave their text, interwiki links their label or bare title;
   `[[http://... label]]` is an external link;
6. external links -> their label; quotes, magic words, HTML markup removed (content kept, `<br>` is
   a newline); the space and empty brackets a removal left before punctuation closed (each removal
   leaves a gap mark, so prose is never touched); headings and list items become plain lines (a
   heading is its own paragraph), headings of empty sections dropped; entities decoded; whitespace
   tidied;
7. the markers are taken out and become spans into the final text.

"Spanless" links are real links of the page whose anchor is not in the clean text (templates,
tables, references, captions, galleries, a link whose text another link took). They are emitted
with kind `template` and start = end = -1, like hatnote links; the graph counts them as edges.
Gallery and imagemap links count although mwparserfromhell does not see them: MediaWiki renders
them as links. The marker bytes are safe: XML 1.0 forbids them, so no dump contains them (other
input has them deleted first).
"""

from __future__ import annotations

import html
import re
import sys
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from corpus.site import sitedata
from corpus.site.siteinfo import SiteInfo
from corpus.site.titles import INTERWIKI_PREFIXES, LANGUAGE_CODES, classify_link_target
from corpus.wikitext.hatnotes import HATNOTE_TEMPLATES
from corpus.wikitext.template_expander import TemplateLibrary
from corpus.wikitext.templates import OWN_NAME_TEMPLATES, render, renderer_for

DEFAULT_HATNOTES = HATNOTE_TEMPLATES
_OWN_NAME = OWN_NAME_TEMPLATES

# Templates marking a disambiguation page (compared like hatnotes: case-insensitive, `_` = space).
# Set index articles (`{{set index article}}`, `{{surname}}`) are lists of distinct things, not
# disambiguation pages (MediaWiki's Disambiguator does not flag them either), so they are excluded.
DISAMBIGUATION_TEMPLATES: frozenset[str] = frozenset(
    [
        "disambiguation",
        "disambig",
        "disamb",
        "dab",
        "disambiguation page",
        "hndis",
        "geodis",
        "numberdis",
        "mathdab",
        "letter-number combination disambiguation",
    ]
)

# Which positional arguments of a hatnote are page titles: (first, step). Default (1, 1): all.
# `{{for|USE|PAGE1|PAGE2}}`, `{{about|USE1|USE2|PAGE2|USE3|PAGE3}}`, `{{redirect|R|USE|PAGE}}`.
HATNOTE_TITLE_ARGS: dict[str, tuple[int, int]] = {"for": (2, 1), "about": (3, 2), "redirect": (3, 2)}


MAX_PAGE_CHARS = 20_000_000  # MediaWiki caps pages at 2 MB; 10x that is a broken input
# Wikilinks nest 2 deep in real pages ([[File:..|..[[x]]..]]); each level costs one more pass over
# the page, so deeper nesting is refused as pathological. (Templates and tables use a stack: no limit.)
MAX_NESTING = 40
MAX_HATNOTE_CHARS = 5000  # a real hatnote is a line of titles; a longer one is not read for links

_BODY, _TEMPLATE = "body", "template"
_MARK_OPEN, _MARK_MID, _MARK_CLOSE = "\x01", "\x02", "\x03"
_NOWIKI_OPEN, _NOWIKI_CLOSE = "\x04", "\x05"
# `_HEADING` opens a heading line (then its level digit) until empty sections are dropped; `_GAP`
# marks where markup was removed, so the space and brackets it leaves are tidied there and only
# there (`over {{convert|..}}.` -> `over.`, while `5 : 3` in prose stays). `<nowiki/>` is a gap too:
# it ends a link trail.
_HEADING, _GAP = "\x06", "\x07"
_CONTROL_CHARS = {c: None for c in (*range(1, 8), 0x0E)}
_EQUALS = "\x0e"  # an `=` a nested template rendered, until its parent's arguments are split
_SWITCHES = sitedata.behaviour_switches()
MAX_TEMPLATE_DEPTH = 50  # rendered templates nested deeper than this are dropped (hostile input)
# A template with `content=` (or `description=`) and `name=` arguments is a Wikivoyage listing in
# whatever language its name is (`see`, `vCard`, `proorismos`...): rendered as `listing` is.
_LISTING = "listing"
_LISTING_ARG_RE = re.compile(r"\|\s*(content|description|name)\s*=")
MAX_LISTING_CHARS = 20_000
MAX_EXPANSIONS = (
    2000  # template calls expanded from definitions per page (corpus/wikitext/template_expander.py)
)

_FILE_NAMESPACES = (6, -2)
_CATEGORY_NAMESPACE = 14

# Extension tags whose content is not page text. Links inside LINK_TAGS count (spanless);
# mwparserfromhell does not parse `<gallery>`/`<imagemap>` content, see docs in the tests.
_LITERAL_TAGS = frozenset(["nowiki", "pre"])
_LINK_TAGS = frozenset(["ref", "gallery", "imagemap"])
_DROP_TAGS_TEXT = """math chem ce score timeline syntaxhighlight source graph templatedata hiero inputbox
    categorytree mapframe maplink templatestyles includeonly charinsert rss dynamicpagelist section"""
_DROP_TAGS = frozenset(_DROP_TAGS_TEXT.split())
# HTML and wikitext-level tags whose markup goes and whose content stays.
_HTML_TAGS_TEXT = """b big blockquote caption center cite code data dd del dfn div dl dt em font h1 h2 h3 h4 h5
    h6 hr i ins kbd li mark ol p q rb rp rt rtc ruby s samp small span strike strong sub sup table tbody td
    th thead tfoot time tr tt u ul var wbr abbr bdi bdo poem references noinclude onlyinclude indicator
    translate languages"""
_HTML_TAGS = frozenset(_HTML_TAGS_TEXT.split())

# Every pattern starts with a literal (`<`, `{{`, `[[`, a newline): CPython's regex engine then
# skips ahead with a fast character search instead of trying the pattern at every position, which
# is what makes these passes run at hundreds of MB/s. Possessive quantifiers (Python >= 3.11) stop
# a failed attempt from backtracking through a long label.
_POSSESSIVE = "+" if sys.version_info >= (3, 11) else ""
_EXT_TAGS = _LITERAL_TAGS | _LINK_TAGS | _DROP_TAGS
_MARKUP_TAGS = _HTML_TAGS | _EXT_TAGS
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)(?=[\s/>])([^<>]*)>")
# Behaviour switches: `__NOTOC__` and every wiki's translations (`__AUCUNSOMMAIRE__`, `__БЕЗ_ОГЛАВЛЕНИЯ__`).
_MAGIC_WORD_RE = re.compile(r"__(?:[^\W_]|_(?!_))+__")
_ASCII_SWITCH_RE = re.compile(r"__[A-Z]+__")
_OPEN_BRACES_RE = re.compile(r"\{\{")
_CLOSE_BRACES_RE = re.compile(r"\}\}")
_TEMPLATE_NAME_RE = re.compile(r"[^{}|]*")
_TABLE_OPEN_RE = re.compile(r"\{\|")
_TABLE_CLOSE_RE = re.compile(r"\|\}")
# An innermost wikilink: target, optional label (no brackets), link trail. Nested links (image
# captions) are resolved inside-out, one level per pass. The trail (letters glued after `]]`, as in
# `[[dog]]s`, `[[Ρωσία]]ς`) joins the anchor; its letters are the wiki language's `$linkTrail`
# (`corpus/site/languages.py`: `[a-z]` in English, none in Chinese).
# A label may hold single brackets (`Bicyclo[1.1.0]butane`, `[above]`), never `[[` or `]]`.
_LINK_PATTERN = (
    r"\[\[([^\[\]\n|]*{p})(?:\|([^\[\]]*{p}(?:(?:\[(?!\[)|\](?!\]))[^\[\]]*{p})*{p}))?\]\]".replace(
        "{p}", _POSSESSIVE
    )
)


@lru_cache(maxsize=32)
def _link_re(trail_class: str) -> re.Pattern[str]:
    trail = f"([{trail_class}]*{_POSSESSIVE})" if trail_class else "()"
    return re.compile(_LINK_PATTERN + trail)


_LINK_RE = _link_re("a-z")
# Language-variant markup (`-{zh-cn:域;zh-tw:體}-`, `-{H|...}-`, `-{text}-`); `-{{` is a template.
_VARIANT_RE = re.compile(r"-\{(?!\{)([^\n{}]{0,1000})\}-")
_VARIANT_RULE_RE = re.compile(r"\s*([a-z]{2,3}(?:-[a-z0-9]+)*)\s*:(.*)", re.DOTALL)
_VARIANT_SPLIT_RE = re.compile(r";\s*(?=[a-z]{2,3}(?:-[a-z0-9]+)*\s*:)")
_VARIANT_FALLBACKS: dict[str, tuple[str, ...]] = {
    "zh-cn": ("zh-hans", "zh-sg", "zh-my"),
    "zh-sg": ("zh-hans", "zh-cn"),
    "zh-my": ("zh-hans", "zh-cn"),
    "zh-hans": ("zh-cn", "zh-sg", "zh-my"),
    "zh-tw": ("zh-hant", "zh-hk", "zh-mo"),
    "zh-hk": ("zh-hant", "zh-mo", "zh-tw"),
    "zh-mo": ("zh-hant", "zh-hk", "zh-tw"),
    "zh-hant": ("zh-tw", "zh-hk", "zh-mo"),
}
# The target of every `[[...` in a fragment, nested ones included (`[[File:x|..[[a]]..]]`).
_LINK_TARGET_RE = re.compile(r"\[\[([^\[\]{}|\n]*)(?=\||\]\])")
_ARG_TOKEN_RE = re.compile(r"\{\{|\}\}|\[\[|\]\]|\|")
_EXTERNAL_LINK_RE = re.compile(
    r"\[(?i:https?:|ftps?:|mailto:|news:|ircs?:|gopher:|nntp:|telnet:|sftp:|//)[^\s\[\]<>\"]*[ \t]*([^\[\]\n]*)\]"
)
_QUOTES_RE = re.compile(r"''(?:'(?:'')?)?")  # 5, 3 or 2 apostrophes: 4 leave one `'`, as in MediaWiki
_HEADING_RE = re.compile(r"\n=[^\n]*")
_LINE_PREFIX_RE = re.compile(r"\n(?:[*#:;]+|-{4,})[ \t]*")
_PAREN_OPEN_DEBRIS_RE = re.compile(r"\((?: ?[,;])+ ?")
_PAREN_CLOSE_DEBRIS_RE = re.compile(r"[,;:] ?\)")
_PAREN_CLOSE_DEBRIS = (",)", ", )", ";)", "; )", ":)", ": )")
_NEWLINE_RUN_RE = re.compile(r"\n[\n ]+")
_NOWIKI_RE = re.compile("\x04(\\d+)\x05")
# Where a removal left a gap: spaces before the punctuation that follows it, and brackets holding
# nothing but gaps and list punctuation (ASCII and full-width).
_GAP_SPACES = " \t\u00a0"
_HEADING_LINE_RE = re.compile("\x06([1-6])([^\n]*)")
_NONBLANK_RE = re.compile(r"\S")
_PUNCT_AFTER_GAP = frozenset(".,;:!?)]）。，、；：」』")
# The last gap of a run followed (after a few spaces or list punctuation) by punctuation or a closing
# bracket; bounded so that a run of gaps costs linear time.
_GAP_BEFORE_PUNCT_RE = re.compile("\x07[ \t\u00a0,;:、，；]{0,8}[.,;:!?)\\]）。，、；：」』]")
_OPENERS = {"(": ")", "（": "）", "[": "]"}
_CLOSERS = frozenset(_OPENERS.values())
_GAP_DEBRIS = " \t\u00a0,;:、，；"
_EMPTY_BRACKETS = (" ()", " ( )", " （）", "（）", " （ ）", "（ ）")
_NAME_SPACES_RE = re.compile(r"[\s_]+")
_WHITESPACE_CHARS = "\t\r\f\v\u00a0"


@dataclass
class Link:
    target: str  # normalized article title
    anchor: str
    start: int  # body: text[start:end] == anchor; template: -1
    end: int
    kind: str  # "body" or "template"


@dataclass
class CleanPage:
    text: str
    links: list[Link]
    is_disambiguation: bool


class WikitextError(Exception):
    """A page the cleaner cannot handle; the caller logs its id, title and this reason and skips it."""


def clean_wikitext(
    wikitext: str,
    title: str,
    site: SiteInfo,
    hatnote_templates: Sequence[str] = DEFAULT_HATNOTES,
    variant: str = "",
    templates: TemplateLibrary | None = None,
) -> CleanPage:
    """Clean one page's wikitext. Links come body links first (in text order), then spanless ones.

    `variant` picks the language variant of `-{zh-cn:..;zh-tw:..}-` markup (with MediaWiki's
    fallbacks, e.g. zh-cn -> zh-hans); "" takes the first one a rule lists. `templates`: definitions
    from the input's namespace-10 pages, which expand the templates the registry does not render."""
    if len(wikitext) > MAX_PAGE_CHARS:
        raise WikitextError(f"page has {len(wikitext)} characters, over the {MAX_PAGE_CHARS} limit")
    hatnotes = hatnote_templates if isinstance(hatnote_templates, tuple) else tuple(hatnote_templates)
    return _PageCleaner(site, _hatnote_names(hatnotes), variant, templates).clean(wikitext, title)


@lru_cache(maxsize=64)
def _hatnote_names(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_template_key(n) for n in names)


def _template_key(name: str) -> str:
    """Template names compare case-insensitively with `_` and whitespace runs equivalent."""
    name = name.strip().lower()
    if "_" in name or "  " in name or "\n" in name or "\t" in name:
        name = _NAME_SPACES_RE.sub(" ", name).strip()
    if ":" in name:
        for prefix in ("subst:", "safesubst:", "template:", "msgnw:"):
            if name.startswith(prefix):
                name = name[len(prefix) :].strip()
    return name


def _match_pairs(
    text: str, open_re: re.Pattern[str], close_re: re.Pattern[str], width: int, line_start: bool = False
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int]]]:
    """Pair open/close tokens with a stack (each token list comes from a literal-prefixed regex).

    Returns (all matched spans, outermost matched spans, unmatched token spans). An unclosed
    opener leaves the spans inside it outermost, as MediaWiki shows such an opener as text.
    """
    opens = [m.start() for m in open_re.finditer(text)]
    closes = [m.start() for m in close_re.finditer(text)]
    if line_start:
        opens = [p for p in opens if _at_line_start(text, p)]
        closes = [p for p in closes if _at_line_start(text, p)]
    stack: list[int] = []
    spans: list[tuple[int, int]] = []
    outer: list[tuple[int, int]] = []
    stray: list[tuple[int, int]] = []
    i = j = 0
    n_open, n_close = len(opens), len(closes)
    while j < n_close:
        if i < n_open and opens[i] < closes[j]:
            stack.append(opens[i])
            i += 1
            continue
        close = closes[j]
        j += 1
        if stack:
            span = (stack.pop(), close + width)
            spans.append(span)
            if not stack:
                outer.append(span)
        else:
            stray.append((close, close + width))
    stack.extend(opens[i:])
    if stack:
        stray.extend((p, p + width) for p in stack)
        outer = _outermost(spans)
    return spans, outer, stray


def _outermost(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Outermost spans of a properly nested set."""
    out: list[tuple[int, int]] = []
    end = -1
    for s, e in sorted(spans):
        if s >= end:
            out.append((s, e))
            end = e
    return out


def _splice(text: str, cuts: list[tuple[int, int, str]]) -> str:
    """Replace non-overlapping (start, end, replacement) cuts, given in any order."""
    if not cuts:
        return text
    cuts.sort(key=lambda cut: (cut[0], -cut[1]))  # at one start, the widest cut wins
    out: list[str] = []
    pos = 0
    for s, e, rep in cuts:
        if s < pos:  # inside an earlier cut (a stray token within a removed span)
            continue
        out.append(text[pos:s])
        out.append(rep)
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _at_line_start(text: str, pos: int) -> bool:
    """Only spaces, tabs and `:` indents between the previous newline and pos. Walks back over
    those characters only, so tokens on one long line cost O(1) each, not O(line)."""
    i = pos - 1
    while i >= 0 and text[i] in " \t:\x07":
        i -= 1
    return i < 0 or text[i] == "\n"


def _strip_comments(text: str) -> str:
    """`<!-- ... -->` removed; an unclosed comment runs to the end of the page (MediaWiki's rule)."""
    out: list[str] = []
    pos = 0
    start = text.find("<!--")
    while start >= 0:
        out.append(text[pos:start])
        end = text.find("-->", start + 4)
        if end < 0:
            pos = len(text)
            break
        pos = end + 3
        start = text.find("<!--", pos)
    out.append(text[pos:])
    return "".join(out)


class _PageCleaner:
    def __init__(
        self,
        site: SiteInfo,
        hatnotes: frozenset[str],
        variant: str = "",
        library: TemplateLibrary | None = None,
    ) -> None:
        self.library = library or None  # an empty library is no library
        self.expansions = 0
        self.site = site
        self.language = site.language
        self.hatnotes = hatnotes
        self.variant = variant
        self.title = ""
        self.link_re = _link_re(site.link_trail)
        self.title_cache = site.title_cache
        self.body_targets: list[str] = []
        self.spanless: list[Link] = []
        self.nowiki: list[str] = []
        self.is_disambiguation = False

    def clean(self, text: str, title: str) -> CleanPage:
        self.is_disambiguation = title.rstrip().endswith("(disambiguation)") or (
            "__" in text and any(switch in text for switch in self.site.disambiguation_switches)
        )
        self.title = title
        if any(
            c in text for c in "\x01\x02\x03\x04\x05\x06\x07\x0e"
        ):  # impossible in XML; JSONL could carry them
            text = text.translate(_CONTROL_CHARS)
        if "<!--" in text:
            text = _strip_comments(text)
        if "<" in text:
            text = self._extension_tags(text)
        if "-{" in text:
            text = _VARIANT_RE.sub(self._variant, text)
        if "{{" in text or "}}" in text:
            text = self._templates(text)
            if "-{" in text:  # variant markup whose rules held templates: `-{zh-hans:{{..}};zh-hant:..}-`
                text = _VARIANT_RE.sub(self._variant, text)
        if "{|" in text or "|-" in text or "|}" in text:
            text = self._tables(text)
        if "[[" in text:
            text = self._links(text)
        if "[[" in text or "]]" in text:  # unbalanced: MediaWiki shows them as text, we drop them
            text = text.replace("[[", "").replace("]]", "")
        return self._spans(_tidy(text, self.nowiki))

    # -- removals whose links are kept without a span ------------------------------------------
    def _collect_links(self, fragment: str) -> None:
        if "[[" not in fragment:
            return
        if _GAP in fragment:
            fragment = fragment.replace(_GAP, "")
        site = self.site
        for m in _LINK_TARGET_RE.finditer(fragment):
            target = classify_link_target(m.group(1), site)[1]
            if target is not None:
                self.spanless.append(Link(target, target, -1, -1, _TEMPLATE))

    def _extension_tags(self, text: str) -> str:
        tokens = [m for m in _TAG_RE.finditer(text) if m.group(2).lower() in _EXT_TAGS]
        if not tokens:
            return text
        # Close tags per tag name; each open pairs with the first close after it (MediaWiki's
        # rule: extension tags do not nest), found with a forward-only pointer: linear time.
        closes: dict[str, list[int]] = {}
        for k, m in enumerate(tokens):
            if m.group(1):
                closes.setdefault(m.group(2).lower(), []).append(k)
        next_close = dict.fromkeys(closes, 0)
        cuts: list[tuple[int, int, str]] = []
        pos = 0
        for k, m in enumerate(tokens):
            start = m.start()
            if start < pos:
                continue
            name = m.group(2).lower()
            if m.group(1) or m.group(3).endswith("/"):  # stray close, or self-closing: markup only
                cuts.append((start, m.end(), _GAP))
                pos = m.end()
                continue
            candidates = closes.get(name, ())
            i = next_close.get(name, 0)
            while i < len(candidates) and candidates[i] < k:
                i += 1
            next_close[name] = i
            if i == len(candidates):  # unclosed: MediaWiki shows it as text; we drop the markup
                cuts.append((start, m.end(), _GAP))
                pos = m.end()
                continue
            close = tokens[candidates[i]]
            content = text[m.end() : close.start()]
            if name in _LITERAL_TAGS:
                self.nowiki.append(html.unescape(content) if "&" in content else content)
                replacement = f"{_NOWIKI_OPEN}{len(self.nowiki) - 1}{_NOWIKI_CLOSE}"
            else:
                if name in _LINK_TAGS:
                    self._collect_links(content)
                replacement = _GAP
            cuts.append((start, close.end(), replacement))
            pos = close.end()
        return _splice(text, cuts)

    def _templates(self, text: str) -> str:
        spans, outer, stray = _match_pairs(text, _OPEN_BRACES_RE, _CLOSE_BRACES_RE, 2)
        hatnotes = self.hatnotes
        names: dict[int, tuple[str, str]] = {}
        for s, e in spans:
            raw_name = _TEMPLATE_NAME_RE.match(text, s + 2).group()
            name = _template_key(raw_name)
            names[s] = (raw_name, name)
            if name in DISAMBIGUATION_TEMPLATES or name in self.site.disambiguation_templates:
                self.is_disambiguation = True
            elif (
                name in hatnotes
                and e - s < MAX_HATNOTE_CHARS  # bounds the work of nested hatnotes on hostile input
                and text.startswith("|", s + 2 + len(raw_name))
            ):
                self._hatnote(name, text[s + 3 + len(raw_name) : e - 2])
        cuts = [(s, e, _GAP) for s, e in stray]
        starts: list[int] | None = None
        for s, e in outer:
            raw_name, name = names[s]
            if not self._renders(name, text, s, e):
                expanded = self._expand(text[s:e], name)
                if expanded is not None:
                    cuts.append((s, e, expanded or _GAP))
                    continue
                self._collect_links(text[s:e])
                cuts.append((s, e, _GAP))
                continue
            if starts is None:
                spans.sort()
                starts = [span[0] for span in spans]
            shown = self._render(text, s, e, spans, starts, names, 0)
            raw = text[s:e]
            if "[[" in raw:  # links the rendering left out (a language code, a dropped child) stay spanless
                lost = Counter(m.group(1) for m in _LINK_TARGET_RE.finditer(raw))
                lost.subtract(m.group(1) for m in _LINK_TARGET_RE.finditer(shown))
                self._collect_links("".join(f"[[{t}]]" * n for t, n in lost.items() if n > 0))
            cuts.append((s, e, shown or _GAP))
        return _splice(text, cuts)

    def _render(
        self,
        text: str,
        s: int,
        e: int,
        spans: list[tuple[int, int]],
        starts: list[int],
        names: dict[int, tuple[str, str]],
        depth: int,
    ) -> str:
        """The wikitext a template span shows: its renderer's output, nested templates rendered
        first; "" for a template without a renderer."""
        raw_name, name = names[s]
        if depth > MAX_TEMPLATE_DEPTH:
            return ""
        if not self._renders(name, text, s, e):
            return self._expand(text[s:e], name) or ""
        if renderer_for(name, self.language) is None and name not in _OWN_NAME:
            name = _LISTING  # shaped like a listing: rendered as one
        inner_start = s + 2 + len(raw_name)
        cuts: list[tuple[int, int, str]] = []
        k = bisect_right(starts, s)
        end = inner_start
        while k < len(spans) and spans[k][0] < e:
            cs, ce = spans[k]
            k += 1
            if cs < end:  # inside a child already taken
                continue
            cuts.append(
                (
                    cs - inner_start,
                    ce - inner_start,
                    # An `=` a child shows is text, never the parent's `name=value` sign (`{{nowrap|Z {{=}} 1}}`).
                    (self._render(text, cs, ce, spans, starts, names, depth + 1) or _GAP).replace(
                        "=", _EQUALS
                    ),
                )
            )
            end = ce
        inner = _splice(text[inner_start : e - 2], cuts)
        if inner.startswith("|"):
            args = _split_args(inner[1:])
        elif (
            raw_name.endswith(":") and inner.strip()
        ):  # `{{formatnum:{{#expr:..}}}}`: the argument began with a call
            args = _split_args(inner)
        else:
            args = []
        return (render(name, raw_name, args, self.title, self.language) or "").replace(_EQUALS, "=")

    def _renders(self, name: str, text: str, s: int, e: int) -> bool:
        """The registry (or the wiki's own table) renders this call; or it is shaped like a
        Wikivoyage listing (`{{proorismos | name=... | content=...}}`, any language's name), whose
        name and description are the prose."""
        if renderer_for(name, self.language) is not None or name in _OWN_NAME:
            return True
        if e - s > MAX_LISTING_CHARS or (
            text.find("content", s, e) < 0 and text.find("description", s, e) < 0
        ):
            return False  # two C-speed searches keep infoboxes from costing a regex pass
        found = {m.group(1) for m in _LISTING_ARG_RE.finditer(text, s, e)}
        return "name" in found and len(found) > 1

    def _expand(self, call: str, name: str) -> str | None:
        """A template without a renderer, expanded from the input's own definition (namespace 10),
        then cleaned of the templates its output calls; None without a usable definition."""
        if self.library is None or name not in self.library or self.expansions >= MAX_EXPANSIONS:
            return None
        self.expansions += 1
        expanded = self.library.expand(
            call, self.title, lambda key: renderer_for(key, self.language) is not None
        )
        if expanded is None:
            return None
        if "{{" in expanded or "}}" in expanded:
            expanded = self._templates(expanded)
        return expanded

    def _variant(self, m: re.Match[str]) -> str:
        """One `-{...}-`: flags `H`/`T`/`-` define rules and show nothing; otherwise the chosen
        variant's text of `zh-cn:..;zh-tw:..` rules, or the text itself (`-{R|raw}-`, `-{text}-`)."""
        body = m.group(1)
        flags, bar, rest = body.partition("|")
        if bar and len(flags) <= 10 and all(c.isalpha() or c in "-; " for c in flags):
            if any(c in flags for c in "HT-"):
                return _GAP
            body = rest
        if ":" not in body:
            return body
        rules: dict[str, str] = {}
        for part in _VARIANT_SPLIT_RE.split(body):
            if not part.strip():
                continue
            rule = _VARIANT_RULE_RE.fullmatch(part)
            if rule is None:
                return body  # not a rule list (a colon in plain text)
            rules.setdefault(rule.group(1), rule.group(2).strip().rstrip(";").strip())
        if not rules:
            return body
        for code in (self.variant, *_VARIANT_FALLBACKS.get(self.variant, ())):
            if code in rules:
                return rules[code]
        return next(iter(rules.values()))

    def _hatnote(self, name: str, args_text: str) -> None:
        first, step = HATNOTE_TITLE_ARGS.get(name, (1, 1))
        if _GAP in args_text:
            args_text = args_text.replace(_GAP, "")
        positional = [a for a in _split_args(args_text) if "=" not in a]
        for arg in positional[first - 1 :: step]:
            target = classify_link_target(arg, self.site)[1]
            if target is not None:
                self.spanless.append(Link(target, target, -1, -1, _TEMPLATE))

    def _tables(self, text: str) -> str:
        _, outer, stray = _match_pairs(text, _TABLE_OPEN_RE, _TABLE_CLOSE_RE, 2, line_start=True)
        cuts: list[tuple[int, int, str]] = []
        unclosed = [s for s, e in stray if text.startswith("{|", s)]
        if unclosed:  # an unclosed table runs to the end of the page, as MediaWiki renders it
            outer = _outermost([*outer, (unclosed[0], len(text))])
        for s, e in outer:
            self._collect_links(text[s:e])
            cuts.append((s, e, ""))
        text = _splice(text, cuts)
        if "|-" in text or "|}" in text:  # a close without an open: rows of a table a template opened
            text = self._orphan_rows(text)
        return text

    def _orphan_rows(self, text: str) -> str:
        """Rows of a table whose `{|` came from a template (`{{TabelKapoLaŭĈarta}}`, `{{table
        start}}`) or whose `|}` did (`{{end}}`): every run of row lines (`|...`, `!...`) holding a row
        separator `|-` or a close `|}` goes, with the line of the removed template that opened it."""
        lines = text.split("\n")
        heads = [line.lstrip(" \t:" + _GAP) for line in lines]
        is_row = [h.startswith(("|", "!")) for h in heads]
        drop = [False] * len(lines)
        i = 0
        while i < len(lines):
            if not is_row[i]:
                i += 1
                continue
            j = i
            while j < len(lines) and is_row[j]:
                j += 1
            if any(heads[k].startswith(("|-", "|}")) for k in range(i, j)):
                start = (
                    i - 1 if i > 0 and _GAP in lines[i - 1] and not lines[i - 1].strip(" \t" + _GAP) else i
                )
                for k in range(start, j):
                    drop[k] = True
                self._collect_links("\n".join(lines[i:j]))
            i = j
        if not any(drop):
            return text
        return "\n".join(_GAP if dropped else line for line, dropped in zip(lines, drop, strict=True))

    # -- wikilinks -------------------------------------------------------------------------------
    def _links(self, text: str) -> str:
        """Innermost links first until none is left: one nesting level per pass, so the work is
        bounded by MAX_NESTING passes over the page."""
        link_re = self.link_re
        for _ in range(MAX_NESTING):
            text, n = link_re.subn(self._link, text)
            if not n or "[[" not in text:
                return text
        raise WikitextError(f"wikilinks nested more than {MAX_NESTING} deep")

    def _link(self, m: re.Match[str]) -> str:
        """Replacement of one innermost wikilink (with its trail): a marked anchor, its visible
        text, or nothing (embeds, categories, interlanguage links)."""
        target, label, trail = m.groups()
        kind, title = self.title_cache.get(target) or classify_link_target(target, self.site)
        if title is None and kind == "invalid" and _GAP in target:  # a removal inside the target
            target = target.replace(_GAP, "")
            kind, title = classify_link_target(target, self.site)
        if title is None:
            if kind == "external":
                # `[[http://x.org label]]`: an external link in brackets shows its label.
                url_label = target.strip().partition(" ")[2].strip()
                return (label if label is not None else url_label) or _GAP
            colon = target.lstrip()[:1] == ":"
            if not colon and kind == "namespace":
                ns_id = self.site.split_namespace(target.strip())[0]
                if ns_id in _FILE_NAMESPACES or ns_id == _CATEGORY_NAMESPACE:
                    # The embed and its caption are not text; links already marked inside the
                    # caption lose their marker here and end up spanless.
                    return _GAP + trail if trail else _GAP
            elif kind == "interwiki":
                if not colon and target.partition(":")[0].strip().lower() in LANGUAGE_CODES:
                    return _GAP  # interlanguage link: MediaWiki moves it to the sidebar
                if label is None:  # `[[wikipedia:el:Κιλκίς]]`, `[[commons:Category:X]]`: the title
                    return self._interwiki_text(target) + trail
            if label is not None:
                return label + trail
            return _strip_colon(target) + trail
        shown = label if label is not None else _strip_colon(target)
        if trail:
            shown += trail
        if _MARK_OPEN in shown:  # a link inside a link's text: the inner one wins
            self.spanless.append(Link(title, title, -1, -1, _TEMPLATE))
            return shown
        self.body_targets.append(title)
        return f"{_MARK_OPEN}{len(self.body_targets) - 1}{_MARK_MID}{shown}{_MARK_CLOSE}"

    def _interwiki_text(self, target: str) -> str:
        """The title an interwiki target names, without its wiki, language and namespace prefixes."""
        text = target.strip().lstrip(":").strip()
        while True:
            prefix, colon, rest = text.partition(":")
            key = prefix.strip().lower()
            if colon and (key in INTERWIKI_PREFIXES or key in LANGUAGE_CODES):
                text = rest.strip()
                continue
            break
        ns_id, rest = self.site.split_namespace(text)
        if ns_id != 0:
            text = rest
        text = text.partition("#")[0].replace("_", " ").strip()
        return text or _GAP

    # -- spans -----------------------------------------------------------------------------------
    def _spans(self, text: str) -> CleanPage:
        links: list[Link] = []
        used = [False] * len(self.body_targets)
        if _MARK_OPEN in text or _MARK_MID in text or _MARK_CLOSE in text:
            pieces = text.split(_MARK_OPEN)
            # A removal in _tidy (a tag or URL around a marker) can cut a marker: then every
            # segment is scrubbed of marker bytes before its length counts.
            intact = text.count(_MARK_MID) == text.count(_MARK_CLOSE) == len(pieces) - 1
            out = [pieces[0] if intact else _scrub_markers(pieces[0])]
            length = len(out[0])
            targets = self.body_targets
            for piece in pieces[1:]:
                index, mid, rest = piece.partition(_MARK_MID)
                anchor_raw, close, after = rest.partition(_MARK_CLOSE)
                if not mid or not close or not index.isdigit() or int(index) >= len(targets):  # a cut marker
                    piece = _scrub_markers(piece)
                    out.append(piece)
                    length += len(piece)
                    continue
                if not intact:
                    anchor_raw, after = _scrub_markers(anchor_raw), _scrub_markers(after)
                anchor = anchor_raw.strip()
                if anchor:
                    k = int(index)
                    start = length if len(anchor) == len(anchor_raw) else length + anchor_raw.find(anchor[0])
                    links.append(Link(targets[k], anchor, start, start + len(anchor), _BODY))
                    used[k] = True
                out.append(anchor_raw)
                out.append(after)
                length += len(anchor_raw) + len(after)
            text = "".join(out)
        stripped = text.lstrip()
        shift = len(text) - len(stripped)
        text = stripped.rstrip()
        if shift:
            for link in links:
                link.start -= shift
                link.end -= shift
        # Links whose anchor vanished (empty, or removed with an embed) are still links of the page.
        for index, target in enumerate(self.body_targets):
            if not used[index]:
                links.append(Link(target, target, -1, -1, _TEMPLATE))
        links.extend(self.spanless)
        return CleanPage(text=text, links=links, is_disambiguation=self.is_disambiguation)


def _tidy(text: str, nowiki: list[str]) -> str:
    """External links, HTML markup, quotes, headings, lists, entities and whitespace."""
    if "[" in text:
        text = _EXTERNAL_LINK_RE.sub(_external_label, text)
    if "<" in text:
        text = _TAG_RE.sub(_markup_tag, text)
    if "''" in text:
        text = _QUOTES_RE.sub("", text)
    if "__" in text:
        text = _MAGIC_WORD_RE.sub(_behaviour_switch, text)
    if _GAP in text:
        text = _close_gaps(text)
    text = "\n" + text  # line-start patterns anchor on a literal newline (fast search)
    if "\n=" in text:
        text = _HEADING_RE.sub(_heading, text)
    text = _LINE_PREFIX_RE.sub("\n", text)
    if "&" in text:
        text = html.unescape(text)
    for debris in ("[[", "]]", "{{", "}}"):  # brackets that removals above brought together
        if debris in text:
            text = text.replace(debris, "")
    if nowiki:
        text = _NOWIKI_RE.sub(lambda m: nowiki[int(m.group(1))], text)
    if "\x04" in text or "\x05" in text:  # a placeholder cut by a removal (e.g. inside a tag)
        text = text.translate(_CONTROL_CHARS)
    for ch in _WHITESPACE_CHARS:
        if ch in text:
            text = text.replace(ch, " ")
    while "  " in text:  # each pass halves every run: log2(longest run) C-speed passes
        text = text.replace("  ", " ")
    if " \n" in text:
        text = text.replace(" \n", "\n")
    # Punctuation orphaned by removed templates: `Achilles ({{IPA|..}}; {{lang|grc|..}}, Akhilleus, )`
    # leaves `Achilles (; , Akhilleus, )`, `the Greek {{lang|..}}, i.e.` leaves `the Greek , i.e.`.
    if "(" in text:
        text = _PAREN_OPEN_DEBRIS_RE.sub("(", text)
    if any(debris in text for debris in _PAREN_CLOSE_DEBRIS):  # a class-first regex is slow: guard it
        text = _PAREN_CLOSE_DEBRIS_RE.sub(")", text)
    if " ," in text:
        text = text.replace(" ,", ",")
    for empty in _EMPTY_BRACKETS:  # whatever held them was removed; `f()` in prose stays
        if empty in text:
            text = text.replace(empty, "")
    text = _NEWLINE_RUN_RE.sub(_newline_run, text)
    if _HEADING in text:
        text = _drop_empty_sections(text)
    return text


def _close_gaps(text: str) -> str:
    """Brackets a removal left holding nothing (`(`, gaps, list punctuation, `)`) and the space it
    left before punctuation go; then the gap marks. One pass over the pieces between gaps: a piece
    walked back over is debris only and is dropped or kept once, so the work is linear."""
    if _GAP_BEFORE_PUNCT_RE.search(text) is None:  # most gaps sit between words: nothing to tidy
        return text.replace(_GAP, "")
    parts = text.split(_GAP)
    out = [parts[0]]
    for part in parts[1:]:
        head = part.lstrip(_GAP_DEBRIS)
        if head[:1] in _CLOSERS:
            i = len(out) - 1
            while i > 0 and not out[i].strip(_GAP_DEBRIS):  # debris between gaps in a row
                i -= 1
            left = out[i].rstrip(_GAP_DEBRIS)
            if left and _OPENERS.get(left[-1]) == head[0]:
                out[i] = left[:-1].rstrip(_GAP_SPACES)
                del out[i + 1 :]
                out.append(head[1:])
                continue
        stripped = part.lstrip(_GAP_SPACES)
        if stripped and stripped[0] in _PUNCT_AFTER_GAP:
            i = len(out) - 1
            while i >= 0:
                out[i] = out[i].rstrip(_GAP_SPACES)
                if out[i]:
                    break
                i -= 1
            part = stripped
        out.append(part)
    return "".join(out)


def _drop_empty_sections(text: str) -> str:
    """Headings whose section holds no text (nor any subsection with text) are dropped, as is a
    heading whose title was all markup; the heading marks (`_HEADING` + level digit) go. One
    backward pass over the headings with a stack of the later sections still open: linear."""
    heads = list(_HEADING_LINE_RE.finditer(text))
    n = len(heads)
    keep = [False] * n
    stack: list[tuple[str, bool]] = []  # (level, has text) of later sections, nearest on top
    for k in range(n - 1, -1, -1):
        m = heads[k]
        level = m.group(1)
        end = heads[k + 1].start() if k + 1 < n else len(text)
        has_text = _NONBLANK_RE.search(text, m.end(), end) is not None
        while stack and stack[-1][0] > level:  # its subsections
            has_text = stack.pop()[1] or has_text
        stack.append((level, has_text))
        keep[k] = has_text and bool(m.group(2).strip())
    cuts: list[tuple[int, int, str]] = []
    for m, kept in zip(heads, keep, strict=True):
        if kept:
            cuts.append((m.start(), m.start() + 2, ""))
        else:
            end = m.end() + 2 if text.startswith("\n\n", m.end()) else m.end()
            cuts.append((m.start(), end, ""))
    return _splice(text, cuts)


def _split_args(args_text: str) -> list[str]:
    """Template arguments split at top-level `|` (not inside nested links or templates)."""
    if "[[" not in args_text and "{{" not in args_text:
        return [a.strip() for a in args_text.split("|")]
    parts: list[str] = []
    depth = 0
    start = 0
    for m in _ARG_TOKEN_RE.finditer(args_text):
        tok = m.group()
        if tok in ("{{", "[["):
            depth += 1
        elif tok in ("}}", "]]"):
            depth = max(0, depth - 1)
        elif depth == 0:
            parts.append(args_text[start : m.start()].strip())
            start = m.end()
    parts.append(args_text[start:].strip())
    return parts


def _scrub_markers(text: str) -> str:
    return text.translate(_CONTROL_CHARS)


def _strip_colon(target: str) -> str:
    """`[[:Category:X]]` shows `Category:X`."""
    stripped = target.lstrip()
    return stripped[1:] if stripped[:1] == ":" else target


def _behaviour_switch(m: re.Match[str]) -> str:
    word = m.group()
    return "" if word.upper() in _SWITCHES or _ASCII_SWITCH_RE.fullmatch(word) else word


def _external_label(m: re.Match[str]) -> str:
    return m.group(1)


def _markup_tag(m: re.Match[str]) -> str:
    name = m.group(2).lower()
    if name == "br":
        return "\n"
    return "" if name in _MARKUP_TAGS else m.group()


def _heading(m: re.Match[str]) -> str:
    line = m.group()[1:].rstrip()
    level = min(len(line) - len(line.lstrip("=")), len(line) - len(line.rstrip("=")), 6)
    if level == 0 or len(line) <= 2 * level:
        return m.group()
    return f"\n\n{_HEADING}{level}{line[level:-level].strip()}\n\n"


def _newline_run(m: re.Match[str]) -> str:
    """A newline followed by blank lines: one paragraph break; by spaces only: one newline."""
    return "\n\n" if m.group().count("\n") > 1 else "\n"
