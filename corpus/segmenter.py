"""Cut one document's tokens into segments of at most `max_tokens`, at sentence ends where possible.

Sentence ends are found on the text with one regex (a cheap detector: `.`, `!`, `?` before whitespace
and a non-lowercase character, line breaks, CJK full stops; initials and a few abbreviations excluded)
and mapped to token boundaries with the encoding's character offsets, all numpy per document. The
packing itself is greedy: each segment takes as many whole sentences as fit. A sentence longer than
`max_tokens` is cut at the last word start that fits, and a word longer than that is cut hard.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right
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

    @property
    def offsets(self) -> list[tuple[int, int]]: ...

    def __len__(self) -> int: ...


def sentence_ends(text: str) -> np.ndarray:
    """Sorted character positions p where `text[:p]` ends a sentence (a line break ends one too)."""
    return np.fromiter((m.end() for m in SENTENCE_END.finditer(text)), dtype=np.int64)


def cut_points(starts: np.ndarray, ends: np.ndarray, breaks: np.ndarray, max_tokens: int) -> np.ndarray:
    """Token indices `[0, c1, ..., n]` cutting n tokens (character spans `starts`/`ends`) into pieces of
    1..max_tokens tokens, preferring cuts where a sentence break (a position in `breaks`) lies between
    two tokens, then cuts before a word start (whitespace before the token), then hard cuts."""
    n = len(starts)
    if n <= max_tokens:
        return np.array([0, n] if n else [0], dtype=np.int64)
    # Token i >= 1 opens a sentence when a break lies in the gap [end of token i-1, start of token i].
    lo = np.searchsorted(breaks, ends[:-1], side="left")
    hi = np.searchsorted(breaks, starts[1:], side="right")
    sentence_starts = (np.flatnonzero(hi > lo) + 1).tolist()
    word_starts: list[int] | None = None
    cuts = [0]
    s = 0
    while n - s > max_tokens:
        limit = s + max_tokens
        j = bisect_right(sentence_starts, limit) - 1
        cut = sentence_starts[j] if j >= 0 else 0
        if cut <= s:
            if word_starts is None:  # only documents with an over-long sentence pay for this
                word_starts = (np.flatnonzero(starts[1:] > ends[:-1]) + 1).tolist()
            k = bisect_right(word_starts, limit) - 1
            cut = word_starts[k] if k >= 0 and word_starts[k] > s else limit
        cuts.append(cut)
        s = cut
    cuts.append(n)
    return np.asarray(cuts, dtype=np.int64)


def token_spans(encoding: Encoded) -> tuple[np.ndarray, np.ndarray]:
    """Start and end character offsets of every token, without a Python loop over tokens."""
    n = len(encoding)
    flat = np.fromiter(itertools.chain.from_iterable(encoding.offsets), dtype=np.int64, count=2 * n)
    return flat[0::2], flat[1::2]


def segment_cuts(text: str, encoding: Encoded, max_tokens: int) -> np.ndarray:
    """Cut points of one encoded document; short documents never touch their offsets (the costly part)."""
    n = len(encoding)
    if n <= max_tokens:
        return np.array([0, n] if n else [0], dtype=np.int64)
    starts, ends = token_spans(encoding)
    return cut_points(starts, ends, sentence_ends(text), max_tokens)
