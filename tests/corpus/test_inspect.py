"""corpus.inspect.segments_dataset: the built sample's segments as a `datasets.Dataset`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from corpus.inspect import segments_dataset
from foundation.errors import PipelineError


def test_segments_dataset_rows_are_the_segments_arrays(segments_built_sample: Path):
    seg = segments_built_sample / "segments"
    manifest = json.loads((seg / "manifest.json").read_text())
    tokens = np.memmap(seg / "tokens.bin", dtype=manifest["dtype"], mode="r")
    bounds, doc_segments = np.load(seg / "segments.npy"), np.load(seg / "doc_segments.npy")
    nodes = pq.read_table(segments_built_sample / "graph" / "nodes.parquet").to_pylist()

    ds = segments_dataset(segments_built_sample, text=True)
    assert len(ds) == manifest["num_segments"] == len(bounds) - 1
    for s in (0, 1, len(ds) // 2, len(ds) - 1):
        row = ds[s]
        assert row["input_ids"] == tokens[bounds[s] : bounds[s + 1]].tolist()
        node = row["node"]
        assert doc_segments[node] + row["segment"] == s
        assert (row["id"], row["title"]) == (nodes[node]["id"], nodes[node]["title"])
    anarchism = ds.filter(lambda r: r["title"] == "Anarchism" and r["segment"] == 0)
    assert len(anarchism) == 1 and "anarch" in anarchism[0]["text"]  # decoded by the corpus's tokenizer
    assert sum(len(ids) for ids in ds["input_ids"]) == manifest["num_tokens"]


def test_segments_dataset_needs_built_segments(tmp_path: Path):
    with pytest.raises(PipelineError, match="segments does not exist.*linkbert corpus segments"):
        segments_dataset(tmp_path)
