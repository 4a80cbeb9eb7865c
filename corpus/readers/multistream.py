"""Multistream dumps and work plans: which bytes of which input each task reads.

A multistream `.xml.bz2` is a concatenation of independent bz2 streams (the first holds the
`<mediawiki>` start tag and `<siteinfo>`, then about 100 pages per stream, then a footer); its
`-index.txt.bz2` lists `offset:page_id:title`, each offset the start of a stream. That lets N tasks
split one file by stream offsets, each decompressing only its own streams. Files without an index can
only be handed out whole. The plan is computed once, in the launching process, so no task ever reads
the (English Wikipedia: ~1 GB decompressed) index.
"""

from __future__ import annotations

import bz2
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from foundation.errors import PipelineError

INDEX_SUFFIX = "-index.txt.bz2"
# Plain JSONL is split at line boundaries inside blocks of this size, so one big file feeds many tasks.
JSONL_BLOCK_BYTES = 16 << 20


@dataclass(frozen=True)
class Slice:
    """One contiguous piece of one input read by one task.

    `start`/`end` are byte offsets in the file as stored (compressed bytes for a multistream dump,
    stream boundaries; line-aligned on read for JSONL); `end=None` means to the end of the file.
    `header_end` > 0 marks a multistream slice that does not start at byte 0: the task first reads
    bytes [0, header_end) (the first stream) for the `<mediawiki>` start tag and `<siteinfo>`.
    """

    path: str
    start: int = 0
    end: int | None = None
    header_end: int = 0


def index_path_for(dump: str | os.PathLike) -> Path | None:
    """`x-multistream.xml.bz2` -> `x-multistream-index.txt.bz2`, if that file exists."""
    dump = Path(dump)
    name = dump.name
    if not name.endswith(".xml.bz2"):
        return None
    candidate = dump.with_name(name[: -len(".xml.bz2")] + INDEX_SUFFIX)
    return candidate if candidate.is_file() else None


def read_stream_offsets(index: str | os.PathLike, dump_size: int | None = None) -> np.ndarray:
    """Sorted unique stream start offsets (int64) listed in a multistream index.

    The index has one line per page (English Wikipedia: ~20M lines, ~1 GB decompressed), so it is
    parsed column-wise with Arrow in blocks, keeping only each block's distinct offsets.
    """
    index = Path(index)
    if not index.is_file():
        raise PipelineError(f"multistream index {index} does not exist (pass the right --index, or omit it)")
    blocks = []
    try:
        with bz2.open(index, "rb") as f:
            reader = pacsv.open_csv(
                f,
                read_options=pacsv.ReadOptions(column_names=["line"], block_size=16 << 20),
                # Each whole line is one field: titles hold any character but control characters.
                parse_options=pacsv.ParseOptions(delimiter="\x01", quote_char=False, escape_char=False),
                convert_options=pacsv.ConvertOptions(column_types={"line": pa.string()}),
            )
            for batch in reader:
                first = pc.list_element(pc.split_pattern(batch.column(0), ":", max_splits=1), 0)
                blocks.append(np.unique(pc.cast(first, pa.int64()).to_numpy(zero_copy_only=False)))
    except (OSError, EOFError) as e:
        raise PipelineError(f"multistream index {index} is not a readable .bz2 file ({e})") from None
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        if "Empty CSV" in str(e):
            raise PipelineError(f"multistream index {index} is empty") from None
        raise PipelineError(
            f"multistream index {index} has lines that do not start with 'offset:' "
            "(expected offset:page_id:title per line)"
        ) from None
    offsets = np.unique(np.concatenate(blocks)) if blocks else np.zeros(0, dtype=np.int64)
    if not offsets.size:
        raise PipelineError(f"multistream index {index} is empty")
    if offsets.size and offsets[0] < 0:
        raise PipelineError(f"multistream index {index} has a negative offset {offsets[0]}")
    if dump_size is not None and offsets.size and offsets[-1] >= dump_size:
        raise PipelineError(
            f"multistream index {index} lists offset {offsets[-1]} beyond the end of its dump "
            f"({dump_size} bytes): it belongs to another file"
        )
    return offsets


def stream_ranges(offsets: np.ndarray, file_size: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(header_end, starts, ends): the page streams, every byte of the file in exactly one range.

    The bytes before the first indexed stream (the header stream) go to the first range. The last range
    runs to the end of the file, so it also covers the unindexed footer stream. `header_end` is the
    end of the first stream, which holds `<siteinfo>`: tasks starting later read it for that alone.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    starts = offsets.copy()
    starts[0] = 0
    ends = np.append(offsets[1:], np.int64(file_size))
    header_end = int(offsets[0]) if offsets[0] > 0 else int(ends[0])
    return header_end, starts, ends


def cut_weights(weights: np.ndarray, parts: int) -> np.ndarray:
    """Part index (0..parts-1, non-decreasing) of each item, balancing the summed weight of parts.

    Item i goes to the part that holds the midpoint of its weight on the cumulative axis, so parts
    are contiguous runs and no item is split.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.size == 0:
        return np.zeros(0, dtype=np.int64)
    total = weights.sum()
    if total <= 0:
        return np.minimum(np.arange(weights.size) * parts // max(weights.size, 1), parts - 1)
    mid = np.cumsum(weights) - weights / 2
    return np.minimum((mid * parts / total).astype(np.int64), parts - 1)


@dataclass(frozen=True)
class _Atom:
    path: str
    start: int
    end: int | None
    header_end: int
    weight: int


def _atoms_for(path: str, index: Path | None, jsonl: bool) -> list[_Atom]:
    size = os.path.getsize(path)
    if index is not None:
        header_end, starts, ends = stream_ranges(read_stream_offsets(index, size), size)
        return [
            _Atom(path, int(s), int(e), header_end, int(e - s)) for s, e in zip(starts, ends, strict=True)
        ]
    if jsonl and not path.endswith((".gz", ".bz2", ".zst")):
        blocks = max(1, math.ceil(size / JSONL_BLOCK_BYTES))
        bounds = [b * JSONL_BLOCK_BYTES for b in range(blocks)] + [size]
        return [_Atom(path, bounds[b], bounds[b + 1], 0, bounds[b + 1] - bounds[b]) for b in range(blocks)]
    return [_Atom(path, 0, None, 0, size)]


def plan_tasks(
    inputs: list[str], tasks: int, *, indexes: dict[str, Path | None], jsonl: bool = False
) -> list[list[Slice]]:
    """Assign every byte of every input to exactly one of `tasks` tasks, balanced by stored size.

    Inputs with an index (multistream) are cut at stream boundaries, plain JSONL at block boundaries
    (lines are aligned when read); any other file goes whole to one task. Adjacent pieces of one file
    given to one task are merged into one slice.
    """
    atoms = [a for path in inputs for a in _atoms_for(path, indexes.get(path), jsonl)]
    part_of = cut_weights(np.array([a.weight for a in atoms], dtype=np.int64), tasks)
    plan: list[list[Slice]] = [[] for _ in range(tasks)]
    for atom, part in zip(atoms, part_of.tolist(), strict=True):
        slices = plan[part]
        last = slices[-1] if slices else None
        if last is not None and last.path == atom.path and last.end == atom.start:
            slices[-1] = Slice(atom.path, last.start, atom.end, last.header_end)
        else:
            header_end = atom.header_end if atom.start > 0 else 0
            slices.append(Slice(atom.path, atom.start, atom.end, header_end))
    return plan
