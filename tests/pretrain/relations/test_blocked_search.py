"""blocked_searchsorted, the sampler's two-level lookup, returns exactly what np.searchsorted does."""

from __future__ import annotations

import numpy as np
import pytest

from pretrain.relations.base import _BLOCK, SegmentRanges, blocked_searchsorted


@pytest.mark.parametrize("n", [0, 1, 2, _BLOCK - 1, _BLOCK, _BLOCK + 1, 1000, 50_000])
@pytest.mark.parametrize("side", ["left", "right"])
def test_blocked_searchsorted_equals_numpy(n: int, side: str):
    rng = np.random.default_rng(n)
    values = np.sort(rng.integers(0, 3 * n + 5, n)).astype(np.int64)  # with repeats
    keys = rng.integers(-3, 3 * n + 10, 700)
    coarse = np.ascontiguousarray(values[::_BLOCK])
    assert np.array_equal(
        blocked_searchsorted(values, coarse, keys, side), np.searchsorted(values, keys, side)
    )


def test_segment_ranges_locate_and_position():
    rng = np.random.default_rng(1)
    doc_segments = np.concatenate([[0], np.cumsum(rng.integers(0, 5, 3000))]).astype(np.int64)
    ranges = SegmentRanges.build(doc_segments, np.arange(3000, dtype=np.int64), drop_last=1)
    j = np.arange(ranges.size)
    docs, offsets = ranges.locate(j)
    i = np.searchsorted(ranges.cum, j, side="right") - 1
    assert np.array_equal(docs, ranges.docs[i]) and np.array_equal(offsets, j - ranges.cum[i])
    queries = rng.integers(0, 3000, 500)
    assert np.array_equal(ranges.position(queries), np.searchsorted(ranges.docs, queries))
