"""A corpus built with `graph.sources=[tfidf]` or `[random]` gets its own folder and a run trains on it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipeline import cli
from pretrain.data.corpus_data import LinkedCorpus
from tests.pretrain.training.test_trainer import run_cli

REPO = Path(__file__).resolve().parents[2]
DUMP = REPO / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2"


def build(root: Path, *overrides: str) -> Path:
    # The command line `make corpus CORPUS_ARGS="graph.sources=[tfidf]"` runs.
    args = ["corpus", "build", "--config", str(REPO / "configs" / "corpus" / "sample.yaml")]
    args += ["--input", str(DUMP), "--root", str(root), "--name", "sample", "segments.max_tokens=62"]
    assert cli.main([*args, *overrides]) == 0
    return (root / "sample").resolve()


def train(corpus: Path, out: Path) -> list[dict]:
    args = [
        "--config",
        str(REPO / "configs" / "pretrain" / "ci.yaml"),
        f"data.corpus={corpus}",
        f"train.output_root={out}",
        "train.max_steps=2",
        "train.global_batch_size=6",
        "train.micro_batch_size=6",
        "train.warmup_steps=1",
        "checkpoint.every=2",
        "eval.pairs=6",
        "logging.wandb=false",
        "logging.tensorboard=false",
    ]
    assert run_cli(args) == 0
    return [json.loads(line) for line in (out / "ci" / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_tfidf_and_random_corpora_build_apart_and_train(tmp_path: Path, capsys):
    folders = {}
    for sources in ("[hyperlinks]", "[tfidf]", "[random]"):
        folders[sources] = build(tmp_path / "corpus", f"graph.sources={sources}")
    assert len(set(folders.values())) == 3  # the graph config is part of the folder's hash
    for sources, folder in folders.items():
        stats = json.loads((folder / "graph" / "stats.json").read_text())
        assert list(stats["edges_by_source"]) == [sources.strip("[]")] and stats["edges"] > 0
    hyper = json.loads((folders["[hyperlinks]"] / "graph" / "stats.json").read_text())
    rand = json.loads((folders["[random]"] / "graph" / "stats.json").read_text())
    assert rand["edges"] == hyper["edges"]  # the same out-degree sequence
    assert cli.main(["graph", "stats", "--corpus", str(folders["[tfidf]"])]) == 0
    assert "edges_by_source.tfidf" in capsys.readouterr().out

    runs = {}
    for sources in ("[tfidf]", "[random]"):
        corpus = LinkedCorpus.open(folders[sources])
        assert corpus.indices.shape == (corpus.graph_manifest["edges"],)
        out = tmp_path / f"run-{sources.strip('[]')}"
        rows = train(folders[sources], out)
        evals = [r for r in rows if "drp_acc_linked" in r]
        assert evals and all(r["mlm_loss"] > 0 for r in evals)
        runs[sources.strip("[]")] = (out / "ci", evals[-1])

    # The ablation table of these runs: one row each, from the last evaluation, per-relation columns.
    from pipeline.ablation import main

    table = tmp_path / "ablation"
    assert main(["--out", str(table), *(f"{name}={run}" for name, (run, _) in runs.items())]) == 0
    with open(table / "table.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == ["tfidf", "random"]
    for row in rows:
        last = runs[row["variant"]][1]
        for key in ("mlm_loss", "drp_acc", "drp_majority_acc", "drp_acc_contiguous", "drp_acc_linked"):
            assert float(row[key]) == pytest.approx(last[key])
    assert (table / "ablation.png").stat().st_size > 0
    assert "| tfidf |" in (table / "table.md").read_text()
