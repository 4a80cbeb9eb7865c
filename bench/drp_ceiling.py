"""How far can held-out DRP get on the bundled sample with what a frozen encoder already knows, and where
is the headroom? The frozen-cosine baseline against richer zero-training probes and two upper bounds.

On the held-out pairs of `bench/drp_learning.py` (the demo preset resized to one process; held-out
documents with links, DRP pairs equal per relation), every segment is encoded alone by the frozen warm
start, and pairs also jointly as `[CLS] A [SEP] B [SEP]`. Per pair:

  cos          cosine of A's and B's mean-pooled last-layer states: what the baseline reads
  layer_<k>    the same cosine at each hidden layer (k = 0 embeddings ... L)
  bertscore    BERTScore-style token alignment of the two segments' last-layer states: mean over B's
               tokens of the best cosine to one of A's (recall), the reverse (precision), and the means of
               the five best of each
  lexical      shared word pieces: Jaccard, IDF-weighted share of B's pieces found in A, count of shared
               rare pieces (IDF > 4, IDF over the segments of the fit and held-out pairs)
  joint_cos    cosine of A's and B's mean states in the joint pass (A and B attend to each other)

  baseline     `CosineThresholds` on `cos`, fit on the training pairs: the trainer's frozen-cosine baseline
  probes       multinomial logistic regressions on feature sets, fit on the same training pairs
  oracle       `CosineThresholds` fit on the held-out pairs themselves: the best any two cuts on the
               frozen cosine can score there
  contiguity   contiguous pairs all right (a perfect same-document detector) and the best single cut
               between linked and random on the frozen cosine: how much a model that learns contiguity
               exactly could add

    .venv/bin/python bench/drp_ceiling.py [--fit-pairs 960] [--pairs 300] [--work DIR]

Last line: `RESULT drp_frozen_probe_best=<best probe> acc baseline=<frozen cosine> ratio=<probe/cosine>`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from drp_learning import bench_corpus, heldout_batches, overrides  # noqa: E402

from foundation.paths import resolve_path  # noqa: E402
from pipeline.tree import load_config  # noqa: E402
from pretrain.data.corpus_data import LinkedCorpus  # noqa: E402
from pretrain.data.heldout import select_balanced  # noqa: E402
from pretrain.data.loader import build_train_sampler  # noqa: E402
from pretrain.evaluation.baselines import CosineThresholds, SegmentEncoder  # noqa: E402
from pretrain.modeling.linkbert import masked_mean, segment_means  # noqa: E402

RARE_IDF = 4.0
TOP = 5


class FrozenSegments:
    """Per-segment states of the frozen encoder, each segment encoded alone as `[CLS] segment [SEP]`."""

    def __init__(self, encoder, corpus: LinkedCorpus, batch_size: int = 32) -> None:
        self.encoder, self.corpus, self.batch_size = encoder, corpus, batch_size
        self.segment_rows = SegmentEncoder(
            encoder, corpus, device=torch.device("cpu")
        ).rows  # the baseline's rows
        self.layer_means: dict[int, torch.Tensor] = {}  # [layers + 1, H], unit length
        self.tokens: dict[int, torch.Tensor] = {}  # [T, H] last-layer token states, unit length
        self.pieces: dict[int, set[int]] = {}

    @torch.no_grad()
    def add(self, segments: np.ndarray) -> None:
        todo = sorted(set(segments.tolist()) - self.layer_means.keys())
        for b0 in range(0, len(todo), self.batch_size):
            chunk = todo[b0 : b0 + self.batch_size]
            rows = [np.asarray(r, dtype=np.int64) for r in self.segment_rows(np.asarray(chunk))]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), self.corpus.pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, r in enumerate(rows):
                ids[i, : len(r)] = torch.from_numpy(r)
                mask[i, : len(r)] = 1
            hidden = self.encoder(ids, attention_mask=mask, output_hidden_states=True).hidden_states
            means = torch.stack([masked_mean(h.float(), mask) for h in hidden], dim=1)
            means = torch.nn.functional.normalize(means, dim=-1)
            for i, s in enumerate(chunk):
                self.layer_means[s] = means[i]
                n = len(rows[i])
                self.tokens[s] = torch.nn.functional.normalize(hidden[-1][i, 1 : n - 1].float(), dim=-1)
                self.pieces[s] = set(rows[i][1:-1].tolist())


@torch.no_grad()
def joint_cosines(encoder, sampler, samples: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Cosine of A's and B's mean states in the pair's own `[CLS] A [SEP] B [SEP]` pass."""
    out = []
    for b0 in range(0, len(samples), batch_size):
        batch = {k: torch.from_numpy(v) for k, v in sampler.batch(samples[b0 : b0 + batch_size]).items()}
        hidden = encoder(
            batch["input_ids"], attention_mask=batch["attention_mask"], token_type_ids=batch["token_type_ids"]
        ).last_hidden_state.float()
        u, v = segment_means(hidden, batch["attention_mask"], batch["token_type_ids"])
        out.append(torch.nn.functional.cosine_similarity(u, v, dim=-1).numpy())
    return np.concatenate(out)


def pair_features(frozen: FrozenSegments, anchor: np.ndarray, pair: np.ndarray, idf) -> dict[str, np.ndarray]:
    rows: dict[str, list[float]] = {}

    def put(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    for a, b in zip(anchor.tolist(), pair.tolist(), strict=True):
        layers = (frozen.layer_means[a] * frozen.layer_means[b]).sum(-1)
        put("cos", float(layers[-1]))
        for k, value in enumerate(layers.tolist()):
            put(f"layer_{k}", value)
        sim = frozen.tokens[a] @ frozen.tokens[b].T
        recall, precision = sim.max(0).values, sim.max(1).values
        put("bertscore_r", float(recall.mean()))
        put("bertscore_p", float(precision.mean()))
        put("bertscore_r_top", float(recall.topk(min(TOP, len(recall))).values.mean()))
        put("bertscore_p_top", float(precision.topk(min(TOP, len(precision))).values.mean()))
        pa, pb = frozen.pieces[a], frozen.pieces[b]
        shared = pa & pb
        put("jaccard", len(shared) / max(1, len(pa | pb)))
        put("idf_overlap", sum(idf(t) for t in shared) / max(1e-6, sum(idf(t) for t in pb)))
        put("shared_rare", float(sum(1 for t in shared if idf(t) > RARE_IDF)))
    return {k: np.asarray(v) for k, v in rows.items()}


def per_class(labels: np.ndarray, predicted: np.ndarray, classes: int) -> str:
    return " ".join(f"{(predicted[labels == c] == c).mean():.2f}" for c in range(classes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default=str(ROOT / "configs" / "pretrain" / "demo.yaml"))
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=300, help="held-out pairs (as bench/drp_learning.py)")
    parser.add_argument("--fit-pairs", type=int, default=960, help="training pairs the probes are fit on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default=None, help="folder for the corpus (default: a temp dir)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="drp-ceiling-"))
    corpus_dir = bench_corpus(work / "corpus", args.seq_len)
    shape = argparse.Namespace(
        seq_len=args.seq_len, seed=args.seed, steps=1, batch=16, eval_every=1, pairs=args.pairs,
        precision="fp32", set=[],
    )  # fmt: skip
    cfg = load_config(args.preset, overrides(shape, corpus_dir, work / "runs", 3, "ceiling"))
    corpus = LinkedCorpus.open(corpus_dir)
    heldout = heldout_batches(cfg, corpus, 16)
    names = tuple(heldout.heldout.class_names)
    k = len(names)
    held = heldout.sampler.draw(heldout.heldout.samples)
    train = build_train_sampler(corpus, cfg.data, cfg.drp, seed=cfg.train.seed + 1)
    fit_set = select_balanced(train, -(-args.fit_pairs // k), names)
    fit = train.draw(fit_set.samples)
    print(f"{heldout.heldout.describe()}\nfit on {len(fit.samples)} training pairs of the training documents")

    # Deferred: transformers takes seconds to import; the corpus build above does not need it.
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(resolve_path(cfg.model.init_from)), dtype=torch.float32).eval()
    frozen = FrozenSegments(encoder, corpus)
    frozen.add(np.concatenate([fit.anchor, fit.pair, held.anchor, held.pair]))
    df: Counter[int] = Counter()
    for pieces in frozen.pieces.values():
        df.update(pieces)
    docs = len(frozen.pieces)

    def idf(piece: int) -> float:
        return math.log(docs / (1 + df[piece]))

    x_fit = pair_features(frozen, fit.anchor, fit.pair, idf)
    x_held = pair_features(frozen, held.anchor, held.pair, idf)
    x_fit["joint_cos"] = joint_cosines(encoder, train, fit_set.samples)
    x_held["joint_cos"] = joint_cosines(encoder, heldout.sampler, heldout.heldout.samples)
    y_fit, y_held = fit.relation, held.relation

    print(f"\nmean per relation ({', '.join(names)}), held-out pairs")
    for name, values in x_held.items():
        print(f"  {name:16s} " + " ".join(f"{values[y_held == c].mean():7.3f}" for c in range(k)))

    thresholds = CosineThresholds.fit(x_fit["cos"], y_fit)
    base_pred = thresholds.predict(x_held["cos"])
    baseline = float((base_pred == y_held).mean())
    print(f"\n{'classifier on the frozen encoder':58s} {'held-out':>8}  per relation   fit")
    print(f"{'frozen cosine, 2 cuts (the baseline)':58s} {baseline:8.3f}  {per_class(y_held, base_pred, k)}")

    layers = [n for n in x_fit if n.startswith("layer_")]
    bertscore = ["bertscore_r", "bertscore_p", "bertscore_r_top", "bertscore_p_top"]
    lexical = ["jaccard", "idf_overlap", "shared_rare"]
    sets = {
        "cos": ["cos"],
        "cos + bertscore": ["cos", *bertscore],
        "cos + lexical": ["cos", *lexical],
        "cosine of every layer": layers,
        "cos + joint_cos": ["cos", "joint_cos"],
        "all": ["cos", *layers, *bertscore, *lexical, "joint_cos"],
    }
    best = 0.0
    for label, features in sets.items():
        scaler = StandardScaler().fit(np.stack([x_fit[f] for f in features], 1))
        train_x = scaler.transform(np.stack([x_fit[f] for f in features], 1))
        probe = LogisticRegression(max_iter=2000).fit(train_x, y_fit)
        predicted = probe.predict(scaler.transform(np.stack([x_held[f] for f in features], 1)))
        fitted = probe.score(train_x, y_fit)
        acc = float((predicted == y_held).mean())
        best = max(best, acc)
        print(f"{'logistic probe: ' + label:58s} {acc:8.3f}  {per_class(y_held, predicted, k)}  {fitted:.3f}")

    oracle = CosineThresholds.fit(x_held["cos"], y_held)
    oracle_pred = oracle.predict(x_held["cos"])
    print(
        f"{'bound: 2 cuts on the frozen cosine fit on held-out itself':58s} "
        f"{(oracle_pred == y_held).mean():8.3f}  {per_class(y_held, oracle_pred, k)}"
    )
    if "contiguous" in names and k == 3:
        contiguous = names.index("contiguous")
        rest = y_held != contiguous
        cut = CosineThresholds.fit(x_held["cos"][rest], y_held[rest])
        bound = float(
            ((cut.predict(x_held["cos"][rest]) == y_held[rest]).sum() + (~rest).sum()) / len(y_held)
        )
        print(f"{'bound: contiguous all right + 1 cut linked/random':58s} {bound:8.3f}")
    print(f"RESULT drp_frozen_probe_best={best:.3f} acc baseline={baseline:.3f} ratio={best / baseline:.3f}")


if __name__ == "__main__":
    main()
