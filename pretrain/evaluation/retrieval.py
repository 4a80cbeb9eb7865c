"""Cross-document retrieval: does a model find the document a held-out document links to?

Each usable out-link of a held-out anchor document (anchor -> a target document with segments, of the
edges of `linked_sources`) is one query. Its candidates are the true target and `num_candidates`
documents the anchor does not link to by any edge, drawn per query from a generator seeded by
(`seed`, anchor, target), so a query keeps its candidates however many queries are asked for. Queries
are taken round-robin over the anchors in id order (every anchor's first link, then every second one,
...) and capped at `max_queries`, so a few link-rich anchors cannot fill the set.

Every document is represented by its FIRST segment, the same text for every ranker:

    drp_linked         the export's DRP probability of "linked" for [CLS] anchor [SEP] candidate [SEP]
    export_cosine      cosine of the export encoder's mean-pooled embeddings, each segment encoded alone
    warm_start_cosine  the same with the warm-start checkpoint the run began from (no training at all)
    tfidf_cosine       TF-IDF cosine over WordPiece ids (no model at all)

Metrics per ranker: MRR, recall@1, recall@5 of the true target's rank among the 1 + N candidates, ties
counted against it (a ranker that scores everything alike gets rank 1 + N, not a lucky 1).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from foundation.errors import PipelineError
from pretrain.data.sampler import encode_segment_pairs, truncate_longest_first_array
from pretrain.evaluation.baselines import SegmentEncoder
from pretrain.evaluation.report import RECALL_AT, TEXT
from pretrain.evaluation.scoring import drp_probabilities, drp_relations, load_export_model
from pretrain.relations import LINKED

log = logging.getLogger(__name__)

RANKERS = ("drp_linked", "export_cosine", "warm_start_cosine", "tfidf_cosine")
IDF_SAMPLE_DOCS = 50_000  # documents whose first segments the IDF is counted over, at most


# ----------------------------------------------------------------------------------------------
# Queries and candidates


def has_segments(corpus: Any) -> np.ndarray:
    return np.diff(corpus.doc_segments) > 0


def select_queries(
    corpus: Any, anchors: np.ndarray, linked_sources: list[str] | tuple[str, ...] | None, max_queries: int
) -> tuple[np.ndarray, np.ndarray]:
    """(anchor, target) doc ids of the queries: usable out-links of the anchors (target has segments, is
    not the anchor, edge of `linked_sources`; one query per distinct target), round-robin over the
    anchors in id order, at most `max_queries`."""
    usable_doc = has_segments(corpus)
    anchors = np.unique(np.asarray(anchors, dtype=np.int64))
    anchors = anchors[usable_doc[anchors]]  # an anchor needs a first segment of its own
    starts, ends = corpus.indptr[anchors], corpus.indptr[anchors + 1]
    degree = ends - starts
    edge = np.arange(int(degree.sum()), dtype=np.int64) + np.repeat(
        starts - np.cumsum(degree) + degree, degree
    )
    source = np.repeat(anchors, degree)
    target = np.asarray(corpus.indices[edge], dtype=np.int64)
    keep = usable_doc[target] & (target != source)
    mask = corpus.edge_kind_mask(linked_sources)
    if mask is not None:
        keep &= mask[edge]
    pairs = np.unique(source[keep] * corpus.num_docs + target[keep])  # sorted by (anchor, target)
    source, target = pairs // corpus.num_docs, pairs % corpus.num_docs
    # Position of each link within its anchor's links: round r takes every anchor's r-th link.
    first = np.searchsorted(source, source, side="left")
    turn = np.arange(len(source)) - first
    order = np.lexsort((source, turn))[:max_queries]
    return source[order], target[order]


def draw_negatives(
    corpus: Any, anchors: np.ndarray, targets: np.ndarray, num_candidates: int, seed: int
) -> np.ndarray:
    """[Q, k] documents with segments that are not the anchor and that the anchor does not link to,
    without repeats within a query; k = num_candidates, or fewer when some anchor has fewer such
    documents (every query then gets the same k, so the metrics stay comparable)."""
    pool = np.flatnonzero(has_segments(corpus)).astype(np.int64)
    excluded = []
    for anchor in anchors.tolist():
        linked = np.unique(np.append(corpus.out_links(anchor).astype(np.int64), anchor))
        # Positions in `pool` (sorted) of the anchor and of what it links to, where those have segments.
        at = np.searchsorted(pool, linked)
        inside = at < len(pool)
        at, linked = at[inside], linked[inside]
        excluded.append(at[pool[at] == linked])
    k = min([num_candidates, *(len(pool) - len(e) for e in excluded)])
    out = np.zeros((len(anchors), max(k, 0)), dtype=np.int64)
    if k <= 0:
        return out
    for q, (anchor, target, skip) in enumerate(
        zip(anchors.tolist(), targets.tolist(), excluded, strict=True)
    ):
        rng = np.random.default_rng([seed, anchor, target])
        # Draw k of the len(pool) - len(skip) allowed positions, then step each over the excluded
        # positions at or below it: exact, O(k log E) per query however large the corpus.
        drawn = rng.choice(len(pool) - len(skip), size=k, replace=False)
        shift = np.searchsorted(skip - np.arange(len(skip)), drawn, side="right")
        out[q] = pool[drawn + shift]
    return out


# ----------------------------------------------------------------------------------------------
# Metrics


def target_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of column 0 (the true target) in each row of [Q, 1 + N] scores; a candidate with an
    equal score ranks above the target (pessimistic ties)."""
    scores = np.asarray(scores, dtype=np.float64)
    return 1 + (scores[:, 1:] >= scores[:, :1]).sum(axis=1)


def ranking_metrics(ranks: np.ndarray) -> dict[str, float]:
    ranks = np.asarray(ranks, dtype=np.float64)
    out = {"mrr": float((1.0 / ranks).mean())}
    out.update({f"recall@{k}": float((ranks <= k).mean()) for k in RECALL_AT})
    return out


# ----------------------------------------------------------------------------------------------
# Rankers: each scores the [Q, 1 + N] documents against their query's anchor


def first_segments(corpus: Any, docs: np.ndarray) -> np.ndarray:
    return corpus.doc_segments[docs]


def drp_scores(
    model: Any, corpus: Any, anchors: np.ndarray, docs: np.ndarray, column: int, max_len: int, batch_size: int
) -> np.ndarray:
    """DRP probability of relation `column` for [CLS] anchor [SEP] doc [SEP], first segments, longest-first
    truncation to max_len, among the relations that hold between two documents (candidates are other
    documents: contiguous is impossible); each distinct (anchor, doc) pair is one forward."""

    n = corpus.num_docs
    pair_key = np.repeat(anchors[:, None], docs.shape[1], axis=1) * n + docs
    unique, inverse = np.unique(pair_key, return_inverse=True)
    seg_a, seg_b = first_segments(corpus, unique // n), first_segments(corpus, unique % n)
    offsets = corpus.segment_offsets
    max_len = min(max_len, int(model.config.max_position_embeddings))
    len_a, len_b = truncate_longest_first_array(
        offsets[seg_a + 1] - offsets[seg_a], offsets[seg_b + 1] - offsets[seg_b], max_len - 3
    )
    device = next(model.parameters()).device
    probs = np.zeros(len(unique), dtype=np.float32)
    order = np.argsort(len_a + len_b, kind="stable")  # similar lengths share a batch: little padding
    for b0 in range(0, len(order), batch_size):
        chunk = order[b0 : b0 + batch_size]
        ids, types, mask = encode_segment_pairs(corpus, seg_a[chunk], seg_b[chunk], max_len)
        tensors = [torch.from_numpy(x).to(device) for x in (ids, mask, types)]
        probs[chunk] = drp_probabilities(model, *tensors, between_documents=True)[:, column].numpy()
    return probs[inverse].reshape(docs.shape)


def cosine_scores(encoder: Any, corpus: Any, anchors: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Cosine of the anchor's and each doc's first-segment embeddings (`SegmentEncoder`)."""
    wanted = np.concatenate([anchors, docs.ravel()])
    uniq, inverse = np.unique(wanted, return_inverse=True)
    emb = encoder.embed(first_segments(corpus, uniq))[inverse]
    a, d = emb[: len(anchors)], emb[len(anchors) :].reshape(*docs.shape, -1)
    return np.einsum("qh,qch->qc", a, d)


def tfidf_vectors(corpus: Any, docs: np.ndarray, seed: int) -> Any:
    """L2-normalized TF-IDF rows (scipy CSR) of the first segments of `docs` over WordPiece ids, special
    tokens excluded; smooth IDF ln((1 + n) / (1 + df)) + 1 over the first segments of every document with
    segments (a seeded sample of IDF_SAMPLE_DOCS of them on a larger corpus)."""
    population = np.flatnonzero(has_segments(corpus))
    if len(population) > IDF_SAMPLE_DOCS:
        population = np.sort(
            np.random.default_rng([seed, 1]).choice(population, IDF_SAMPLE_DOCS, replace=False)
        )
    df_counts = _term_counts(corpus, population)
    df = np.bincount(df_counts.indices, minlength=corpus.vocab_size)
    idf = np.log((1.0 + len(population)) / (1.0 + df)) + 1.0
    counts = _term_counts(corpus, docs).astype(np.float64)
    weighted = counts.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    # Deferred: scipy loads only for the sparse products that need it.
    from scipy import sparse

    return sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ weighted


def _term_counts(corpus: Any, docs: np.ndarray) -> Any:
    """CSR [len(docs), vocab] token counts of the docs' first segments, special tokens dropped."""
    # Deferred: scipy loads only for the sparse products that need it.
    from scipy import sparse

    seg = first_segments(corpus, docs)
    starts, ends = corpus.segment_offsets[seg], corpus.segment_offsets[seg + 1]
    lengths = ends - starts
    flat = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(
        starts - np.cumsum(lengths) + lengths, lengths
    )
    tokens = np.asarray(corpus.tokens[flat] if len(flat) else np.zeros(0), dtype=np.int64)
    rows = np.repeat(np.arange(len(docs)), lengths)
    keep = ~np.isin(tokens, list(corpus.special_ids.values()))
    shape = (len(docs), corpus.vocab_size)
    matrix = sparse.csr_matrix((np.ones(int(keep.sum())), (rows[keep], tokens[keep])), shape=shape)
    matrix.sum_duplicates()
    return matrix


def tfidf_scores(corpus: Any, anchors: np.ndarray, docs: np.ndarray, seed: int) -> np.ndarray:
    uniq, inverse = np.unique(np.concatenate([anchors, docs.ravel()]), return_inverse=True)
    vectors = tfidf_vectors(corpus, uniq, seed)
    a_rows = vectors[inverse[: len(anchors)].repeat(docs.shape[1])]
    d_rows = vectors[inverse[len(anchors) :]]
    return np.asarray(a_rows.multiply(d_rows).sum(axis=1)).reshape(docs.shape)


# ----------------------------------------------------------------------------------------------


def evaluate_retrieval(
    export_dir: str | Path,
    corpus: Any,
    anchors: np.ndarray,
    *,
    warm_start: str | Path | None = None,
    linked_sources: list[str] | tuple[str, ...] | None = None,
    num_candidates: int = 19,
    max_queries: int = 200,
    seed: int = 0,
    max_len: int = 512,
    batch_size: int = 32,
    model: Any | None = None,
) -> dict[str, Any]:
    """Cross-document retrieval of the held-out `anchors` (doc ids) with the export in `export_dir`
    (`model`: that export already loaded, to skip a second load), the TF-IDF ranker and, with
    `warm_start` (a model folder), the frozen warm start. Every document is read as its first segment.

    Returns JSON-safe `{"queries", "candidates", "anchors", "text", "rankers": {name: {"mrr",
    "recall@1", "recall@5"}}}`; `candidates` is N, the negatives per query (1 + N documents are ranked),
    `anchors` the anchor documents the queries come from. Without a usable query: `queries` 0, no
    rankers, and a `reason`."""

    if num_candidates < 1:
        raise PipelineError(
            f"retrieval needs at least one candidate besides the target, got {num_candidates}"
        )
    anchors = np.asarray(anchors, dtype=np.int64)
    if len(anchors) and (anchors.min() < 0 or anchors.max() >= corpus.num_docs):
        raise PipelineError(f"retrieval anchors must be document ids in [0, {corpus.num_docs})")
    if max_queries < 1:
        return _empty(f"max_queries={max_queries}", num_candidates)
    query_anchor, query_target = select_queries(corpus, anchors, linked_sources, max_queries)
    if len(query_anchor) == 0:
        kinds = f" by {'/'.join(linked_sources)} edges" if linked_sources else ""
        return _empty(f"no held-out document links{kinds} to a document with segments", num_candidates)
    negatives = draw_negatives(corpus, query_anchor, query_target, num_candidates, seed)
    if negatives.shape[1] == 0:
        return _empty("no document is left to draw candidates from that the anchors do not link to", 0)
    if negatives.shape[1] < num_candidates:
        log.warning(
            "retrieval: only %d candidates per query (of %d asked): some anchor links to most of the corpus",
            negatives.shape[1],
            num_candidates,
        )
    docs = np.concatenate([query_target[:, None], negatives], axis=1)  # column 0: the true target

    if model is None:
        model = load_export_model(export_dir)
    device = next(model.parameters()).device
    scores: dict[str, np.ndarray] = {}
    relations = drp_relations(model.config)
    if LINKED in relations:
        scores[f"drp_{LINKED}"] = drp_scores(
            model, corpus, query_anchor, docs, relations.index(LINKED), max_len, batch_size
        )
    else:
        log.info(
            "retrieval: the DRP head has no '%s' class (%s): no drp_%s ranker",
            LINKED,
            ", ".join(relations),
            LINKED,
        )
    # The export's encoder is `model.bert`: the same weights AutoModel loads from the folder, loaded once.
    encoder = SegmentEncoder(model.bert, corpus, max_len=max_len, batch_size=batch_size, device=device)
    scores["export_cosine"] = cosine_scores(encoder, corpus, query_anchor, docs)
    warm = _warm_start_encoder(warm_start, corpus, max_len, batch_size, device)
    if warm is not None:
        scores["warm_start_cosine"] = cosine_scores(warm, corpus, query_anchor, docs)
    scores["tfidf_cosine"] = tfidf_scores(corpus, query_anchor, docs, seed)

    return {
        "queries": len(query_anchor),
        "candidates": int(negatives.shape[1]),
        "anchors": len(np.unique(query_anchor)),
        "text": TEXT,
        "rankers": {name: ranking_metrics(target_ranks(s)) for name, s in scores.items()},
    }


def _empty(reason: str, num_candidates: int) -> dict[str, Any]:
    return {
        "queries": 0,
        "candidates": num_candidates,
        "anchors": 0,
        "text": TEXT,
        "rankers": {},
        "reason": reason,
    }


def _warm_start_encoder(
    warm_start: str | Path | None, corpus: Any, max_len: int, batch_size: int, device: torch.device
) -> Any | None:
    """The warm start as a SegmentEncoder; None (with a warning) when it cannot read this corpus."""
    # Deferred: transformers takes seconds to import and only this path needs it.
    from transformers import AutoConfig

    if warm_start is None:
        return None
    folder = Path(warm_start)
    if not (folder / "config.json").is_file():
        log.warning(
            "retrieval: warm start %s is not a model folder (no config.json): no warm_start_cosine", folder
        )
        return None
    vocab = int(AutoConfig.from_pretrained(str(folder)).vocab_size)
    if vocab != corpus.vocab_size:
        log.warning(
            "retrieval: warm start %s has %d tokens, the corpus %d: no warm_start_cosine",
            folder,
            vocab,
            corpus.vocab_size,
        )
        return None
    return SegmentEncoder(folder, corpus, max_len=max_len, batch_size=batch_size, device=device)


# ----------------------------------------------------------------------------------------------
# Reporting


__all__ = [
    "RANKERS",
    "draw_negatives",
    "evaluate_retrieval",
    "ranking_metrics",
    "select_queries",
    "target_ranks",
    "tfidf_vectors",
]
