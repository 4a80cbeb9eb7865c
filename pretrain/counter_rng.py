"""Counter-based random numbers: every draw is a pure function of a key, never of call history.

A training example is a pure function of (seed, epoch, index), so resuming, sharding across ranks and
changing the worker count never change what it is. Building a numpy `Generator` per example costs
~30 us, most of the per-example budget; splitmix64 streams keyed by the tuple are computed for a
whole batch in a few vectorized numpy operations, and do not depend on the numpy version.

Stream of key K: draw d (1-based) is mix64(K + d * GOLDEN mod 2**64).
"""

from __future__ import annotations

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15  # splitmix64 increment (odd, so the state walks all 2**64 values)
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def mix64(z: int) -> int:
    """splitmix64 finalizer: a bijection of 64-bit integers with full avalanche."""
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def fold_key(*parts: int) -> int:
    """One 64-bit key from a tuple of integers (negative ones too); distinct tuples collide ~2**-64."""
    key = 0
    for i, part in enumerate(parts):
        key = mix64((key ^ (part & MASK64)) + (i + 1) * GOLDEN & MASK64)
    return key


_U30, _U27, _U31 = np.uint64(30), np.uint64(27), np.uint64(31)
_UM1, _UM2, _UGOLDEN = np.uint64(_M1), np.uint64(_M2), np.uint64(GOLDEN)


def mix64_array(z: np.ndarray) -> np.ndarray:
    """`mix64` over a uint64 array (wrapping arithmetic), returning a new array."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrapping is the point; 0-d inputs would warn
        z = (z ^ (z >> _U30)) * _UM1
        z = (z ^ (z >> _U27)) * _UM2
    return z ^ (z >> _U31)


def fold_key_array(*parts: np.ndarray | int) -> np.ndarray:
    """`fold_key` elementwise over broadcast integer arrays."""
    key = np.uint64(0)
    for i, part in enumerate(parts):
        part = np.asarray(part, dtype=np.int64).astype(np.uint64)
        with np.errstate(over="ignore"):
            key = mix64_array((key ^ part) + np.uint64((i + 1) * GOLDEN & MASK64))
    return key


def stream_array(keys: np.ndarray, counters: np.ndarray | int) -> np.ndarray:
    """Draw number `counters` (1-based) of the splitmix64 streams of `keys`, broadcast."""
    keys = np.asarray(keys, dtype=np.uint64)
    counters = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64_array(keys + counters * _UGOLDEN)


def uniform_array(bits: np.ndarray) -> np.ndarray:
    """Uniform float64 in [0, 1) from the high 53 bits of uint64 draws."""
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def below_array(bits: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    """Uniform integers in [0, n) from uint64 draws (53-bit resolution; n >= 1)."""
    n = np.asarray(n, dtype=np.int64)
    return np.minimum((uniform_array(bits) * n).astype(np.int64), n - 1)


def hash_unit_interval(values: np.ndarray, seed: int) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per integer value (e.g. a node id), keyed by `seed`."""
    key = np.uint64(fold_key(seed))
    return uniform_array(mix64_array(np.asarray(values, dtype=np.int64).astype(np.uint64) ^ key))
