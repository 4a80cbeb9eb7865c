"""What an input format of `linkbert corpus extract` provides, and the page statuses its steps set.

A format (one module in corpus/readers/ with a subclass of `InputFormat`, named in
`corpus.readers.FORMATS`) checks the `--input` paths, cuts them into one list of slices per task,
and gives the datatrove steps that turn a task's slices into Documents whose `metadata["status"]`
says what each page became. The extract stage (corpus/extract/) appends its shard writer, which
accounts for every page by that status.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from corpus.readers.multistream import Slice, plan_tasks
from foundation.errors import PipelineError

if TYPE_CHECKING:
    from datatrove.pipeline.base import PipelineStep

    from corpus.config import CorpusConfig

# What a page became: the statuses the shard writer counts (every page read has one).
ARTICLE, REDIRECT, REDIRECT_DROPPED, SKIPPED, FAILED = (
    "article",
    "redirect",
    "redirect_dropped",
    "skipped",
    "failed",
)


def check_files(inputs: list[str]) -> list[str]:
    """Absolute paths of input files that exist, are not empty, and are each named once."""
    paths = []
    for raw in inputs:
        path = os.path.abspath(raw)
        if os.path.isdir(path):
            raise PipelineError(f"{raw}: is a folder; pass the dump file(s) inside it as --input")
        if not os.path.isfile(path):
            raise PipelineError(f"{raw}: no such file (check --input)")
        if os.path.getsize(path) == 0:
            raise PipelineError(f"{raw}: the file is empty (an interrupted download? fetch it again)")
        paths.append(path)
    if len(set(paths)) != len(paths):
        raise PipelineError("corpus extract: the same --input file is given twice")
    return paths


class InputFormat:
    """One input format. Subclasses set `name` and give `steps`; the rest has defaults for plain files."""

    name: ClassVar[str]
    # Whether tasks left without input are worth a warning (a format that splits rows, not files, has none).
    splits_files: ClassVar[bool] = True

    def check_inputs(self, inputs: list[str]) -> list[str]:
        return check_files(inputs)

    def indexes(self, cfg: CorpusConfig, paths: list[str], index: str | None) -> dict[str, Path | None]:
        """The multistream index of each input, where the format has one."""
        if index:
            raise PipelineError(f"--index is for multistream Wikipedia dumps, not for --format {self.name}")
        return {}

    def plan(
        self, cfg: CorpusConfig, paths: list[str], indexes: dict[str, Path | None], logs: Path
    ) -> list[list[Slice]]:
        """Every byte of every input assigned to one of `cfg.tasks` tasks (whole files by default)."""
        return plan_tasks(paths, cfg.tasks, indexes=indexes)

    def steps(
        self,
        cfg: CorpusConfig,
        paths: list[str],
        plan: list[list[Slice]],
        indexes: dict[str, Path | None],
        logs: Path,
    ) -> list[PipelineStep]:
        """The datatrove steps that read a task's slices into Documents with a status."""
        raise NotImplementedError
