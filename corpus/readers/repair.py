"""Bytes an XML parser refuses, repaired before it sees them, so one damaged page costs one page.

expat stops at the first byte that is not UTF-8, a control character XML 1.0 forbids (a raw NUL),
U+FFFE/U+FFFF, or a character reference to one of those (`&#0;`, `&#xD800;`); the rest of the file
is then lost. Each such spot becomes U+FFFD (the replacement character, as a decoder with
`errors="replace"` writes it) and its cause is queued; the page reader gives the queued causes to the
next page holding a U+FFFD, which the extractor then counts and reports by id (a damaged title skips
the page). Cost on clean input: one strict UTF-8 decode and two literal-prefixed byte searches per
chunk: a strict UTF-8 decode, a byte `translate` and three substring searches, well over 500 MB/s.
"""

from __future__ import annotations

import codecs
import re

REPLACEMENT = "\ufffd".encode()
# Control characters XML 1.0 forbids (tab, newline and carriage return are allowed), U+FFFE, U+FFFF.
_FORBIDDEN_RE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
_CHAR_REF_RE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
# Invalid UTF-8 is first decoded to this forbidden control character (never in well-formed XML).
_UTF8_MARK = b"\x0f"
_MARK_ERRORS = "linkbert-utf8-mark"
codecs.register_error(_MARK_ERRORS, lambda e: (_UTF8_MARK.decode(), e.end))
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
# Both in one pass, so the causes queue in stream order.
_DAMAGE_RE = re.compile(_FORBIDDEN_RE.pattern + b"|" + _CHAR_REF_RE.pattern)
_HOLD_BACK = 16  # a character reference split between two chunks is at most this long


def _allowed(code: int) -> bool:
    """XML 1.0's Char production."""
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _incomplete_tail(data: bytes) -> int:
    """Where a UTF-8 sequence cut by the chunk's end starts (len(data) when none is cut)."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        byte = data[n - back]
        if byte < 0x80:
            return n
        if byte >= 0xC0:  # a lead byte: how many bytes its sequence needs
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return n - back if need > back else n
    return n


class ByteRepair:
    """Repairs a stream of UTF-8 XML chunks; `causes` queues what was repaired, in stream order."""

    def __init__(self) -> None:
        self.carry = b""
        self.causes: list[str] = []
        self.marked = False  # this chunk's invalid UTF-8 is marked for the one-pass repair

    def feed(self, chunk: bytes) -> bytes:
        data = self.carry + chunk if self.carry else chunk
        cut = _incomplete_tail(data)
        amp = data.rfind(b"&", max(0, len(data) - _HOLD_BACK))
        if amp >= 0 and b";" not in data[amp:]:
            cut = min(cut, amp)
        self.carry = data[cut:]
        return self._repair(data[:cut])

    def flush(self) -> bytes:
        data, self.carry = self.carry, b""
        return self._repair(data)

    def _repair(self, data: bytes) -> bytes:
        self.marked = False
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            if _UTF8_MARK not in data:
                # Each invalid sequence becomes a mark the pass below turns into U+FFFD, so its cause
                # queues in stream order among the others.
                data = data.decode("utf-8", _MARK_ERRORS).encode("utf-8")
                self.marked = True
            else:  # the mark byte is itself in the data (a forbidden control): count them first
                text = data.decode("utf-8", "replace")
                bad = text.count("\ufffd") - data.count(REPLACEMENT)
                self.causes.extend(["invalid UTF-8"] * max(bad, 1))
                data = text.encode("utf-8")
        if self.marked or (
            len(data.translate(None, _CONTROL_BYTES))
            != len(data)  # C speed; a class-first regex is 20x slower
            or b"\xef\xbf\xbe" in data
            or b"\xef\xbf\xbf" in data
            or (b"&#" in data and _CHAR_REF_RE.search(data))
        ):
            data = _DAMAGE_RE.sub(self._fix, data)
        return data

    def _fix(self, m: re.Match[bytes]) -> bytes:
        raw = m.group()
        if raw == _UTF8_MARK and self.marked:
            self.causes.append("invalid UTF-8")
            return REPLACEMENT
        if not raw.startswith(b"&#"):
            self.causes.append(f"character U+{ord(raw.decode('utf-8')):04X}")
            return REPLACEMENT
        hex_digits, digits = m.groups()
        code = int(hex_digits, 16) if hex_digits else int(digits)
        if _allowed(code):
            return raw
        self.causes.append(f"character reference {raw.decode()}")
        return b"&#xFFFD;"
