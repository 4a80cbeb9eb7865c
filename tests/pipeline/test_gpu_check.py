"""bench/gpu_check.py --dry-run: the GPU check's whole sequence on CPU with tiny sizes, so the script
that will run on a GPU machine has run to its end here (its figures mean nothing on CPU)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_dry_run_runs_every_step_and_prints_its_results(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu_check.py"), "--dry-run", "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    results = re.findall(r"^RESULT (\w+)=\S+ \S+ baseline=\S+ ratio=\S+", proc.stdout, re.M)
    assert results == ["train_tokens_per_s", "train_mfu", "demo_tokens_per_s", "zero2_tokens_per_s"], out
    assert "max |loss - straight loss| = 0" in proc.stdout  # CPU resume is bitwise exact
    assert "fill-mask: [[" in proc.stdout and "all steps passed" in proc.stdout
    assert (tmp_path / "runs" / "demo" / "export" / "model.safetensors").is_file()
    assert (tmp_path / "runs" / "zero2" / "checkpoints" / "step-00000002").is_dir()
