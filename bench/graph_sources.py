"""Benchmark of the graph sources (`graph.sources`): hyperlinks, tfidf and random on a generated corpus.

The corpus is bench/graph.py's synthetic power-law wiki (links and redirects) with topical text: every
article belongs to one of articles/200 topics and its text mixes words of its topic with background
words drawn by a Zipf law, so TF-IDF neighbours should share a topic. Each source is built alone in a
child process (time, CPU time and peak RSS of that process). Then, on a subset small enough for the
exact computation, the tfidf source is compared with the straightforward baseline: scikit-learn's
TfidfVectorizer and exact cosine top-k by dense chunked products (time extrapolated to the full corpus:
linear for vectorizing, quadratic for the all-pairs product), and the recall of our top-k against the
exact one.

    .venv/bin/python bench/graph_sources.py                       # 1M documents: ~15 minutes here
    .venv/bin/python bench/graph_sources.py --articles 100000     # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.graph import generate, proc_status_bytes, zipf_ranks
from formats import documents

DOCS_PER_TOPIC = 200
TOPIC_WORDS = 100
WORDS_PER_DOC = (30, 30)  # topic words, background words
BACKGROUND_VOCAB = 200_000
K = 10
WIKIPEDIA_DOCS = 7_000_000


def letters_vocab(n: int, offset: int = 0) -> pa.Array:
    """n distinct 6-letter lowercase words (letters only: the tfidf tokenizer ignores digits)."""
    ids = np.arange(offset, offset + n, dtype=np.int64)
    digits = np.stack([(ids // 26**i) % 26 for i in range(6)], axis=1).astype(np.uint8) + ord("a")
    return pa.array(digits.view("S6").ravel().astype(str))


class TopicText:
    """text(lo, hi) for bench.graph.generate: deterministic per article, whatever the shard split."""

    def __init__(self, articles: int, seed: int = 0) -> None:
        self.topics = max(articles // DOCS_PER_TOPIC, 1)
        self.seed = seed
        self.topic_vocab = letters_vocab(self.topics * TOPIC_WORDS)
        self.background = letters_vocab(BACKGROUND_VOCAB, offset=26**5)

    def topic_of(self, docs: np.ndarray) -> np.ndarray:
        return (docs * 2654435761) % self.topics

    def __call__(self, lo: int, hi: int) -> pa.Array:
        rng = np.random.default_rng([self.seed, lo])
        n = hi - lo
        n_topic, n_back = WORDS_PER_DOC
        topic = self.topic_of(np.arange(lo, hi, dtype=np.int64))
        topic_words = topic[:, None] * TOPIC_WORDS + rng.integers(0, TOPIC_WORDS, size=(n, n_topic))
        back_words = zipf_ranks(rng, BACKGROUND_VOCAB, n * n_back).reshape(n, n_back)
        words = pa.concat_arrays(
            [
                self.topic_vocab.take(pa.array(topic_words.ravel())),
                self.background.take(pa.array(back_words.ravel())),
            ]
        )
        # Row i: its topic words then its background words (order does not matter to TF-IDF).
        order = np.concatenate(
            [
                np.arange(n * n_topic).reshape(n, n_topic),
                n * n_topic + np.arange(n * n_back).reshape(n, n_back),
            ],
            axis=1,
        )
        words = words.take(pa.array(order.ravel()))
        offsets = pa.array(np.arange(0, n * (n_topic + n_back) + 1, n_topic + n_back, dtype=np.int32))
        return pc.binary_join(pa.ListArray.from_arrays(offsets, words), " ")


def config(source: str, terms_per_doc: int):
    from graph.config import GraphConfig, TfidfConfig

    return GraphConfig(sources=[source], tfidf=TfidfConfig(terms_per_doc=terms_per_doc))


def child_build(corpus: str, source: str, terms_per_doc: int) -> None:
    """Runs in its own process: one source's graph build, so the peak RSS is the build's."""
    from formats.documents import read_corpus_shards
    from graph.build import build_graph
    from graph.csr import csr_sources

    rss_start = proc_status_bytes("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    built = build_graph(config(source, terms_per_doc), read_corpus_shards(corpus))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    src = csr_sources(built.csr.indptr)
    out = {
        "seconds": seconds,
        "cpu": cpu,
        "rss_start": rss_start,
        "peak": proc_status_bytes("VmHWM"),
        "edges": built.stats["edges"],
        "stats": built.stats.get(source, {}),
    }
    if source == "tfidf":  # node order is page-id order; the generator's article index is the title's
        titles = built.nodes.column("title").to_pylist()
        scrambled = (np.arange(len(titles), dtype=np.int64) * 2654435761) % 10**11  # bench.graph.titles
        article = dict(zip(scrambled.tolist(), range(len(titles)), strict=True))
        index = np.array([article[int(t.split(" ", 1)[1])] for t in titles], dtype=np.int64)
        topics = TopicText(len(titles)).topic_of(index)
        out["same_topic"] = float(np.mean(topics[src] == topics[built.csr.indices]))
    print(json.dumps(out))


def run_child(corpus: Path, source: str, terms_per_doc: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(corpus),
            "--source",
            source,
            "--terms-per-doc",
            str(terms_per_doc),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        sys.exit(f"{source} build failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def exact_baseline(
    corpus: Path, terms_per_doc: int
) -> tuple[dict, set[tuple[int, int]], set[tuple[int, int]]]:
    """scikit-learn TfidfVectorizer + exact cosine top-k by dense chunked products, and ours, on `corpus`."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from formats.documents import read_corpus_shards, read_docs_table
    from graph.build import build_graph
    from graph.csr import csr_sources
    from graph.sources.tfidf import TOKEN_PATTERN

    t0, c0 = time.perf_counter(), time.process_time()
    ours = build_graph(config("tfidf", terms_per_doc), read_corpus_shards(corpus))
    ours_cpu = time.process_time() - c0
    src, dst = csr_sources(ours.csr.indptr), ours.csr.indices
    ids = ours.nodes.column("id").to_numpy()
    ours_pairs = set(zip(ids[src].tolist(), ids[dst].tolist(), strict=True))

    table = read_docs_table(corpus, ["id", "text"]).sort_by("id")
    c1 = time.process_time()
    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", token_pattern=TOKEN_PATTERN, min_df=2)
    x = vec.fit_transform(table.column("text").to_pylist()).astype(np.float32)
    c_vectorize = time.process_time() - c1
    c2 = time.process_time()
    xt = x.T.tocsr()
    n = x.shape[0]
    exact = []
    for start in range(0, n, 1024):
        scores = (x[start : start + 1024] @ xt).toarray()
        rows = np.arange(scores.shape[0])
        scores[rows, start + rows] = -1  # not the document itself
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        good = scores[rows[:, None], top] > 0
        exact.append(np.stack([np.repeat(start + rows, K)[good.ravel()], top.ravel()[good.ravel()]], 1))
    c_product = time.process_time() - c2
    pairs = np.concatenate(exact)
    # Near-ties make recall harsh: also compare the exact cosines of our neighbours with the exact top-k's.
    row_of = {int(p): i for i, p in enumerate(table.column("id").to_numpy())}
    ours_rows = np.array([[row_of[a], row_of[b]] for a, b in ours_pairs], dtype=np.int64)
    ours_cos = np.asarray(x[ours_rows[:, 0]].multiply(x[ours_rows[:, 1]]).sum(axis=1)).ravel()
    exact_cos = np.asarray(x[pairs[:, 0]].multiply(x[pairs[:, 1]]).sum(axis=1)).ravel()
    pid = table.column("id").to_numpy()
    exact_pairs = set(zip(pid[pairs[:, 0]].tolist(), pid[pairs[:, 1]].tolist(), strict=True))
    times = {
        "ours_cpu": ours_cpu,
        "ours_wall": time.perf_counter() - t0,
        "vectorize_cpu": c_vectorize,
        "product_cpu": c_product,
        "docs": n,
        "cosine_ratio": float(ours_cos.sum() / max(exact_cos.sum(), 1e-30)),
    }
    return times, ours_pairs, exact_pairs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--articles", type=int, default=1_000_000, help="documents of the generated corpus")
    p.add_argument("--redirects", type=int, default=500_000, help="redirect pages")
    p.add_argument("--links", type=int, default=10_000_000, help="hyperlinks")
    p.add_argument("--shards", type=int, default=8, help="docs and redirects shards")
    p.add_argument("--subset", type=int, default=20_000, help="documents of the exact-baseline corpus")
    p.add_argument("--sources", default="hyperlinks,tfidf,random", help="sources to time on the full corpus")
    p.add_argument("--terms-per-doc", type=int, default=32, help="graph.tfidf.terms_per_doc")
    p.add_argument("--dir", help="folder to keep/reuse the generated corpora in")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--source", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child_build(args.child, args.source, args.terms_per_doc)
        return

    with tempfile.TemporaryDirectory(prefix="bench-sources-") as tmp:
        root = Path(args.dir) if args.dir else Path(tmp)
        full, small = root / f"full-{args.articles}", root / f"subset-{args.subset}"
        for folder, n, redirects, links in (
            (full, args.articles, args.redirects, args.links),
            (small, args.subset, args.subset // 2, args.subset * 10),
        ):
            if not documents.peek_manifest(folder):
                t0 = time.perf_counter()
                generate(folder, n, redirects, links, args.shards, text=TopicText(n))
                print(f"generated {folder} ({n:,} documents) in {time.perf_counter() - t0:.1f}s", flush=True)

        results = {}
        for source in args.sources.split(","):
            r = results[source] = run_child(full, source, args.terms_per_doc)
            extra = f", {r['same_topic']:.1%} of edges within a topic" if "same_topic" in r else ""
            print(
                f"{source}: {args.articles:,} documents -> {r['edges']:,} edges in {r['seconds']:.1f}s wall, "
                f"{r['cpu']:.1f}s CPU; peak RSS {r['peak'] / 2**30:.2f} GiB "
                f"({(r['peak'] - r['rss_start']) / 2**30:.2f} GiB above the imports){extra}",
                flush=True,
            )
            if source == "tfidf":
                s = r["stats"]
                print(
                    f"  tfidf: {s['candidate_scores']:,} candidate scores, {s['terms_indexed']:,} terms indexed, "
                    f"{s['terms_over_max_postings']:,} over max_postings, index {s['seconds_index']:.1f}s; "
                    f"per million documents: {r['cpu'] / args.articles * 1e6:.0f} CPU-s, "
                    f"{(r['peak'] - r['rss_start']) / args.articles * 1e6 / 2**30:.2f} GiB"
                )

        times, ours, exact = exact_baseline(small, args.terms_per_doc)
        recall = len(ours & exact) / max(len(exact), 1)
        n, big = times["docs"], args.articles
        base_cpu = times["vectorize_cpu"] * big / n + times["product_cpu"] * (big / n) ** 2
        print(
            f"subset of {n:,} documents: ours {times['ours_cpu']:.1f} CPU-s; exact baseline vectorize "
            f"{times['vectorize_cpu']:.1f} CPU-s + all-pairs product {times['product_cpu']:.1f} CPU-s; "
            f"recall@{K} of ours against the exact top-{K}: {recall:.1%}; exact cosine of our neighbours / "
            f"of the exact ones: {times['cosine_ratio']:.3f} (terms_per_doc={args.terms_per_doc})"
        )
        ours_cpu = results["tfidf"]["cpu"] if "tfidf" in results else times["ours_cpu"] * big / n
        print(
            f"extrapolated to {big:,} documents: exact baseline ~{base_cpu:,.0f} CPU-s (quadratic product); "
            f"ours {ours_cpu:,.0f} CPU-s measured. English Wikipedia ({WIKIPEDIA_DOCS / 1e6:.0f}M documents, "
            f"linear): ~{ours_cpu * WIKIPEDIA_DOCS / big / 3600:.1f} CPU-h at this text length"
        )
        ours_rate, base_rate = big / ours_cpu, big / base_cpu
        print(
            f"RESULT tfidf_docs_per_cpu_s={ours_rate:.0f} docs/s baseline={base_rate:.0f} "
            f"ratio={ours_rate / base_rate:.2f}"
        )


if __name__ == "__main__":
    main()
