"""`tfidf` source: each document -> its `graph.tfidf.k` most similar documents by TF-IDF cosine over
its text (the paper's TF-IDF-links ablation; a graph for corpora without links).

Method: sparse chunked products over a pruned index, in memory bounded per document.
1. Pass 1 over `text` (scikit-learn's HashingVectorizer: terms hashed into 2^hash_bits columns, no
   vocabulary held): document frequency per column.
2. Pass 2 (the text again): weights (1 + log tf) x idf, smooth idf as scikit-learn's; terms in fewer
   than `min_df` documents dropped; each row L2-normalized, then only its `terms_per_doc` heaviest
   terms kept. Held: N x terms_per_doc x 8 bytes (int32 column + float32 weight), twice (rows and
   the transposed index).
3. Columns kept by more than `max_postings` documents are left out of the index: the work for one
   document is then at most terms_per_doc x max_postings candidate scores, so the whole build is
   linear in N. Rows are taken in chunks of at most `chunk_candidates` candidate scores (the sum of
   their terms' posting lengths), scored by one sparse product `Q[chunk] @ Q.T`, and the top k of each
   row kept (the document itself excluded).
The scores are cosines of the pruned vectors: a lower bound of the full cosine, exact on the terms
that dominate it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from formats.documents import iter_columns, open_shard
from foundation.errors import PipelineError
from graph.sources.base import SourceContext, SourceEdges

if TYPE_CHECKING:  # the config is read, never imported: graph/config.py names the sources
    from graph.config import TfidfConfig

log = logging.getLogger("linkbert.graph")

# Letters only (two or more): numbers, dates and markup leftovers would link unrelated documents.
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"


def _vectorizer(cfg: TfidfConfig):
    # Deferred: scikit-learn loads only for the tfidf source.
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        n_features=2**cfg.hash_bits,
        alternate_sign=False,
        norm=None,
        lowercase=True,
        stop_words="english",
        token_pattern=TOKEN_PATTERN,
        dtype=np.float32,
    )


def _text_batches(ctx: SourceContext, batch_docs: int):
    """(nodes, texts) per batch, in shard order; rows of dropped duplicate titles are skipped."""
    for shard, row_node in zip(ctx.shards.docs, ctx.nodes.row_node, strict=True):
        f = open_shard(shard, ("text",))
        start = 0
        for batch in iter_columns(shard, f, ["text"], batch_docs):
            texts = batch.column(0)
            nodes = row_node[start : start + len(texts)]
            start += len(texts)
            keep = nodes >= 0
            if not keep.all():
                texts, nodes = texts.filter(pa.array(keep)), nodes[keep]
            yield nodes, texts.fill_null("").to_pylist()


def _top_per_row(m: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, value) of the k largest entries of each row (ties: lower column first).

    One stable sort of an int64 key per entry, row in the high bits and the value (in [0, 1] for
    these matrices, quantized to 31 bits) in the low ones: ~10x a three-key lexsort."""
    m.sort_indices()
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    scale = float(m.data.max()) if m.nnz else 1.0
    low = ((1.0 - m.data / max(scale, 1e-30)) * (2**31 - 1)).astype(np.int64)
    order = np.argsort((rows << 31) | low, kind="stable")
    rank = np.arange(len(order)) - m.indptr[rows[order]]
    keep = order[rank < k]
    return rows[keep], m.indices[keep].astype(np.int64), m.data[keep]


def _without_self(scores: sp.csr_matrix, first_node: int) -> sp.csr_matrix:
    """Drop each row's score against its own document (row r of the chunk is node first_node + r)."""
    rows = np.repeat(np.arange(scores.shape[0], dtype=np.int64), np.diff(scores.indptr))
    scores.data[scores.indices == rows + first_node] = 0
    scores.eliminate_zeros()
    return scores


def _index(ctx: SourceContext) -> tuple[sp.csr_matrix, dict[str, Any]]:
    """The pruned, normalized TF-IDF rows of every node (N x 2^hash_bits)."""
    cfg, n = ctx.cfg.tfidf, ctx.num_nodes
    vec = _vectorizer(cfg)
    columns = 2**cfg.hash_bits
    df = np.zeros(columns, dtype=np.int64)
    for _, texts in _text_batches(ctx, cfg.batch_docs):
        x = vec.transform(texts)
        df += np.bincount(x.indices, minlength=columns)
    idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
    idf[df < cfg.min_df] = 0

    t = cfg.terms_per_doc
    node_parts, col_parts, val_parts = [], [], []
    for nodes, texts in _text_batches(ctx, cfg.batch_docs):
        x = vec.transform(texts)
        x.data = (1 + np.log(x.data)) * idf[x.indices]
        x.eliminate_zeros()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        x = sp.diags(np.where(norms > 0, 1 / np.maximum(norms, 1e-30), 0).astype(np.float32)) @ x
        rows, cols, weights = _top_per_row(x.tocsr(), t)
        node_parts.append(nodes[rows].astype(np.int64))
        col_parts.append(cols.astype(np.int32))
        val_parts.append(weights.astype(np.float32))
    if node_parts:
        rows, cols, vals = (np.concatenate(p) for p in (node_parts, col_parts, val_parts))
    else:
        rows, cols, vals = np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.float32)
    del node_parts, col_parts, val_parts
    q = sp.csr_matrix((vals, (rows, cols)), shape=(n, columns), dtype=np.float32)
    del rows, cols, vals
    stats = {"docs_without_terms": int(np.count_nonzero(np.diff(q.indptr) == 0))}
    return q, stats


def build(ctx: SourceContext) -> SourceEdges:
    cfg, n = ctx.cfg.tfidf, ctx.num_nodes
    t0 = time.perf_counter()
    try:
        q, stats = _index(ctx)
    except (ValueError, MemoryError) as e:
        raise PipelineError(f"graph source tfidf: building the TF-IDF index failed ({e})") from e
    postings = np.bincount(q.indices, minlength=q.shape[1])
    stats["terms_indexed"] = int(np.count_nonzero(postings))
    capped = postings > cfg.max_postings
    index = q.tocsc()
    if capped.any():  # common terms out of the index (they still weigh in each row's norm)
        keep_cols = np.flatnonzero(~capped)
        index = index[:, keep_cols]
        q = q[:, keep_cols].tocsr()
        postings = postings[keep_cols]
    index = index.T.tocsr()  # columns x N: one posting list per row
    seconds_index = time.perf_counter() - t0

    # Candidate scores per row = sum of its terms' posting lengths; chunks are cut on their running sum.
    # reduceat needs every start inside the array: a trailing 0 covers rows without terms at the end.
    per_row = (
        np.add.reduceat(np.append(postings[q.indices], 0), q.indptr[:-1]) if n else np.zeros(0, np.int64)
    )
    per_row[np.diff(q.indptr) == 0] = 0
    running = np.cumsum(per_row)
    src_parts, dst_parts = [], []
    start, candidates, next_log = 0, 0, n // 10
    log.info(
        "tfidf: index of %d documents built (%.1fs); scoring %d candidates",
        n,
        seconds_index,
        running[-1] if n else 0,
    )
    while start < n:
        stop = int(np.searchsorted(running, running[start] - per_row[start] + cfg.chunk_candidates, "right"))
        stop = max(stop, start + 1)
        scores = (q[start:stop] @ index).tocsr()
        candidates += scores.nnz
        rows, cols, _ = _top_per_row(_without_self(scores, start), cfg.k)
        src_parts.append(rows + start)
        dst_parts.append(cols)
        start = stop
        if start >= next_log:
            log.info("tfidf: %d of %d documents scored (%.1fs)", start, n, time.perf_counter() - t0)
            next_log = start + n // 10
    src = np.concatenate(src_parts) if src_parts else np.empty(0, np.int64)
    dst = np.concatenate(dst_parts) if dst_parts else np.empty(0, np.int64)
    keys = np.sort((src << 32) | dst)
    stats.update(
        {
            "k": cfg.k,
            "terms_per_doc": cfg.terms_per_doc,
            "max_postings": cfg.max_postings,
            "terms_over_max_postings": int(capped.sum()),
            "candidate_scores": int(candidates),
            "docs_with_fewer_than_k": int(np.count_nonzero(np.bincount(src, minlength=n) < cfg.k)),
            "seconds_index": round(seconds_index, 3),
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )
    return SourceEdges(keys, stats)
