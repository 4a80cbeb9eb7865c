"""English Wikipedia's size on one node: the graph build and the training-data path at full scale.

Generates (or reuses) a corpus folder with the shape of English Wikipedia: bench/graph.py's power-law
wiki (docs/ + redirects/ parquet in the `corpus extract` format: 7M articles, 11M redirects with
chains, cycles and dangling ones, 200M links) and, once the graph is built, `segments/` for its nodes
(bench/scale_segments.py: 4B synthetic token ids, per-document lengths drawn from a lognormal law,
cut into segments as the segmenter does). Then runs the real stages, each in a child process whose
peak RSS (VmHWM) is read at its end:

- graph: `graph.build.run_graph` with the default config (hyperlinks), writing `graph/`;
- tfidf: the `tfidf` source alone on two generated topical corpora (bench/graph_sources.py's text:
  a quarter of the size's tfidf sample and all of it; the full size with Wikipedia's text would take
  hours here), projected to 7M articles by the slope between them (one document's scoring is capped);
- sampler: the training loader (`build_train_loader`, 0 workers) drawing `--pairs` DRP pairs of all
  three relations with MLM masking and collation, on the big corpus and on the bundled sample
  (tests/data/wiki/enwiki-sample.xml.bz2 through the real corpus stages), the baseline.

Prints per stage wall time, CPU time, peak RSS and disk use. RESULT lines: graph bytes per link (peak
RSS / links read, against the 40 B/link budget) and the sampler's sequences per CPU-second on the big
corpus against the sample's (best of `--rounds` alternating rounds each).

    .venv/bin/python bench/scale.py --size tenth                 # ~1.5 minutes here, 2 GB of disk
    .venv/bin/python bench/scale.py --size full --dir /data/scale  # ~13 minutes, 13 GB (9 when reused)
    .venv/bin/python bench/scale.py --size tiny --pairs 2000       # seconds: what the test runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.graph import generate, proc_status_bytes  # noqa: E402
from bench.scale_segments import write_segments  # noqa: E402

SAMPLE_DUMP = ROOT / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2"
SAMPLE_CONFIG = ROOT / "configs" / "corpus" / "sample.yaml"
LINKS_PER_SHARD = 3_000_000  # generator temporaries are ~130 bytes per link of a shard
GIB = 2**30


@dataclass(frozen=True)
class Size:
    articles: int
    redirects: int
    links: int
    tokens: int
    tfidf_docs: int  # documents of the tfidf sample


SIZES = {
    "full": Size(7_000_000, 11_000_000, 200_000_000, 4_000_000_000, 400_000),
    "tenth": Size(700_000, 1_100_000, 20_000_000, 400_000_000, 100_000),
    "tiny": Size(20_000, 31_000, 570_000, 11_000_000, 2_000),
}
WIKIPEDIA = SIZES["full"]


def disk_bytes(path: Path) -> int:
    """Allocated bytes under `path` (du): what the stage's output costs on disk."""
    if path.is_file():
        return path.stat().st_blocks * 512
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def rss_parts() -> dict[str, int]:
    """Anonymous and file-backed resident bytes of this process right now."""
    return {f: proc_status_bytes(f) for f in ("RssAnon", "RssFile")}


# ----------------------------------------------------------------------------------------------
# Children: one stage each, JSON on the last line of stdout


def child_graph(corpus: str) -> dict:
    from graph.build import run_graph
    from graph.config import GraphConfig

    stats = run_graph(GraphConfig(), corpus)
    return {"stats": {k: v for k, v in stats.items() if isinstance(v, int | float)}}


def child_tfidf(corpus: str) -> dict:
    from formats.documents import read_corpus_shards
    from graph.build import build_graph
    from graph.config import GraphConfig

    built = build_graph(GraphConfig(sources=["tfidf"]), read_corpus_shards(corpus))
    return {"edges": built.stats["edges"], "nodes": built.stats["nodes"]}


def child_sampler(corpus: str, pairs: int, micro_batch: int) -> dict:
    """The training loader as the trainer builds it, 0 workers: this process does all the work."""
    import numpy as np
    import torch

    from pretrain.config import DataConfig, DrpConfig
    from pretrain.data.corpus_data import LinkedCorpus
    from pretrain.data.loader import build_train_loader

    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    corpus_data = LinkedCorpus.open(corpus)
    data = DataConfig(corpus=corpus, num_workers=0)
    drp = DrpConfig()
    loader = build_train_loader(
        corpus_data, data, drp, seed=0, micro_batch_size=micro_batch, rank=0, world_size=1
    )
    batches = iter(loader)
    first = next(batches)  # the index is built lazily by the first batch's sampler calls
    setup_wall, setup_cpu = time.perf_counter() - t0, time.process_time() - c0
    setup = {"setup_rss": proc_status_bytes("VmRSS"), **{f"setup_{k}": v for k, v in rss_parts().items()}}

    labels = np.zeros(drp.num_classes, dtype=np.int64)
    tokens = masked = 0
    anon_peak = 0
    steps = -(-pairs // micro_batch)
    # Two passes of `pairs` each: the first pays this process's first touches of the token map (page
    # faults, once per process and page); the second is the rate a long-running loader keeps.
    rates = []
    for pass_ in range(2):
        t1, c1 = time.perf_counter(), time.process_time()
        for i in range(steps):
            batch = first if pass_ == 0 and i == 0 else next(batches)
            labels += np.bincount(batch["drp_labels"].numpy(), minlength=drp.num_classes)
            tokens += int(batch["attention_mask"].sum())
            masked += int((batch["labels"] != -100).sum())
            if i % 64 == 0:
                anon_peak = max(anon_peak, proc_status_bytes("RssAnon"))
        rates.append((time.perf_counter() - t1, time.process_time() - c1))
    anon_peak = max(anon_peak, proc_status_bytes("RssAnon"))
    n = steps * micro_batch
    (first_wall, first_cpu), (wall, cpu) = rates
    return {
        "docs": corpus_data.num_docs,
        "segments": corpus_data.num_segments,
        "edges": len(corpus_data.indices),
        "tokens_in_corpus": len(corpus_data.tokens),
        "setup_wall": setup_wall,
        "setup_cpu": setup_cpu,
        **setup,
        "pairs": n,
        "first_seq_per_cpu_s": n / first_cpu,
        "first_seq_per_s": n / first_wall,
        "draw_wall": wall,
        "draw_cpu": cpu,
        "seq_per_cpu_s": n / cpu,
        "seq_per_s": n / wall,
        "relations": dict(zip(drp.relations, labels.tolist(), strict=True)),
        "mean_tokens": tokens / (2 * n),
        "masked_per_seq": masked / (2 * n),
        "anon_peak": anon_peak,
        **rss_parts(),
    }


def run_child_stage(stage: str, *args: str) -> dict:
    """Runs `stage` in a fresh interpreter; wall, CPU and peak RSS are that process's own."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", stage, *args], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        sys.exit(f"stage {stage} failed:\n{proc.stderr[-6000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_main(stage: str, args: list[str]) -> None:
    # VmHWM, not getrusage's RUSAGE_CHILDREN maximum: the latter carries the parent's RSS across exec.
    rss_start = proc_status_bytes("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    if stage == "graph":
        out = child_graph(args[0])
    elif stage == "tfidf":
        out = child_tfidf(args[0])
    elif stage == "sampler":
        out = child_sampler(args[0], int(args[1]), int(args[2]))
    else:
        raise SystemExit(f"unknown stage {stage}")
    out.update(
        wall=time.perf_counter() - t0,
        cpu=time.process_time() - c0,
        rss_start=rss_start,
        peak=proc_status_bytes("VmHWM"),
    )
    print(json.dumps(out))


# ----------------------------------------------------------------------------------------------
# Parent: generate or reuse, run the stages, report


def report(stage: str, wall: float, cpu: float, peak: int | None, disk: int | None, note: str = "") -> None:
    peak_s = f"{peak / GIB:6.2f} GiB" if peak is not None else "       -  "
    disk_s = f"{disk / GIB:7.2f} GiB" if disk is not None else "       -   "
    print(f"STAGE {stage:<20} wall {wall:8.1f} s  CPU {cpu:8.1f} s  peak RSS {peak_s}  disk {disk_s}  {note}")


def timed(fn, *args, **kwargs) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn(*args, **kwargs)
    return time.perf_counter() - t0, time.process_time() - c0


def ensure_docs(corpus: Path, size: Size) -> None:
    from formats import documents

    have = documents.peek_manifest(corpus)
    rows = sum(s["rows"] for s in have.get("shards", {}).get("docs", []))
    if have and rows == size.articles:
        report("docs (reused)", 0, 0, None, disk_bytes(corpus / "docs") + disk_bytes(corpus / "redirects"))
        return
    shutil.rmtree(corpus, ignore_errors=True)
    shards = max(1, size.links // LINKS_PER_SHARD)
    wall, cpu = timed(generate, corpus, size.articles, size.redirects, size.links, shards)
    disk = disk_bytes(corpus / "docs") + disk_bytes(corpus / "redirects")
    report("docs (generated)", wall, cpu, None, disk, f"{shards} shards")


def sample_corpus(work: Path) -> Path:
    """The bundled sample through the real corpus stages (MiniLM's tokenizer, default 254-token
    segments so its pairs fill 512 as the big corpus's do); built once, then reused."""
    from pipeline.build import run_build
    from pipeline.tree import load_config

    cfg = load_config(SAMPLE_CONFIG, ["segments.max_tokens=254"])
    return run_build(cfg, inputs=[str(SAMPLE_DUMP)], root=str(work), name="sample")


def tfidf_corpus(work: Path, docs: int) -> Path:
    from bench.graph_sources import TopicText
    from formats import documents

    corpus = work / f"tfidf-{docs}"
    if not documents.peek_manifest(corpus):
        shutil.rmtree(corpus, ignore_errors=True)
        generate(corpus, docs, docs // 2, docs * 10, 1, text=TopicText(docs))
    return corpus


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--size", choices=sorted(SIZES), default="tenth", help="corpus size (full = English Wikipedia)"
    )
    p.add_argument("--dir", help="corpus folder to generate or reuse (default: bench/out/scale/<size>)")
    p.add_argument("--work", default=str(ROOT / "bench" / "out" / "scale"), help="sample and tfidf corpora")
    p.add_argument("--pairs", type=int, default=100_000, help="DRP pairs the sampler stage draws")
    p.add_argument("--micro-batch", type=int, default=32, help="sequences per micro batch")
    p.add_argument("--rounds", type=int, default=2, help="alternating sampler rounds (best of each)")
    p.add_argument("--skip-tfidf", action="store_true", help="leave the tfidf sample out")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child_main(args.child[0], args.child[1:])
        return

    size = SIZES[args.size]
    work = Path(args.work)
    corpus = Path(args.dir) if args.dir else work / args.size
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"size {args.size}: {size.articles:,} articles, {size.redirects:,} redirects, {size.links:,} links, "
        f"{size.tokens:,} tokens in {corpus}",
        flush=True,
    )
    ensure_docs(corpus, size)

    from formats import graph as graph_format

    shutil.rmtree(graph_format.graph_dir(corpus), ignore_errors=True)  # the build is what is measured
    g = run_child_stage("graph", str(corpus))
    s = g["stats"]
    links = s["links_read"]
    report("graph", g["wall"], g["cpu"], g["peak"], disk_bytes(graph_format.graph_dir(corpus)))
    print(
        f"  {links:,} links, {s['nodes']:,} nodes, {s['redirects']:,} redirects -> {s['edges']:,} edges; "
        f"via redirect {s['resolved_via_redirect']:,}, unresolved {s['unresolved']:,}, duplicates "
        f"{s['duplicates']:,}, chains {s['redirect_chains']:,}, cycles {s['redirect_cycles']:,}; "
        f"{g['peak'] / links:.1f} B/link at peak ({(g['peak'] - g['rss_start']) / links:.1f} above the "
        f"{g['rss_start'] / 2**20:.0f} MiB of imports)",
        flush=True,
    )

    if not args.skip_tfidf:
        # Two sample sizes: the slope between them is the per-document cost, free of fixed costs
        # (imports, the 2^hash_bits term tables) that a single small run would spread over its documents.
        runs = []
        for docs in (size.tfidf_docs // 4, size.tfidf_docs):
            t = run_child_stage("tfidf", str(tfidf_corpus(work, docs)))
            runs.append(t)
            report(
                "tfidf (sample)",
                t["wall"],
                t["cpu"],
                t["peak"],
                None,
                f"{t['nodes']:,} docs, {t['edges']:,} edges",
            )
        small, big = runs
        span = big["nodes"] - small["nodes"]
        cpu_per_doc = (big["cpu"] - small["cpu"]) / span
        mem_per_doc = max(big["peak"] - small["peak"], 0) / span
        extra = WIKIPEDIA.articles - big["nodes"]
        print(
            f"  projected to {WIKIPEDIA.articles:,} documents of this length (60 words; linear: at most "
            f"terms_per_doc x max_postings candidates per document): {(big['cpu'] + cpu_per_doc * extra) / 3600:.1f} "
            f"CPU-h, peak ~{(big['peak'] + mem_per_doc * extra) / GIB:.1f} GiB ({cpu_per_doc * 1e3:.2f} CPU-ms and "
            f"{mem_per_doc:.0f} B per document; an upper bound: fixed-size buffers not yet full in the "
            f"smaller sample count as per-document memory)",
            flush=True,
        )

    nodes = graph_format.read_manifest(graph_format.graph_dir(corpus))["nodes"]
    from formats import segments as segments_format

    t0, c0 = time.perf_counter(), time.process_time()
    written = write_segments(corpus, nodes, size.tokens)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    seg = segments_format.peek_manifest(corpus)
    report(
        "segments (generated)" if written else "segments (reused)",
        wall,
        cpu,
        None,
        disk_bytes(segments_format.segments_dir(corpus)),
        f"{seg['num_tokens']:,} tokens, {seg['num_segments']:,} segments, {seg['docs_dropped']:,} docs dropped",
    )

    sample = sample_corpus(work)
    # Alternating rounds, the best CPU rate of each corpus counts: on a shared machine one round can
    # lose its caches to another job.
    results: dict[str, dict] = {}
    for round_ in range(args.rounds):
        for name, folder in (("sample", sample), (args.size, corpus)):
            r = run_child_stage("sampler", str(folder), str(args.pairs), str(args.micro_batch))
            missing = [k for k, v in r["relations"].items() if v == 0]
            if missing:
                sys.exit(f"sampler on {name} drew no {', '.join(missing)} pairs: {r['relations']}")
            if name not in results or r["seq_per_cpu_s"] > results[name]["seq_per_cpu_s"]:
                results[name] = r
            report(
                f"sampler ({name})",
                r["wall"],
                r["cpu"],
                r["peak"],
                None,
                f"round {round_}: 2 x {r['pairs']:,} pairs {r['relations']}",
            )
            print(
                f"  {r['docs']:,} docs, {r['segments']:,} segments, {r['edges']:,} edges, "
                f"{r['tokens_in_corpus']:,} tokens; setup {r['setup_wall']:.1f} s wall / {r['setup_cpu']:.1f} s "
                f"CPU; first {r['pairs']:,} pairs {r['first_seq_per_cpu_s']:,.0f} seq/CPU-s "
                f"({r['first_seq_per_s']:,.0f} seq/s wall), next {r['pairs']:,} {r['seq_per_cpu_s']:,.0f} seq/CPU-s "
                f"({r['seq_per_s']:,.0f} seq/s wall), "
                f"{r['mean_tokens']:.0f} tokens and {r['masked_per_seq']:.1f} MLM targets per sequence; "
                f"RSS anonymous {r['anon_peak'] / 2**20:.0f} MiB at most (after setup "
                f"{r['setup_RssAnon'] / 2**20:.0f}), file-backed (mapped page cache of the corpus files) "
                f"{r['RssFile'] / 2**20:.0f} MiB at the end",
                flush=True,
            )

    big, base = results[args.size], results["sample"]
    per_doc = (big["anon_peak"] - base["anon_peak"]) / max(big["docs"] - base["docs"], 1)
    print(
        f"sampler memory: anonymous {base['anon_peak'] / 2**20:.0f} MiB on the sample, "
        f"{big['anon_peak'] / 2**20:.0f} MiB on {args.size} ({per_doc:.0f} B per document: the O(documents) "
        f"index; the {big['tokens_in_corpus'] * 2 / GIB:.2f} GiB of tokens stay in the page cache, "
        f"{big['RssFile'] / GIB:.2f} GiB of it mapped)"
    )
    print(
        f"first {big['pairs']:,} pairs of a fresh process: {big['first_seq_per_cpu_s']:,.0f} seq/CPU-s on {args.size}, "
        f"{base['first_seq_per_cpu_s']:,.0f} on the sample (ratio "
        f"{big['first_seq_per_cpu_s'] / base['first_seq_per_cpu_s']:.2f}); the RESULT is the next {big['pairs']:,}"
    )
    print(
        f"RESULT graph_bytes_per_link={g['peak'] / links:.1f} B/link baseline=40 ratio={g['peak'] / links / 40:.2f}"
    )
    ratio = big["seq_per_cpu_s"] / base["seq_per_cpu_s"]
    print(
        f"RESULT sampler_seq_per_s={big['seq_per_cpu_s']:.0f} seq/s baseline={base['seq_per_cpu_s']:.0f} "
        f"ratio={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
