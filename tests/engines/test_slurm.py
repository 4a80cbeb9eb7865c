"""The corpus stages and scripts/slurm.sbatch on a real single-node Slurm (scripts/local_slurm.sh)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.engines.conftest import DUMP, assert_same_corpus, engine_config


def squeue_ids() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%A"], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def wait_for(path: Path, logs: Path, timeout: float = 600) -> None:
    """Until the last job writes `path`; fails with the job logs when the queue drains without it."""
    deadline = time.monotonic() + timeout
    while not path.is_file():
        if not squeue_ids():
            time.sleep(1)  # the file is renamed into place just before the job ends
            if path.is_file():
                return
            tails = [f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted(logs.rglob("*.out"))]
            pytest.fail(f"the Slurm jobs ended without writing {path}:\n" + "\n".join(tails))
        assert time.monotonic() < deadline, f"{path} not written within {timeout} s"
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.engines
def test_slurm_job_arrays_build_the_same_corpus_as_local(slurm_conf: str, local_corpus: Path, tmp_path: Path):
    from corpus.extract import run_extract
    from corpus.segments import run_segments
    from graph.build import run_graph

    slurm = (
        "executor.kind=slurm",
        "executor.partition=local",
        "executor.time=00:20:00",
        "executor.mem_per_cpu_gb=1",
    )
    cfg = engine_config(*(f"corpus.{s}" for s in slurm), *(f"segments.{s}" for s in slurm))
    out = tmp_path / "corpus"
    # Submission returns at once: a job array of 3 tasks, then the finalize job that writes the manifest.
    assert run_extract(cfg.corpus, inputs=[str(DUMP)], output=str(out)) == {}
    wait_for(out / "extract.json", out / "logs")
    launch = (out / "logs" / "extract" / "launch_script.slurm").read_text()
    assert "#SBATCH --array=0-2" in launch
    # This process only polled: the manifest came from the finalize job, which ran once on the node.
    assert len(list((out / "logs" / "extract" / "finalize" / "slurm_logs").glob("*.out"))) == 1
    run_graph(cfg.graph, str(out))
    assert run_segments(cfg.segments, str(out)) == {}
    wait_for(out / "segments" / "manifest.json", out / "logs")
    assert_same_corpus(out, local_corpus)
