"""The datatrove executor factory: local runs for real, Slurm scripts as they would be submitted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.executor.slurm import SlurmPipelineExecutor

from corpus.config import ExecutorConfig
from foundation.errors import PipelineError
from foundation.executor import build_executor


class RankFile:
    """A one-step pipeline: each task writes its rank and world size to a file."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def __call__(self, data, rank: int = 0, world_size: int = 1):
        Path(self.folder, f"{rank}.txt").write_text(f"{rank}/{world_size}")
        return iter(())


def test_local_executor_runs_every_task_once_and_skips_completed_ones(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    executor = build_executor(
        [RankFile(str(marks))],
        tasks=3,
        workers=1,
        logging_dir=str(tmp_path / "logs"),
        executor=ExecutorConfig(),
        job_name="test",
    )
    assert isinstance(executor, LocalPipelineExecutor)
    executor.run()
    assert sorted(p.read_text() for p in marks.iterdir()) == ["0/3", "1/3", "2/3"]
    assert sorted(p.name for p in (tmp_path / "logs" / "completions").iterdir()) == [
        "00000",
        "00001",
        "00002",
    ]

    for p in marks.iterdir():
        p.unlink()
    build_executor(
        [RankFile(str(marks))],
        tasks=3,
        workers=1,
        logging_dir=str(tmp_path / "logs"),
        executor=ExecutorConfig(),
        job_name="test",
    ).run()
    assert list(marks.iterdir()) == [], "a rerun skips completed tasks"


def test_slurm_executor_writes_a_job_array_script(tmp_path):
    cfg = ExecutorConfig(kind="slurm", partition="cpu", time="02:00:00", cpus_per_task=2, qos="high")
    executor = build_executor(
        [RankFile(str(tmp_path))],
        tasks=40,
        workers=8,
        logging_dir=str(tmp_path / "logs"),
        executor=cfg,
        job_name="linkbert-extract",
    )
    assert isinstance(executor, SlurmPipelineExecutor)
    args = executor.get_sbatch_args(max_array=40)
    assert args["partition"] == "cpu" and args["time"] == "02:00:00" and args["qos"] == "high"
    assert args["cpus-per-task"] == 2 and args["array"] == "0-39%8"
    script = executor.get_launch_file_contents(args, "launch_pickled_pipeline executor.pik")
    assert "#SBATCH --job-name=linkbert-extract" in script


def test_slurm_needs_a_partition_and_ray_needs_ray(tmp_path):
    with pytest.raises(PipelineError, match="executor.partition"):
        build_executor(
            [],
            tasks=1,
            workers=1,
            logging_dir=str(tmp_path),
            executor=ExecutorConfig(kind="slurm"),
            job_name="x",
        )
    if importlib.util.find_spec("ray") is None:
        with pytest.raises(PipelineError, match="pip install"):
            build_executor(
                [],
                tasks=1,
                workers=1,
                logging_dir=str(tmp_path),
                executor=ExecutorConfig(kind="ray"),
                job_name="x",
            )
