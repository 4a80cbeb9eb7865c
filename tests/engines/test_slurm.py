"""The corpus stages and scripts/slurm.sbatch on a real single-node Slurm (scripts/local_slurm.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engines.conftest import DUMP, REPO, assert_same_corpus, engine_config

# Reasons a pending job waits for; any other (PartitionConfig, ReqNodeNotAvail, ...) means it never runs.
WAITING = {"None", "Priority", "Resources", "Dependency", "JobArrayTaskLimit", "BeginTime"}


def squeue_ids() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%A %r"], capture_output=True, text=True, check=True).stdout
    jobs = dict(line.split(maxsplit=1) for line in out.splitlines() if line.strip())
    stuck = {job: reason for job, reason in jobs.items() if reason.strip() not in WAITING}
    assert not stuck, f"Slurm jobs that cannot start: {stuck}"
    return set(jobs)


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
    from corpus.extract.launch import run_extract
    from corpus.segments.stage import run_segments
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


# --- scripts/slurm.sbatch: the demo preset, preempted and resubmitted ----------------------------------

SBATCH = REPO / "scripts" / "slurm.sbatch"
SAMPLE = REPO / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2"
MAX_STEPS = 12


@pytest.fixture(scope="module")
def sample_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample with the `sample` preset, segments of <= 62 tokens (pairs fit 128)."""
    from pipeline.build import run_build
    from pipeline.tree import load_config

    cfg = load_config(str(REPO / "configs" / "corpus" / "sample.yaml"), ["segments.max_tokens=62"])
    return run_build(cfg, [str(SAMPLE)], root=str(tmp_path_factory.mktemp("sample")), name="sample")


def submit(work: Path, run: str, corpus: Path) -> str:
    """`sbatch scripts/slurm.sbatch demo ...` as a user would, sized for this node: 1 node, 2 CPU
    processes (GPUS_PER_NODE is the processes per node), no GPUs. Returns the job id."""
    env = {
        **os.environ,
        "RUN": run,
        "GPUS_PER_NODE": "2",
        "OMP_NUM_THREADS": "1",
        "VENV": str(Path(sys.executable).parent.parent),
        "LAUNCH": str(REPO / "configs" / "accelerate" / "multinode.yaml"),
        "PYTHONPATH": str(REPO),
        "WANDB_MODE": "offline",
    }
    overrides = [
        f"data.corpus={corpus}",
        "data.max_seq_len=128",
        f"train.max_steps={MAX_STEPS}",
        "checkpoint.every=2",
        "checkpoint.keep_last=10",
        "logging.every=1",
        "logging.wandb=false",
        "logging.tensorboard=false",
        "logging.progress_bar=false",
        "eval.every=0",
    ]
    cmd = [
        "sbatch",
        "--parsable",
        "--nodes=1",
        "--gpus-per-node=0",
        "--cpus-per-task=2",
        "--time=00:30:00",
        f"--output={work}/slurm-{run}-%j.out",
        str(SBATCH),
        "demo",
        *overrides,
    ]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, check=True)
    return proc.stdout.strip().split(";")[0]


def wait_job(job: str, work: Path, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while job in squeue_ids():
        assert time.monotonic() < deadline, f"job {job} still running after {timeout} s"
        time.sleep(1)
    return "\n".join(p.read_text() for p in work.glob(f"slurm-*-{job}.out"))


def metrics(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("split") == "train"]


@pytest.mark.slow
@pytest.mark.engines
def test_slurm_sbatch_pretrains_is_preempted_by_sigterm_and_resumes_exactly(
    slurm_conf: str, sample_corpus: Path, tmp_path: Path
):
    work = tmp_path / "work"
    work.mkdir()
    (work / "configs").symlink_to(REPO / "configs")  # the script reads configs/pretrain/PRESET.yaml

    straight = submit(work, "straight", sample_corpus)
    log = wait_job(straight, work)
    assert "linkbert: 1 nodes x 2 GPUs" in log and "world_size=2" in log, log[-4000:]
    want = metrics(work / "runs" / "straight")
    assert [r["step"] for r in want] == list(range(1, MAX_STEPS + 1)), log[-4000:]

    job = submit(work, "preempted", sample_corpus)
    first = work / "runs" / "preempted" / "checkpoints" / "step-00000002" / "COMPLETE"
    deadline = time.monotonic() + 600
    while not first.is_file():
        assert job in squeue_ids(), wait_job(job, work)[-4000:]
        assert time.monotonic() < deadline
        time.sleep(0.5)
    # What a preemption (or the --signal=TERM@300 warning) does: SIGTERM to the job step.
    subprocess.run(["scancel", "--signal=TERM", job], check=True)
    log = wait_job(job, work)
    assert "SIGTERM received" in log, log[-4000:]
    stopped = metrics(work / "runs" / "preempted")
    assert 2 <= len(stopped) < MAX_STEPS, "the job was not stopped midway"
    last = max(
        int(p.name.split("-")[1]) for p in (work / "runs" / "preempted" / "checkpoints").glob("step-*")
    )
    assert last == stopped[-1]["step"], "SIGTERM checkpoints the step it stopped at"

    log = wait_job(submit(work, "preempted", sample_corpus), work)  # the same command, resubmitted
    assert f"step-{last:08d}" in log, log[-4000:]
    got = metrics(work / "runs" / "preempted")
    assert [r["step"] for r in got] == list(range(1, MAX_STEPS + 1))
    for key in ("loss", "mlm_loss", "drp_loss", "grad_norm", "lr"):
        assert [r[key] for r in got] == [r[key] for r in want], key
    ckpt = f"checkpoints/step-{MAX_STEPS:08d}/model.safetensors"
    assert (work / "runs" / "preempted" / ckpt).read_bytes() == (
        work / "runs" / "straight" / ckpt
    ).read_bytes()
