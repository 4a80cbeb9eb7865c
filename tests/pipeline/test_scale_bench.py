"""bench/scale.py at its tiny size: every stage of the full-size run (generation, graph build, tfidf
sample, segments, the loader on the big corpus and on the bundled sample) runs to its end here, so the
script the full-size figures come from cannot rot. The segment layout generator is checked on its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from formats import segments as segments_format
from pretrain.data.corpus_data import LinkedCorpus

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.scale_segments import MAX_TOKENS, MIN_TOKENS, layout  # noqa: E402


def test_layout_cuts_documents_like_the_segmenter():
    offsets, doc_segments = layout(5000, 2_000_000, seed=3)
    lengths = np.diff(offsets)
    per_doc = np.diff(doc_segments)
    assert len(doc_segments) == 5001 and doc_segments[-1] == len(lengths)
    assert 0.99 * 2_000_000 <= offsets[-1] <= 2_000_000  # the requested total, less rounding and stubs
    assert lengths.min() >= 1 and lengths.max() <= MAX_TOKENS
    doc_tokens = np.add.reduceat(lengths, doc_segments[:-1][per_doc > 0])
    assert doc_tokens.min() >= MIN_TOKENS
    assert (per_doc == 0).any() and per_doc.max() > 10  # stubs dropped, long articles kept whole
    # near-equal cuts: within a document segment lengths differ by at most one token
    doc = np.repeat(np.arange(5000), per_doc)
    spread = np.zeros(5000, np.int64)
    np.maximum.at(spread, doc, lengths)
    low = np.full(5000, MAX_TOKENS + 1, np.int64)
    np.minimum.at(low, doc, lengths)
    assert (spread - low)[per_doc > 0].max() <= 1


def test_scale_bench_tiny_runs_every_stage(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    corpus = tmp_path / "tiny"
    cmd = [
        sys.executable,
        str(REPO / "bench" / "scale.py"),
        "--size",
        "tiny",
        "--pairs",
        "2000",
        "--rounds",
        "1",
        "--dir",
        str(corpus),
        "--work",
        str(tmp_path / "work"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    stages = re.findall(r"^STAGE (\S+)", proc.stdout, re.M)
    assert stages == ["docs", "graph", "tfidf", "tfidf", "segments", "sampler", "sampler"], proc.stdout
    results = re.findall(r"^RESULT (\w+)=(\S+) \S+ baseline=\S+ ratio=(\S+)$", proc.stdout, re.M)
    assert [r[0] for r in results] == ["graph_bytes_per_link", "sampler_seq_per_s"], proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("RESULT sampler_seq_per_s=")
    assert all(float(value) > 0 and float(ratio) > 0 for _, value, ratio in results)

    # The generated corpus is a real one: the pretraining reader opens it and its figures match.
    data = LinkedCorpus.open(corpus)
    assert data.num_docs == 20_000 and len(data.indices) > 0
    assert 0.99 * 11_000_000 <= len(data.tokens) <= 11_000_000
    assert segments_format.peek_manifest(corpus)["num_tokens"] == len(data.tokens)

    # A second run reuses the generated docs and segments (only the measured stages run again).
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    assert "STAGE docs (reused)" in proc.stdout
