"""`linkbert preflight`: config, corpus, warm start, batch and memory errors print once, before any launch."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from foundation.errors import PipelineError
from pipeline import cli
from pipeline.tree import load_config
from pretrain.data.synthetic import write_synthetic_corpus
from pretrain.training.memory import GIB, LaunchShape, estimate_memory, model_dims
from pretrain.training.preflight import preflight

REPO = Path(__file__).resolve().parents[3]
PRESETS = REPO / "configs" / "pretrain"
CPU2 = LaunchShape(processes=2, per_machine=2, gpu=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_corpus(
        tmp_path_factory.mktemp("pf") / "corpus", num_docs=200, seed=3, vocab_size=30522
    )


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def test_errors_before_launch_print_once_without_a_traceback_with_make_verbs(tmp_path: Path):
    # `make pretrain` before `make corpus`: one line, the README's verb, no traceback.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "preflight",
            "--launch",
            str(REPO / "configs" / "accelerate" / "cpu.yaml"),
            "--config",
            str(PRESETS / "demo.yaml"),
            f"data.corpus={tmp_path / 'data' / 'corpus' / 'sample'}",
            f"train.output_root={tmp_path / 'runs'}",
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: corpus folder"), proc.stderr
    assert "make corpus" in lines[0] and "Traceback" not in proc.stderr + proc.stdout


def test_make_runs_preflight_before_accelerate_launch():
    for target, verb in (
        ("pretrain", "pretrain --config configs/pretrain/demo.yaml"),
        ("resume", "--resume auto"),
    ):
        proc = subprocess.run(
            ["make", "-n", target, "RUN=x", "LAUNCH=configs/accelerate/cpu.yaml"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        text = proc.stdout
        assert "linkbert preflight --launch configs/accelerate/cpu.yaml" in text, text
        assert text.index("linkbert preflight") < text.index("accelerate launch"), text
        assert verb in text
    proc = subprocess.run(
        ["make", "-n", "resume", "RUN=x", "CHECKPOINT=runs/x/checkpoints/step-00000010"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.count("--resume runs/x/checkpoints/step-00000010") == 3  # preflight, echo, launch
    proc = subprocess.run(
        ["make", "-n", "export", "RUN=x", "DTYPE=bf16"], cwd=REPO, capture_output=True, text=True
    )
    assert "--output runs/x/export-bf16 --dtype bf16" in proc.stdout


def test_mixed_precision_no_works_as_an_override_and_in_a_file(tmp_path: Path, capsys):
    for word in ("no", "off"):
        assert (
            load_config(PRESETS / "demo.yaml", [f"train.mixed_precision={word}"]).train.mixed_precision
            == "no"
        )
    assert load_config(PRESETS / "demo.yaml", ["logging.wandb=off"]).logging.wandb is False
    preset = tmp_path / "p.yaml"
    preset.write_text(
        (PRESETS / "ci.yaml").read_text().replace("mixed_precision: 'no'", "mixed_precision: no")
    )
    assert load_config(preset).train.mixed_precision == "no"
    # A bad value names the override that set it, not the preset file.
    assert cli.main(["preflight", "--config", str(PRESETS / "demo.yaml"), "train.mixed_precision=fp8"]) == 2
    err = capsys.readouterr().err
    assert "(from the override 'train.mixed_precision=fp8')" in err and "demo.yaml" not in err


def test_tiny_preset_is_too_big_for_a_cpu_and_names_a_smaller_preset(corpus: Path, tmp_path: Path):
    tiny = load_config(PRESETS / "tiny.yaml", [f"data.corpus={corpus}", f"train.output_root={tmp_path}"])
    dims = model_dims(tiny, 30522)
    need = estimate_memory(tiny, dims).total
    assert 8 * GIB < need < 16 * GIB  # the ~10 GB per process the kernel killed
    with pytest.raises(PipelineError, match=r"needs ~\d+\.\d GiB per process .*PRESET=tiny-cpu") as e:
        preflight(tiny, shape=CPU2, available=6 * GIB)
    # The suggested micro batch is the largest that fits (the global batch is kept by accumulation).
    suggested = int(re.search(r"train.micro_batch_size to (\d+)", str(e.value)).group(1))
    assert estimate_memory(tiny, dims, suggested).total <= 0.85 * 6 * GIB
    assert estimate_memory(tiny, dims, 2 * suggested).total > 0.85 * 6 * GIB
    small = load_config(PRESETS / "tiny-cpu.yaml", [f"data.corpus={corpus}", f"train.output_root={tmp_path}"])
    notes, finished = preflight(small, shape=CPU2, available=4 * GIB)
    assert not finished and any("GiB per process (estimate)" in n for n in notes)
    assert estimate_memory(small, model_dims(small, 30522)).total < 2 * GIB


def test_warmup_longer_than_the_run_is_said(corpus: Path, tmp_path: Path):
    tiny = load_config(
        PRESETS / "tiny-cpu.yaml",
        [
            f"data.corpus={corpus}",
            f"train.output_root={tmp_path}",
            "train.max_steps=20",
            "train.warmup_steps=5000",
        ],
    )
    notes, _ = preflight(tiny, shape=CPU2, available=8 * GIB)
    assert any("train.warmup_steps=5000 >= train.max_steps=20" in n for n in notes)


def test_batch_warm_start_and_run_folder_errors(corpus: Path, tmp_path: Path):
    base = [f"data.corpus={corpus}", f"train.output_root={tmp_path}"]
    cfg = load_config(PRESETS / "tiny-cpu.yaml", [*base, "train.micro_batch_size=24"])
    with pytest.raises(PipelineError, match="train.global_batch_size=64 is not a multiple of"):
        preflight(cfg, shape=CPU2, available=8 * GIB)
    cfg = load_config(PRESETS / "tiny-cpu.yaml", [*base, f"model.init_from={tmp_path / 'nowhere'}"])
    with pytest.raises(PipelineError, match="model.init_from=.*not a Hugging Face model folder"):
        preflight(cfg, shape=CPU2, available=8 * GIB)
    cfg = load_config(PRESETS / "demo.yaml", base)  # the real MiniLM warm start: vocab 30522 like the corpus
    notes, _ = preflight(cfg, shape=CPU2, available=8 * GIB)
    assert any("200 documents" in n for n in notes)
    assert any(n.startswith("DRP relations: contiguous p=0.333") and "linked p=0.333" in n for n in notes)
    cfg = load_config(PRESETS / "tiny-cpu.yaml", [*base, "drp.linked_sources=[tfidf]"])
    with pytest.raises(PipelineError, match="the graph has no 'tfidf' edges"):
        preflight(cfg, shape=CPU2, available=8 * GIB)
    cfg = load_config(PRESETS / "tiny-cpu.yaml", [*base, "checkpoint.resume=auto"])
    with pytest.raises(PipelineError, match="not a complete checkpoint folder"):
        preflight(cfg, shape=CPU2, resume=str(tmp_path / "step-00000001"), available=8 * GIB)
