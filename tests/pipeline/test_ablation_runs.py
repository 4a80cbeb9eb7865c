"""`linkbert ablation` (pipeline/ablation_runs.py): its config, its plan of commands, and one real run."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from foundation.errors import PipelineError
from pipeline import cli
from pipeline.ablation_runs import AblationConfig, load_ablation_config, plan

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_is_the_default_the_papers_four_variants_and_mlm_alone():
    cfg = load_ablation_config(str(REPO / "configs" / "ablation.yaml"))
    assert cfg == AblationConfig()
    assert list(cfg.variants) == ["hyperlinks", "tfidf", "random", "no-diversity", "mlm-only"]


def test_plan_shares_corpora_and_orders_overrides():
    cfg = load_ablation_config(
        str(REPO / "configs" / "ablation.yaml"),
        ["launch=configs/accelerate/cpu.yaml", "corpus_args=[segments.max_tokens=62]"],
    )
    steps = plan(cfg)
    builds = [s.command for s in steps if "build" in s.command]
    # no-diversity reuses the hyperlinks corpus: three builds for four variants.
    assert [c[c.index("--name") + 1] for c in builds] == [
        "ablation-hyperlinks",
        "ablation-tfidf",
        "ablation-random",
    ]
    assert builds[1][-2:] == ["segments.max_tokens=62", "graph.sources=[tfidf]"]  # shared, then the variant's
    runs = [s for s in steps if s.remove is not None]
    assert [s.remove for s in runs] == [Path("runs") / f"ablation-{v}" for v in cfg.variants]
    last = runs[-2].command  # no-diversity
    assert last[:4] == [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch"]
    tail = last[last.index("pretrain") :]
    # The shared budget, then the variant's overrides, then where it reads and writes.
    assert tail.index("train.max_steps=30") < tail.index("drp.linked_alpha=0")
    assert tail[-3:] == [
        "data.corpus=data/corpus/ablation-hyperlinks",
        "train.output_root=runs",
        "train.run_name=ablation-no-diversity",
    ]
    preflights = [s.command for s in steps if "preflight" in s.command]
    assert len(preflights) == 5 and all("--launch" in c for c in preflights)
    # Each run is exported and evaluated: the table gets the baselines' intervals and retrieval.
    exports = [s.command for s in steps if "export" in s.command]
    assert [c[c.index("--output") + 1] for c in exports] == [
        str(Path("runs") / f"ablation-{v}" / "export") for v in cfg.variants
    ]
    assert [s.command[-1] for s in steps if "eval" in s.command] == [
        c[c.index("--output") + 1] for c in exports
    ]


def test_config_errors_are_one_line(capsys):
    with pytest.raises(PipelineError, match="not a usable name"):
        load_ablation_config(None, ["variants={'a b': {corpus: []}}"])
    with pytest.raises(PipelineError, match="unknown config key variants.tfidf.graph"):
        load_ablation_config(None, ["variants={tfidf: {graph: [x]}}"])
    assert cli.main(["ablation", "--variants", "hyperlinks,nope", "--dry-run"]) == 2
    assert "no variant 'nope'" in capsys.readouterr().err


@pytest.mark.slow  # builds the sample corpus and trains two runs through the command line
def test_ablation_of_two_variants_tables_both(tmp_path: Path, capsys):
    budget = " ".join(
        [
            "train.max_steps=2",
            "eval.every=2",
            "eval.pairs=12",
            "checkpoint.every=2",
            "train.global_batch_size=4",
            "train.micro_batch_size=4",
            "train.warmup_steps=1",
            "data.num_workers=0",
            "logging.wandb=false",
            "logging.tensorboard=false",
        ]
    )
    args = [
        "ablation",
        "--preset",
        str(REPO / "configs" / "pretrain" / "ci.yaml"),
        "--input",
        str(REPO / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2"),
        "--corpus-config",
        str(REPO / "configs" / "corpus" / "sample.yaml"),
        "--corpus-args",
        "segments.max_tokens=62",
        "--pretrain-args",
        budget,
        "--variants",
        "hyperlinks,no-diversity",
        f"corpus_root={tmp_path / 'corpus'}",
        f"runs_root={tmp_path / 'runs'}",
    ]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "| hyperlinks |" in out and "| no-diversity |" in out
    assert len(list((tmp_path / "corpus").glob("ablation-*-*"))) == 1  # one corpus for both
    saved = (tmp_path / "runs" / "ablation-no-diversity" / "config.yaml").read_text()
    assert "linked_alpha: 0.0" in saved
    with open(tmp_path / "runs" / "ablation" / "table.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == ["hyperlinks", "no-diversity"]
    for row in rows:
        metrics = tmp_path / "runs" / f"ablation-{row['variant']}" / "metrics.jsonl"
        last = [json.loads(line) for line in metrics.read_text().splitlines() if '"eval"' in line][-1]
        assert float(row["drp_acc_linked"]) == pytest.approx(last["drp_acc_linked"])
    assert (tmp_path / "runs" / "ablation" / "ablation.png").stat().st_size > 0
    # The baselines and each export's cross-document retrieval are columns of the table.
    assert rows[0]["baseline_cosine_acc"] and rows[0]["retrieval_mrr_warm_start_cosine"]
