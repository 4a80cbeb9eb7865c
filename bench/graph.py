"""Benchmark of `linkbert corpus graph`: title resolution + CSR build on a synthetic power-law wiki.

Generates a corpus folder in the `corpus extract` format (docs/ and redirects/ parquet shards,
written shard by shard so the generator never holds all links as Python strings), then times the
graph build in a child process and reads that process's peak RSS. Baseline, in the same run: a
straightforward pandas resolution (merge links on the title table, redirect chains by repeated
merges, drop_duplicates, sort) on a subset of the same links, extrapolated to all of them.

    .venv/bin/python bench/graph.py                                   # defaults: a few minutes here
    .venv/bin/python bench/graph.py --articles 1000000 --redirects 500000 --links 30000000  # full size
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from formats import documents  # noqa: E402 - the docs/redirects contract, from its one definition
from formats.documents import LINK_TYPE as LINK  # noqa: E402

WIKIPEDIA = {"nodes": 7_000_000, "redirects": 11_000_000, "links": 200_000_000}


def zipf_ranks(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Ranks in [0, n) with P(rank) ~ 1/rank: log-uniform, the in-degree law of hyperlink graphs."""
    return np.minimum(np.exp(rng.random(size) * np.log(n + 1)).astype(np.int64) - 1, n - 1)


def titles(prefix: str, ids: np.ndarray) -> pa.Array:
    # Scrambled numbers so titles share no long sorted prefixes (~22 bytes, like Wikipedia's mean).
    scrambled = pa.array((ids * 2654435761) % 10**11, pa.int64()).cast(pa.string())
    return pc.binary_join_element_wise(prefix, scrambled, "")


def generate(
    root: Path,
    articles: int,
    redirects: int,
    links: int,
    shards: int,
    seed: int = 0,
    text: Callable[[int, int], pa.Array] | None = None,
) -> None:
    """A corpus folder: `articles` docs, `redirects` redirects, `links` links in `shards` shards.

    text(lo, hi): the text of articles lo..hi-1 (default: the same placeholder for every article).
    """
    rng = np.random.default_rng(seed)
    (root / "docs").mkdir(parents=True)
    (root / "redirects").mkdir()
    article_titles = titles("Page ", np.arange(articles))
    alias_titles = titles("Alias ", np.arange(redirects))
    missing_titles = titles("Missing ", np.arange(max(redirects // 4, 1)))
    # Every link target is a draw from one pool: articles (85%), redirects (10%), missing pages (5%).
    pool = pa.concat_arrays([article_titles, alias_titles, missing_titles])
    popularity = rng.permutation(articles)  # which article is the rank-k most linked one

    # Redirects: most point at articles, some at other redirects (chains), some at missing pages, and a
    # few form two-cycles.
    kind = rng.random(redirects)
    to_article = popularity[zipf_ranks(rng, articles, redirects)]
    to_alias = articles + rng.integers(0, redirects, redirects)
    to_missing = articles + redirects + rng.integers(0, len(missing_titles), redirects)
    target = np.where(kind < 0.9, to_article, np.where(kind < 0.97, to_alias, to_missing))
    cyc = np.flatnonzero(kind > 0.998)
    a, b = cyc[0::2][: len(cyc) // 2], cyc[1::2][: len(cyc) // 2]
    target[a], target[b] = articles + b, articles + a
    manifest = {"shards": {"docs": [], "redirects": []}}
    bounds = np.linspace(0, redirects, shards + 1).astype(np.int64)
    for rank in range(shards):
        lo, hi = bounds[rank], bounds[rank + 1]
        t = pa.table({"source": alias_titles[lo:hi], "target": pool.take(pa.array(target[lo:hi]))})
        name = f"redirects/rank-{rank:05d}.parquet"
        documents.write_table(root / name, t, documents.REDIRECTS_SCHEMA, compression="snappy")
        manifest["shards"]["redirects"].append({"path": name, "rows": len(t)})

    # Docs: out-degrees are heavy-tailed too (links drawn per source by the same law, sources scrambled).
    out_degree = np.bincount(rng.permutation(articles)[zipf_ranks(rng, articles, links)], minlength=articles)
    ids = rng.permutation(articles * 3)[:articles]  # page ids: sparse and unordered, as in a dump
    bounds = np.linspace(0, articles, shards + 1).astype(np.int64)
    for rank in range(shards):
        lo, hi = bounds[rank], bounds[rank + 1]
        lengths = out_degree[lo:hi]
        m = int(lengths.sum())
        u = rng.random(m)
        # Half of the article links follow the popularity law, half are uniform: ~20% duplicates.
        popular = np.where(rng.random(m) < 0.5, zipf_ranks(rng, articles, m), rng.integers(0, articles, m))
        pick = np.where(
            u < 0.85,
            popularity[popular],
            np.where(
                u < 0.95,
                articles + zipf_ranks(rng, redirects, m),
                articles + redirects + rng.integers(0, len(missing_titles), m),
            ),
        )
        target = pool.take(pa.array(pick))
        is_template = rng.random(m) < 0.1
        start = np.where(is_template, -1, 0).astype(np.int32)
        offsets = np.zeros(len(lengths) + 1, np.int32)
        np.cumsum(lengths, out=offsets[1:])
        items = pa.StructArray.from_arrays(
            [
                target,
                target,
                pa.array(start),
                pa.array(np.where(is_template, -1, pc.binary_length(target).to_numpy()).astype(np.int32)),
                pa.array(["body", "template"]).take(pa.array(is_template.astype(np.int8))),
            ],
            fields=list(LINK),
        )
        t = pa.table(
            {
                "id": pa.array(ids[lo:hi]),
                "title": article_titles[lo:hi],
                "text": text(lo, hi) if text is not None else pa.array(["synthetic text"] * (hi - lo)),
                "links": pa.ListArray.from_arrays(pa.array(offsets), items),
                "is_disambiguation": pa.array(rng.random(hi - lo) < 0.01),
            }
        )
        name = f"docs/rank-{rank:05d}.parquet"
        documents.write_table(
            root / name, t, documents.DOCS_SCHEMA, compression="snappy", row_group_size=50_000
        )
        manifest["shards"]["docs"].append({"path": name, "rows": len(t)})
        del t, items, target
    documents.write_manifest(root, manifest)


def proc_status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def child_build(corpus: str) -> None:
    """Runs in its own process: only the graph build, so its peak RSS is the build's.

    The peak is VmHWM, the high-water mark of this process's own memory map: getrusage's
    RUSAGE_CHILDREN maximum would also carry the parent's RSS at fork time across the exec.
    """
    from formats.documents import read_corpus_shards
    from graph.build import build_graph
    from graph.config import GraphConfig

    marks = {}

    class TitlesDone(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "redirects resolved" in record.getMessage():
                marks["titles_peak"] = proc_status_bytes("VmHWM")

    logging.getLogger("linkbert.graph").addHandler(TitlesDone())
    logging.getLogger("linkbert.graph").setLevel(logging.INFO)
    rss_start = proc_status_bytes("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    built = build_graph(GraphConfig(), read_corpus_shards(corpus))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = proc_status_bytes("VmHWM")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": cpu,
                "rss_start": rss_start,
                "peak": peak,
                **marks,
                "stats": built.stats,
            }
        )
    )


def baseline_pandas(corpus: Path, subset_links: int) -> dict:
    """The straightforward pandas resolution: merges on object-string columns."""
    import pandas as pd

    t0, c0 = time.perf_counter(), time.process_time()
    docs = pq.read_table(corpus / "docs", columns=["id", "title"]).to_pandas()
    docs = docs.sort_values("id").drop_duplicates("title").reset_index(drop=True)
    docs["node"] = np.arange(len(docs))
    red = pq.read_table(corpus / "redirects").to_pandas().drop_duplicates("source")
    red = red[~red["source"].isin(docs["title"])]
    names = docs[["title", "node"]].rename(columns={"title": "name"})
    hop = red.rename(columns={"source": "name"})
    resolved = []
    for _ in range(8):  # follow chains one merge per hop
        m = hop.merge(names, left_on="target", right_on="name", how="left", suffixes=("", "_t"))
        done = m["node"].notna()
        resolved.append(m.loc[done, ["name", "node"]])
        nxt = m.loc[~done, ["name", "target"]].merge(red, left_on="target", right_on="source", how="inner")
        hop = nxt[["name", "target_y"]].rename(columns={"target_y": "target"})
        if hop.empty:
            break
    names = pd.concat([names, *resolved], ignore_index=True)
    t_tables, c_tables = time.perf_counter() - t0, time.process_time() - c0

    t1, c1 = time.perf_counter(), time.process_time()
    first = pq.ParquetFile(next(iter(sorted((corpus / "docs").glob("*.parquet")))))
    rows = []
    got = 0
    for batch in first.iter_batches(batch_size=5000, columns=["title", "links"]):
        rows.append(batch)
        got += pc.sum(pc.list_value_length(batch.column("links"))).as_py() or 0
        if got >= subset_links:
            break
    t = pa.Table.from_batches(rows)
    links = pd.DataFrame(
        {
            "source": np.repeat(
                t.column("title").to_numpy(zero_copy_only=False),
                pc.list_value_length(t.column("links")).fill_null(0).to_numpy(),
            ),
            "target": pc.struct_field(pc.list_flatten(t.column("links")), "target").to_pandas(),
        }
    )
    e = links.merge(names, left_on="source", right_on="name").merge(
        names, left_on="target", right_on="name", suffixes=("_s", "_t")
    )
    e = (
        e.loc[e["node_s"] != e["node_t"], ["node_s", "node_t"]]
        .drop_duplicates()
        .sort_values(["node_s", "node_t"])
    )
    np.bincount(e["node_s"].to_numpy(np.int64))
    t_links, c_links = time.perf_counter() - t1, time.process_time() - c1
    return {
        "links": len(links),
        "edges": len(e),
        "t_tables": t_tables,
        "t_links": t_links,
        "c_tables": c_tables,
        "c_links": c_links,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--articles", type=int, default=1_000_000, help="articles (nodes)")
    p.add_argument("--redirects", type=int, default=500_000, help="redirect pages")
    p.add_argument("--links", type=int, default=12_000_000, help="links (the full benchmark: 30000000)")
    p.add_argument("--shards", type=int, default=8, help="docs and redirects shards")
    p.add_argument("--baseline-links", type=int, default=1_000_000, help="links the pandas baseline resolves")
    p.add_argument("--dir", help="corpus folder to reuse/generate (default: a temporary folder)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child_build(args.child)
        return

    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        corpus = Path(args.dir) if args.dir else Path(tmp) / "corpus"
        if not documents.peek_manifest(corpus):
            t0 = time.perf_counter()
            generate(corpus, args.articles, args.redirects, args.links, args.shards)
            print(f"generated {corpus} in {time.perf_counter() - t0:.1f}s", flush=True)

        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(corpus)], capture_output=True, text=True, env=env
        )
        if proc.returncode != 0:
            sys.exit(f"graph build failed:\n{proc.stderr}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        peak = out["peak"]
        s, seconds, cpu = out["stats"], out["seconds"], out["cpu"]
        links = s["links_read"]
        per_link = peak / links
        per_link_build = (peak - out["rss_start"]) / links
        print(
            f"ours: {links:,} links, {s['nodes']:,} nodes, {s['redirects']:,} redirects -> {s['edges']:,} edges "
            f"in {seconds:.1f}s wall, {cpu:.1f}s CPU ({links / seconds:,.0f} links/s wall, "
            f"{links / cpu:,.0f} links/CPU-s); peak RSS {peak / 2**30:.2f} GiB = {per_link:.1f} B/link "
            f"({per_link_build:.1f} B/link above the {out['rss_start'] / 2**20:.0f} MiB of imports)"
        )
        print(
            f"  via redirect {s['resolved_via_redirect']:,}, unresolved {s['unresolved']:,}, "
            f"duplicates {s['duplicates']:,}, self-links {s['self_links']:,}, "
            f"redirect cycles {s['redirect_cycles']:,}, chains {s['redirect_chains']:,}"
        )
        # Peak = imports + a part that scales with titles (nodes, names; measured when the title table
        # is done) + a part that scales with links (one hash join's batch, edge keys, indices, stats).
        names = s["nodes"] + s["redirects"]
        per_name = (out["titles_peak"] - out["rss_start"]) / names
        per_link_more = max(peak - out["titles_peak"], 0) / links
        wiki_names = WIKIPEDIA["nodes"] + WIKIPEDIA["redirects"]
        wiki_peak = out["rss_start"] + per_name * wiki_names + per_link_more * WIKIPEDIA["links"]
        print(
            f"projection for English Wikipedia ({WIKIPEDIA['nodes'] / 1e6:.0f}M nodes, "
            f"{WIKIPEDIA['redirects'] / 1e6:.0f}M redirects, {WIKIPEDIA['links'] / 1e6:.0f}M links): "
            f"~{cpu * WIKIPEDIA['links'] / links / 60:.0f} CPU-min (linear in links), peak ~"
            f"{wiki_peak / 2**30:.1f} GiB ({per_name:.0f} B/title up to the title table + "
            f"{per_link_more:.1f} B/link beyond it)"
        )

        b = baseline_pandas(corpus, args.baseline_links)
        base_cpu = b["c_tables"] + b["c_links"] * links / b["links"]
        base_wall = b["t_tables"] + b["t_links"] * links / b["links"]
        print(
            f"baseline pandas: tables {b['c_tables']:.1f} CPU-s + {b['links']:,} links in {b['c_links']:.1f} "
            f"CPU-s -> {base_cpu:.0f} CPU-s ({base_wall:.0f}s wall) extrapolated to {links:,} links"
        )
        ours, baseline = links / cpu, links / base_cpu
        print(f"wall-clock ratio {base_wall / seconds:.2f} (shared machine: CPU time is the figure)")
        print(
            f"RESULT graph_links_per_s={ours:.0f} links/s baseline={baseline:.0f} ratio={ours / baseline:.2f}"
        )


if __name__ == "__main__":
    main()
