"""Hugging Face datasets as extraction input (`corpus.format=hf`), read through `datasets`.

`--input` is one folder written by `Dataset.save_to_disk` (or a `DatasetDict`'s, with `corpus.hf_split`
choosing the split), or data files `datasets` has a builder for: parquet, JSON / JSON lines (also
.gz/.bz2/.zst), CSV. `corpus.hf_columns` maps the dataset's column names onto the record fields
`id`, `title`, `text` and `links` (a list of link target titles; "" when the dataset has none), so a
dataset is used as it is published. Rows become records exactly as JSONL lines do
(`corpus/readers/jsonl.py:parse_record`): the same id, title and link rules.

The launching process loads the input once (`load_input`: data files are converted to Arrow in a cache
under the corpus folder's logs), which also checks the columns; every task then memory-maps that
cache and reads its contiguous share of rows (`Dataset.shard(..., contiguous=True)`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpus.readers.base import InputFormat
from corpus.readers.jsonl import JsonlRecord, parse_record, record_document
from corpus.readers.multistream import Slice
from corpus.site.siteinfo import SiteInfo
from foundation.errors import PipelineError

if TYPE_CHECKING:
    from corpus.config import CorpusConfig

FIELDS = ("id", "title", "text", "links")
# File name endings -> the `datasets` builder that reads them.
BUILDERS = {
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".csv": "csv",
}
COMPRESSED = (".gz", ".bz2", ".zst", ".xz")


def _builder(path: str) -> str | None:
    name = path.lower()
    for ext in COMPRESSED:
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    return next((b for ext, b in BUILDERS.items() if name.endswith(ext)), None)


def check_inputs(inputs: list[str]) -> list[str]:
    """Absolute paths of one saved-dataset folder or of data files of one kind; else a PipelineError."""
    if not inputs:
        raise PipelineError("corpus extract: no --input given")
    paths = [os.path.abspath(p) for p in inputs]
    for raw, path in zip(inputs, paths, strict=True):
        if not os.path.exists(path):
            raise PipelineError(f"{raw}: no such file or folder (check --input)")
    folders = [p for p in paths if os.path.isdir(p)]
    if folders:
        if len(paths) > 1:
            raise PipelineError(
                "--format hf takes one dataset folder (from save_to_disk) or data files, not several folders"
            )
        return paths
    builders = {_builder(p) for p in paths}
    if None in builders:
        bad = next(raw for raw, p in zip(inputs, paths, strict=True) if _builder(p) is None)
        raise PipelineError(
            f"{bad}: --format hf reads a save_to_disk folder or .parquet, .json, .jsonl or .csv files"
        )
    if len(builders) > 1:
        raise PipelineError(f"--format hf: give files of one kind, not a mix of {sorted(builders)}")
    if len(set(paths)) != len(paths):
        raise PipelineError("corpus extract: the same --input file is given twice")
    return paths


def load_input(paths: list[str], split: str, cache_dir: str):
    """The input as one `datasets.Dataset` (memory-mapped Arrow)."""
    # Deferred: datasets loads only for Hugging Face input.
    import datasets

    datasets.disable_progress_bars()
    if os.path.isdir(paths[0]):
        try:
            ds = datasets.load_from_disk(paths[0])
        except FileNotFoundError as e:
            raise PipelineError(
                f"{paths[0]}: not a dataset folder written by save_to_disk ({e}); give that folder or data files"
            ) from None
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise PipelineError(
                    f"{paths[0]}: no split {split!r} (it has {list(ds)}); set corpus.hf_split"
                )
            ds = ds[split]
        return ds
    try:
        return datasets.load_dataset(_builder(paths[0]), data_files=paths, split="train", cache_dir=cache_dir)
    except Exception as e:  # noqa: BLE001 - pyarrow/json/csv errors: one line naming the input
        raise PipelineError(f"{', '.join(paths)}: `datasets` could not read it: {e}") from None


def check_columns(ds, columns: dict[str, str], where: str) -> None:
    """Every mapped column exists; a PipelineError lists what the dataset has."""
    missing = {f: c for f, c in columns.items() if c and c not in ds.column_names}
    if missing:
        wanted = ", ".join(f"{field} -> {col!r}" for field, col in missing.items())
        raise PipelineError(
            f"{where}: no column for {wanted}; it has {ds.column_names}: map them with "
            "corpus.hf_columns.<field>=<column> (links='' for a dataset without links)"
        )


def read_rows(
    ds, columns: dict[str, str], rank: int, world_size: int, site: SiteInfo, where: str
) -> Iterator[JsonlRecord]:
    """This task's contiguous share of the rows as records; a bad row is a PipelineError naming it."""
    n = len(ds)
    start = n * rank // world_size  # the same cut as Dataset.shard(contiguous=True), with the offset known
    part = ds.select(range(start, n * (rank + 1) // world_size))
    used = {f: c for f, c in columns.items() if c}
    part = part.select_columns(sorted(set(used.values())))
    for i, row in enumerate(part):
        obj = {field: row[col] for field, col in used.items()}
        try:
            yield parse_record(obj, site)
        except ValueError as e:
            raise PipelineError(f"{where}: row {start + i} {e}; fix or remove that row") from None


class HfReaderStep(PipelineStep):
    """Yields this task's contiguous share of a Hugging Face dataset's rows as articles."""

    name = "Hugging Face dataset reader"
    type = "Reader"

    def __init__(self, paths: list[str], columns: dict[str, str], split: str, cache_dir: str) -> None:
        super().__init__()
        self.paths, self.columns, self.split, self.cache_dir = paths, columns, split, cache_dir

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        ds = load_input(self.paths, self.split, self.cache_dir)  # the launcher's Arrow cache
        where = ", ".join(self.paths)
        for rec in read_rows(ds, self.columns, rank, world_size, SiteInfo.default(), where):
            yield record_document(rec)


class HfFormat(InputFormat):
    """`corpus.format=hf`: a Hugging Face dataset (a save_to_disk folder, or parquet/JSON/CSV data files),
    loaded once by the launcher into the Arrow cache the tasks map; tasks split the rows, not the files."""

    name = "hf"
    splits_files = False

    def check_inputs(self, inputs: list[str]) -> list[str]:
        return check_inputs(inputs)

    def plan(
        self, cfg: CorpusConfig, paths: list[str], indexes: dict[str, Path | None], logs: Path
    ) -> list[list[Slice]]:
        # Loaded here so the columns are checked before any task starts.
        dataset = load_input(paths, cfg.hf_split, str(logs / "hf-cache"))
        check_columns(dataset, cfg.hf_columns, ", ".join(paths))
        return [[] for _ in range(cfg.tasks)]

    def steps(
        self,
        cfg: CorpusConfig,
        paths: list[str],
        plan: list[list[Slice]],
        indexes: dict[str, Path | None],
        logs: Path,
    ) -> list[PipelineStep]:
        return [HfReaderStep(paths, cfg.hf_columns, cfg.hf_split, str(logs / "hf-cache"))]
