"""The segments contract: `DIR/segments/` as `linkbert corpus segments` (and the synthetic generator)
writes it and pretraining and `corpus.inspect` read it (docs/formats.md, "Segments").

`tokens.bin` (every segment's token ids back to back, uint16 or uint32 as the manifest's `dtype`
says), `segments.npy` (int64, S+1 token offsets), `doc_segments.npy` (int64, N+1 segment offsets per
graph node), `tokenizer/` and `manifest.json`, written last. A manifest without a `format` (generated
corpora of earlier versions) reads as /1.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from formats.version import peek_json, read_versioned, require, write_versioned
from foundation.atomic import atomic_path
from foundation.errors import PipelineError

SEGMENTS_DIR = "segments"
MANIFEST = "manifest.json"
TOKENS = "tokens.bin"
TOKENIZER_DIR = "tokenizer"
FORMAT = "linkbert-segments/1"
SUPPORTED = (FORMAT,)
INDEX_ARRAYS = ("segments", "doc_segments")  # both int64
TOKEN_DTYPES = (np.dtype(np.uint16), np.dtype(np.uint32))
SPECIAL_KEYS = ("cls", "sep", "mask", "pad", "unk")


def segments_dir(corpus_dir: str | Path) -> Path:
    return Path(corpus_dir) / SEGMENTS_DIR


def build_command(corpus_dir: str | Path) -> str:
    return f"linkbert corpus segments --corpus {corpus_dir}"


# ----------------------------------------------------------------------------------------------
# Writer


@contextlib.contextmanager
def tokens_writer(out: Path) -> Iterator[BinaryIO]:
    """`tokens.bin`, appended to in order (bounded memory), renamed into place when the block ends."""
    with atomic_path(out / TOKENS) as tmp, open(tmp, "wb") as f:
        yield f


def write_index(out: Path, segments: np.ndarray, doc_segments: np.ndarray) -> None:
    """`segments.npy` (token offset of every segment, S+1) and `doc_segments.npy` (N+1), each atomically."""
    for name, array in (("segments", segments), ("doc_segments", doc_segments)):
        with atomic_path(out / f"{name}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(array, dtype=np.int64))


def write_manifest(out: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """`manifest.json` with the format version: written last, it marks the folder complete."""
    return write_versioned(out / MANIFEST, manifest, FORMAT)


# ----------------------------------------------------------------------------------------------
# Reader


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of segments folder `folder` (version checked), or None when absent."""
    return read_versioned(folder / MANIFEST, SUPPORTED, f"delete {folder} and rerun the segments", FORMAT)


def require_manifest(corpus_dir: str | Path) -> dict[str, Any]:
    folder = segments_dir(corpus_dir)
    return require(read_manifest(folder), folder, MANIFEST, build_command(corpus_dir))


def peek_manifest(corpus_dir: str | Path) -> dict[str, Any]:
    """`manifest.json` as far as it reads ({} when absent or unreadable): for reports and identities."""
    return peek_json(segments_dir(corpus_dir) / MANIFEST)


@dataclass
class SegmentArrays:
    """A segments folder memory-mapped: segment s is `tokens[segments[s]:segments[s+1]]`, node i's
    segments are `doc_segments[i]:doc_segments[i+1]`."""

    path: Path
    manifest: dict[str, Any]
    tokens: np.ndarray  # memory-mapped, manifest dtype
    segments: np.ndarray  # int64, S + 1
    doc_segments: np.ndarray  # int64, N + 1
    vocab_size: int
    special_ids: dict[str, int]  # cls, sep, mask, pad, unk

    @property
    def tokenizer_dir(self) -> Path:
        return self.path / TOKENIZER_DIR


def _load_index(path: Path, hint: str) -> np.ndarray:
    if not path.is_file():
        raise PipelineError(f"{path} is missing although the folder has a manifest: {hint}")
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise PipelineError(f"{path} is not a readable .npy file ({e}): {hint}") from e
    if array.ndim != 1 or array.dtype != np.dtype(np.int64) or len(array) == 0:
        raise PipelineError(
            f"{path} holds {array.dtype}{list(array.shape)}, expected a non-empty 1-d int64 array: {hint}"
        )
    return array.view(np.ndarray)  # a plain view of the map: memmap's hooks cost ~1 us per scalar read


def read_arrays(corpus_dir: str | Path, allow_empty: bool = False) -> SegmentArrays:
    """The complete segments of `corpus_dir`, checked: manifest (version), dtype, sizes, offsets."""
    folder = segments_dir(corpus_dir)
    manifest = require_manifest(corpus_dir)
    hint = f"rerun `{build_command(corpus_dir)}`"
    index = {name: _load_index(folder / f"{name}.npy", hint) for name in INDEX_ARRAYS}
    try:
        dtype = np.dtype(manifest["dtype"])
        vocab_size = int(manifest["vocab_size"])
        special = {k: int(manifest["special_ids"][k]) for k in SPECIAL_KEYS}
    except (KeyError, TypeError, ValueError) as e:
        raise PipelineError(
            f"{folder / MANIFEST} lacks dtype, vocab_size or special_ids {{{', '.join(SPECIAL_KEYS)}}} "
            f"({e!r}): {hint}"
        ) from e
    if dtype not in TOKEN_DTYPES:
        raise PipelineError(f"{folder / MANIFEST}: dtype {dtype} is not uint16 or uint32")
    tokens_path = folder / TOKENS
    if not tokens_path.is_file():
        raise PipelineError(f"{tokens_path} is missing although the folder has a manifest: {hint}")
    size = tokens_path.stat().st_size
    if size % dtype.itemsize:
        raise PipelineError(f"{tokens_path}: {size} bytes is not a whole number of {dtype} tokens")
    if size == 0 and not allow_empty:
        raise PipelineError(f"{tokens_path} is empty: the corpus has no tokens (every document dropped?)")
    tokens = np.memmap(tokens_path, dtype=dtype, mode="r") if size else np.zeros(0, dtype)
    segments, doc_segments = index["segments"], index["doc_segments"]
    num_segments = len(segments) - 1
    num_docs = len(doc_segments) - 1
    checks = [
        (
            int(manifest.get("num_docs", num_docs)) == num_docs,
            f"manifest says {manifest.get('num_docs')} nodes, doc_segments.npy has {num_docs}",
        ),
        (
            int(doc_segments[-1]) == num_segments,
            f"doc_segments ends at {int(doc_segments[-1])}, segments.npy has {num_segments} segments",
        ),
        (
            int(segments[-1]) == len(tokens),
            f"segments.npy ends at token {int(segments[-1])}, tokens.bin has {len(tokens)}",
        ),
        (
            int(manifest.get("num_segments", num_segments)) == num_segments,
            f"manifest says {manifest.get('num_segments')} segments, segments.npy has {num_segments}",
        ),
    ]
    for ok, what in checks:
        if not ok:
            raise PipelineError(f"{folder}: files do not match ({what}); {hint}")
    return SegmentArrays(folder, manifest, tokens, segments, doc_segments, vocab_size, special)
