"""A built corpus's segments as a `datasets.Dataset`, for looking at what pretraining will read.

    from corpus.inspect import segments_dataset
    ds = segments_dataset("data/corpus/sample", text=True)
    ds.filter(lambda r: r["title"] == "Anarchism")[0]["text"]

One row per segment, in segment order: `node`, `id` and `title` of its document (graph/nodes.parquet),
`segment` (its index within the document) and `input_ids` (no special tokens); with `text=True` also
the decoded `text`. The token column is built over the memory-mapped `tokens.bin` without copying it.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graph.store import graph_dir
from pipeline.errors import PipelineError


def segments_dataset(corpus_dir: str | os.PathLike, *, text: bool = False):
    import datasets

    from corpus.segments import MANIFEST, TOKENIZER_DIR, segments_dir

    folder = segments_dir(corpus_dir)
    if not (folder / MANIFEST).is_file():
        raise PipelineError(f"{folder}: no complete segments (no {MANIFEST}); run `linkbert corpus segments`")
    meta = json.loads((folder / MANIFEST).read_text())
    dtype = np.dtype(meta["dtype"])
    tokens = (
        np.memmap(folder / "tokens.bin", dtype=dtype, mode="r") if meta["num_tokens"] else np.zeros(0, dtype)
    )
    bounds = np.load(folder / "segments.npy")
    doc_segments = np.load(folder / "doc_segments.npy")
    node = np.repeat(np.arange(len(doc_segments) - 1, dtype=np.int64), np.diff(doc_segments))
    nodes = pq.read_table(graph_dir(corpus_dir) / "nodes.parquet", columns=["id", "title"])
    table = pa.table(
        {
            "node": node,
            "id": nodes["id"].take(node),
            "title": nodes["title"].take(node),
            "segment": np.arange(len(node), dtype=np.int64) - doc_segments[node],
            "input_ids": pa.LargeListArray.from_arrays(pa.array(bounds), pa.array(tokens)),
        }
    )
    ds = datasets.Dataset(table)
    if text:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(folder / TOKENIZER_DIR))
        ds = ds.map(lambda b: {"text": tok.batch_decode(b["input_ids"])}, batched=True, batch_size=1000)
    return ds
