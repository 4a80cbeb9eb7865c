"""Two "nodes" on one machine: the trainer launched twice with configs/accelerate/multinode.yaml (machine
ranks 0 and 1, one process each, a static rendezvous on 127.0.0.1), as scripts/slurm.sbatch launches it
on every node, against the single-node 2-process launch of the same run."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.pretrain.training.test_distributed import ACCELERATE, REPO, launch
from tests.pretrain.training.test_trainer import read_metrics, tiny_args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two_nodes(args: list[str], cwd: Path) -> list[str]:
    """One `accelerate launch` per machine rank, started together (the rendezvous waits for both)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    port = free_port()
    procs = []
    for rank in (0, 1):
        cmd = [
            ACCELERATE,
            "launch",
            "--config_file",
            str(REPO / "configs" / "accelerate" / "multinode.yaml"),
            "--num_machines",
            "2",
            "--num_processes",
            "2",
            "--machine_rank",
            str(rank),
            "--main_process_ip",
            "127.0.0.1",
            "--main_process_port",
            str(port),
            "-m",
            "pipeline.cli",
            "pretrain",
            *args,
        ]
        log = open(cwd / f"node-{rank}.log", "w")  # noqa: SIM115 - closed below, after the wait
        procs.append((subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    outs = []
    try:
        for rank, (proc, log) in enumerate(procs):
            code = proc.wait(timeout=600)
            log.close()
            out = (cwd / f"node-{rank}.log").read_text()
            assert code == 0, f"node {rank} exited {code}:\n{out[-6000:]}"
            outs.append(out)
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    return outs


@pytest.mark.slow
def test_two_nodes_of_one_process_match_one_node_of_two(synthetic_corpus_dir: Path, tmp_path: Path):
    common = ("train.max_steps=6", "train.micro_batch_size=2", "checkpoint.every=3")
    outs = launch_two_nodes(tiny_args(synthetic_corpus_dir, tmp_path, "nodes", *common), tmp_path)
    assert "world_size=2, accumulation=2" in outs[0]  # one world of 2 across the two launches
    launch("cpu.yaml", tiny_args(synthetic_corpus_dir, tmp_path, "single", *common), tmp_path)

    nodes, single = read_metrics(tmp_path / "nodes"), read_metrics(tmp_path / "single")
    assert [r["step"] for r in nodes] == list(range(1, 7))
    for key in ("loss", "mlm_loss", "drp_loss", "grad_norm", "lr"):
        assert [r[key] for r in nodes] == [r[key] for r in single], key
    ckpt = "checkpoints/step-00000006/model.safetensors"
    assert (tmp_path / "nodes" / ckpt).read_bytes() == (tmp_path / "single" / ckpt).read_bytes()
