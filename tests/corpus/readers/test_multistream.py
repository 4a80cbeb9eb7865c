"""Multistream index parsing and task plans: every byte (and every stream) read by exactly one task."""

from __future__ import annotations

import bz2
import os
from pathlib import Path

import numpy as np
import pytest

from corpus.readers.dump import read_pages
from corpus.readers.multistream import (
    Slice,
    cut_weights,
    index_path_for,
    plan_tasks,
    read_stream_offsets,
    stream_ranges,
)
from foundation.errors import PipelineError

WIKI = Path(__file__).resolve().parents[2] / "data" / "wiki"
MULTI = str(WIKI / "elwikivoyage-p2566p2583-multistream.xml.bz2")
SINGLE = str(WIKI / "elwikivoyage-p2566p2583.xml.bz2")
INDEX = WIKI / "elwikivoyage-p2566p2583-multistream-index.txt.bz2"


def test_index_is_found_beside_its_dump_and_lists_the_stream_offsets():
    assert index_path_for(MULTI) == INDEX
    assert index_path_for(SINGLE) is None
    offsets = read_stream_offsets(INDEX, os.path.getsize(MULTI))
    assert offsets.tolist() == [718, 4735, 8475, 12237]
    with open(MULTI, "rb") as f:
        data = f.read()
    for off in offsets:
        assert data[off : off + 3] == b"BZh", "each index offset starts a bz2 stream"
        bz2.BZ2Decompressor().decompress(data[off : off + 100])  # decodable on its own


def test_stream_ranges_partition_the_file():
    size = os.path.getsize(MULTI)
    header_end, starts, ends = stream_ranges(read_stream_offsets(INDEX, size), size)
    assert header_end == 718
    assert starts[0] == 0 and ends[-1] == size
    assert (starts[1:] == ends[:-1]).all(), "ranges are contiguous: no gap, no overlap"
    assert (ends > starts).all()


@pytest.mark.parametrize("tasks", [1, 2, 3, 4, 7])
def test_plans_give_every_byte_and_stream_to_exactly_one_task(tasks):
    size = os.path.getsize(MULTI)
    plan = plan_tasks([MULTI], tasks, indexes={MULTI: INDEX})
    assert len(plan) == tasks
    owner = np.full(size, -1)
    for rank, slices in enumerate(plan):
        for sl in slices:
            end = size if sl.end is None else sl.end
            assert (owner[sl.start : end] == -1).all(), "a byte read by two tasks"
            owner[sl.start : end] = rank
            # A task starting after the first stream reads the first stream only for <siteinfo>.
            assert sl.header_end == (0 if sl.start == 0 else 718)
    assert (owner >= 0).all(), "a byte read by no task"
    assert (np.diff(owner) >= 0).all(), "tasks get contiguous runs of streams"


def test_split_across_three_tasks_reads_the_same_pages_as_the_single_stream_file():
    single = [(p.id, p.title, p.ns, p.redirect, p.text) for p in read_pages(SINGLE)]
    assert len(single) == 17
    plan = plan_tasks([MULTI], 3, indexes={MULTI: INDEX})
    per_task = [
        [(p.id, p.title, p.ns, p.redirect, p.text) for s in slices for p in read_pages(s)] for slices in plan
    ]
    assert all(per_task), "each of the 3 tasks gets pages"
    assert [page for task in per_task for page in task] == single
    # Every task sees the dump's own <siteinfo> (Greek namespaces), not a default.
    last_task = [p for s in plan[-1] for p in read_pages(s)]
    assert last_task[0].site.dbname == "elwikivoyage"
    assert last_task[0].site.namespace_id("Κατηγορία") == 14


def test_files_without_an_index_are_handed_out_whole(tmp_path):
    files = []
    for i, size in enumerate([100, 300, 50]):
        path = tmp_path / f"part{i}.xml"
        path.write_bytes(b"x" * size)
        files.append(str(path))
    plan = plan_tasks(files, 5, indexes={})
    handed = [sl for slices in plan for sl in slices]
    assert sorted(s.path for s in handed) == sorted(files)
    assert all(s == Slice(s.path) for s in handed), "whole files only"
    assert sum(1 for slices in plan if not slices) == 2


def test_cut_weights_balances_contiguous_parts():
    weights = np.ones(1000)
    parts = cut_weights(weights, 4)
    assert (np.diff(parts) >= 0).all()
    assert np.bincount(parts).tolist() == [250, 250, 250, 250]
    assert cut_weights(np.array([5.0]), 3).tolist() == [1]


def test_an_index_of_another_dump_is_refused(tmp_path):
    with pytest.raises(PipelineError, match="beyond the end of its dump"):
        read_stream_offsets(INDEX, 5000)
    bad = tmp_path / "bad-index.txt.bz2"
    bad.write_bytes(bz2.compress(b"abc:12:Title\n"))
    with pytest.raises(PipelineError, match="offset:page_id:title"):
        read_stream_offsets(bad)
    empty = tmp_path / "empty-index.txt.bz2"
    empty.write_bytes(bz2.compress(b""))
    with pytest.raises(PipelineError, match="is empty"):
        read_stream_offsets(empty)
    with pytest.raises(PipelineError, match="does not exist"):
        read_stream_offsets(tmp_path / "missing-index.txt.bz2")
