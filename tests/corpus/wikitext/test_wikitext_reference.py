"""The fast cleaner against mwparserfromhell (the reference parser) on every page of the real sample.

Both sides see the same wikitext; mwparserfromhell's `filter_wikilinks()` (recursive: template
parameters, references, tables, image captions) gives the reference multiset of article targets,
classified by the same `classify_link_target`. They must be equal except for two known gaps of
the reference, each computed independently here and required to account for every difference:

- links inside `<gallery>` and `<imagemap>` blocks: mwparserfromhell does not parse those tags'
  content; MediaWiki renders those captions and areas as links, and so do we;
- links whose label opens bold/italic quotes and never closes them (`[[1992 ...|'''W]]`, common in
  tennis result tables): mwparserfromhell's tokenizer gives the link up as text; MediaWiki links it.

Links in `<!-- comments -->` are ignored by both (no gap).
"""

from __future__ import annotations

import bz2
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import mwparserfromhell
import pytest

from corpus.site.siteinfo import SiteInfo
from corpus.site.titles import classify_link_target
from corpus.wikitext.clean import clean_wikitext

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "wiki" / "enwiki-sample.xml.bz2"

_GALLERY_RE = re.compile(r"<(gallery|imagemap)\b[^>]*>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)
_TARGET_RE = re.compile(r"\[\[([^\[\]{}|\n]*)(?=\||\]\])")
_LABELLED_LINK_RE = re.compile(r"\[\[([^\[\]{}|\n]+)\|([^\[\]\n]*)\]\]")
_QUOTE_RUN_RE = re.compile(r"'{2,}")
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)


def _pages() -> list[tuple[str, int, str]]:
    pages = []
    with bz2.open(SAMPLE) as f:
        for _, el in ET.iterparse(f):
            if el.tag.rpartition("}")[2] != "page":
                continue
            title = el.findtext("{*}title")
            ns = int(el.findtext("{*}ns"))
            text = el.findtext("{*}revision/{*}text") or ""
            pages.append((title, ns, text))
            el.clear()
    return pages


@pytest.fixture(scope="module")
def site() -> SiteInfo:
    return SiteInfo.default()


@pytest.fixture(scope="module")
def pages() -> list[tuple[str, int, str]]:
    pages = _pages()
    assert len(pages) == 206
    return pages


def _article_targets(raw_targets, site: SiteInfo) -> Counter:
    out: Counter = Counter()
    for raw in raw_targets:
        target = classify_link_target(raw, site)[1]
        if target is not None:
            out[target] += 1
    return out


def _known_reference_gaps(text: str, site: SiteInfo) -> tuple[Counter, Counter]:
    text = _COMMENT_RE.sub("", text)
    gallery = Counter()
    for m in _GALLERY_RE.finditer(text):
        gallery += _article_targets((t.group(1) for t in _TARGET_RE.finditer(m.group(2))), site)
    open_quotes = _article_targets(
        (m.group(1) for m in _LABELLED_LINK_RE.finditer(text) if len(_QUOTE_RUN_RE.findall(m.group(2))) % 2),
        site,
    )
    return gallery, open_quotes


@pytest.mark.slow
def test_links_equal_mwparserfromhell_except_known_gaps(pages, site):
    compared = reference_total = gallery_total = quotes_total = 0
    for title, ns, text in pages:
        if ns != 0 or text.lstrip().upper().startswith("#REDIRECT"):
            continue
        compared += 1
        reference = _article_targets(
            (str(link.title) for link in mwparserfromhell.parse(text).filter_wikilinks()), site
        )
        # No hatnotes here: they are templates, not wikilinks, so the reference does not see them.
        ours = Counter(link.target for link in clean_wikitext(text, title, site, hatnote_templates=()).links)
        gallery, open_quotes = _known_reference_gaps(text, site)
        assert reference - ours == Counter(), f"{title}: links the reference finds and we miss"
        extra = ours - reference
        # Every extra link is explained by a known gap; every gallery link shows up as extra. The
        # reference drops only some open-quote links (its tokenizer's backtracking), so those are
        # bounded, not matched one for one.
        unexplained = extra - (gallery + open_quotes)
        assert unexplained == Counter(), f"{title}: links we find and the reference does not: {unexplained}"
        assert gallery - extra == Counter(), f"{title}: gallery links the reference finds: {gallery - extra}"
        reference_total += sum(reference.values())
        gallery_total += sum(gallery.values())
        quotes_total += sum((extra - gallery).values())
    assert compared == 106
    # The sample's measured figures: ~30k article links; the gaps are a fraction of a percent.
    assert reference_total > 29_000
    assert gallery_total == 89
    assert quotes_total == 3  # of the 4 open-quote links of "Andre Agassi"
