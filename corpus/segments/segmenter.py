"""Cut one document's tokens into segments of at most `max_tokens`, at sentence ends where possible.

Sentence ends are found on the text with one regex (a cheap detector: `.`, `!`, `?` before whitespace
and a non-lowercase character, line breaks, CJK full stops; initials and a few abbreviations excluded)
and mapped to token boundaries with the encoding's character offsets, probed by binary search near
each cut only. The packing is greedy: each segment takes as many whole sentences as fit. A sentence
longer than `max_tokens` is cut at the last word start that fits, and a word longer than that hard.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from typing import Protocol

import numpy as np

# Sentence breaks: the position right after a sentence's final punctuation (and closing quotes or
# brackets), or right after a line break. Every alternative starts with one character class, which lets
# `re` skip ahead to candidate characters instead of trying the pattern at every position (2x faster);
# the lookbehinds run only after a `.` matched.
SENTENCE_END = re.compile(
    r"[.!?][.!?]*(?<!\b[A-Z]\.)(?<!\b(?:Mr|Ms|Dr|St|Jr|Sr|Mt|No|vs|Co|Lt)\.)"
    r"(?<!\b(?:Mrs|Gen|Col|Rev|Gov|Inc|Ltd|Fig|Sen|Rep|Sgt|etc)\.)"
    r"[\"'\u201d\u2019)\]]*(?=\s+[^\sa-z]|\s*$)"
    r"|[\u3002\uff01\uff1f][\u3002\uff01\uff1f]*"
    r"|\n"
)


class Encoded(Protocol):
    """What the segmenter needs of a `tokenizers.Encoding`."""

    def token_to_chars(self, token_index: int) -> tuple[int, int] | None: ...

    def __len__(self) -> int: ...


Span = Callable[[int], tuple[int, int]]


def sentence_ends(text: str) -> np.ndarray:
    """Sorted character positions p where `text[:p]` ends a sentence (a line break ends one too)."""
    return np.fromiter((m.end() for m in SENTENCE_END.finditer(text)), dtype=np.int64)


def greedy_cuts(n: int, span: Span, breaks: list[int], max_tokens: int) -> list[int]:
    """Token indices `[0, c1, ..., n]` cutting n tokens into pieces of 1..max_tokens tokens.

    `span(i)` is token i's (start, end) in characters; `breaks` the sorted sentence breaks. Each piece
    ends at the last sentence start that fits (a token with a break between it and the token before),
    else before the last word start that fits (whitespace before the token), else after max_tokens.
    Only the tokens near each cut are looked at: a few binary-search probes per segment, so the cost
    does not grow with the document's tokens (fetching every token's offsets would cost ~7% of encoding).
    """
    if n <= max_tokens:
        return [0, n] if n else [0]
    cuts = [0]
    s = 0
    while n - s > max_tokens:
        limit = s + max_tokens
        cut = _sentence_cut(s, limit, span, breaks) or _word_cut(s, limit, span)
        cuts.append(cut)
        s = cut
    cuts.append(n)
    return cuts


def _first_token_from(char: int, lo: int, hi: int, span: Span) -> int:
    """The first token in [lo, hi] starting at or after `char` (token hi does)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if span(mid)[0] >= char:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _sentence_cut(s: int, limit: int, span: Span, breaks: list[int]) -> int | None:
    floor = span(s)[1]  # a break before the end of token s opens no token after s
    j = bisect_right(breaks, span(limit)[0]) - 1
    while j >= 0 and breaks[j] >= floor:
        b = breaks[j]
        cut = _first_token_from(b, s + 1, limit, span)
        if span(cut - 1)[1] <= b:
            return cut
        j -= 1  # the break falls inside a token (a merged "." + newline piece): try the one before
    return None


def _word_cut(s: int, limit: int, span: Span) -> int:
    start = span(limit)[0]
    for cut in range(limit, s, -1):
        before = span(cut - 1)
        if start > before[1]:
            return cut
        start = before[0]
    return limit  # one word longer than max_tokens: cut it hard


def segment_cuts(text: str, encoding: Encoded, max_tokens: int) -> np.ndarray:
    """Cut points of one encoded document; short documents skip sentence detection entirely."""
    n = len(encoding)
    if n <= max_tokens:
        return np.array([0, n] if n else [0], dtype=np.int64)
    breaks = [m.end() for m in SENTENCE_END.finditer(text)]
    return np.asarray(greedy_cuts(n, encoding.token_to_chars, breaks, max_tokens), dtype=np.int64)
