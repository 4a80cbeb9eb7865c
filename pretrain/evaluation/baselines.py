"""Zero-training baselines of held-out DRP: what a frozen encoder's embeddings already know.

The strongest cheap baseline for "how does B relate to A" is the cosine of the warm start's mean-pooled
embeddings of A and of B, each encoded alone as `[CLS] segment [SEP]` (the way sentence encoders are
used): contiguous segments are close, random ones far, linked ones in between. `CosineThresholds`
turns that one number into a relation with K-1 thresholds fit on training pairs (the relations ordered
by their mean cosine there); the held-out pairs are then scored exactly like the model's DRP head.
Metric names: `baseline_cosine_acc`, `baseline_cosine_acc_<relation>` (eval.json and the run's metrics rows).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from foundation.atomic import write_text_atomic
from foundation.paths import resolve_path
from pretrain.data.heldout import select_balanced
from pretrain.data.loader import build_train_sampler
from pretrain.modeling.linkbert import masked_mean

log = logging.getLogger(__name__)

COSINE_PREFIX = "baseline_cosine_"


class SegmentEncoder:
    """Mean-pooled, L2-normalized embeddings of corpus segments, each encoded alone as
    `[CLS] segment [SEP]` by a BERT encoder (a model folder or a loaded `BertModel`)."""

    def __init__(
        self,
        encoder: str | Path | torch.nn.Module,
        corpus: Any,
        *,
        max_len: int = 512,
        batch_size: int = 64,
        device: torch.device | None = None,
    ) -> None:
        if isinstance(encoder, str | Path):
            # Deferred: transformers takes seconds to import and only this path needs it.
            from transformers import AutoModel

            encoder = AutoModel.from_pretrained(str(encoder), dtype=torch.float32)
        self.device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.encoder = encoder.to(self.device).eval()
        self.corpus, self.batch_size = corpus, batch_size
        self.max_len = min(max_len, int(self.encoder.config.max_position_embeddings))

    def rows(self, segments: np.ndarray) -> list[np.ndarray]:
        offsets, tokens = self.corpus.segment_offsets, self.corpus.tokens
        body = self.max_len - 2
        return [
            np.concatenate(
                [
                    [self.corpus.cls_id],
                    tokens[offsets[s] : min(offsets[s + 1], offsets[s] + body)],
                    [self.corpus.sep_id],
                ]
            )
            for s in segments.tolist()
        ]

    @torch.no_grad()
    def embed(self, segments: np.ndarray) -> np.ndarray:
        """float32 [len(segments), hidden], unit length; each distinct segment is encoded once."""
        segments = np.asarray(segments, dtype=np.int64)
        unique, inverse = np.unique(segments, return_inverse=True)
        rows = self.rows(unique)
        order = np.argsort([len(r) for r in rows], kind="stable")  # similar lengths share a batch
        out = np.zeros((len(unique), self.encoder.config.hidden_size), dtype=np.float32)
        for b0 in range(0, len(order), self.batch_size):
            chunk = order[b0 : b0 + self.batch_size]
            width = max(len(rows[i]) for i in chunk)
            ids = np.full((len(chunk), width), self.corpus.pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for j, i in enumerate(chunk):
                ids[j, : len(rows[i])] = rows[i]
                mask[j, : len(rows[i])] = 1
            ids_t = torch.from_numpy(ids).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            hidden = self.encoder(input_ids=ids_t, attention_mask=mask_t).last_hidden_state.float()
            pooled = masked_mean(hidden, mask_t)
            out[chunk] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
        return out[inverse]

    def cosine(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine of the embeddings of segments a[i] and b[i]."""
        both = self.embed(np.concatenate([a, b]))
        return np.einsum("ij,ij->i", both[: len(a)], both[len(a) :])


@dataclass(frozen=True)
class CosineThresholds:
    """Relations ordered from the highest mean cosine to the lowest, and the K-1 cuts between them."""

    order: tuple[int, ...]  # relation labels, highest mean cosine first
    cuts: tuple[float, ...]  # descending: cosine >= cuts[0] -> order[0], ...

    @classmethod
    def fit(cls, cosine: np.ndarray, labels: np.ndarray) -> CosineThresholds:
        """The cuts that classify the most of (cosine, label) right, in the order of the labels' means:
        an exact dynamic program over the sorted cosines (cuts only between distinct values)."""
        present = sorted(set(labels.tolist()))
        if len(present) < 2:
            raise ValueError("fitting cosine thresholds needs pairs of at least two relations")
        order = tuple(sorted(present, key=lambda r: -float(cosine[labels == r].mean())))
        rank = np.argsort(-cosine, kind="stable")
        values, ordered = cosine[rank], labels[rank]
        n = len(values)
        # hits[k][i]: pairs of relation order[k] among the i highest cosines
        hits = [np.concatenate([[0], np.cumsum(ordered == r)]) for r in order]
        can_cut = np.ones(n + 1, dtype=bool)
        can_cut[1:n] = values[1:] != values[:-1]
        best = hits[0].astype(np.float64)
        choices = []
        for k in range(1, len(order)):
            gain = np.where(can_cut, best - hits[k], -np.inf)
            arg = np.zeros(n + 1, dtype=np.int64)
            running, where = -np.inf, 0
            prefix = np.empty(n + 1)
            for i in range(n + 1):  # prefix argmax; n is a few hundred training pairs
                if gain[i] > running:
                    running, where = gain[i], i
                prefix[i], arg[i] = running, where
            choices.append(arg)
            best = prefix + hits[k]
        cuts_at = [n]
        for arg in reversed(choices):
            cuts_at.append(int(arg[cuts_at[-1]]))
        positions = list(reversed(cuts_at[1:]))

        def threshold(i: int) -> float:
            if i == 0:
                return float("inf")
            if i == n:
                return float("-inf")
            return float((values[i - 1] + values[i]) / 2)

        return cls(order, tuple(threshold(i) for i in positions))

    def predict(self, cosine: np.ndarray) -> np.ndarray:
        band = np.zeros(len(cosine), dtype=np.int64)
        for cut in self.cuts:
            band += cosine < cut
        return np.asarray(self.order, dtype=np.int64)[band]

    def to_dict(self) -> dict[str, Any]:
        finite = [c if np.isfinite(c) else None for c in self.cuts]
        return {"order": list(self.order), "cuts": finite}


def per_class_accuracy(
    labels: np.ndarray, predicted: np.ndarray, names: tuple[str, ...], prefix: str
) -> dict:
    """`<prefix>acc` and `<prefix>acc_<relation>` of predictions against labels."""
    out: dict[str, Any] = {f"{prefix}acc": float((labels == predicted).mean()) if len(labels) else None}
    for r, name in enumerate(names):
        rows = labels == r
        out[f"{prefix}acc_{name}"] = float((predicted[rows] == r).mean()) if rows.any() else None
    return out


@dataclass
class CosineBaseline:
    """The frozen-cosine baseline of one held-out set: thresholds, per-pair cosines and predictions."""

    thresholds: CosineThresholds
    cosine: np.ndarray  # [P] held-out pairs
    predicted: np.ndarray  # [P]
    metrics: dict[str, Any]


def cosine_baseline(
    encoder: SegmentEncoder,
    *,
    fit_anchor: np.ndarray,
    fit_pair: np.ndarray,
    fit_labels: np.ndarray,
    anchor: np.ndarray,
    pair: np.ndarray,
    labels: np.ndarray,
    names: tuple[str, ...],
) -> CosineBaseline:
    """Fit the thresholds on the training pairs (fit_*), score the held-out pairs (segment ids)."""
    thresholds = CosineThresholds.fit(encoder.cosine(fit_anchor, fit_pair), fit_labels)
    cosine = encoder.cosine(anchor, pair)
    predicted = thresholds.predict(cosine)
    metrics = per_class_accuracy(labels, predicted, names, COSINE_PREFIX)
    metrics[f"{COSINE_PREFIX}thresholds"] = thresholds.to_dict()
    for r, name in enumerate(names):
        rows = labels == r
        metrics[f"{COSINE_PREFIX}mean_{name}"] = float(cosine[rows].mean()) if rows.any() else None
    return CosineBaseline(thresholds, cosine, predicted, metrics)


def frozen_cosine_baseline(corpus: Any, heldout: Any, cfg: Any) -> CosineBaseline | None:
    """The frozen warm start's cosine baseline on the held-out pairs of `heldout` (`HeldOutBatches`),
    its thresholds fit on `cfg.eval.baseline_fit_pairs` training pairs (equal per relation). None for a
    model trained from scratch (no warm start to freeze) or with baseline_fit_pairs=0."""

    if cfg.model.init_from is None or cfg.eval.baseline_fit_pairs == 0 or len(heldout.heldout.samples) == 0:
        return None
    names = tuple(heldout.heldout.class_names)
    encoder = SegmentEncoder(resolve_path(cfg.model.init_from), corpus, max_len=cfg.data.max_seq_len)
    train = build_train_sampler(corpus, cfg.data, cfg.drp, seed=cfg.train.seed)
    fit = select_balanced(train, -(-cfg.eval.baseline_fit_pairs // len(names)), names)
    fit_draws = train.draw(fit.samples)
    draws = heldout.sampler.draw(heldout.heldout.samples)
    return cosine_baseline(
        encoder,
        fit_anchor=fit_draws.anchor,
        fit_pair=fit_draws.pair,
        fit_labels=fit_draws.relation,
        anchor=draws.anchor,
        pair=draws.pair,
        labels=draws.relation,
        names=names,
    )


def baseline_key(heldout: Any, cfg: Any) -> str:
    """What the frozen-cosine baseline depends on: the held-out pairs, the warm start, the fit."""

    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(heldout.heldout.samples, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(heldout.heldout.relation, dtype=np.int64).tobytes())
    for part in (cfg.model.init_from, cfg.eval.baseline_fit_pairs, cfg.data.max_seq_len, cfg.train.seed):
        digest.update(repr(part).encode())
    digest.update(str(heldout.sampler.corpus.corpus_dir.resolve()).encode())
    return digest.hexdigest()[:16]


def cached_cosine_baseline(corpus: Any, heldout: Any, cfg: Any, cache: Path | None) -> CosineBaseline | None:
    """`frozen_cosine_baseline`, read from `cache` when it holds the one of this held-out set (a resumed
    run, or `linkbert eval` of the run's export), else computed and written there (atomically)."""

    key = baseline_key(heldout, cfg)
    if cache is not None and cache.is_file():
        try:
            saved = json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        if saved.get("key") == key:
            thresholds = CosineThresholds(tuple(saved["order"]), tuple(_float(c) for c in saved["cuts"]))
            return CosineBaseline(
                thresholds,
                np.asarray(saved["cosine"], dtype=np.float32),
                np.asarray(saved["predicted"], dtype=np.int64),
                saved["metrics"],
            )
    baseline = frozen_cosine_baseline(corpus, heldout, cfg)
    if baseline is not None and cache is not None:
        record = {
            "key": key,
            "order": list(baseline.thresholds.order),
            "cuts": [c if np.isfinite(c) else str(c) for c in baseline.thresholds.cuts],
            "cosine": baseline.cosine.round(6).tolist(),
            "predicted": baseline.predicted.tolist(),
            "metrics": baseline.metrics,
        }
        write_text_atomic(cache, json.dumps(record) + "\n")
    return baseline


def describe_cosine_baseline(metrics: dict[str, Any], names: tuple[str, ...]) -> str:
    """One line: the baseline's held-out accuracy, overall and per relation."""
    parts = ", ".join(f"{n} {metrics.get(f'{COSINE_PREFIX}acc_{n}') or 0.0:.2f}" for n in names)
    return (
        f"frozen warm-start cosine baseline on the held-out pairs: {metrics[f'{COSINE_PREFIX}acc']:.3f} "
        f"({parts})"
    )


def _float(value: Any) -> float:
    return float(value)  # "inf" / "-inf" strings come back as floats


__all__ = [
    "COSINE_PREFIX",
    "CosineBaseline",
    "CosineThresholds",
    "SegmentEncoder",
    "cached_cosine_baseline",
    "describe_cosine_baseline",
    "cosine_baseline",
    "frozen_cosine_baseline",
    "per_class_accuracy",
]
