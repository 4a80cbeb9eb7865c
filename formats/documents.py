"""The documents contract: what `linkbert corpus extract` writes into a corpus folder and every later
stage reads (docs/formats.md, "Corpus folder").

`DIR/docs/rank-XXXXX.parquet` (`DOCS_SCHEMA`), `DIR/redirects/rank-XXXXX.parquet` (`REDIRECTS_SCHEMA`),
`DIR/stats.json` and the manifest `DIR/extract.json`, written last, which lists the shards and records
the format version under `docs_format`. Writer: `ShardWriter` (one shard, row groups streamed to a
temporary file, renamed on commit). Reader: `read_corpus_shards` (the checked shard list) and
column-projected reads of the shards (`open_shard`, `iter_columns`), so a stage that needs no text never
reads the `text` column.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from formats.version import check_version, peek_json, write_versioned
from foundation.atomic import atomic_path, write_json_atomic
from foundation.errors import PipelineError

EXTRACT_MANIFEST = "extract.json"
STATS = "stats.json"
DOCS_DIR, REDIRECTS_DIR = "docs", "redirects"
FORMAT = "linkbert-documents/1"
# Manifests written before the version was recorded hold the same files: they read as /1.
SUPPORTED = (FORMAT,)
FORMAT_KEY = "docs_format"  # extract.json's `format` names the input (wikipedia, jsonl, hf)
REBUILD_HINT = "rerun `linkbert corpus extract` into a new folder (or delete the folder and rerun it)"

LINK_TYPE = pa.struct(
    [
        ("target", pa.string()),
        ("anchor", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("kind", pa.string()),
    ]
)
LINK_FIELDS = tuple(LINK_TYPE.field(i).name for i in range(LINK_TYPE.num_fields))
DOCS_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("links", pa.list_(LINK_TYPE)),
        ("is_disambiguation", pa.bool_()),
    ]
)
REDIRECTS_SCHEMA = pa.schema([("source", pa.string()), ("target", pa.string())])
BATCH_ROWS = 1000
BATCH_TEXT_BYTES = 64 << 20  # flush a row group before this much text is buffered: flat memory per task


def shard_name(rank: int) -> str:
    return f"rank-{rank:05d}.parquet"


# ----------------------------------------------------------------------------------------------
# Writer


class ShardWriter:
    """Rows of one shard, written as parquet row groups (zstd) to a temporary file beside `path`.

    `links` values are objects with the attributes of `LINK_FIELDS`. `commit` writes the footer and
    renames the file into place; `abort` deletes it."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.columns: dict[str, list] = {name: [] for name in schema.names}
        self.link_offsets = [0]
        self.text_bytes = 0
        self.rows = 0
        self._atomic = atomic_path(path)
        self._tmp = self._atomic.__enter__()
        self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")

    def add(self, **row: Any) -> None:
        for name, value in row.items():
            if name == "links":
                self._add_links(value)
            else:
                self.columns[name].append(value)
        self.text_bytes += len(row.get("text", ""))
        self.rows += 1
        if len(self.columns[self.schema.names[0]]) >= BATCH_ROWS or self.text_bytes >= BATCH_TEXT_BYTES:
            self.flush()

    def _add_links(self, links: list) -> None:
        cols = self.columns["links"]
        if not cols:
            cols.extend([] for _ in LINK_FIELDS)
        for col, attr in zip(cols, LINK_FIELDS, strict=True):
            col.extend(getattr(link, attr) for link in links)
        self.link_offsets.append(self.link_offsets[-1] + len(links))

    def flush(self) -> None:
        if not self.columns[self.schema.names[0]]:
            return
        arrays = []
        for field in self.schema:
            values = self.columns[field.name]
            if field.name == "links":
                parts = values or [[] for _ in LINK_FIELDS]
                structs = pa.StructArray.from_arrays(
                    [pa.array(p, type=LINK_TYPE.field(i).type) for i, p in enumerate(parts)],
                    fields=list(LINK_TYPE),
                )
                offsets = pa.array(self.link_offsets, type=pa.int32())
                arrays.append(pa.ListArray.from_arrays(offsets, structs, type=field.type))
            else:
                arrays.append(pa.array(values, type=field.type))
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.columns = {name: [] for name in self.schema.names}
        self.link_offsets = [0]
        self.text_bytes = 0

    def commit(self) -> None:
        """Last row group, parquet footer, then rename onto the final name."""
        self.flush()
        self._writer.close()
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        self._writer.close()
        self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)


@contextlib.contextmanager
def table_writer(path: Path, schema: pa.Schema, compression: str = "zstd") -> Iterator[pq.ParquetWriter]:
    """A whole-table shard writer (generated corpora write columns, not rows): every table written
    must have `schema` (DOCS_SCHEMA or REDIRECTS_SCHEMA); the file is renamed into place at the end."""
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression=compression) as writer:
        yield writer


def write_table(path: Path, table: pa.Table, schema: pa.Schema, **options: Any) -> None:
    """One shard from one table, cast to the contract's `schema` (a column of another type fails)."""
    row_group_size = options.pop("row_group_size", None)
    with table_writer(path, schema, **options) as writer:
        writer.write_table(table.cast(schema), row_group_size=row_group_size)


def write_stats(corpus_dir: str | Path, stats: dict[str, Any]) -> None:
    write_json_atomic(Path(corpus_dir) / STATS, stats)


def write_manifest(corpus_dir: str | Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """`extract.json` with the format version; the caller writes it after every shard and stats.json."""
    return write_versioned(Path(corpus_dir) / EXTRACT_MANIFEST, manifest, FORMAT, key=FORMAT_KEY)


# ----------------------------------------------------------------------------------------------
# Reader


def manifest_version(manifest: dict[str, Any], where: Path) -> str:
    return check_version(manifest.get(FORMAT_KEY, FORMAT), SUPPORTED, where)


def peek_manifest(corpus_dir: str | Path) -> dict[str, Any]:
    """`extract.json` as far as it reads ({} when absent): for reports and model cards."""
    return peek_json(Path(corpus_dir) / EXTRACT_MANIFEST)


def peek_stats(corpus_dir: str | Path) -> dict[str, Any]:
    """`stats.json` as far as it reads ({} when absent): for reports."""
    return peek_json(Path(corpus_dir) / STATS)


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
    manifest_version(manifest, where)
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


def read_docs_table(corpus_dir: str | Path, columns: list[str]) -> pa.Table:
    """The given columns of every docs shard, in manifest order, as one table (small corpora and
    benchmarks: it holds them all in memory)."""
    shards = read_corpus_shards(corpus_dir)
    tables = []
    for shard in shards.docs:
        f = open_shard(shard, tuple(columns))
        try:
            tables.append(f.read(columns=columns))
        except (pa.ArrowException, OSError) as e:
            raise PipelineError(f"shard {shard.path} could not be read ({e}); {REBUILD_HINT}") from e
    return pa.concat_tables(tables)


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
