"""What `linkbert eval` reports about held-out DRP beyond the accuracies: how sure they are (bootstrap
intervals) and where they come from (one row per document pair of the held-out set).

Both work from per-pair labels and predictions, so the model and the zero-training baselines get the
same treatment on the same pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 1000


def bootstrap_intervals(
    labels: np.ndarray,
    predicted: np.ndarray,
    names: tuple[str, ...],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> dict[str, list[float] | None]:
    """95% percentile intervals of accuracy: per relation (pairs resampled within the relation) and
    overall (resampled within each relation, so every resample keeps the set's class counts)."""
    rng = np.random.default_rng(seed)
    correct = (labels == predicted).astype(np.float64)
    out: dict[str, list[float] | None] = {}
    totals = np.zeros(resamples)
    for r, name in enumerate(names):
        hits = correct[labels == r]
        if len(hits) == 0:
            out[f"acc_{name}"] = None
            continue
        draws = hits[rng.integers(0, len(hits), size=(resamples, len(hits)))].sum(1)
        totals += draws
        lo, hi = np.percentile(draws / len(hits), [2.5, 97.5])
        out[f"acc_{name}"] = [round(float(lo), 4), round(float(hi), 4)]
    if len(labels):
        lo, hi = np.percentile(totals / len(labels), [2.5, 97.5])
        out["acc"] = [round(float(lo), 4), round(float(hi), 4)]
    return out


def per_edge(
    relation: np.ndarray,
    anchor_doc: np.ndarray,
    pair_doc: np.ndarray,
    pair_unseen: np.ndarray,
    predictions: dict[str, np.ndarray],
    names: tuple[str, ...],
    titles: list[str] | None,
) -> list[dict[str, Any]]:
    """One row per (relation, A's document, B's document) of pairs between two documents: how many
    pairs, whether B's document is unseen in training, and how many each predictor got right."""
    rows: dict[tuple[int, int, int], dict[str, Any]] = {}
    for i in range(len(relation)):
        r, a, b = int(relation[i]), int(anchor_doc[i]), int(pair_doc[i])
        if a == b:
            continue  # pairs inside one document: the per-relation figures say it all
        row = rows.get((r, a, b))
        if row is None:
            row = rows[(r, a, b)] = {
                "relation": names[r],
                "anchor": titles[a] if titles else a,
                "target": titles[b] if titles else b,
                "target_unseen": bool(pair_unseen[i]),
                "pairs": 0,
                **{f"correct_{who}": 0 for who in predictions},
            }
        row["pairs"] += 1
        for who, predicted in predictions.items():
            row[f"correct_{who}"] += int(predicted[i] == r)
    return sorted(rows.values(), key=lambda row: (names.index(row["relation"]), -row["pairs"]))


__all__ = ["BOOTSTRAP_RESAMPLES", "bootstrap_intervals", "per_edge"]
