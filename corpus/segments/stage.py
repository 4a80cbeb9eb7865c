"""`linkbert corpus segments`: documents -> token ids cut into segments, in graph node order.

Layout of `DIR/segments/` (contract: docs/formats.md): `tokens.bin`, `segments.npy`,
`doc_segments.npy`, `tokenizer/`, `config.yaml`, `manifest.json` (last).

How it runs:
1. The launching process checks the inputs (graph manifest, docs shards), resolves the tokenizer (or
   trains WordPiece on the corpus texts, once) and saves it to `segments/tokenizer/`.
2. N datatrove tasks each take a contiguous slice of the docs rows (all shards end to end, so tasks
   balance even when there is one shard), encode them in batches with the Rust tokenizer, cut each
   document into segments and stream the ids to `segments/parts/rank-XXXXX/` (renamed into place when
   the task is done, so a finished part is always whole).
3. One merge writes the outputs in node order by copying runs of consecutive documents from the parts'
   memory-mapped token files: when docs shards are in page-id order (dumps are), each task's part is a
   single run, and nothing is ever held in RAM but the per-document and per-segment counts.
4. The manifest is written last; the parts are then deleted.

The output is keyed by a hash of what decides it (segment bounds, the tokenizer's identity, the graph
and the extraction it came from); `tasks`, `workers`, `batch_size` and the executor change only how it
is computed, never the bytes. A finished folder with the same key is reused, a different one refused.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from corpus.config import SegmentsConfig
from corpus.segments.segmenter import segment_cuts
from corpus.segments.tokenizer import (
    TRAIN,
    encoding_backend,
    load_tokenizer,
    save_tokenizer,
    special_ids,
    token_dtype,
    tokenizer_hash,
    train_wordpiece,
    vocab_size,
)
from formats import graph as graph_format
from formats import segments as segments_format
from formats.documents import REBUILD_HINT, Shard, open_shard, read_corpus_shards
from formats.graph import read_node_ids
from formats.segments import FORMAT, MANIFEST, TOKENIZER_DIR, segments_dir
from foundation.atomic import atomic_dir
from foundation.config import config_hash, save_resolved, to_dict
from foundation.errors import PipelineError
from foundation.executor import build_executor, quiet_input_errors
from foundation.stage import FinalizeStep, StageOutput, forget_incomplete

PENDING = ".pending.json"  # the key of a run in progress: parts of another key are never merged
PARTS = "parts"
LOGS = "logs/segments"
PROGRESS_EVERY_S = 30.0
COPY_TOKENS = 1 << 24  # tokens per write in the merge: bounded memory however long a run is


# ----------------------------------------------------------------------------------------------
# Inputs: the docs shards and the graph's node ids


@dataclass(frozen=True)
class SegmentsInputs:
    corpus_dir: Path
    shards: list[Shard]  # docs shards, in extract.json order
    rows: list[int]  # rows per shard (from the parquet footers, checked against extract.json)
    extract_sha256: str
    graph_sha256: str
    num_nodes: int


def read_inputs(corpus_dir: str | os.PathLike) -> SegmentsInputs:
    """Check that the extraction and the graph are complete and agree; every docs shard is readable."""
    corpus = Path(corpus_dir)
    shards = read_corpus_shards(corpus)
    gdir = graph_format.graph_dir(corpus)
    graph = graph_format.require_manifest(corpus)
    if graph.get("extract_sha256", shards.manifest_sha256) != shards.manifest_sha256:
        raise PipelineError(
            f"{gdir} was built from an earlier extraction of {corpus} (extract.json changed); "
            f"delete {gdir} and rerun `linkbert corpus graph`"
        )
    rows = [open_shard(s, ("id", "text")).metadata.num_rows for s in shards.docs]
    return SegmentsInputs(
        corpus_dir=corpus,
        shards=shards.docs,
        rows=rows,
        extract_sha256=shards.manifest_sha256,
        graph_sha256=graph_format.manifest_sha256(corpus),
        num_nodes=int(graph["nodes"]),
    )


def node_of(page_ids: np.ndarray, node_ids: np.ndarray) -> np.ndarray:
    """Node of each page id, -1 for documents that are not nodes (duplicate titles)."""
    pos = np.searchsorted(node_ids, page_ids)
    inside = pos < len(node_ids)
    hit = np.zeros(len(page_ids), dtype=bool)
    hit[inside] = node_ids[pos[inside]] == page_ids[inside]
    return np.where(hit, pos, -1)


def task_rows(rows: list[int], rank: int, world_size: int) -> list[tuple[int, int, int]]:
    """(shard, first row, end row) slices of task `rank`: the docs rows cut into `world_size` equal runs."""
    total = sum(rows)
    lo, hi = total * rank // world_size, total * (rank + 1) // world_size
    out, base = [], 0
    for shard, n in enumerate(rows):
        a, b = max(lo, base), min(hi, base + n)
        if a < b:
            out.append((shard, a - base, b - base))
        base += n
    return out


def iter_docs(
    inputs: SegmentsInputs, slices: list[tuple[int, int, int]], batch_rows: int
) -> Iterator[tuple[np.ndarray, list[str]]]:
    """(page ids, texts) batches of the given row slices; reads only the row groups it needs."""
    for shard_index, first, end in slices:
        shard = inputs.shards[shard_index]
        f = open_shard(shard, ("id", "text"))
        base = 0
        try:
            for g in range(f.metadata.num_row_groups):
                n = f.metadata.row_group(g).num_rows
                a, b = max(first, base), min(end, base + n)
                if a < b:
                    table = f.read_row_group(g, columns=["id", "text"]).slice(a - base, b - a)
                    row = a
                    for batch in table.to_batches(max_chunksize=batch_rows):
                        ids, texts = batch.column(0), batch.column(1)
                        if ids.null_count or texts.null_count:
                            null = pc.or_(ids.is_null(), texts.is_null()).to_numpy(zero_copy_only=False)
                            raise PipelineError(
                                f"shard {shard.path} row {row + int(np.flatnonzero(null)[0])}: null id or "
                                f"text; {REBUILD_HINT}"
                            )
                        yield ids.to_numpy().astype(np.int64, copy=False), texts.to_pylist()
                        row += len(batch)
                base += n
        except (pa.ArrowException, OSError) as e:
            raise PipelineError(f"shard {shard.path} could not be read ({e}); {REBUILD_HINT}") from e


# ----------------------------------------------------------------------------------------------
# One task: a slice of the documents -> a part


PART_ARRAYS = ("doc_nodes", "doc_num_segments", "segment_lengths")


def part_dir(corpus_dir: str | os.PathLike, rank: int) -> Path:
    return segments_dir(corpus_dir) / PARTS / f"rank-{rank:05d}"


class _PartWriter:
    """Appends a task's token ids to `tokens.bin` as it goes; the per-document arrays at the end."""

    def __init__(self, folder: Path, dtype: np.dtype) -> None:
        self.folder, self.dtype = folder, dtype
        self.tokens = open(folder / "tokens.bin", "wb")  # noqa: SIM115 - closed in finish()
        self.doc_nodes: list[np.ndarray] = []
        self.doc_num_segments: list[np.ndarray] = []
        self.segment_lengths: list[np.ndarray] = []

    def add(self, nodes: np.ndarray, num_segments: np.ndarray, lengths: list[np.ndarray], ids: list) -> None:
        self.doc_nodes.append(nodes.astype(np.int64))
        self.doc_num_segments.append(num_segments.astype(np.int32))
        if lengths:
            self.segment_lengths.append(np.concatenate(lengths).astype(np.int32))
        if ids:
            self.tokens.write(np.concatenate(ids).tobytes())

    def finish(self, stats: dict[str, Any]) -> None:
        # fsync before the folder is renamed into place: a part that looks finished must be on disk.
        _sync_close(self.tokens)
        for name in PART_ARRAYS:
            chunks = getattr(self, name)
            dtype = np.int64 if name == "doc_nodes" else np.int32
            with open(self.folder / f"{name}.npy", "wb") as f:
                np.save(f, np.concatenate(chunks) if chunks else np.zeros(0, dtype))
                _sync_close(f)
        with open(self.folder / "stats.json", "w", encoding="utf-8") as f:
            f.write(json.dumps(stats, indent=2, sort_keys=True) + "\n")
            _sync_close(f)


def _sync_close(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())
    f.close()


def segment_shard(rank: int, world_size: int, corpus_dir: str, cfg: SegmentsConfig) -> dict[str, Any]:
    """Task `rank` of `world_size`: tokenize and segment its slice of the docs into `parts/rank-XXXXX/`.

    Callable in-process; the saved tokenizer (`segments/tokenizer/`) must exist. Returns the task's counts.
    """
    final = part_dir(corpus_dir, rank)
    if (final / "stats.json").is_file():  # finished by an earlier attempt
        return json.loads((final / "stats.json").read_text(encoding="utf-8"))
    for stale in glob.glob(str(final.parent / f".{final.name}.*.tmp")):
        shutil.rmtree(stale, ignore_errors=True)  # left by a killed attempt at this task
    inputs = read_inputs(corpus_dir)
    node_ids = read_node_ids(corpus_dir, inputs.num_nodes)
    tok = load_tokenizer(str(segments_dir(corpus_dir) / TOKENIZER_DIR))
    backend = encoding_backend(tok)
    dtype = token_dtype(vocab_size(tok))
    max_tokens, min_tokens = cfg.max_tokens, max(cfg.min_tokens, 1)

    stats = {
        "rank": rank,
        "rows": 0,
        "not_in_graph": 0,
        "docs": 0,
        "docs_dropped": 0,
        "tokens": 0,
        "segments": 0,
    }
    started = last_log = time.monotonic()
    with atomic_dir(final, overwrite=True) as tmp:
        writer = _PartWriter(tmp, dtype)
        for page_ids, texts in iter_docs(inputs, task_rows(inputs.rows, rank, world_size), cfg.batch_size):
            nodes = node_of(page_ids, node_ids)
            keep = np.flatnonzero(nodes >= 0)
            stats["rows"] += len(page_ids)
            stats["not_in_graph"] += len(page_ids) - len(keep)
            kept_texts = [texts[i] for i in keep]
            encodings = backend.encode_batch(kept_texts, add_special_tokens=False)
            num_segments = np.zeros(len(keep), dtype=np.int32)
            lengths, ids = [], []
            for j, (text, enc) in enumerate(zip(kept_texts, encodings, strict=True)):
                if len(enc) < min_tokens:
                    continue
                cuts = segment_cuts(text, enc, max_tokens)
                num_segments[j] = len(cuts) - 1
                lengths.append(np.diff(cuts))
                ids.append(np.array(enc.ids, dtype=dtype))
            writer.add(nodes[keep], num_segments, lengths, ids)
            stats["docs"] += len(keep)
            stats["docs_dropped"] += int(np.count_nonzero(num_segments == 0))
            stats["segments"] += int(num_segments.sum())
            stats["tokens"] += sum(len(a) for a in ids)
            if time.monotonic() - last_log > PROGRESS_EVERY_S:
                last_log = time.monotonic()
                rate = stats["tokens"] / max(last_log - started, 1e-9)
                logger.info(
                    f"segments task {rank}: {stats['docs']} docs, {stats['tokens']} tokens, {rate:,.0f} tokens/s"
                )
        writer.finish(stats)
    return stats


class SegmentStep(PipelineStep):
    """The datatrove task: `segment_shard` for this rank."""

    name = "tokenize + segment"
    type = "Tokenizer"

    def __init__(self, corpus_dir: str, cfg: SegmentsConfig) -> None:
        super().__init__()
        self.corpus_dir, self.cfg = corpus_dir, cfg

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        quiet_input_errors()
        stats = segment_shard(rank, world_size, self.corpus_dir, self.cfg)
        for key in ("docs", "docs_dropped", "tokens", "segments"):
            self.stat_update(key, value=stats[key], unit="task")
        return
        yield  # the last step: yields nothing


# ----------------------------------------------------------------------------------------------
# The merge: parts -> the outputs, in node order


@dataclass
class _Part:
    tokens: np.ndarray  # memory-mapped
    doc_nodes: np.ndarray
    segment_start: np.ndarray  # per doc (+1): first segment of doc j within the part
    token_start: np.ndarray  # per segment (+1): first token of segment s within the part
    segment_lengths: np.ndarray
    stats: dict[str, Any]


def _load_part(folder: Path, dtype: np.dtype) -> _Part:
    arrays = {name: np.load(folder / f"{name}.npy") for name in PART_ARRAYS}
    size = (folder / "tokens.bin").stat().st_size
    tokens = np.memmap(folder / "tokens.bin", dtype=dtype, mode="r") if size else np.zeros(0, dtype)
    segment_start = np.concatenate([[0], np.cumsum(arrays["doc_num_segments"], dtype=np.int64)])
    token_start = np.concatenate([[0], np.cumsum(arrays["segment_lengths"], dtype=np.int64)])
    if token_start[-1] != len(tokens) or segment_start[-1] != len(arrays["segment_lengths"]):
        raise PipelineError(f"{folder} is inconsistent (damaged?); delete it and run the same command again")
    stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    return _Part(tokens, arrays["doc_nodes"], segment_start, token_start, arrays["segment_lengths"], stats)


@dataclass
class _CopyPlan:
    """Runs of documents consecutive both in one part and in node order: one copy each in the merge
    (a handful when the docs shards are in page-id order; one per document at worst)."""

    num_segments: np.ndarray  # per node, in node order
    run_part: np.ndarray
    run_first: np.ndarray  # first document of the run within its part
    run_end: np.ndarray
    duplicates: int


def _node_order_runs(parts: list[_Part], node_ids: np.ndarray) -> _CopyPlan:
    doc_nodes = np.concatenate([p.doc_nodes for p in parts])
    doc_part = np.concatenate([np.full(len(p.doc_nodes), i, dtype=np.int64) for i, p in enumerate(parts)])
    doc_local = np.concatenate([np.arange(len(p.doc_nodes), dtype=np.int64) for p in parts])
    num_segments = np.concatenate([np.diff(p.segment_start) for p in parts])
    order = np.argsort(doc_nodes, kind="stable")
    sorted_nodes = doc_nodes[order]
    # The same page twice (one page in two input files): the first in input order wins, as in the graph.
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_nodes[1:] != sorted_nodes[:-1]
    duplicates = int(len(order) - np.count_nonzero(first))
    order, sorted_nodes = order[first], sorted_nodes[first]
    if len(sorted_nodes) != len(node_ids):  # unique and in [0, N): equal lengths mean every node is there
        missing = np.setdiff1d(np.arange(len(node_ids)), sorted_nodes)
        raise PipelineError(
            f"{len(missing)} graph nodes have no document in the docs shards (e.g. page id "
            f"{int(node_ids[missing[0]])}): the graph was built from other docs; rerun `linkbert corpus graph`"
        )
    part_o, local_o = doc_part[order], doc_local[order]
    breaks = np.flatnonzero((part_o[1:] != part_o[:-1]) | (local_o[1:] != local_o[:-1] + 1)) + 1
    starts = np.concatenate([[0], breaks]).astype(np.int64) if len(order) else np.zeros(0, np.int64)
    ends = np.concatenate([breaks, [len(order)]]).astype(np.int64) if len(order) else np.zeros(0, np.int64)
    return _CopyPlan(num_segments[order], part_o[starts], local_o[starts], local_o[ends - 1] + 1, duplicates)


def _chunks(plan: _CopyPlan, size: int = 1 << 16) -> Iterator[tuple[int, int, int]]:
    # Python ints in bounded chunks: a per-document plan of 7M runs never becomes one list of tuples.
    for a in range(0, len(plan.run_part), size):
        yield from zip(
            plan.run_part[a : a + size].tolist(),
            plan.run_first[a : a + size].tolist(),
            plan.run_end[a : a + size].tolist(),
            strict=True,
        )


def merge_parts(corpus_dir: str | os.PathLike, cfg: SegmentsConfig, key: dict[str, Any]) -> dict[str, Any]:
    """Write tokens.bin, segments.npy, doc_segments.npy, config.yaml and the manifest (last)."""
    stage = segments_stage(corpus_dir, cfg, key)
    out = stage.folder
    inputs = read_inputs(corpus_dir)
    node_ids = read_node_ids(corpus_dir, inputs.num_nodes)
    tok = load_tokenizer(str(out / TOKENIZER_DIR))
    size = vocab_size(tok)
    dtype = token_dtype(size)
    missing = [r for r in range(cfg.tasks) if not (part_dir(corpus_dir, r) / "stats.json").is_file()]
    if missing:
        raise PipelineError(
            f"{out}: segments tasks {missing[:10]} did not finish (see {Path(corpus_dir) / LOGS}); "
            "run the same command again to redo only those"
        )
    parts = [_load_part(part_dir(corpus_dir, r), dtype) for r in range(cfg.tasks)]
    plan = _node_order_runs(parts, node_ids)
    num_segments, duplicates = plan.num_segments, plan.duplicates

    lengths = np.empty(int(num_segments.sum()), dtype=np.int32)
    cursor = 0
    with segments_format.tokens_writer(out) as f:
        for part_index, first, end in _chunks(plan):
            p = parts[part_index]
            s0, s1 = int(p.segment_start[first]), int(p.segment_start[end])
            lengths[cursor : cursor + s1 - s0] = p.segment_lengths[s0:s1]
            cursor += s1 - s0
            t0, t1 = int(p.token_start[s0]), int(p.token_start[s1])
            for a in range(t0, t1, COPY_TOKENS):
                f.write(p.tokens[a : min(a + COPY_TOKENS, t1)].tobytes())
    segments = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
    doc_segments = np.concatenate([[0], np.cumsum(num_segments, dtype=np.int64)]).astype(np.int64)
    segments_format.write_index(out, segments, doc_segments)
    save_resolved(cfg, out / "config.yaml")

    num_tokens, num_docs = int(segments[-1]), len(node_ids)
    docs_dropped = int(np.count_nonzero(num_segments == 0))
    manifest = {
        "num_tokens": num_tokens,
        "num_segments": int(len(lengths)),
        "num_docs": num_docs,
        "docs_dropped": docs_dropped,
        "docs_not_in_graph": int(sum(p.stats["not_in_graph"] for p in parts)),
        "duplicate_documents": duplicates,
        "dtype": dtype.name,
        "vocab_size": size,
        "special_ids": special_ids(tok),
        "tokenizer_hash": tokenizer_hash(tok),
        "max_tokens": cfg.max_tokens,
        "min_tokens": cfg.min_tokens,
        "mean_segment_tokens": round(num_tokens / max(len(lengths), 1), 2),
        "mean_doc_tokens": round(num_tokens / max(num_docs - docs_dropped, 1), 2),
        "config": to_dict(cfg),
        "key": key,
        "graph_sha256": inputs.graph_sha256,
        "extract_sha256": inputs.extract_sha256,
        "tasks": cfg.tasks,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    manifest = stage.complete(manifest)
    shutil.rmtree(out / PARTS, ignore_errors=True)
    logger.info(
        f"{out}: {num_docs} documents ({docs_dropped} dropped as shorter than {cfg.min_tokens} tokens), "
        f"{len(lengths)} segments, {num_tokens} tokens ({dtype.name})"
    )
    return manifest


# ----------------------------------------------------------------------------------------------
# The launching process


def tokenizer_identity(cfg: SegmentsConfig, source: PreTrainedTokenizerBase | None = None) -> str:
    """The tokenizer part of the output key: what it does (its hash), not where it was found; a trained
    one is decided by its training settings (and the corpus, which the key covers anyway)."""
    if cfg.tokenizer == TRAIN:
        return (
            f"train:vocab_size={cfg.vocab_size}:lowercase={cfg.lowercase}:strip_accents={cfg.strip_accents}"
        )
    return tokenizer_hash(source if source is not None else load_tokenizer(cfg.tokenizer))


def output_key(cfg: SegmentsConfig, tokenizer_identity: str, inputs: SegmentsInputs) -> dict[str, Any]:
    """Everything that decides the bytes of the output, and nothing that only decides how they are made."""
    return {
        "format": FORMAT,
        "max_tokens": cfg.max_tokens,
        "min_tokens": cfg.min_tokens,
        "tokenizer": tokenizer_identity,
        "graph_sha256": inputs.graph_sha256,
        "extract_sha256": inputs.extract_sha256,
    }


def segments_stage(corpus_dir: str | os.PathLike, cfg: SegmentsConfig, key: dict[str, Any]) -> StageOutput:
    """The segments stage's output: `DIR/segments/`, keyed by the hash of `output_key`."""
    corpus = Path(corpus_dir)
    out = segments_dir(corpus)
    want = config_hash(key)
    return StageOutput(
        stage="segments",
        folder=out,
        manifest=MANIFEST,
        key={"config_hash": want},
        write_manifest=segments_format.write_manifest,
        read_manifest=segments_format.read_manifest,
        pending=out / PENDING,
        pending_value={"config_hash": want, "tasks": cfg.tasks},
        # Leftovers of a run with another key or task count: none of them may be reused.
        leftovers=(out / PARTS, out / TOKENIZER_DIR, corpus / LOGS),
        refusals={
            "config_hash": f"{out} was made with another segments config, tokenizer or graph (requested "
            f"hash {want}); use a new corpus folder or delete {out}"
        },
    )


def corpus_texts(inputs: SegmentsInputs, node_ids: np.ndarray, batch_rows: int = 1024) -> Iterator[str]:
    """The texts of the graph's documents, streamed shard by shard (tokenizer training reads this)."""
    slices = [(i, 0, n) for i, n in enumerate(inputs.rows)]
    for page_ids, texts in iter_docs(inputs, slices, batch_rows):
        for i in np.flatnonzero(node_of(page_ids, node_ids) >= 0).tolist():
            yield texts[i]


def run_segments(cfg: SegmentsConfig, corpus_dir: str) -> dict:
    """Build `corpus_dir/segments/` (or reuse it when it was built with the same key); returns the manifest.

    With `executor.kind=slurm` the tasks and the merge are submitted as job arrays and this returns {}
    at once; the tokenizer (trained here for `train`) is saved before submission, on this machine."""
    corpus = Path(os.path.abspath(corpus_dir))
    out = segments_dir(corpus)
    inputs = read_inputs(corpus)
    source = None if cfg.tokenizer == TRAIN else load_tokenizer(cfg.tokenizer)
    key = output_key(cfg, tokenizer_identity(cfg, source), inputs)
    stage = segments_stage(corpus, cfg, key)

    done = stage.finished()
    if done is not None:
        shutil.rmtree(out / PARTS, ignore_errors=True)  # left if a run died between manifest and cleanup
        logger.info(f"{out}: segments already complete (hash {stage.key['config_hash']}), nothing to do")
        return done
    stage.begin()

    if not (out / TOKENIZER_DIR / "tokenizer.json").is_file():  # saved atomically: present means whole
        if source is None:
            node_ids = read_node_ids(corpus, inputs.num_nodes)
            logger.info(
                f"training a WordPiece tokenizer (vocab {cfg.vocab_size}) on {inputs.num_nodes} documents"
            )
            source = train_wordpiece(
                corpus_texts(inputs, node_ids),
                cfg.vocab_size,
                cfg.lowercase,
                length=inputs.num_nodes,
                strip_accents=cfg.strip_accents,
            )
        save_tokenizer(source, out / TOKENIZER_DIR)

    # A completion marker without its part (parts deleted by hand) would make the executor skip a
    # task whose output the merge needs.
    forget_incomplete(
        corpus / LOGS, cfg.tasks, lambda rank: (part_dir(corpus, rank) / "stats.json").is_file()
    )

    executor = build_executor(
        [SegmentStep(str(corpus), cfg)],
        tasks=cfg.tasks,
        workers=cfg.workers,
        logging_dir=str(corpus / LOGS),
        executor=cfg.executor,
        job_name="linkbert-segments",
    )
    if cfg.executor.kind == "slurm":
        build_executor(
            [FinalizeStep("segments", merge_parts, str(corpus), cfg, key)],
            tasks=1,
            workers=1,
            logging_dir=str(corpus / LOGS / "merge"),
            executor=cfg.executor,
            job_name="linkbert-segments-merge",
            depends=executor,
        ).run()
        logger.info(f"submitted; {out / MANIFEST} is written by the last job once every task has succeeded")
        return {}
    executor.run()
    return merge_parts(corpus, cfg, key)
