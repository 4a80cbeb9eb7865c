"""DRP learns on real text: the demo recipe on the bundled Wikipedia sample, held-out pairs, MLM on.

A warm start from the bundled MiniLM (no MLM head, no NSP head) trained with the `demo` preset's
settings, resized to pairs of <= 128 tokens and 2 relations, must beat the majority-class baseline of
the balanced held-out set by 0.10, with neither relation collapsed. Without the fresh-head settings of
the preset (train.fresh_lr_scale, train.fresh_warmup_steps) the same run stays at chance
(bench/drp_learning.py measures both side by side).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.pretrain.training.test_trainer import run_cli

REPO = Path(__file__).resolve().parents[2]
STEPS = 120


def _run(corpus: Path, root: Path, *extra: str) -> list[dict]:
    args = [
        "--config",
        str(REPO / "configs" / "pretrain" / "demo.yaml"),
        f"data.corpus={corpus}",
        "data.max_seq_len=128",
        "drp.relations=[contiguous,random]",
        f"train.output_root={root}",
        "train.run_name=drp",
        f"train.max_steps={STEPS}",
        "train.global_batch_size=16",
        "train.micro_batch_size=16",
        f"checkpoint.every={STEPS}",
        f"eval.every={STEPS}",
        "eval.pairs=200",
        "logging.wandb=false",
        "logging.tensorboard=false",
        "logging.progress_bar=false",
        *extra,
    ]
    assert run_cli(args) == 0
    rows = [json.loads(line) for line in (root / "drp" / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("split") == "eval"]


@pytest.mark.slow  # 120 optimizer steps of a 6-layer BERT: a few CPU minutes
def test_drp_beats_the_majority_baseline_on_the_real_sample(sample_corpus_dir: Path, tmp_path: Path):
    final = _run(sample_corpus_dir, tmp_path)[-1]
    assert final["drp_examples"] == 200 and final["drp_majority_acc"] == pytest.approx(0.5)
    assert final["drp_acc"] >= final["drp_majority_acc"] + 0.10, final
    assert min(final["drp_acc_contiguous"], final["drp_acc_random"]) > 0.3, final  # not one class for all
    assert (tmp_path / "drp" / "plots" / "drp_per_class.png").is_file()
    assert (tmp_path / "drp" / "plots" / "drp_confusion.png").is_file()
