"""Edges -> CSR: one packed int64 key per edge (src << 32 | dst), sorted in place, deduplicated in place.

Peak memory is the key buffer (8 bytes per kept link) plus the int32 `indices` (4 bytes per edge);
every other step works on fixed-size chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 1 << 22  # elements per pass of the chunked steps: 32 MiB of int64 temporaries
_LOW32 = np.int64(0xFFFFFFFF)


class EdgeBuffer:
    """Append-only (src, dst) pairs packed as int64 keys; grows geometrically past its first guess."""

    def __init__(self, capacity: int) -> None:
        self.keys = np.empty(max(int(capacity), 1024), dtype=np.int64)
        self.size = 0

    def append(self, src: np.ndarray, dst: np.ndarray) -> None:
        n = len(src)
        end = self.size + n
        if end > len(self.keys):
            grown = np.empty(max(end, int(len(self.keys) * 1.5)), dtype=np.int64)
            grown[: self.size] = self.keys[: self.size]
            self.keys = grown
        out = self.keys[self.size : end]
        np.left_shift(src, 32, out=out, dtype=np.int64, casting="unsafe")
        out |= dst.astype(np.int64, copy=False)
        self.size = end

    def release(self) -> np.ndarray:
        """The filled part of the buffer; the buffer forgets it."""
        keys, self.keys, self.size = self.keys[: self.size], np.empty(0, np.int64), 0
        return keys


@dataclass
class Csr:
    indptr: np.ndarray  # int64, N + 1
    indices: np.ndarray  # int32, E: sorted within each row, no duplicates
    duplicates: int  # (src, dst) pairs dropped because they repeated an earlier one

    @property
    def num_nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def num_edges(self) -> int:
        return len(self.indices)


def _dedup_sorted_inplace(keys: np.ndarray) -> int:
    """Compact a sorted array to its distinct values at the front; returns how many there are."""
    if len(keys) == 0:
        return 0
    write = 1
    prev = keys[0]
    # The write cursor never passes the read cursor, so compacting chunk by chunk in place is safe.
    for start in range(1, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        keep = np.empty(len(chunk), dtype=bool)
        keep[0] = chunk[0] != prev
        np.not_equal(chunk[1:], chunk[:-1], out=keep[1:])
        kept = chunk[keep]
        keys[write : write + len(kept)] = kept
        write += len(kept)
        prev = chunk[-1]
    return write


def sort_unique(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Sort packed keys in place and compact them to their distinct values; returns (view, repeats)."""
    keys.sort()  # in-place introsort: no second buffer of E int64
    e = _dedup_sorted_inplace(keys)
    return keys[:e], len(keys) - e


def csr_from_sorted(keys: np.ndarray, num_nodes: int, duplicates: int = 0) -> Csr:
    """CSR of sorted, distinct packed keys."""
    e = len(keys)
    indices = np.empty(e, dtype=np.int32)
    counts = np.zeros(num_nodes, dtype=np.int64)
    for start in range(0, e, CHUNK):
        chunk = keys[start : min(start + CHUNK, e)]
        np.bitwise_and(chunk, _LOW32, out=indices[start : start + len(chunk)], casting="unsafe")
        counts += np.bincount(chunk >> 32, minlength=num_nodes)
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return Csr(indptr, indices, duplicates)


def build_csr(keys: np.ndarray, num_nodes: int) -> Csr:
    """CSR of the packed edge keys; `keys` is sorted and overwritten in place."""
    unique, duplicates = sort_unique(keys)
    return csr_from_sorted(unique, num_nodes, duplicates)


def merge_kinds(per_source: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Union of several sources' sorted, distinct keys, and each edge's kind: bit i set when source i
    has it (uint8). One source costs nothing extra; more cost 8 bytes per key of every source for the
    union plus 1 byte per edge, the lookups done CHUNK keys at a time."""
    if len(per_source) == 1:
        keys = per_source[0]
        return keys, np.ones(len(keys), dtype=np.uint8)
    union, _ = sort_unique(np.concatenate(per_source))
    kind = np.zeros(len(union), dtype=np.uint8)
    for bit, keys in enumerate(per_source):
        for start in range(0, len(keys), CHUNK):
            pos = np.searchsorted(union, keys[start : start + CHUNK])
            kind[pos] |= np.uint8(1 << bit)
    return union, kind


def csr_sources(indptr: np.ndarray) -> np.ndarray:
    """Source node of every edge (int32), for exports and checks; E * 4 bytes."""
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))
