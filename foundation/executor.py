"""The datatrove executor of a corpus stage, chosen by one config field (`executor.kind`).

`local` runs the tasks as processes on this machine; `slurm` submits one job array per stage
(datatrove writes the sbatch script and launches `sbatch`); `ray` runs them on a Ray cluster. Every
kind writes `completions/{rank:05d}` under `logging_dir`, so a rerun only redoes unfinished tasks.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from loguru import logger

from foundation.errors import PipelineError

if TYPE_CHECKING:  # datatrove is imported where an executor is built, not where configs are read
    from datatrove.executor.base import PipelineExecutor
    from datatrove.pipeline.base import PipelineStep


@dataclass
class ExecutorConfig:
    """Where datatrove runs the tasks of a corpus stage (the `executor` section of `corpus` and
    `segments`)."""

    kind: Literal["local", "slurm", "ray"] = "local"
    # slurm: one job array per stage; these map onto datatrove's SlurmPipelineExecutor.
    partition: str | None = None
    time: str = "24:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    qos: str | None = None
    sbatch_args: dict[str, str] = field(default_factory=dict)
    # ray: address of a running cluster ("auto" joins the one this machine belongs to).
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.cpus_per_task < 1 or self.mem_per_cpu_gb < 1:
            raise ValueError("executor.cpus_per_task and executor.mem_per_cpu_gb must be >= 1")


def _drop_input_error_tracebacks(record: dict) -> None:
    exc = record["exception"]
    if exc is not None and isinstance(exc.value, PipelineError):
        record["exception"] = None


def quiet_input_errors() -> None:
    """Log a task's PipelineError as its one-line message: datatrove logs every task failure with a
    traceback, which for bad input buries the message that says what to do. Bugs keep theirs.

    Call it inside the task (worker processes do not inherit the launcher's logging setup)."""

    logger.configure(patcher=_drop_input_error_tracebacks)


def _venv_activate() -> str | None:
    # Slurm jobs start a fresh shell: activate the environment this command runs in.
    activate = os.path.join(sys.prefix, "bin", "activate")
    return activate if os.path.isfile(activate) else None


def build_executor(
    pipeline: list[PipelineStep | Callable],
    *,
    tasks: int,
    workers: int,
    logging_dir: str,
    executor: ExecutorConfig,
    job_name: str,
    depends: PipelineExecutor | None = None,
) -> PipelineExecutor:
    """A datatrove executor running `pipeline` as `tasks` tasks, at most `workers` at once (-1: all)."""
    if tasks < 1:
        raise PipelineError(f"{job_name}: tasks must be >= 1, got {tasks}")
    quiet_input_errors()
    if executor.kind == "local":
        # Deferred: datatrove and its executor load only when a corpus stage runs.
        from datatrove.executor.local import LocalPipelineExecutor

        return LocalPipelineExecutor(
            pipeline,
            tasks=tasks,
            workers=min(workers, tasks) if workers > 0 else -1,
            logging_dir=logging_dir,
            depends=depends,
        )
    if executor.kind == "slurm":
        # Deferred: datatrove and its executor load only when a corpus stage runs.
        from datatrove.executor.slurm import SlurmPipelineExecutor

        if not executor.partition:
            raise PipelineError(
                f"{job_name}: executor.kind=slurm needs executor.partition (the Slurm partition)"
            )
        return SlurmPipelineExecutor(
            pipeline,
            tasks=tasks,
            workers=workers,
            time=executor.time,
            partition=executor.partition,
            cpus_per_task=executor.cpus_per_task,
            mem_per_cpu_gb=executor.mem_per_cpu_gb,
            qos=executor.qos,
            sbatch_args=dict(executor.sbatch_args),
            job_name=job_name,
            venv_path=_venv_activate(),
            logging_dir=logging_dir,
            depends=depends,
        )
    if executor.kind == "ray":
        if importlib.util.find_spec("ray") is None:
            raise PipelineError(f"{job_name}: executor.kind=ray needs Ray (pip install 'ray[default]')")
        # Deferred: ray is an optional extra (executor.kind=ray).
        import ray
        from datatrove.executor.ray import RayPipelineExecutor

        if not ray.is_initialized():
            ray.init(address=executor.ray_address)
        return RayPipelineExecutor(
            pipeline,
            tasks=tasks,
            workers=workers,
            cpus_per_task=executor.cpus_per_task,
            mem_per_cpu_gb=executor.mem_per_cpu_gb,
            logging_dir=logging_dir,
            depends=depends,
        )
    raise PipelineError(f"{job_name}: unknown executor.kind {executor.kind!r} (local, slurm or ray)")
