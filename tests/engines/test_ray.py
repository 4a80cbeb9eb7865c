"""`corpus extract` and `corpus segments` with executor.kind=ray on a real local Ray cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engines.conftest import DUMP, assert_same_corpus, engine_config


@pytest.mark.slow
@pytest.mark.engines
def test_ray_executor_builds_the_same_corpus_as_local(ray_address: str, local_corpus: Path, tmp_path: Path):
    import ray

    from corpus.extract.launch import run_extract
    from corpus.segments.stage import run_segments
    from graph.build import run_graph

    cfg = engine_config(
        "corpus.executor.kind=ray",
        f"corpus.executor.ray_address={ray_address}",
        "segments.executor.kind=ray",
        f"segments.executor.ray_address={ray_address}",
    )
    out = tmp_path / "corpus"
    try:
        run_extract(cfg.corpus, inputs=[str(DUMP)], output=str(out))
        # The tasks ran in the cluster's worker processes, not here: the cluster saw them.
        assert ray.is_initialized() and ray.get_runtime_context().gcs_address.endswith(
            ray_address.split(":")[1]
        )
        run_graph(cfg.graph, str(out))
        run_segments(cfg.segments, str(out))
    finally:
        ray.shutdown()
    assert sorted(p.name for p in (out / "logs" / "extract" / "completions").iterdir()) == [
        "00000",
        "00001",
        "00002",
    ]
    assert_same_corpus(out, local_corpus)
