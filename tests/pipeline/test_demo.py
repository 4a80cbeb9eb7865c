"""The demo pipeline end to end, through the real commands, in a temporary folder.

`linkbert corpus build` on the bundled Wikipedia sample -> `accelerate launch` (2 CPU processes) of the
`ci` preset (a real 6-layer BERT warm start), stopped halfway by train.stop_after -> resumed to max_steps
-> `linkbert export` -> `linkbert eval` -> `linkbert summary`. The pipeline runs once per module (about
two minutes of launches on 2 cores); each test checks one stage's real outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from foundation.errors import PipelineError
from pipeline.summary import summarize

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SAMPLE = REPO / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2"
MAX_STEPS = 8  # configs/pretrain/ci.yaml
STOP_AFTER = MAX_STEPS // 2
SEGMENT_TOKENS = 62  # ci pairs: 2 x 62 + 3 specials <= max_seq_len 128


@dataclass
class DemoRun:
    corpus: Path
    run: Path
    model: Path
    logs: dict[str, str]  # stdout + stderr of each command
    after_stop: dict  # the run's state when the stopped first half had exited


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp / "wandb"),
        "WANDB_CACHE_DIR": str(tmp / "wandb-cache"),
        "WANDB_CONFIG_DIR": str(tmp / "wandb-config"),
        "DS_BUILD_OPS": "0",
        "DS_SKIP_SHM": "1",
    }


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{out[-6000:]}"
    # wall time of each command, shown with `pytest -s` (the launches dominate: imports on 2 cores)
    print(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])}: {time.monotonic() - start:.1f} s", flush=True)
    return out


def _pretrain(*args: str) -> list[str]:
    return [
        str(BIN / "accelerate"),
        "launch",
        "--config_file",
        str(REPO / "configs" / "accelerate" / "cpu.yaml"),
        "--main_process_port",
        "0",  # a free port: a `make demo` or another test may be launching beside us
        "-m",
        "pipeline.cli",
        "pretrain",
        *args,
    ]


def _checkpoints(run: Path) -> dict[str, int]:
    """Complete checkpoints of a run -> the step in their trainer_state.json."""
    return {
        p.name: json.loads((p / "trainer_state.json").read_text())["step"]
        for p in sorted((run / "checkpoints").glob("step-*"))
        if (p / "COMPLETE").exists()
    }


def _metrics(run: Path, split: str) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("split") == split]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    tmp = tmp_path_factory.mktemp("demo")
    env = _env(tmp)
    linkbert = str(BIN / "linkbert")
    logs = {}
    logs["corpus"] = _run(
        [
            linkbert,
            "corpus",
            "build",
            "--config",
            str(REPO / "configs" / "corpus" / "sample.yaml"),
            "--input",
            str(SAMPLE),
            "--root",
            str(tmp / "corpus"),
            "--name",
            "sample",
            f"segments.max_tokens={SEGMENT_TOKENS}",
        ],
        tmp,
        env,
    )
    corpus = tmp / "corpus" / "sample"
    run = tmp / "runs" / "ci"
    first_half = [
        "--config",
        str(REPO / "configs" / "pretrain" / "ci.yaml"),
        f"data.corpus={corpus}",
        f"train.output_root={tmp / 'runs'}",
        f"train.stop_after={STOP_AFTER}",
    ]
    logs["pretrain"] = _run(_pretrain(*first_half), tmp, env)
    after_stop = {
        "checkpoints": _checkpoints(run),
        "train_steps": [r["step"] for r in _metrics(run, "train")],
    }
    # What `make resume` runs: the run's saved config, as is (stop_after is not part of the saved run).
    assert "stop_after: null" in (run / "config.yaml").read_text()
    logs["resume"] = _run(_pretrain("--config", str(run / "config.yaml"), "--resume", "auto"), tmp, env)
    model = run / "export"
    logs["export"] = _run(
        [linkbert, "export", "--checkpoint", "auto", "--run", str(run), "--output", str(model)], tmp, env
    )
    logs["eval"] = _run([linkbert, "eval", "--model", str(model)], tmp, env)
    logs["summary"] = _run(
        [linkbert, "summary", "--corpus", str(corpus), "--run", str(run), "--model", str(model)], tmp, env
    )
    return DemoRun(corpus=corpus, run=run, model=model, logs=logs, after_stop=after_stop)


@pytest.mark.slow
def test_corpus_of_the_sample(demo: DemoRun):
    assert demo.corpus.is_symlink() and demo.corpus.resolve().name.startswith("sample-")
    stats = json.loads((demo.corpus / "stats.json").read_text())
    assert (stats["pages_read"], stats["articles"], stats["redirects"], stats["failed"]) == (206, 106, 99, 0)
    graph = json.loads((demo.corpus / "graph" / "manifest.json").read_text())
    assert graph["nodes"] == 106 and graph["edges"] > 0
    manifest = json.loads((demo.corpus / "segments" / "manifest.json").read_text())
    assert manifest["num_docs"] == 106 and manifest["vocab_size"] == 30522
    offsets = np.load(demo.corpus / "segments" / "segments.npy")
    assert len(offsets) == manifest["num_segments"] + 1 and offsets[-1] == manifest["num_tokens"]
    assert np.diff(offsets).max() <= SEGMENT_TOKENS


@pytest.mark.slow
def test_stopped_half_left_a_checkpoint_and_the_resume_reached_max_steps(demo: DemoRun):
    # checkpoint.every=2, keep_last=2: the stopped half ends with steps 2 and 4, the resumed run with 6 and 8
    assert demo.after_stop["checkpoints"] == {"step-00000002": 2, "step-00000004": 4}
    assert demo.after_stop["train_steps"] == list(range(1, STOP_AFTER + 1))
    assert f"resumed from {demo.run / 'checkpoints' / 'step-00000004'}" in demo.logs["resume"]
    assert _checkpoints(demo.run) == {"step-00000006": 6, "step-00000008": 8}
    state = json.loads((demo.run / "checkpoints" / "step-00000008" / "trainer_state.json").read_text())
    assert state["samples_consumed"] == MAX_STEPS * 8 and state["world_size"] == 2
    assert not list((demo.run / "checkpoints").glob(".*"))  # no temporary checkpoint folder left behind
    assert list((demo.run / "wandb").glob("offline-run-*")) and list((demo.run / "tb").iterdir())


@pytest.mark.slow
def test_metrics_have_every_logged_step_across_the_stop(demo: DemoRun):
    train = _metrics(demo.run, "train")
    assert [r["step"] for r in train] == list(range(1, MAX_STEPS + 1))  # logging.every=1, none twice
    for row in train:
        assert np.isfinite([row["loss"], row["mlm_loss"], row["drp_loss"], row["lr"]]).all()
        assert {f"drp_acc_{c}" for c in ("contiguous", "random", "linked")} <= row.keys()
    assert [r["step"] for r in _metrics(demo.run, "eval")] == [STOP_AFTER, MAX_STEPS]


@pytest.mark.slow
def test_export_loads_with_auto_classes(demo: DemoRun):
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(demo.model)
    model, info = AutoModelForMaskedLM.from_pretrained(demo.model, output_loading_info=True)
    assert not info["missing_keys"], info
    assert model.config.vocab_size == len(tok) == 30522
    batch = tok(["The capital of France is [MASK]."], return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (1, batch["input_ids"].shape[1], 30522) and torch.isfinite(logits).all()
    encoder = AutoModel.from_pretrained(demo.model)
    assert encoder.config.num_hidden_layers == 6 and encoder.config.hidden_size == 384
    exported = json.loads((demo.model / "linkbert_export.json").read_text())
    assert exported["step"] == MAX_STEPS


@pytest.mark.slow
def test_eval_reports_drp_accuracy_per_class(demo: DemoRun):
    ev = json.loads((demo.model / "eval.json").read_text())
    assert ev["drp_classes"] == ["contiguous", "random", "linked"]
    confusion = np.array(ev["confusion"])
    assert confusion.shape == (3, 3) and confusion.sum() == ev["drp_examples"] > 0
    for i, name in enumerate(ev["drp_classes"]):
        row = confusion[i].sum()
        expected = confusion[i, i] / row if row else None
        assert ev[f"drp_acc_{name}"] == pytest.approx(expected)
    assert ev["drp_acc"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert 0.0 <= ev["mlm_acc"] <= 1.0 and ev["mlm_tokens"] > 0


@pytest.mark.slow
def test_summary_names_counts_losses_accuracies_and_paths(demo: DemoRun):
    text = demo.logs["summary"]
    lines = dict(line.split("  ", 1) for line in text.splitlines() if "  " in line)
    lines = {k.strip(): v.strip() for k, v in lines.items()}
    assert lines["documents (articles)"] == "106"
    assert lines["steps"] == f"{MAX_STEPS} of {MAX_STEPS}"
    assert "->" in lines["loss first -> last"] and "linked" in lines["eval DRP accuracy"]
    assert lines["exported model"] == str(demo.model.resolve())
    assert lines["eval.json"] == str((demo.model / "eval.json").resolve())
    assert lines["checkpoints"].startswith("step-00000006, step-00000008 in ")


def test_summary_of_a_folder_without_corpus_outputs_is_one_clear_error(tmp_path: Path):
    with pytest.raises(PipelineError, match=r"holds no corpus outputs .*`make corpus`"):
        summarize(tmp_path)


def test_summary_names_the_damaged_line_of_a_metrics_file(tmp_path: Path):
    (tmp_path / "stats.json").write_text(json.dumps({"articles": 3}))
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2,\n{"step": 3, "loss": 1.0}\n')
    with pytest.raises(PipelineError, match=r"metrics.jsonl:2 is not a JSON object"):
        summarize(tmp_path, run)
    # a run killed mid-write cuts at most the last line: the rows before it still count
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
    assert "1 (1 .. 1)" in summarize(tmp_path, run)


@pytest.mark.slow
def test_eval_compares_with_both_baselines_and_ranks_linked_documents(demo: DemoRun):
    ev = json.loads((demo.model / "eval.json").read_text())
    names = ev["drp_classes"]
    # The zero-training baselines on the same pairs, with intervals that hold their accuracy.
    assert 0.0 <= ev["baseline_cosine_acc"] <= 1.0 and ev["drp_majority_acc"] >= 1 / 3
    for prefix in ("drp_", "baseline_cosine_"):
        ci = ev[f"{prefix}acc_ci95"]
        assert ci["acc"][0] - 1e-4 <= ev[f"{prefix}acc"] <= ci["acc"][1] + 1e-4  # bounds have 4 decimals
        assert set(ci) == {"acc", *(f"acc_{n}" for n in names)}
    # The training evaluations logged the same baseline as eval.json computed for the export.
    final = _metrics(demo.run, "eval")[-1]
    assert final["baseline_cosine_acc"] == pytest.approx(ev["baseline_cosine_acc"])
    cover = ev["heldout_coverage"]
    assert sum(c["pairs"] for c in cover.values()) == ev["drp_examples"]
    linked = [row for row in ev["drp_per_edge"] if row["relation"] == "linked"]
    assert len(linked) == cover["linked"]["edges"] and all(row["anchor"] != row["target"] for row in linked)
    assert sum(row["pairs"] for row in linked) == cover["linked"]["pairs"]
    # Cross-document retrieval: the four rankers over the same queries.
    retrieval = ev["retrieval"]
    assert retrieval["queries"] > 0 and retrieval["candidates"] == 9
    assert set(retrieval["rankers"]) == {"drp_linked", "export_cosine", "warm_start_cosine", "tfidf_cosine"}
    for figures in retrieval["rankers"].values():
        assert 0.0 < figures["mrr"] <= 1.0 and figures["recall@1"] <= figures["recall@5"]
    assert (demo.model / "retrieval.png").is_file()
    card = (demo.model / "README.md").read_text()
    assert "## Evaluation (`linkbert eval`)" in card and "| drp_linked |" in card
    assert "frozen warm-start cosine" in demo.logs["summary"] and "eval retrieval" in demo.logs["summary"]
