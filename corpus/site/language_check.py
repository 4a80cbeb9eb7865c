"""Does a dump's content speak the language its `<siteinfo>` (or `corpus.language`) says?

Files assembled by other tools, and many test fixtures, carry English Wikipedia's siteinfo around
French or Hungarian pages. Then `[[Fájl:x.jpg|bélyegkép|...]]` and `[[Kategória:X]]` read as article
links: captions and category lines reach the text and the graph gains edges to File and Category
pages. The check looks at the first articles' links: a `[[X:...` whose prefix `X` is not a
namespace of the dump's site but is the File or Category name of other Wikipedias votes for those
languages; enough votes give one warning naming the likely language and the setting that fixes it.
Cost: one literal-prefixed regex over the first CHECK_PAGES articles only.
"""

from __future__ import annotations

import logging
import re
from collections import Counter

from corpus.site import sitedata
from corpus.site.siteinfo import SiteInfo

log = logging.getLogger(__name__)

CHECK_PAGES = (
    100  # articles looked at per file (~0.2 ms each): the warning comes before a long run, not after it
)
MIN_VOTES = 3  # foreign File/Category links needed before a warning (one could be a stray typo)
# Wikipedias by size, largest first (article counts, 2024). Small wikis take their namespace names
# from a larger language (Bambara and Sango use French ones, Alemannic German ones), so a tie goes
# to the larger wiki, the likelier source of a dump (bot-written wikis last); the others are named too.
_BY_SIZE_TEXT = """en de fr sv nl ru es it pl ja zh vi uk ar pt fa ca sr id ko no ce fi hu cs tr tt sh
    ro zh-min-nan eu ms eo he hy da bg cy sk azb uz et simple be kk min el hr lt gl az ur sl lld ka nn hi th
    ta bn la mk ast lv af tg my sq mg bs oc te sw ky nds lb ml br pnb new vec jv ht zh-yue mr ga sco pms
    ceb war arz"""
_BY_SIZE = _BY_SIZE_TEXT.split()
_RANK = {lang: i for i, lang in enumerate(_BY_SIZE)}
_PREFIX_RE = re.compile(r"\[\[[ _]*([^\[\]|:\n{}<>]{1,40}?)[ _]*:")


class LanguageCheck:
    """Feed it a file's articles; `verdict()` says the likely language when the site's is wrong."""

    def __init__(self, site: SiteInfo, where: str) -> None:
        self.site = site
        self.where = where
        self.pages = 0
        self.votes: Counter[str] = Counter()  # language -> foreign File/Category links it explains
        self.links = 0
        self.warned = False

    def feed(self, text: str) -> None:
        if self.pages >= CHECK_PAGES or self.warned:
            return
        self.pages += 1
        if "[[" not in text:
            return
        prefixes = sitedata.media_prefixes()
        for m in _PREFIX_RE.finditer(text):
            prefix = m.group(1)
            if self.site.namespace_id(prefix) is not None:
                continue
            langs = prefixes.get(prefix.replace("_", " ").casefold())
            if langs:
                self.links += 1
                self.votes.update(langs)
        if self.pages == CHECK_PAGES:
            self.finish()

    def verdict(self) -> str | None:
        """The language whose File/Category names explain the most foreign links, or None."""
        if self.links < MIN_VOTES:
            return None
        return self._ranked()[0]

    def _ranked(self) -> list[str]:
        """Languages that explain the most foreign links; ties (names several wikis share:
        `Kategorie` on de, cs, als...) larger wiki first."""
        best = max(self.votes.values())
        tied = [lang for lang, n in self.votes.items() if n == best]
        return sorted(tied, key=lambda lang: (_RANK.get(lang, len(_RANK)), lang))

    def finish(self) -> None:
        """Warn once if the content names another language's File/Category namespaces."""
        if self.warned:
            return
        likely = self.verdict()
        if likely is None:
            return
        self.warned = True
        also = self._ranked()[1:]
        said = self.site.language or "unknown"
        log.warning(
            "%s: read as language %r (from its <siteinfo>, dbname %r, or corpus.language), but %d links of "
            "its first %d articles use File/Category names of another language (likely %r%s): their "
            "captions and category lines would be read as text and links. Pass corpus.language=%s",
            self.where,
            said,
            self.site.dbname,
            self.links,
            self.pages,
            likely,
            f", or one of {', '.join(also[:8])}" if also else "",
            likely,
        )
