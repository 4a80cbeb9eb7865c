"""Text fidelity of the cleaner on every bundled dump: residue left by removals, and word recall.

Per dump (articles only: namespace 0, not redirects), ours = `read_pages` + `clean_wikitext`, exactly
as the extract stage runs them. Residue categories, each counted only where the source wikitext does
not hold the same characters (so prose such as `5 : 3` is not residue):

- `gap_punct`: a word, a space and `. , ; : ! ? )` (`about .` where `{{convert}}` was);
- `empty_brackets`: `()`, `( )`, `（）`, `[]` left by removals;
- `interwiki`: `prefix:Title` text (`wikipedia:el:Κιλκίς`, `Commons:Category:X`) whose source is a link;
- `raw_variant`: `-{` or `}-` variant markup left in the text;
- `empty_headings`: a heading paragraph followed by a heading of the same or a higher level, or by
  the end of the page (headings found in the source and cleaned like their page);
- `cut_trails`: a body link followed by letters of the wiki's link trail that the source glues
  to its `]]` (a trail the cleaner cut short, `[[Ρωσία]]ς` -> anchor `Ρωσία`);
- `captions`: text lines with an embed's options (`thumb|right|220px|...`, `bélyegkép|balra|...`:
  a piece next to a pipe is an image option of some Wikipedia or a size);
- `category_lines`: text lines that start with a File or Category name of some Wikipedia and a colon;
- `table_rows`: raw table syntax (`|-`, `| cell`, `! head`, `{|`, `|}`) at the start of a line;
- `media_links`: links (body or spanless) whose target starts with a File or Category name of some
  Wikipedia: embeds and categories counted as document links pollute the graph.

Per language (each bundled dump, with `corpus.language` set to its language): residue (all categories
but `media_links`), File/Category link targets (`media_links`), and the share of in-sentence prose
templates (not footnotes, citations, maintenance tags or icons) whose words the cleaner shows; and the
same figures with the dump's siteinfo as is (the minidumps carry English Wikipedia's).

Recall: the share of the words (`\\w+`, lower-cased, as multisets per page) of wikiextractor 3.1 in
its template-expanding default mode that our text of the same page contains; the baseline is the
same share for wikiextractor `--no-templates`. The German, Russian, Arabic and Hebrew fragments carry
English Wikipedia's `<siteinfo>` (see tests/data/wiki/README.md), so their language is given.


    .venv/bin/python bench/fidelity.py

The last line is `RESULT fidelity_word_recall=<ours> share baseline=<--no-templates> ratio=<..>`.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus.readers.dump import read_pages  # noqa: E402
from corpus.site import sitedata  # noqa: E402
from corpus.site.titles import INTERWIKI_PREFIXES, LANGUAGE_CODES, normalize_title  # noqa: E402
from corpus.wikitext.clean import (  # noqa: E402
    _CLOSE_BRACES_RE,
    _OPEN_BRACES_RE,
    _TEMPLATE_NAME_RE,
    _match_pairs,
    _strip_comments,
    _template_key,
    clean_wikitext,
)
from corpus.wikitext.templates import TemplateArgs, renderer_for  # noqa: E402

DATA = ROOT / "tests" / "data" / "wiki"
# (file, language override or None: the dump's own)
DUMPS = [
    ("enwiki-sample.xml.bz2", None),
    ("dewiki-minidump.xml.bz2", "de"),
    ("ruwiki-minidump.xml.bz2", "ru"),
    ("arwiki-minidump.xml.bz2", "ar"),
    ("hewiki-minidump.xml.bz2", "he"),
    ("elwikivoyage-p2566p2583-multistream.xml.bz2", None),
    ("viwiki-test-truncated.xml.bz2", None),
    ("frwiki-minidump.xml.bz2", "fr"),
    ("itwiki-minidump.xml.bz2", "it"),
    ("cawiki-minidump.xml.bz2", "ca"),
    ("huwiki-minidump.xml.bz2", "hu"),
    ("eowiki-minidump.xml.bz2", "eo"),
    ("rowiki-minidump.xml.bz2", "ro"),
]
CATEGORIES = [
    "gap_punct",
    "empty_brackets",
    "interwiki",
    "raw_variant",
    "empty_headings",
    "cut_trails",
    "captions",
    "category_lines",
    "table_rows",
    "media_links",
]

_WORD_RE = re.compile(r"\w+")
_GAP_PUNCT_RE = re.compile(r"(?<=\w) [.,;:!?)](?!\.)")  # `..` / `...` is an ellipsis, not a gap
_EMPTY_BRACKETS_RE = re.compile(r"\(\s*\)|（\s*）|\[\s*\]")
_LINK_LABEL_RE = re.compile(r"\[\[[^\[\]|]*\|")
_TAG_RE = re.compile(r"<[^<>]*>")
_EXTERNAL_RE = re.compile(r"\[(?:https?:)?//[^\s\]]*\s*([^\]]*)\]")
_REF_RE = re.compile(r"<ref[^>/]*>.*?</ref>|<ref[^>]*/>", re.DOTALL | re.IGNORECASE)
_PREFIXES = "|".join(
    sorted((re.escape(p) for p in INTERWIKI_PREFIXES | LANGUAGE_CODES), key=len, reverse=True)
)
_INTERWIKI_RE = re.compile(rf"(?<![\w/.])((?:{_PREFIXES}):(?:(?:{_PREFIXES}):)?)[^\W\d_]", re.IGNORECASE)
_HEADING_RE = re.compile(r"^(={1,6})(.+?)\1\s*$", re.MULTILINE)
_TABLE_ROW_STARTS = ("|", "!", "{|")
_MEDIA_PREFIXES = sitedata.media_prefixes()
_IMAGE_OPTIONS = sitedata.image_options()
_SIZE_RE = re.compile(r"\d*(?:x\d+)?\s*px")


def _caption_line(line: str) -> bool:
    """An embed's options left in the text: a piece next to a pipe is an image option of some wiki
    (`thumb`, `duimnael`, `bélyegkép`, `jmpl`, `links`) or a size (`220px`)."""
    pieces = [p.strip().casefold() for p in line.split("|")]
    return any(p in _IMAGE_OPTIONS or _SIZE_RE.fullmatch(p) or p.startswith("upright") for p in pieces if p)


def _media_prefix(text: str) -> bool:
    """`Fájl:x.jpg`, `Kategória:X`, `زمرہ:X`: a File or Category name of any Wikipedia, then a colon."""
    prefix, colon, _ = text.partition(":")
    return (
        bool(colon) and len(prefix) <= 40 and prefix.strip().replace("_", " ").casefold() in _MEDIA_PREFIXES
    )


def _plain_source(source: str) -> str:
    """The source as an author typed its prose: each template and reference one placeholder word
    (`about {{convert|..}}.` -> `about X.`), links their label, tags and quotes gone."""
    text = _REF_RE.sub("X", _strip_comments(source))
    _, outer, _ = _match_pairs(text, _OPEN_BRACES_RE, _CLOSE_BRACES_RE, 2)
    pieces, pos = [], 0
    for s, e in outer:
        pieces += [text[pos:s], "X"]
        pos = e
    text = "".join([*pieces, text[pos:]])
    text = _EXTERNAL_RE.sub(r"\1", text)
    text = _TAG_RE.sub("", _LINK_LABEL_RE.sub("", text)).replace("[[", "").replace("]]", "")
    return html.unescape(text.replace("''", "")).replace("\xa0", " ")


def _residue(source: str, text: str, links, site, title: str) -> Counter:
    """Residue of one page; gaps and empty brackets count beyond those its author typed."""
    out: Counter = Counter()
    plain = _plain_source(source)
    ours_gaps = Counter(m.group() for m in _GAP_PUNCT_RE.finditer(text))
    typed_gaps = Counter(m.group() for m in _GAP_PUNCT_RE.finditer(plain))
    out["gap_punct"] += sum(max(0, n - typed_gaps[k]) for k, n in ours_gaps.items())
    out["empty_brackets"] += max(
        0, len(_EMPTY_BRACKETS_RE.findall(text)) - len(_EMPTY_BRACKETS_RE.findall(plain))
    )
    lowered = source.lower()
    for m in _INTERWIKI_RE.finditer(text):
        prefix = m.group(1).lower()
        if "[[" + prefix in lowered or "[[:" + prefix in lowered:
            out["interwiki"] += 1
    out["raw_variant"] += text.count("-{") + text.count("}-")
    headings: dict[str, int] = {}
    for m in _HEADING_RE.finditer(source):
        shown = clean_wikitext(m.group(2), title, site).text.strip()
        if shown:
            headings[shown] = min(len(m.group(1)), headings.get(shown, 9))
    paragraphs = [p.strip() for p in text.split("\n\n")]
    for i, para in enumerate(paragraphs):
        level = headings.get(para)
        if level is None:
            continue
        nxt = paragraphs[i + 1] if i + 1 < len(paragraphs) else None
        if nxt is None or headings.get(nxt, 99) <= level:
            out["empty_headings"] += 1
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(_TABLE_ROW_STARTS) or stripped.endswith("|}"):
            out["table_rows"] += 1
        elif "|" in stripped and _caption_line(stripped):
            out["captions"] += 1
        if _media_prefix(stripped):
            out["category_lines"] += 1
    out["media_links"] += sum(1 for link in links if _media_prefix(link.target))
    trail = re.compile(f"[{site.link_trail}]+") if site.link_trail else None
    for link in links:
        if link.kind != "body" or trail is None:
            continue
        m = trail.match(text, link.end)
        if m and link.anchor + "]]" + m.group() in source:
            out["cut_trails"] += 1
    return out


def ours(path: Path, language: str | None) -> tuple[dict[int, str], Counter, int]:
    texts: dict[int, str] = {}
    residue: Counter = Counter()
    for page in read_pages(str(path), language=language, allow_truncated=True):
        if page.ns != 0 or page.redirect is not None:
            continue
        title = normalize_title(page.title, page.site) or page.title
        clean = clean_wikitext(page.text, title, page.site)
        texts[page.id] = clean.text
        residue += _residue(page.text, clean.text, clean.links, page.site, title)
    return texts, residue, len(texts)


def wikiextractor(path: Path, folder: Path, extra: list[str]) -> dict[int, str]:
    """Page id -> text of wikiextractor 3.1 (`--json`, one process) on a plain copy of the dump."""
    cmd = [sys.executable, "-m", "wikiextractor.WikiExtractor", str(path), "--json", "-q", "-o", str(folder)]
    subprocess.run(
        [*cmd, "--processes", "1", *extra], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    out: dict[int, str] = {}
    for f in sorted(folder.rglob("wiki_*")):
        for line in f.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            out[int(rec["id"])] = rec["text"]
    return out


def recall(reference: dict[int, str], candidate: dict[int, str]) -> tuple[int, int]:
    """(words of `reference` found in `candidate`, words of `reference`), over pages both have."""
    hit = total = 0
    for page_id, ref_text in reference.items():
        if page_id not in candidate:
            continue
        ref = Counter(w.lower() for w in _WORD_RE.findall(ref_text))
        cand = Counter(w.lower() for w in _WORD_RE.findall(candidate[page_id]))
        total += sum(ref.values())
        hit += sum(min(n, cand[w]) for w, n in ref.items())
    return hit, total


# Footnote, citation and maintenance templates: in a sentence, but not words of it.
_NOT_PROSE = (
    "cite",
    "citation",
    "sfn",
    "harv",
    "chú thích",
    "internetquelle",
    "literatur",
    "webarchiv",
    "dead link",
    "cần chú thích",  # vi: citation needed
    "liên kết hỏng",  # vi: dead link
    "référence",  # fr: référence nécessaire, référence insuffisante
    "interwiki",
    "weather box",
    "prononciation",  # fr: an audio icon
)
_NOT_PROSE_NAMES = frozenset(
    [
        "rp",
        "refn",
        "efn",
        "clarify",
        "dmoz",
        "when",
        "who",
        "which",
        "dubious",
        "verify",
        "page needed",
        "failed verification",
        "better source",
        "vague",
        "according to whom",
        "by whom",
        "wayback",
        "webarchive",
        "fact",
        "cn",
        "r",
        "ref-de",
        "нет аи",
        "dn",
        "sic",
        "הערה",
        "relevance inline",
        "coord",
        "oclc",
        "issn",
        "isbn",
        "#tag:ref",
        "legend",
        "fr icon",
        "flagicon",
        "dnb",  # authority-file numbers (de, eo)
        "bnf",
        "coordinate",  # de: coordinates, shown in the title bar
        "note",  # fr: a footnote
        "noexternallanglinks",
        "מקור",  # he: citation needed
        "אודיו",  # he: an audio icon
    ]
)


def is_prose_template(key: str) -> bool:
    """Not a footnote, citation, maintenance tag or icon (`{{de icon}}`, `{{أيقونة ألمانية}}`, and the
    bare language-code icons `{{en}}` that mark a foreign source)."""
    if key.endswith(" icon") or key.startswith("أيقونة") or key in LANGUAGE_CODES or key == "עברית":
        return False
    return not key.startswith(_NOT_PROSE) and key not in _NOT_PROSE_NAMES


def template_coverage(name: str, language: str | None) -> tuple[int, int, Counter]:
    """Outermost templates of one dump inside a sentence (text before them on the line, outside
    `<ref>`), leaving out footnote, citation and maintenance ones; how many of them show their words
    (the cleaner, run on the call alone, gives text; or a renderer that shows a space by design, such
    as a direction mark); and the dropped ones, most frequent first."""
    inside = rendered = 0
    dropped: Counter = Counter()
    ref_re = re.compile(r"<ref[^>/]*>.*?</ref>|<ref[^>]*/>", re.DOTALL | re.IGNORECASE)
    for page in read_pages(str(DATA / name), language=language, allow_truncated=True):
        if page.ns != 0 or page.redirect is not None:
            continue
        text = ref_re.sub("", _strip_comments(page.text))
        _, outer, _ = _match_pairs(text, _OPEN_BRACES_RE, _CLOSE_BRACES_RE, 2)
        for s, e in outer:
            line_start = text.rfind("\n", 0, s) + 1
            before = text[line_start:s].strip()
            if not before.lstrip("*#:; ") or before[0] in "|!{=":  # own (list) line, table cell, heading
                continue
            raw = _TEMPLATE_NAME_RE.match(text, s + 2).group()
            key = _template_key(raw)
            if not is_prose_template(key):
                continue
            inside += 1
            fn = renderer_for(key, page.site.language)
            shown = clean_wikitext(text[s:e], page.title, page.site).text.strip()
            if not shown and fn is not None and fn(TemplateArgs([], {}, page.title)).isspace():
                shown = " "
            if shown:
                rendered += 1
            else:
                dropped[key] += 1
    return rendered, inside, dropped


def main() -> None:
    rows = []
    totals = {"ours": [0, 0], "nt": [0, 0], "greek_ours": (0, 0), "greek_nt": (0, 0), "greek_rev": (0, 0)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, language in DUMPS:
            path = DATA / name
            texts, residue, n = ours(path, language)
            ref = wikiextractor(path, Path(tmp) / (name + ".default"), [])
            nt = wikiextractor(path, Path(tmp) / (name + ".nt"), ["--no-templates"])
            r_ours, r_nt = recall(ref, texts), recall(ref, nt)
            for key, (hit, total) in (("ours", r_ours), ("nt", r_nt)):
                totals[key][0] += hit
                totals[key][1] += total
            if name.startswith("elwikivoyage"):
                totals["greek_ours"], totals["greek_nt"] = r_ours, r_nt
                totals["greek_rev"] = recall(texts, ref)
            rows.append((name, n, residue, r_ours[0] / max(r_ours[1], 1), r_nt[0] / max(r_nt[1], 1)))
    header = f"{'dump':<44} {'pages':>5} " + " ".join(f"{c:>14}" for c in CATEGORIES) + "  recall  --no-tpl"
    print(header)
    for name, n, residue, r_o, r_n in rows:
        cells = " ".join(f"{residue[c]:>14}" for c in CATEGORIES)
        print(f"{name:<44} {n:>5} {cells}  {r_o:6.4f}  {r_n:6.4f}")
    residue_total = sum(sum(r[2][c] for c in CATEGORIES) for r in rows)
    print(f"residue over all dumps and categories: {residue_total}")
    g_o, g_n, g_r = totals["greek_ours"], totals["greek_nt"], totals["greek_rev"]
    print(
        f"Greek (elwikivoyage): ours hold {g_o[0] / max(g_o[1], 1):.4f} of wikiextractor-default's words, "
        f"--no-templates {g_n[0] / max(g_n[1], 1):.4f}; wikiextractor-default holds {g_r[0] / max(g_r[1], 1):.4f} of ours"
    )
    print()
    print("per language (corpus.language set to the dump's language):")
    print(
        f"{'dump':<44} {'lang':>4} {'residue':>7} {'File/Category links':>19} {'templates rendered':>18}"
        f" {'as is: residue, links, rendered':>34}  dropped"
    )
    all_rendered = all_inside = 0
    worst = 1.0
    for (name, language), (_, _, residue, _, _) in zip(DUMPS, rows, strict=True):
        rendered, inside, dropped = template_coverage(name, language)
        all_rendered, all_inside = all_rendered + rendered, all_inside + inside
        share = rendered / max(inside, 1)
        worst = min(worst, share)
        lang = language or name[:2]
        total = sum(residue[c] for c in CATEGORIES if c != "media_links")
        as_is = "(same)"
        if language is not None:  # the English siteinfo the file carries, no corpus.language
            _, raw_residue, _ = ours(DATA / name, None)
            raw_rendered, raw_inside, _ = template_coverage(name, None)
            raw_total = sum(raw_residue[c] for c in CATEGORIES if c != "media_links")
            as_is = f"{raw_total}, {raw_residue['media_links']}, {raw_rendered}/{raw_inside}"
        print(
            f"{name:<44} {lang:>4} {total:>7} {residue['media_links']:>19} "
            f"{f'{rendered}/{inside} {share:.1%}':>18} {as_is:>34}  {dropped.most_common(6)}"
        )
    print(
        f"in-sentence prose templates rendered over all dumps: {all_rendered}/{all_inside} "
        f"({all_rendered / max(all_inside, 1):.1%}); lowest language: {worst:.1%}"
    )
    ours_share = totals["ours"][0] / max(totals["ours"][1], 1)
    base_share = totals["nt"][0] / max(totals["nt"][1], 1)
    print(
        f"RESULT fidelity_word_recall={ours_share:.4f} share baseline={base_share:.4f} "
        f"ratio={ours_share / base_share:.3f}"
    )


if __name__ == "__main__":
    main()
