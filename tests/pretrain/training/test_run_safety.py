"""Runs that nothing can silently corrupt: a rebuilt corpus, a second launch, a damaged checkpoint, a
finished run, a changed schedule. Each test reproduces the failure on a real tiny training run."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from formats.run import COMPLETE_MARKER as MARKER
from formats.run import LOCK_FILE, PIN_FILE, list_checkpoints
from foundation.errors import PipelineError
from pipeline.build import point_link
from pretrain.data.synthetic import write_synthetic_corpus
from pretrain.export.writer import run_export
from tests.pretrain.training.test_trainer import read_metrics, run_cli, start_endless_run, tiny_args

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`root/papers` -> `papers-1`, and `papers-2`: the same name rebuilt with another vocabulary."""
    root = tmp_path_factory.mktemp("corpora")
    write_synthetic_corpus(root / "papers-1", num_docs=300, seed=1, segment_tokens=(4, 60))
    write_synthetic_corpus(root / "papers-2", num_docs=301, seed=2, vocab_size=1200, segment_tokens=(4, 60))
    point_link(root / "papers", root / "papers-1")
    return root


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- 1. a rebuilt corpus never changes an existing run -----------------------------------------------


def test_rebuilt_corpus_under_the_same_name_does_not_change_the_run(corpora: Path, tmp_path: Path, capsys):
    link = corpora / "papers"
    point_link(link, corpora / "papers-1")
    args = tiny_args(
        link, tmp_path, "pinned", "train.max_steps=4", "train.stop_after=2", "checkpoint.every=2"
    )
    assert run_cli(args) == 0
    run = tmp_path / "pinned"
    saved = (run / "config.yaml").read_text()
    pin = json.loads((run / PIN_FILE).read_text())
    assert pin["folder"] == str((corpora / "papers-1").resolve()) and pin["given"] == str(link)
    assert f"corpus: {(corpora / 'papers-1').resolve()}" in saved  # the folder, not the symlink

    point_link(link, corpora / "papers-2")  # `make corpus NAME=papers` after adding a document
    capsys.readouterr()
    # Resuming through the symlink would read the new vocabulary: refused, naming both folders.
    assert run_cli([*args, f"data.corpus={link}", "--resume", "auto"]) == 2
    err = capsys.readouterr().err
    assert "papers-1" in err and "papers-2" in err and "make resume RUN=pinned" in err
    # What `make resume` runs (the run's own config) still reads the pinned folder.
    assert run_cli(["--config", str(run / "config.yaml"), "--resume", "auto"]) == 0
    assert [r["step"] for r in read_metrics(run)] == [1, 2, 3, 4]

    # Export and eval check the pin too: a config edited to point at the symlink is refused.
    (run / "config.yaml").write_text(saved.replace(str((corpora / "papers-1").resolve()), str(link)))
    with pytest.raises(PipelineError, match=r"export: run .* was trained on another corpus .*papers-2"):
        run_export("auto", str(tmp_path / "export"), run_dir=str(run))
    (run / "config.yaml").write_text(saved)
    export = run_export("auto", str(tmp_path / "export"), run_dir=str(run))
    tokenizer = (export / "tokenizer.json").read_text()
    assert tokenizer == (corpora / "papers-1" / "segments" / "tokenizer" / "tokenizer.json").read_text()

    from pipeline.tree import PipelineConfig
    from pretrain.export.evaluate_export import run_eval

    with pytest.raises(PipelineError, match="exported with tokenizer .* another one"):
        run_eval(str(export), str(link), str(tmp_path / "e.json"), PipelineConfig())
    metrics = run_eval(str(export), None, str(tmp_path / "e.json"), PipelineConfig())
    assert metrics["corpus"] == str((corpora / "papers-1").resolve())


# --- 2. one writer per run ---------------------------------------------------------------------------


def test_a_second_launch_on_a_running_run_stops_at_once_naming_the_holder(
    corpora: Path, tmp_path: Path, capsys
):
    first, args = start_endless_run(corpora / "papers-1", tmp_path, "busy")
    try:
        config_before = (tmp_path / "busy" / "config.yaml").read_bytes()
        capsys.readouterr()
        assert run_cli([*args, "train.lr=1e-3"]) == 2
        err = capsys.readouterr().err
        assert f"pid {first.pid} on {socket.gethostname()}" in err and "already being trained" in err
        assert (tmp_path / "busy" / "config.yaml").read_bytes() == config_before  # nothing overwritten
        # The check before launch says the same, without starting anything.
        from pipeline import cli

        assert cli.main(["preflight", *args]) == 2
        assert f"pid {first.pid}" in capsys.readouterr().err
    finally:
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out
    assert not (tmp_path / "busy" / LOCK_FILE).exists()  # released on exit


def test_a_stale_lock_is_taken_over_with_a_warning(corpora: Path, tmp_path: Path, caplog):
    run = tmp_path / "stale"
    run.mkdir()
    pid = _dead_pid()
    (run / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "earlier"}))
    with caplog.at_level(logging.WARNING):
        assert run_cli(tiny_args(corpora / "papers-1", tmp_path, "stale", "train.max_steps=2")) == 0
    assert f"taking over the stale lock {run / LOCK_FILE} of pid {pid}" in caplog.text
    assert not (run / LOCK_FILE).exists()

    # A lock from another host cannot be checked from here: refused, with what to do.
    (run / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "now"}))
    with pytest.raises(PipelineError, match=r"locked by pid 1 on elsewhere.*delete .*run.lock"):
        from pretrain.training.run_lock import RunLock

        RunLock(run).acquire()


# --- 3. checkpoints that fail open -------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A 4-step run with complete checkpoints at steps 2 and 4."""
    root = tmp_path_factory.mktemp("fallback")
    args = tiny_args(corpora / "papers-1", root, "r", "train.max_steps=4", "checkpoint.every=2")
    assert run_cli(args) == 0
    return root / "r", args


def _copy_run(run: Path, dest_root: Path) -> Path:
    dest = dest_root / run.name
    shutil.copytree(run, dest)
    # The copy's saved config still names the original output root: point it at the copy.
    text = (dest / "config.yaml").read_text().replace(str(run.parent), str(dest_root))
    (dest / "config.yaml").write_text(text)
    return dest


def test_each_damaged_file_of_the_newest_checkpoint_falls_back_to_the_previous_one(
    finished_run, tmp_path, caplog, capsys
):
    run, _ = finished_run
    newest = run / "checkpoints" / "step-00000004"
    files = sorted(str(p.relative_to(newest)) for p in newest.rglob("*") if p.is_file() and p.name != MARKER)
    assert {"model.safetensors", "optimizer.bin", "trainer_state.json", "random_states_0.pkl"} <= set(files)
    for i, name in enumerate(files):
        for damage in ("delete", "truncate"):
            root = tmp_path / f"{i}-{damage}"
            copy = _copy_run(run, root)
            target = copy / "checkpoints" / "step-00000004" / name
            if damage == "delete":
                target.unlink()
            else:
                target.write_bytes(target.read_bytes()[: max(1, target.stat().st_size // 2)])
            caplog.clear()
            capsys.readouterr()
            with caplog.at_level(logging.WARNING):
                # What `make resume` runs, with two more steps so the resumed run has work to do.
                code = run_cli(
                    ["--config", str(copy / "config.yaml"), "--resume", "auto", "train.max_steps=6"]
                )
            assert code == 0, (name, damage)
            assert str(target) in caplog.text, (name, damage, caplog.text)
            assert f"resumed from {copy / 'checkpoints' / 'step-00000002'}: step 2" in capsys.readouterr().out
            assert [r["step"] for r in read_metrics(copy)] == [1, 2, 3, 4, 5, 6], (name, damage)


def test_damaged_newest_checkpoint_and_explicit_checkpoint(finished_run, tmp_path, caplog, capsys):
    run, _ = finished_run
    copy = _copy_run(run, tmp_path)
    (copy / "checkpoints" / "step-00000004" / "model.safetensors").unlink()  # the reported case
    with caplog.at_level(logging.WARNING):
        assert run_cli(["--config", str(copy / "config.yaml"), "--resume", "auto", "train.max_steps=5"]) == 0
    assert "step-00000004/model.safetensors is missing" in caplog.text
    assert f"resumed from {copy / 'checkpoints' / 'step-00000002'}: step 2" in capsys.readouterr().out
    assert [r["step"] for r in read_metrics(copy)] == [1, 2, 3, 4, 5]

    # An explicit checkpoint wins over --resume auto (make resume CHECKPOINT=... and checkpoint.resume=...).
    second = _copy_run(run, tmp_path / "explicit")
    step2 = second / "checkpoints" / "step-00000002"
    args = ["--config", str(second / "config.yaml"), "--resume", "auto", f"checkpoint.resume={step2}"]
    capsys.readouterr()
    assert run_cli([*args, "train.max_steps=5"]) == 0
    assert f"resumed from {step2}: step 2" in capsys.readouterr().out  # step 4 is intact, yet not taken
    assert [r["step"] for r in read_metrics(second)] == [1, 2, 3, 4, 5]
    # A named damaged checkpoint is an error, never silently replaced by another one.
    (step2 / "optimizer.bin").write_bytes(b"x")
    capsys.readouterr()
    assert run_cli([*args, "train.max_steps=7"]) == 2
    assert "step-00000002/optimizer.bin has 1 bytes" in capsys.readouterr().err


# --- 5. a finished run, a changed schedule -------------------------------------------------------------


def test_resuming_a_finished_run_says_so(finished_run, tmp_path, capsys):
    run, _ = finished_run
    copy = _copy_run(run, tmp_path)
    rows = (copy / "metrics.jsonl").read_text()
    assert run_cli(["--config", str(copy / "config.yaml"), "--resume", "auto"]) == 0
    assert "already finished: step 4 of train.max_steps=4" in capsys.readouterr().out
    assert (copy / "metrics.jsonl").read_text() == rows
    # `make resume` asks preflight first: it says so and launches nothing (status 10, make exits 0).
    from pipeline import cli
    from pretrain.training.preflight import FINISHED

    assert cli.main(["preflight", "--config", str(copy / "config.yaml"), "--resume", "auto"]) == FINISHED
    assert "already finished" in capsys.readouterr().out


def test_a_raised_max_steps_on_resume_prints_and_follows_the_new_schedule(
    corpora: Path, tmp_path: Path, capsys
):
    common = ("train.warmup_steps=2", "checkpoint.every=2", "train.lr=1e-2")
    straight = tiny_args(corpora / "papers-1", tmp_path, "straight", "train.max_steps=8", *common)
    split = tiny_args(corpora / "papers-1", tmp_path, "split", "train.max_steps=4", *common)
    assert run_cli(straight) == 0
    assert run_cli(split) == 0
    capsys.readouterr()
    assert run_cli([*split, "train.max_steps=8", "--resume", "auto"]) == 0
    out = capsys.readouterr().out
    assert "schedule changed on resume (train.max_steps 4 -> 8)" in out
    assert "decay from lr 0.01 to 0 at step 8" in out
    # Past the old end the lr is the new schedule's, not 0 (the checkpoint's copy of the old schedule).
    lr_split = {r["step"]: r["lr"] for r in read_metrics(tmp_path / "split")}
    lr_straight = {r["step"]: r["lr"] for r in read_metrics(tmp_path / "straight")}
    assert [lr_split[s] for s in range(5, 9)] == [lr_straight[s] for s in range(5, 9)]
    assert min(lr_split[s] for s in range(5, 9)) > 0


# --- 2 and 6. a real 2-process launch: rank 0 holds the lock; each fact logged once ---------------------


@pytest.mark.slow  # one `accelerate launch` of 2 CPU processes (~30 s of start-up on 2 cores)
def test_two_process_launch_holds_the_lock_on_rank_0_and_logs_each_fact_once(corpora: Path, tmp_path: Path):
    from tests.pretrain.training.test_distributed import launch

    args = tiny_args(corpora / "papers-1", tmp_path, "ddp", "train.max_steps=4", "checkpoint.every=2")
    out = launch("cpu.yaml", [*args, "logging.every=2"], tmp_path)
    assert out.count("model from scratch:") == 1, out  # the model report, once (was once per rank + print)
    assert out.count("run folder ") == 1 and out.count("training steps 0 -> 4") == 1
    for noise in ("Removed shared tensor", "Setting accelerator to CPU", "Setting ds_accelerator"):
        assert noise not in out, noise
    assert not (tmp_path / "ddp" / LOCK_FILE).exists()  # released by rank 0 at the end
    assert [s for s, _ in list_checkpoints(tmp_path / "ddp" / "checkpoints")] == [2, 4]
