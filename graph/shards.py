"""The graph stage's view of a corpus folder: the shard list of `extract.json`, checked, and
column-projected reads of the shards (the `text` column is never read)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import PipelineError

EXTRACT_MANIFEST = "extract.json"
REBUILD_HINT = "rerun `linkbert corpus extract` into a new folder (or delete the folder and rerun it)"


@dataclass(frozen=True)
class Shard:
    path: Path
    rows: int | None  # as listed in the manifest (None when the manifest does not say)


@dataclass(frozen=True)
class CorpusShards:
    corpus_dir: Path
    docs: list[Shard]
    redirects: list[Shard]
    manifest_sha256: str  # identifies the extraction the graph was built from


def _shard_entries(manifest: dict, kind: str, where: Path) -> list:
    shards = manifest.get("shards")
    entries = shards.get(kind) if isinstance(shards, dict) else manifest.get(kind)
    if not isinstance(entries, list):
        raise PipelineError(f"{where}: no list of {kind} shards under 'shards.{kind}'; {REBUILD_HINT}")
    return entries


def _parse_entry(entry: object, corpus_dir: Path, where: Path) -> Shard:
    rows = None
    if isinstance(entry, str):
        name = entry
    elif isinstance(entry, dict) and isinstance(entry.get("path", entry.get("file")), str):
        name = entry.get("path", entry.get("file"))
        rows = entry.get("rows")
    else:
        raise PipelineError(f"{where}: shard entry {entry!r} has no path; {REBUILD_HINT}")
    path = Path(name) if Path(name).is_absolute() else corpus_dir / name
    return Shard(path=path, rows=int(rows) if rows is not None else None)


def read_corpus_shards(corpus_dir: str | Path) -> CorpusShards:
    """Read and check `DIR/extract.json`; every listed shard must exist."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise PipelineError(f"corpus folder {corpus_dir} does not exist; run `linkbert corpus extract` first")
    where = corpus_dir / EXTRACT_MANIFEST
    if not where.is_file():
        raise PipelineError(
            f"{where} is missing: the extraction of {corpus_dir} never finished; {REBUILD_HINT}"
        )
    raw = where.read_bytes()
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as e:
        raise PipelineError(f"{where} is not valid JSON ({e}); {REBUILD_HINT}") from e
    if not isinstance(manifest, dict):
        raise PipelineError(f"{where} does not hold a JSON object; {REBUILD_HINT}")
    docs, redirects = (
        [_parse_entry(e, corpus_dir, where) for e in _shard_entries(manifest, kind, where)]
        for kind in ("docs", "redirects")
    )
    for shard in (*docs, *redirects):
        if not shard.path.is_file():
            raise PipelineError(f"shard {shard.path} is listed in {where} but missing; {REBUILD_HINT}")
    return CorpusShards(corpus_dir, docs, redirects, hashlib.sha256(raw).hexdigest())


def open_shard(shard: Shard, needed: tuple[str, ...]) -> pq.ParquetFile:
    """Open a shard, checking it is complete parquet with the columns the graph needs."""
    try:
        f = pq.ParquetFile(shard.path)
    except (pa.ArrowException, OSError) as e:
        raise PipelineError(
            f"shard {shard.path} is not readable parquet (half-written or damaged: {e}); {REBUILD_HINT}"
        ) from e
    names = set(f.schema_arrow.names)
    missing = [c for c in needed if c not in names]
    if missing:
        raise PipelineError(f"shard {shard.path} has no column(s) {', '.join(missing)}; {REBUILD_HINT}")
    if shard.rows is not None and f.metadata.num_rows != shard.rows:
        raise PipelineError(
            f"shard {shard.path} has {f.metadata.num_rows} rows but the manifest lists {shard.rows}; "
            f"{REBUILD_HINT}"
        )
    return f


def leaf_path(shard: Shard, f: pq.ParquetFile, column: str, field: str) -> str:
    """Parquet path of one struct field inside a list column (`links.list.element.target`)."""
    prefix, suffix = f"{column}.", f".{field}"
    for i in range(f.metadata.num_columns):
        path = f.schema.column(i).path
        if path.startswith(prefix) and path.endswith(suffix) and path.count(".") == 3:
            return path
    raise PipelineError(f"shard {shard.path} has no {column}[].{field} field; {REBUILD_HINT}")


def link_capacity(shard: Shard, f: pq.ParquetFile) -> int:
    """Upper bound of the links in a shard from the footer alone (empty lists count one value each)."""
    target = leaf_path(shard, f, "links", "target")
    col = next(i for i in range(f.metadata.num_columns) if f.schema.column(i).path == target)
    return sum(f.metadata.row_group(g).column(col).num_values for g in range(f.metadata.num_row_groups))


def iter_columns(
    shard: Shard, f: pq.ParquetFile, columns: list[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Batches of the given (possibly nested-leaf) columns; read errors name the shard."""
    try:
        yield from f.iter_batches(batch_size=batch_rows, columns=columns)
    except (pa.ArrowException, OSError) as e:
        raise PipelineError(f"shard {shard.path} could not be read ({e}); {REBUILD_HINT}") from e
