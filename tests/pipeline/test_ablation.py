"""`pipeline/ablation.py`: the ablation table's errors (its table of real runs: tests/graph/test_sources_pipeline.py)."""

from __future__ import annotations

import json
from pathlib import Path


def test_ablation_table_names_a_run_without_evaluations(tmp_path: Path):
    from pipeline.ablation import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 3.0}) + "\n")
    assert main(["--out", str(tmp_path / "out"), f"x={run}"]) == 2
    assert not (tmp_path / "out" / "table.md").exists()
