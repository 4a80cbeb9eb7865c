"""`segments/` of a given size for a built graph: synthetic token ids in the real on-disk layout.

Per-document token counts follow a lognormal law (a few very long articles, many stubs; sigma 1.1,
rescaled to the requested total), documents under `MIN_TOKENS` are dropped as the segmenter drops
them, and each document is cut into ceil(tokens / MAX_TOKENS) segments of near-equal length (the
segmenter cuts at sentence ends below the cap). Token ids are uniform over a BERT-sized vocabulary,
written in chunks, so memory stays bounded (O(segments) for the index) however many tokens there are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from formats import segments as segments_format
from foundation.atomic import atomic_dir
from pretrain.data.synthetic import SPECIAL_TOKENS, _write_tokenizer, synthetic_vocab

VOCAB_SIZE = 30522  # BERT's uncased WordPiece: ids fit uint16
MAX_TOKENS = 254  # segments.max_tokens default: two segments fill a 512-token pair
MIN_TOKENS = 8  # segments.min_tokens default
SIGMA = 1.1
CHUNK_TOKENS = 1 << 26  # 128 MiB of uint16 per write


def layout(num_docs: int, total_tokens: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(segment token offsets [S+1], document segment offsets [N+1]), both int64."""
    rng = np.random.default_rng(seed)
    weight = rng.lognormal(0.0, SIGMA, num_docs)
    doc_tokens = np.floor(weight * (total_tokens / weight.sum())).astype(np.int64)
    doc_tokens[doc_tokens < MIN_TOKENS] = 0
    per_doc = -(-doc_tokens // MAX_TOKENS)
    doc_segments = np.zeros(num_docs + 1, dtype=np.int64)
    np.cumsum(per_doc, out=doc_segments[1:])
    # Segment j of a document with t tokens in k segments: t // k tokens, one more for j < t % k.
    doc = np.repeat(np.arange(num_docs, dtype=np.int64), per_doc)
    j = np.arange(len(doc), dtype=np.int64) - doc_segments[doc]
    k = per_doc[doc]
    lengths = doc_tokens[doc] // k + (j < doc_tokens[doc] % k)
    del doc, j, k
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, doc_segments


def write_segments(corpus: Path, num_docs: int, total_tokens: int, seed: int = 0) -> bool:
    """Write `corpus/segments/` for `num_docs` graph nodes, or keep the one already there when it was
    made with the same figures; True when it was written."""
    config = {
        "generator": "bench/scale_segments.py",
        "num_docs": num_docs,
        "tokens": total_tokens,
        "seed": seed,
    }
    if segments_format.peek_manifest(corpus).get("config") == config:
        return False
    segment_offsets, doc_segments = layout(num_docs, total_tokens, seed)
    num_tokens = int(segment_offsets[-1])
    rng = np.random.default_rng(seed + 1)
    with atomic_dir(segments_format.segments_dir(corpus), overwrite=True) as tmp:
        with segments_format.tokens_writer(tmp) as f:
            for start in range(0, num_tokens, CHUNK_TOKENS):
                n = min(CHUNK_TOKENS, num_tokens - start)
                f.write(rng.integers(len(SPECIAL_TOKENS), VOCAB_SIZE, size=n, dtype=np.uint16).tobytes())
        segments_format.write_index(tmp, segment_offsets, doc_segments)
        tokenizer_hash = _write_tokenizer(tmp / segments_format.TOKENIZER_DIR, synthetic_vocab(VOCAB_SIZE))
        per_doc = np.diff(doc_segments)
        segments_format.write_manifest(
            tmp,
            {
                "num_tokens": num_tokens,
                "num_segments": len(segment_offsets) - 1,
                "num_docs": num_docs,
                "dtype": "uint16",
                "vocab_size": VOCAB_SIZE,
                "special_ids": {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4},
                "tokenizer_hash": tokenizer_hash,
                "config": config,
                "docs_dropped": int((per_doc == 0).sum()),
            },
        )
    return True
