"""Stream the `<page>`s of a MediaWiki XML dump: plain, .bz2 (one or many streams), .gz, or one task's
slice of a multistream .bz2.

Memory stays flat with dump size: bytes are decompressed in bounded chunks and fed to a pull parser,
and each `<page>` element is dropped from the tree as soon as it has been turned into a `RawPage`.
Any problem with the input (missing, empty, truncated, corrupt compression, malformed XML, bytes that
are not UTF-8, JSON lines given as XML) is a `PipelineError` naming the file and the position. A dump
cut short (`TruncatedInput`) can instead be read up to its last complete page (`allow_truncated`).
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import logging
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from corpus.readers.multistream import Slice
from corpus.readers.repair import ByteRepair
from corpus.site.language_check import LanguageCheck
from corpus.site.siteinfo import SiteInfo
from foundation.errors import PipelineError

log = logging.getLogger(__name__)

READ_BYTES = 1 << 20  # compressed bytes per read
CHUNK_BYTES = 4 << 20  # decompressed bytes per parser feed: bounds memory whatever the compression ratio
BZ2_MAGIC = b"BZh"
GZIP_MAGIC = b"\x1f\x8b"
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
SITEINFO_END = b"</siteinfo>"
ROOT_END = b"</mediawiki>"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# A stubs dump (`-stub-articles.xml.gz`) has every page's metadata and no text: warn when most pages
# of a file of at least this many pages are empty.
STUB_CHECK_MIN_PAGES = 10


class TruncatedInput(PipelineError):
    """The input ends in the middle (a cut download): every page before the cut is complete."""


@dataclass
class RawPage:
    """One `<page>` as stored: the wikitext is not touched here."""

    id: int
    title: str
    ns: int
    redirect: str | None  # the <redirect title=...> target, as written in the dump
    text: str
    site: SiteInfo  # the <siteinfo> of the dump it came from (one shared object per file)
    # What was wrong with the page's bytes ("character reference &#0;", "empty <title>"), "" if nothing:
    # its text holds U+FFFD where the damage was; the extractor counts and reports it by id.
    damage: str = ""


def _where(path: str, sl: Slice | None) -> str:
    if sl is None or (sl.start == 0 and sl.end is None):
        return path
    return f"{path} (bytes {sl.start}-{'end' if sl.end is None else sl.end})"


# ----------------------------------------------------------------------------------------------
# Bytes: decompression in bounded chunks


def _file_kind(path: str) -> str:
    try:
        with open(path, "rb") as f:
            magic = f.read(3)
    except FileNotFoundError:
        raise PipelineError(f"{path}: no such file (check --input)") from None
    except IsADirectoryError:
        raise PipelineError(f"{path}: is a folder; pass the dump file(s) inside it as --input") from None
    except OSError as e:
        raise PipelineError(f"{path}: cannot be read ({e.strerror})") from None
    if not magic:
        raise PipelineError(f"{path}: the file is empty (an interrupted download? fetch it again)")
    if magic.startswith(BZ2_MAGIC):
        return "bz2"
    if magic.startswith(GZIP_MAGIC):
        return "gz"
    return "plain"


def _raw_reader(f, end: int | None) -> Callable[[int], bytes]:
    if end is None:
        return f.read
    return lambda n: f.read(max(0, min(n, end - f.tell())))


def _bz2_chunks(path: str, start: int, end: int | None) -> Iterator[bytes]:
    """Decompress the bz2 streams stored in bytes [start, end) of `path`, one after another."""
    with open(path, "rb") as f:
        f.seek(start)
        read = _raw_reader(f, end)
        dec = bz2.BZ2Decompressor()
        started = False  # the current decompressor has been given bytes
        pending = b""
        while True:
            if dec.eof:
                pending, dec, started = dec.unused_data, bz2.BZ2Decompressor(), False
            if pending:
                data, pending = pending, b""
            elif dec.needs_input or not started:
                data = read(READ_BYTES)
                if not data:
                    break
            else:
                data = b""  # the last call stopped at CHUNK_BYTES of output: drain before reading more
            started = started or bool(data)
            try:
                out = dec.decompress(data, CHUNK_BYTES)
            except OSError as e:
                raise PipelineError(
                    f"{path}: corrupt bz2 data near compressed byte {f.tell()} ({e}); "
                    "the file is damaged or not bzip2: download it again"
                ) from None
            if out:
                yield out
        if started and not dec.eof and end is not None and end < os.path.getsize(path):
            raise PipelineError(
                f"{path}: a bz2 stream runs past byte {end}, where the multistream index says the next "
                "one starts; the index (--index) belongs to another dump"
            )
        if started and not dec.eof:
            raise TruncatedInput(
                f"{path}: the bz2 data ends in the middle of a stream at byte {f.tell()} "
                "(the file is truncated: download it again)"
            )


def _command_chunks(command: str, path: str) -> Iterator[bytes]:
    """Whole-file bz2 through an external decompressor (lbzip2 is ~2x Python's bz2, see notes)."""
    with open(path, "rb") as src:
        proc = subprocess.Popen([command, "-dc"], stdin=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        while out := proc.stdout.read(CHUNK_BYTES):
            yield out
        err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.wait() != 0:
            raise TruncatedInput(
                f"{path}: {command} could not decompress it ({err.splitlines()[-1] if err else 'failed'}); "
                "the file is truncated or damaged: download it again"
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _plain_chunks(path: str, start: int, end: int | None) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(start)
        read = _raw_reader(f, end)
        while out := read(CHUNK_BYTES):
            yield out


def _gzip_chunks(path: str) -> Iterator[bytes]:
    try:
        with gzip.open(path, "rb") as f:
            while out := f.read(CHUNK_BYTES):
                yield out
    except EOFError as e:
        raise TruncatedInput(
            f"{path}: the gzip data ends early ({e}); the file is truncated: download it again"
        ) from None
    except OSError as e:
        raise PipelineError(f"{path}: corrupt or truncated gzip data ({e}); download it again") from None


def bz2_command(setting: str) -> str | None:
    """The external decompressor to use for whole .bz2 files: `auto` = lbzip2 if installed."""
    if setting == "python":
        return None
    if setting == "auto":
        return shutil.which("lbzip2")
    found = shutil.which(setting)
    if found is None:
        raise PipelineError(f"corpus.bz2_decompressor={setting!r} is not on PATH (install it, or use 'auto')")
    return found


def _check_stream_start(path: str, offset: int) -> None:
    with open(path, "rb") as f:
        f.seek(offset)
        if f.read(3) != BZ2_MAGIC:
            raise PipelineError(
                f"{path}: the multistream index says a bz2 stream starts at byte {offset}, but none does; "
                "the index (--index) belongs to another dump"
            )


def _cut_after_siteinfo(path: str, chunks: Iterator[bytes]) -> bytes:
    head = b""
    for chunk in chunks:
        head += chunk
        cut = head.find(SITEINFO_END)
        if cut >= 0:
            return head[: cut + len(SITEINFO_END)]
    raise PipelineError(f"{path}: the first bz2 stream holds no </siteinfo>; is the --index for this dump?")


def slice_chunks(sl: Slice, decompressor: str | None = None) -> Iterator[bytes]:
    """The decompressed XML bytes of one slice, as a well-formed document.

    A multistream slice that starts after the first stream is preceded by the first stream (cut
    after `</siteinfo>`, so the root start tag and namespaces come first); one that ends before the
    end of the file is closed with `</mediawiki>`.
    """
    kind = _file_kind(sl.path)
    if kind != "bz2" and (sl.start or sl.header_end):
        raise PipelineError(f"{sl.path}: only .bz2 multistream dumps can be split by an index")
    if kind == "gz":
        yield from _gzip_chunks(sl.path)
        return
    if kind == "plain":
        yield from _plain_chunks(sl.path, sl.start, sl.end)
        return
    if sl.start:
        _check_stream_start(sl.path, sl.start)
    if sl.header_end:
        yield _cut_after_siteinfo(sl.path, _bz2_chunks(sl.path, 0, sl.header_end))
    whole = sl.start == 0 and (sl.end is None or sl.end >= os.path.getsize(sl.path))
    body = _command_chunks(decompressor, sl.path) if whole and decompressor else None
    tail = b""
    for chunk in body or _bz2_chunks(sl.path, sl.start, sl.end):
        tail = (tail + chunk)[-64:]
        yield chunk
    # A slice that stops before the end of the file stops before the footer: close the root for it.
    # The slice holding the end of the file must have the footer; missing means truncated.
    if sl.end is not None and sl.end < os.path.getsize(sl.path) and not tail.rstrip().endswith(ROOT_END):
        yield b"\n" + ROOT_END + b"\n"


# ----------------------------------------------------------------------------------------------
# XML: pages out of bytes


def _first_invalid_utf8(chunk: bytes) -> int | None:
    """Offset of the first byte in `chunk` that cannot be UTF-8 (a split character at either end is fine)."""
    skip = 0
    while skip < min(3, len(chunk)) and 0x80 <= chunk[skip] <= 0xBF:
        skip += 1
    try:
        codecs.getincrementaldecoder("utf-8")().decode(chunk[skip:], final=False)
    except UnicodeDecodeError as e:
        return skip + e.start
    return None


class _PageParser:
    """Feeds bytes to a pull parser and turns `<page>` elements into RawPages."""

    def __init__(self, where: str, default_site: SiteInfo | None = None, language: str | None = None) -> None:
        self.where = where
        self.language = language or None  # a user's override of the dump's content language
        self.xml_lang: str | None = None
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.root: ET.Element | None = None
        self.ns = ""
        self.page_tag = "page"
        self.site = default_site
        self.fed = 0  # decompressed bytes given to the parser
        self.utf16 = False
        self.last_id: int | None = None
        self.pages = 0
        self.empty_pages = 0
        self.language_check: LanguageCheck | None = None
        self.check_language = True
        self.repair = ByteRepair()

    def _after(self) -> str:
        return f" (after page id {self.last_id})" if self.last_id is not None else ""

    def _xml_error(self, e: ET.ParseError, chunk: bytes) -> PipelineError:
        line, col = getattr(e, "position", (0, 0))
        if not self.utf16:
            bad = _first_invalid_utf8(chunk)
            if bad is not None:
                offset = self.fed - len(chunk) + bad
                return PipelineError(
                    f"{self.where}: byte {chunk[bad]:#04x} at decompressed byte {offset}{self._after()} is "
                    "not valid UTF-8; MediaWiki dumps are UTF-8: re-encode the file (iconv -t UTF-8)"
                )
        return PipelineError(
            f"{self.where}: malformed XML at line {line}, column {col} of the decompressed text"
            f"{self._after()} ({str(e).split(':')[0]}); the file is damaged or not a MediaWiki XML export"
        )

    def feed(self, chunk: bytes) -> Iterator[RawPage]:
        if self.fed == 0 and chunk[:2] in UTF16_BOMS:
            self.utf16 = True  # expat decodes UTF-16 itself once it has seen the byte order mark
        elif self.fed == 0 and chunk.lstrip()[:1] in (b"{", b"["):
            raise PipelineError(
                f"{self.where}: holds JSON, not a MediaWiki XML dump; for JSON lines set corpus.format=jsonl"
            )
        self.fed += len(chunk)
        if not self.utf16:
            chunk = self.repair.feed(chunk)
        try:
            self.parser.feed(chunk)
            yield from self._events()
        except ET.ParseError as e:
            raise self._xml_error(e, chunk) from None

    def close(self) -> Iterator[RawPage]:
        if self.fed == 0:
            raise PipelineError(f"{self.where}: holds no data (an empty or interrupted download?)")
        try:
            if not self.utf16:
                self.parser.feed(self.repair.flush())
            self.parser.close()
            yield from self._events()
        except ET.ParseError as e:
            if self.root is None:
                raise PipelineError(f"{self.where}: is not XML ({e}); expected a MediaWiki dump") from None
            raise TruncatedInput(
                f"{self.where}: the XML ends before </mediawiki>{self._after()}, after "
                f"{self.fed} decompressed bytes (the file is truncated: download it again, "
                "or set corpus.allow_truncated=true to keep its complete pages)"
            ) from None

    def _events(self) -> Iterator[RawPage]:
        for event, elem in self.parser.read_events():
            if event == "start":
                if self.root is None:
                    self._start_root(elem)
                continue
            if elem.tag == self.page_tag:
                page = self._page(elem)
                self.root.clear()  # drop finished pages from the tree: flat memory
                if page is not None:
                    yield page
            elif elem.tag == self.ns + "siteinfo":
                try:
                    self.site = SiteInfo.from_xml(ET.tostring(elem), self.language or self.xml_lang)
                except PipelineError as e:
                    raise PipelineError(f"{self.where}: {e}") from None
                self.root.clear()

    def _start_root(self, elem: ET.Element) -> None:
        self.root = elem
        uri, _, local = elem.tag[1:].rpartition("}") if elem.tag.startswith("{") else ("", "", elem.tag)
        if local != "mediawiki":
            raise PipelineError(f"{self.where}: the root element is <{local}>, not <mediawiki>: not a dump")
        self.ns = f"{{{uri}}}" if uri else ""
        self.page_tag = self.ns + "page"
        self.xml_lang = elem.get(XML_LANG)

    def _page(self, elem: ET.Element) -> RawPage | None:
        ns = self.ns
        title = elem.findtext(ns + "title")
        raw_id = elem.findtext(ns + "id")
        try:
            page_id = int(raw_id or "")
        except ValueError:
            raise PipelineError(
                f"{self.where}: page {title!r}{self._after()} has no valid <id> ({raw_id!r}); "
                "the dump is damaged"
            ) from None
        title = title or ""
        damage = self._damage(title, elem)
        if not title.strip():  # the page is skipped (counted by id), the rest of the file read
            damage = "empty <title>" + (f", {damage}" if damage else "")
        if self.site is None:
            log.warning(
                "%s: no <siteinfo> before the first page; using English Wikipedia namespaces", self.where
            )
            self.site = SiteInfo.default(self.language or self.xml_lang or "en")
        raw_ns = elem.findtext(ns + "ns")
        if raw_ns is not None and raw_ns.strip():
            try:
                page_ns = int(raw_ns)
            except ValueError:
                raise PipelineError(
                    f"{self.where}: page id {page_id} has a non-integer <ns> {raw_ns!r}"
                ) from None
        else:  # schemas before 0.5 carry no <ns>: the title prefix says it
            page_ns = self.site.split_namespace(title)[0]
        redirect = elem.find(ns + "redirect")
        target = redirect.get("title") if redirect is not None else None
        revisions = elem.findall(ns + "revision")
        text = (revisions[-1].findtext(ns + "text") if revisions else None) or ""
        if target is None and text[:1] in "# \n":  # old schemas and other tools: no <redirect> element
            target = self.site.redirect_target(text)
        self.last_id = page_id
        self.pages += 1
        if page_ns == 0 and target is None and self.check_language:
            if self.language_check is None or self.language_check.site is not self.site:
                self.language_check = LanguageCheck(self.site, self.where)
            self.language_check.feed(text)
        if not text:
            self.empty_pages += 1
        return RawPage(page_id, title, page_ns, target, text, self.site, damage)

    def _damage(self, title: str, elem: ET.Element) -> str:
        """The queued repairs this page's U+FFFD characters stand for (corpus/readers/repair.py)."""
        causes = self.repair.causes
        if not causes:
            return ""
        marks = title.count("\ufffd") + sum((e.text or "").count("\ufffd") for e in elem.iter())
        if not marks:
            return ""
        taken, self.repair.causes = causes[:marks], causes[marks:]
        return ", ".join(dict.fromkeys(taken))


def read_siteinfo(sl: Slice, language: str | None = None) -> SiteInfo | None:
    """The `<siteinfo>` at the start of a slice (a multistream dump's header stream), or None."""
    parser = _PageParser(_where(sl.path, sl), language=language)
    parser.check_language = False
    for chunk in slice_chunks(sl):
        for _ in parser.feed(chunk):
            pass
        if parser.site is not None:
            return parser.site
    return parser.site


def read_pages(
    sl: Slice | str,
    *,
    decompressor: str | None = None,
    language: str | None = None,
    allow_truncated: bool = False,
) -> Iterator[RawPage]:
    """Every `<page>` of a slice (or a whole file), in file order.

    `language` overrides the dump's content language (link trails, localized namespace names);
    `allow_truncated` keeps the complete pages of a dump cut short, with a warning, instead of failing.
    """
    if isinstance(sl, str | os.PathLike):
        sl = Slice(str(sl))
    where = _where(sl.path, sl)
    parser = _PageParser(where, language=language)
    # One language warning per file, not one per task: only the slice holding the file's first pages looks.
    parser.check_language = sl.start == 0
    try:
        for chunk in slice_chunks(sl, decompressor):
            yield from parser.feed(chunk)
        yield from parser.close()
    except TruncatedInput as e:
        if not allow_truncated or parser.root is None:
            raise
        # The page being parsed at the cut never completed, so it was never yielded.
        log.warning(
            "%s: the dump is cut short; kept its %d complete pages, the last page id %s (%s)",
            where,
            parser.pages,
            parser.last_id,
            str(e).split(": ", 1)[-1].split(" (")[0],
        )
    if parser.root is None:
        raise PipelineError(f"{where}: holds no <mediawiki> element; expected a MediaWiki XML dump")
    if parser.language_check is not None:
        parser.language_check.finish()  # a file of fewer than CHECK_PAGES articles
    if parser.pages >= STUB_CHECK_MIN_PAGES and parser.empty_pages * 2 > parser.pages:
        log.warning(
            "%s: %d of its %d pages have no text; a stubs dump (*-stub-*.xml.gz) holds metadata only: "
            "use a pages-articles dump",
            where,
            parser.empty_pages,
            parser.pages,
        )
