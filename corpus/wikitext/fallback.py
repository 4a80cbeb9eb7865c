"""Pages the fast cleaner refuses, cleaned by mwparserfromhell instead.

`corpus.wikitext.clean.clean_wikitext` raises `WikitextError` on structures it bounds on purpose (wikilinks
nested deeper than `MAX_NESTING`); such pages are real, if odd, and a reader still sees their text.
mwparserfromhell (a full parser, ~15x slower, which is why it is not the default) handles them:
its `strip_code` gives the text and `filter_wikilinks` the links. Links come without a position
(kind `template`, like links in template parameters), so every link of the page still reaches the
graph. Pages over `MAX_PAGE_CHARS` are not retried: that is a broken input, not an odd page.
"""

from __future__ import annotations

import re

import mwparserfromhell

from corpus.site.siteinfo import SiteInfo
from corpus.site.titles import classify_link_target
from corpus.wikitext.clean import CleanPage, Link

_BLANK_LINES_RE = re.compile(r"\n\s*\n\s*")
_SPACES_RE = re.compile(r"[ \t\u00a0]+")


def clean_with_mwparserfromhell(wikitext: str, site: SiteInfo) -> CleanPage:
    code = mwparserfromhell.parse(wikitext, skip_style_tags=True)
    links: list[Link] = []
    for wikilink in code.filter_wikilinks(recursive=True):
        title = classify_link_target(str(wikilink.title), site)[1]
        if title is not None:
            links.append(Link(title, title, -1, -1, "template"))
    text = code.strip_code(normalize=True, collapse=True)
    text = _BLANK_LINES_RE.sub("\n\n", _SPACES_RE.sub(" ", text)).strip()
    return CleanPage(text=text, links=links, is_disambiguation=False)
