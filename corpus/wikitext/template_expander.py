"""Expansion of simple templates from their own definitions, when the input holds them (namespace 10).

A real dump carries the template pages themselves; a template-expanding extractor reads them instead
of knowing each template by name. This does the simple part of MediaWiki's preprocessor: parameters
(`{{{1}}}`, `{{{name|default}}}`), the common parser functions (`#if`, `#ifeq`, `#switch`, `#expr`), templates
calling templates, `<noinclude>`/`<includeonly>`/`<onlyinclude>`. A definition that needs more (Lua
`#invoke`, `#time`, `#tag`...) is not expanded: the template is dropped, as without a definition.
Templates the registry renders (corpus/wikitext/templates.py) and magic words are left in the output for the
cleaner. Limits: MAX_DEPTH nested expansions and MAX_CHARS of output per call bound hostile input.

Cost: before the extraction the launcher reads the input's template pages (corpus/readers/template_pages.py:
only the streams holding them in a multistream dump with its index, the whole file otherwise;
bench/RESULTS.md has the figure), and each call costs a few regex passes over the definition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from corpus.wikitext.expr import ExprError, evaluate

MAX_DEPTH = 8  # MediaWiki allows 40; simple templates nest 2-3 deep
MAX_CHARS = 20_000  # output of one call; an infobox-sized expansion is not a sentence's words
MAX_PASSES = 200  # innermost-first rewriting passes per call

_PARAM_RE = re.compile(r"\{\{\{([^{}]*)\}\}\}")
_CALL_RE = re.compile(r"\{\{(?!\{)([^{}]*)\}\}")
_HOLE_RE = re.compile("\x0e(\\d+)\x0f")
_NOINCLUDE_RE = re.compile(r"<noinclude>.*?(?:</noinclude>|$)", re.DOTALL | re.IGNORECASE)
_ONLYINCLUDE_RE = re.compile(r"<onlyinclude>(.*?)</onlyinclude>", re.DOTALL | re.IGNORECASE)
_INCLUDEONLY_RE = re.compile(r"</?includeonly>", re.IGNORECASE)
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_SPACES_RE = re.compile(r"[\s_]+")
_NUMBER_RE = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_SUPPORTED = frozenset(["#if", "#ifeq", "#switch", "#expr"])


class _NotSimple(Exception):
    """The definition needs more than this preprocessor does."""


def template_key(name: str) -> str:
    """Template names compare like the cleaner compares them: lower case, `_` and space runs equal."""
    return _SPACES_RE.sub(" ", name).strip().lower()


def transcluded(body: str) -> str:
    """The part of a template page that a call includes."""
    only = _ONLYINCLUDE_RE.findall(body)
    if only:
        return "".join(only)
    body = _COMMENT_RE.sub("", body)
    return _INCLUDEONLY_RE.sub("", _NOINCLUDE_RE.sub("", body))


class TemplateLibrary:
    """Template definitions by key; redirects between templates are followed."""

    def __init__(self, bodies: dict[str, str] | None = None, redirects: dict[str, str] | None = None) -> None:
        self.bodies = bodies or {}
        self.redirects = redirects or {}

    def __len__(self) -> int:
        return len(self.bodies)

    def add(self, name: str, wikitext: str, redirect: str | None = None) -> None:
        key = template_key(name)
        if redirect is not None:
            self.redirects[key] = template_key(redirect.partition(":")[2] or redirect)
        else:
            self.bodies[key] = transcluded(wikitext)

    def body(self, key: str) -> str | None:
        for _ in range(5):  # a redirect chain, not a loop
            if key in self.bodies:
                return self.bodies[key]
            key = self.redirects.get(key, "")
            if not key:
                return None
        return None

    def __contains__(self, key: str) -> bool:
        return self.body(key) is not None

    # -- storage: the launcher collects, each task loads ---------------------------------------------
    def to_json(self) -> dict[str, dict[str, str]]:
        return {"bodies": self.bodies, "redirects": self.redirects}

    @classmethod
    def load(cls, path: Path) -> TemplateLibrary:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["bodies"], data["redirects"])

    @classmethod
    def from_pages(cls, pages: Iterable) -> TemplateLibrary:
        """From RawPages (corpus.readers.dump); only namespace 10 is kept."""
        library = cls()
        for page in pages:
            if page.ns == 10:
                name = page.site.split_namespace(page.title)[1]
                library.add(name, page.text, page.redirect)
        return library

    # -- expansion -------------------------------------------------------------------------------
    def expand(self, call: str, title: str, keep: Callable[[str], bool] = lambda key: False) -> str | None:
        """The wikitext a `{{Name|args}}` call shows, or None when the template has no definition or
        needs more than this preprocessor does. Calls of templates `keep` says yes to (those the
        registry renders) and of undefined templates stay in the output as written."""
        try:
            return self._call(call[2:-2], {}, title, keep, 0, top=True)
        except _NotSimple:
            return None

    def _call(
        self,
        inner: str,
        frame: dict[str, str],
        title: str,
        keep: Callable[[str], bool],
        depth: int,
        top: bool = False,
    ) -> str | None:
        parts = _split(inner)
        name, args = parts[0], parts[1:]
        key = template_key(name)
        if key.startswith("#"):
            head, _, first = name.partition(":")
            return _parser_function(template_key(head), [first, *args])
        if ":" in key and not key.startswith(("template:", "vorlage:", "modèle:")):
            return None  # a magic word or a namespace-qualified title: left for the cleaner
        key = key.partition(":")[2].strip() if ":" in key else key
        if not top and keep(key):
            return None
        body = self.body(key)
        if body is None:
            return None
        if depth >= MAX_DEPTH:
            raise _NotSimple
        call_frame: dict[str, str] = {}
        position = 0
        for arg in args:
            named, eq, value = arg.partition("=")
            if eq and "[[" not in named:
                call_frame[named.strip()] = value.strip()
            else:
                position += 1
                call_frame[str(position)] = arg
        return self._text(body, call_frame, title, keep, depth + 1)

    def _text(
        self, text: str, frame: dict[str, str], title: str, keep: Callable[[str], bool], depth: int
    ) -> str:
        """`text` with parameters from `frame` and its calls expanded, innermost first."""
        holes: list[str] = []
        for _ in range(MAX_PASSES):
            if len(text) > MAX_CHARS:
                raise _NotSimple
            new = _PARAM_RE.sub(lambda m: _param(m.group(1), frame), text)
            new = _CALL_RE.sub(lambda m: self._hole(m, frame, title, keep, depth, holes), new)
            if new == text:
                break
            text = new
        else:
            raise _NotSimple
        while "\x0e" in text:
            text = _HOLE_RE.sub(lambda m: holes[int(m.group(1))], text)
        return text

    def _hole(
        self,
        m: re.Match[str],
        frame: dict[str, str],
        title: str,
        keep: Callable[[str], bool],
        depth: int,
        holes: list[str],
    ) -> str:
        shown = self._call(m.group(1), frame, title, keep, depth)
        if shown is None:  # left as written (the cleaner renders or drops it), out of later passes' way
            holes.append(m.group())
            return f"\x0e{len(holes) - 1}\x0f"
        return shown


def _param(spec: str, frame: dict[str, str]) -> str:
    name, bar, default = spec.partition("|")
    value = frame.get(name.strip())
    if value is not None:
        return value
    return default  # MediaWiki shows `{{{name}}}`; a reader sees nothing there


def _parser_function(name: str, args: list[str]) -> str:
    if name not in _SUPPORTED:
        raise _NotSimple
    args = [a.strip() for a in args]
    get = lambda i: args[i] if i < len(args) else ""  # noqa: E731
    if name == "#expr":  # an invalid expression shows nothing (MediaWiki shows an error message)
        try:
            return evaluate(get(0))
        except ExprError:
            return ""
    if name == "#if":
        return get(1) if get(0) else get(2)
    if name == "#ifeq":
        a, b = get(0), get(1)
        same = float(a) == float(b) if _NUMBER_RE.match(a) and _NUMBER_RE.match(b) else a == b
        return get(2) if same else get(3)
    value, cases = get(0), args[1:]
    default: str | None = None
    matched = False
    for case in cases:
        test, eq, result = case.partition("=")
        if not eq:
            if test.strip() == value:
                matched = True  # falls through to the next case with a result
            continue
        if matched or test.strip() == value:
            return result.strip()
        if test.strip() == "#default":
            default = result.strip()
    if default is not None:
        return default
    last = cases[-1] if cases else ""
    return last.strip() if last and "=" not in last else ""


def _split(inner: str) -> list[str]:
    """A call's pieces at top-level `|`: links (`[[a|b]]`) and nested calls keep theirs (a call from
    the page may hold calls; inside a definition they are expanded first)."""
    if "[[" not in inner and "{{" not in inner:
        return inner.split("|")
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(inner):
        two = inner[i : i + 2]
        if two in ("[[", "{{"):
            depth += 1
            i += 2
            continue
        if two in ("]]", "}}"):
            depth = max(0, depth - 1)
            i += 2
            continue
        if inner[i] == "|" and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
        i += 1
    parts.append(inner[start:])
    return parts
