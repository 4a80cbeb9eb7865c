"""A built corpus's segments as a `datasets.Dataset`, for looking at what pretraining will read.

    from corpus.inspect import segments_dataset
    ds = segments_dataset("data/corpus/sample", text=True)
    ds.filter(lambda r: r["title"] == "Anarchism")[0]["text"]

One row per segment, in segment order: `node`, `id` and `title` of its document (graph/nodes.parquet),
`segment` (its index within the document) and `input_ids` (no special tokens); with `text=True` also
the decoded `text`. The token column is built over the memory-mapped `tokens.bin` without copying it.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from formats import graph as graph_format
from formats import segments as segments_format


def segments_dataset(corpus_dir: str | os.PathLike, *, text: bool = False):
    # Deferred: datasets loads only for Hugging Face input.
    import datasets

    seg = segments_format.read_arrays(corpus_dir, allow_empty=True)
    tokens, bounds, doc_segments = seg.tokens, seg.segments, seg.doc_segments
    node = np.repeat(np.arange(len(doc_segments) - 1, dtype=np.int64), np.diff(doc_segments))
    nodes = graph_format.read_nodes(corpus_dir, ["id", "title"])
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
        # Deferred: transformers takes seconds to import and only this path needs it.
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(seg.tokenizer_dir))
        ds = ds.map(lambda b: {"text": tok.batch_decode(b["input_ids"])}, batched=True, batch_size=1000)
    return ds
