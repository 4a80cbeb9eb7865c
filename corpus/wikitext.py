"""Wikitext -> clean plain text + article links with their character spans.

A hand-written scanner instead of a full parse (mwparserfromhell is ~10x slower and stays the
reference: tests/corpus/test_wikitext_reference.py proves the links equal on the real sample).
Every construct is found by a literal-prefixed regex (C speed); templates, tables and extension
tags are paired with a stack over their tokens, wikilinks are resolved innermost first (one
nesting level per pass, at most MAX_NESTING passes), so the work is linear in the page size.
Passes, in order:

1. comments removed (links in comments are not links);
2. extension tags: `<ref>`, `<gallery>`, `<imagemap>` dropped with their links kept spanless;
   `<math>`, `<syntaxhighlight>`, `<timeline>`... dropped; `<nowiki>`/`<pre>` content kept as
   literal text (entities decoded);
3. templates `{{...}}` dropped (nested); wikilinks in their parameters kept spanless; hatnote
   templates (`{{main|X}}`) yield their title arguments; disambiguation templates mark the page;
4. tables `{| ... |}` dropped (nested; an unclosed one runs to the end); wikilinks kept spanless;
5. wikilinks: file/image embeds with their captions, categories and interlanguage links dropped
   (caption links kept spanless); article links become marked anchors (`\x01 i \x02 anchor \x03`);
   links into other namespaces, interwiki links and colon links (`[[:Category:X]]`) leave their text;
6. external links -> their label; quotes, magic words, HTML markup removed (content kept, `<br>` is
   a newline); headings and list items become plain lines (a heading is its own paragraph);
   entities decoded; whitespace and template-orphaned punctuation tidied;
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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from corpus.config import CorpusConfig
from corpus.siteinfo import SiteInfo
from corpus.titles import LANGUAGE_CODES, classify_link_target

DEFAULT_HATNOTES: tuple[str, ...] = tuple(CorpusConfig().hatnote_templates)

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
_CONTROL_CHARS = {c: None for c in range(1, 6)}

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
_MAGIC_WORD_RE = re.compile(r"__[A-Z]+__")
_OPEN_BRACES_RE = re.compile(r"\{\{")
_CLOSE_BRACES_RE = re.compile(r"\}\}")
_TEMPLATE_NAME_RE = re.compile(r"[^{}|]*")
_TABLE_OPEN_RE = re.compile(r"\{\|")
_TABLE_CLOSE_RE = re.compile(r"\|\}")
# An innermost wikilink: target, optional label (no brackets), link trail. Nested links (image
# captions) are resolved inside-out, one level per pass. The trail (letters glued after `]]`, as in
# `[[dog]]s`) joins the anchor; [a-z] is English Wikipedia's `$linkTrail`, other languages allow
# more letters, and we keep the English rule everywhere.
# A label may hold single brackets (`Bicyclo[1.1.0]butane`, `[above]`), never `[[` or `]]`.
_LINK_RE = re.compile(
    r"\[\[([^\[\]\n|]*{p})(?:\|([^\[\]]*{p}(?:(?:\[(?!\[)|\](?!\]))[^\[\]]*{p})*{p}))?\]\]([a-z]*{p})".replace(
        "{p}", _POSSESSIVE
    )
)
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
    wikitext: str, title: str, site: SiteInfo, hatnote_templates: Sequence[str] = DEFAULT_HATNOTES
) -> CleanPage:
    """Clean one page's wikitext. Links come body links first (in text order), then spanless ones."""
    if len(wikitext) > MAX_PAGE_CHARS:
        raise WikitextError(f"page has {len(wikitext)} characters, over the {MAX_PAGE_CHARS} limit")
    hatnotes = hatnote_templates if isinstance(hatnote_templates, tuple) else tuple(hatnote_templates)
    return _PageCleaner(site, _hatnote_names(hatnotes)).clean(wikitext, title)


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
    while i >= 0 and text[i] in " \t:":
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
    def __init__(self, site: SiteInfo, hatnotes: frozenset[str]) -> None:
        self.site = site
        self.hatnotes = hatnotes
        self.body_targets: list[str] = []
        self.spanless: list[Link] = []
        self.nowiki: list[str] = []
        self.is_disambiguation = False

    def clean(self, text: str, title: str) -> CleanPage:
        self.is_disambiguation = title.rstrip().endswith("(disambiguation)") or "__DISAMBIG__" in text
        if "\x01" in text or "\x04" in text:  # impossible in XML; JSONL input could carry them
            text = text.translate(_CONTROL_CHARS)
        if "<!--" in text:
            text = _strip_comments(text)
        if "<" in text:
            text = self._extension_tags(text)
        if "{{" in text or "}}" in text:
            text = self._templates(text)
        if "{|" in text:
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
                cuts.append((start, m.end(), ""))
                pos = m.end()
                continue
            candidates = closes.get(name, ())
            i = next_close.get(name, 0)
            while i < len(candidates) and candidates[i] < k:
                i += 1
            next_close[name] = i
            if i == len(candidates):  # unclosed: MediaWiki shows it as text; we drop the markup
                cuts.append((start, m.end(), ""))
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
                replacement = ""
            cuts.append((start, close.end(), replacement))
            pos = close.end()
        return _splice(text, cuts)

    def _templates(self, text: str) -> str:
        spans, outer, stray = _match_pairs(text, _OPEN_BRACES_RE, _CLOSE_BRACES_RE, 2)
        hatnotes = self.hatnotes
        for s, e in spans:
            raw_name = _TEMPLATE_NAME_RE.match(text, s + 2).group()
            name = _template_key(raw_name)
            if name in DISAMBIGUATION_TEMPLATES:
                self.is_disambiguation = True
            elif (
                name in hatnotes
                and e - s < MAX_HATNOTE_CHARS  # bounds the work of nested hatnotes on hostile input
                and text.startswith("|", s + 2 + len(raw_name))
            ):
                self._hatnote(name, text[s + 3 + len(raw_name) : e - 2])
        cuts = [(s, e, "") for s, e in stray]
        for s, e in outer:
            self._collect_links(text[s:e])
            cuts.append((s, e, ""))
        return _splice(text, cuts)

    def _hatnote(self, name: str, args_text: str) -> None:
        first, step = HATNOTE_TITLE_ARGS.get(name, (1, 1))
        positional = [a for a in _split_args(args_text) if "=" not in a]
        for arg in positional[first - 1 :: step]:
            target = classify_link_target(arg, self.site)[1]
            if target is not None:
                self.spanless.append(Link(target, target, -1, -1, _TEMPLATE))

    def _tables(self, text: str) -> str:
        _, outer, stray = _match_pairs(text, _TABLE_OPEN_RE, _TABLE_CLOSE_RE, 2, line_start=True)
        cuts = [(s, e, "") for s, e in stray]
        unclosed = [s for s, e in stray if text.startswith("{|", s)]
        if unclosed:  # an unclosed table runs to the end of the page, as MediaWiki renders it
            outer = _outermost([*outer, (unclosed[0], len(text))])
        for s, e in outer:
            self._collect_links(text[s:e])
            cuts.append((s, e, ""))
        return _splice(text, cuts)

    # -- wikilinks -------------------------------------------------------------------------------
    def _links(self, text: str) -> str:
        """Innermost links first until none is left: one nesting level per pass, so the work is
        bounded by MAX_NESTING passes over the page."""
        for _ in range(MAX_NESTING):
            text, n = _LINK_RE.subn(self._link, text)
            if not n or "[[" not in text:
                return text
        raise WikitextError(f"wikilinks nested more than {MAX_NESTING} deep")

    def _link(self, m: re.Match[str]) -> str:
        """Replacement of one innermost wikilink (with its trail): a marked anchor, its visible
        text, or nothing (embeds, categories, interlanguage links)."""
        target, label, trail = m.groups()
        kind, title = self.site.title_cache.get(target) or classify_link_target(target, self.site)
        if title is None:
            colon = target.lstrip()[:1] == ":"
            if not colon and kind == "namespace":
                ns_id = self.site.split_namespace(target.strip())[0]
                if ns_id in _FILE_NAMESPACES or ns_id == _CATEGORY_NAMESPACE:
                    # The embed and its caption are not text; links already marked inside the
                    # caption lose their marker here and end up spanless.
                    return ""
            elif (
                not colon
                and kind == "interwiki"
                and target.partition(":")[0].strip().lower() in LANGUAGE_CODES
            ):
                return ""  # interlanguage link: MediaWiki moves it to the sidebar
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

    # -- spans -----------------------------------------------------------------------------------
    def _spans(self, text: str) -> CleanPage:
        links: list[Link] = []
        used = [False] * len(self.body_targets)
        if _MARK_OPEN in text or _MARK_MID in text or _MARK_CLOSE in text:
            pieces = text.split(_MARK_OPEN)
            # A removal in _tidy (a tag or URL around a marker) can cut a marker: then every
            # segment is scrubbed of marker bytes before its length counts.
            intact = text.count(_MARK_MID) == text.count(_MARK_CLOSE) == len(pieces) - 1
            scrub = _identity if intact else _scrub_markers
            out = [scrub(pieces[0])]
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
                anchor_raw, after = scrub(anchor_raw), scrub(after)
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
        text = _MAGIC_WORD_RE.sub("", text)
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
    if " ()" in text:
        text = text.replace(" ()", "")
    return _NEWLINE_RUN_RE.sub(_newline_run, text)


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


def _identity(text: str) -> str:
    return text


def _scrub_markers(text: str) -> str:
    return text.translate(_CONTROL_CHARS)


def _strip_colon(target: str) -> str:
    """`[[:Category:X]]` shows `Category:X`."""
    stripped = target.lstrip()
    return stripped[1:] if stripped[:1] == ":" else target


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
    return "\n\n" + line[level:-level].strip() + "\n\n"


def _newline_run(m: re.Match[str]) -> str:
    """A newline followed by blank lines: one paragraph break; by spaces only: one newline."""
    return "\n\n" if m.group().count("\n") > 1 else "\n"
