"""Export of real trainer checkpoints: Hugging Face loading, fidelity, DeepSpeed consolidation, fine-tuning.

One tiny real training run (`linkbert pretrain` in a subprocess, on a generated linked corpus) feeds
every test of this module; DeepSpeed ZeRO-2/3 checkpoints of the same weights are written by the
trainer's own Checkpointer under a 2-process DeepSpeed accelerator.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from foundation.errors import PipelineError
from pretrain.config import ModelConfig
from pretrain.data.corpus_data import LinkedCorpus
from pretrain.data.synthetic import write_synthetic_corpus
from pretrain.export.checkpoint_source import build_exported_model, find_checkpoint
from pretrain.export.evaluate_export import run_eval
from pretrain.export.writer import run_export
from pretrain.modeling.linkbert import LinkBertForPreTraining, build_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[3]
STEPS = 4


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(REPO),
    }


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """runs/t/ of a 4-step real training run: checkpoints at steps 2 and 4, held-out evaluations at both."""
    root = tmp_path_factory.mktemp("export")
    corpus = write_synthetic_corpus(root / "corpus", num_docs=300, seed=7, segment_tokens=(4, 60))
    overrides = [
        f"data.corpus={corpus}",
        "data.max_seq_len=128",
        "data.num_workers=0",
        "data.heldout_fraction=0.1",
        "model.hidden_size=32",
        "model.num_hidden_layers=2",
        "model.num_attention_heads=4",
        "model.intermediate_size=64",
        "model.max_position_embeddings=128",
        "train.run_name=t",
        f"train.output_root={root / 'runs'}",
        f"train.max_steps={STEPS}",
        "train.global_batch_size=8",
        "train.micro_batch_size=4",
        "train.warmup_steps=1",
        "checkpoint.every=2",
        "eval.every=2",
        "eval.pairs=16",
        "logging.every=1",
        "logging.wandb=false",
        "logging.tensorboard=false",
        "logging.progress_bar=false",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "pretrain", *overrides],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root / "runs" / "t"


@pytest.fixture(scope="module")
def exported(trained_run: Path) -> Path:
    return run_export("auto", str(trained_run.parent.parent / "export"), run_dir=str(trained_run))


def _checkpoint(run: Path, step: int = STEPS) -> Path:
    return run / "checkpoints" / f"step-{step:08d}"


def _masked_inputs(export: Path, count: int = 20, length: int = 32):
    """`count` real corpus segments as [CLS] tokens [SEP], every 6th token replaced by [MASK]."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(export))
    corpus = LinkedCorpus.open(json.loads((export / "linkbert_export.json").read_text())["corpus"])
    rows = []
    for s in range(corpus.num_segments):
        tokens = np.asarray(corpus.segment(s), dtype=np.int64)[: length - 2]
        if len(tokens) == length - 2:
            rows.append([tokenizer.cls_token_id, *tokens.tolist(), tokenizer.sep_token_id])
        if len(rows) == count:
            break
    input_ids = torch.tensor(rows)
    input_ids[:, 1:-1:6] = tokenizer.mask_token_id
    return tokenizer, input_ids


# --- the folder ----------------------------------------------------------------------------------


def test_export_folder_is_complete_and_described(trained_run, exported):
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "linkbert_config.yaml",
        "trainer_state.json",
        "README.md",
        "loss_curves.png",
        "linkbert_export.json",
    ):
        assert (exported / name).is_file(), name
    config = json.loads((exported / "config.json").read_text())
    assert config["model_type"] == "bert" and config["num_drp_labels"] == 3
    manifest = json.loads((exported / "linkbert_export.json").read_text())
    assert manifest["step"] == STEPS and manifest["dtype"] == "fp32"
    assert Path(manifest["checkpoint"]) == _checkpoint(trained_run).resolve()
    assert (exported / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in rows if r.get("split") == "eval"][-1]
    assert final["step"] == STEPS and manifest["final_eval"]["mlm_loss"] == final["mlm_loss"]
    card = (exported / "README.md").read_text()
    state = json.loads((_checkpoint(trained_run) / "trainer_state.json").read_text())
    assert f"| tokens seen | {state['tokens_seen']:,} |" in card
    assert f"| steps | {STEPS} |" in card
    assert f"| mlm_loss | {final['mlm_loss']:.4g} |" in card
    assert "| graph: edges |" in card and "DRP confusion" in card

    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(exported.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((exported / "model.safetensors").stat().st_mode) == 0o666 & ~umask


def test_auto_classes_load_the_export(exported):
    from transformers import (
        AutoModel,
        AutoModelForMaskedLM,
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    path = str(exported)
    mlm, info = AutoModelForMaskedLM.from_pretrained(path, output_loading_info=True)
    assert not info["missing_keys"], info  # MLM head and tied decoder all come from the export
    assert not info["mismatched_keys"]
    assert mlm.cls.predictions.decoder.weight is mlm.bert.embeddings.word_embeddings.weight
    base, info = AutoModel.from_pretrained(path, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"]
    assert base.pooler is not None
    seq, info = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=2, output_loading_info=True
    )
    assert {k.split(".")[0] for k in info["missing_keys"]} == {"classifier"}
    qa, info = AutoModelForQuestionAnswering.from_pretrained(path, output_loading_info=True)
    assert {k.split(".")[0] for k in info["missing_keys"]} == {"qa_outputs"}
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert len(tokenizer) == mlm.config.vocab_size
    assert tokenizer.model_max_length == mlm.config.max_position_embeddings
    encoded = tokenizer("w12 w13", "w14")
    assert encoded["input_ids"][0] == tokenizer.cls_token_id and encoded["token_type_ids"][-1] == 1


def test_masked_lm_logits_equal_the_checkpoint_model(trained_run, exported):
    from transformers import AutoModelForMaskedLM, pipeline

    tokenizer, input_ids = _masked_inputs(exported)
    assert input_ids.shape[0] == 20
    ours = build_exported_model(find_checkpoint(str(_checkpoint(trained_run)), None))
    hf = AutoModelForMaskedLM.from_pretrained(str(exported)).eval()
    with torch.no_grad():
        expected = ours(input_ids).prediction_logits
        got = hf(input_ids=input_ids).logits
    assert (got - expected).abs().max().item() <= 1e-5

    fill = pipeline("fill-mask", model=str(exported), tokenizer=str(exported), device="cpu")
    words = [t for t in tokenizer.convert_ids_to_tokens(input_ids[1].tolist()) if t.startswith("w")]
    predictions = fill(f"{words[0]} {words[1]} {tokenizer.mask_token} {words[2]}")
    assert len(predictions) == 5 and all("token_str" in p and 0 <= p["score"] <= 1 for p in predictions)


def test_continued_pretraining_restores_the_drp_head(trained_run, exported):
    source = load_file(str(_checkpoint(trained_run) / "model.safetensors"))
    restored = LinkBertForPreTraining.from_pretrained(str(exported))
    torch.testing.assert_close(restored.cls.seq_relationship.weight, source["cls.seq_relationship.weight"])
    torch.testing.assert_close(
        restored.cls.predictions.transform.dense.weight, source["cls.predictions.transform.dense.weight"]
    )

    model, report = build_model(
        ModelConfig(init_from=str(exported)),
        vocab_size=1000,
        drp_classes=3,
        pad_token_id=0,
        drp_readout=restored.drp_readout,
    )
    assert report.newly_initialized == []
    assert "cls.seq_relationship.weight" in report.loaded
    torch.testing.assert_close(model.cls.seq_relationship.bias, source["cls.seq_relationship.bias"])
    assert model.config.hidden_size == 32  # the export's architecture, not ModelConfig's defaults


def test_fine_tuning_a_classifier_reduces_its_loss(exported):
    from transformers import AutoModelForSequenceClassification

    export = json.loads((exported / "linkbert_export.json").read_text())
    corpus = LinkedCorpus.open(export["corpus"])
    # A labelled set from the corpus: does the segment's document link anywhere?
    out_degree = np.diff(corpus.indptr)
    has_segments = np.diff(corpus.doc_segments) > 0
    linking = np.flatnonzero((out_degree > 0) & has_segments)[:8]
    isolated = np.flatnonzero((out_degree == 0) & has_segments)[:8]
    assert len(linking) == 8 and len(isolated) >= 4
    docs = np.concatenate([linking, isolated])
    labels = torch.tensor([1] * len(linking) + [0] * len(isolated))
    rows = []
    for d in docs:
        tokens = np.asarray(corpus.segment(int(corpus.doc_segments[d])), dtype=np.int64)[:30].tolist()
        rows.append([corpus.cls_id, *tokens, corpus.sep_id])
    width = max(map(len, rows))
    input_ids = torch.tensor([r + [corpus.pad_id] * (width - len(r)) for r in rows])
    attention_mask = (input_ids != corpus.pad_id).long()
    attention_mask[:, 0] = 1

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(exported), num_labels=2)
    # A 32-wide encoder after 4 pretraining steps: a high lr lets 20 steps fit 16 examples.
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def loss() -> float:
        model.eval()
        with torch.no_grad():
            return model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.item()

    before = loss()
    model.train()
    for _ in range(20):
        out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert loss() < 0.5 * before


def test_bf16_export_holds_the_rounded_weights(trained_run, exported, tmp_path):
    out = run_export(str(_checkpoint(trained_run)), str(tmp_path / "bf16"), dtype="bf16")
    fp32, bf16 = load_file(str(exported / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert fp32.keys() == bf16.keys()
    for key, value in bf16.items():
        assert value.dtype == torch.bfloat16, key
        assert torch.equal(value, fp32[key].to(torch.bfloat16)), key
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"


def test_eval_of_the_export_reproduces_the_runs_final_evaluation(trained_run, exported, tmp_path, capsys):
    from pipeline.tree import PipelineConfig

    metrics = run_eval(str(exported), None, str(tmp_path / "eval.json"), PipelineConfig())
    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in rows if r.get("split") == "eval"][-1]
    for key in ("mlm_loss", "mlm_acc", "drp_loss", "drp_acc"):
        assert metrics[key] == pytest.approx(final[key], rel=1e-5), key
    for key in ("mlm_tokens", "drp_examples", "confusion"):
        assert metrics[key] == final[key], key
    written = json.loads((tmp_path / "eval.json").read_text())
    assert written["mlm_tokens"] == final["mlm_tokens"]
    assert "DRP confusion" in capsys.readouterr().out

    assert metrics["drp_chance_acc"] == pytest.approx(1 / 3) and "drp_majority_acc" in metrics
    more = run_eval(str(exported), None, str(tmp_path / "more.json"), PipelineConfig(), pairs=30)
    assert more["drp_examples"] == 30 and more["confusion"] != final["confusion"]


# --- bad input -----------------------------------------------------------------------------------


def test_bad_checkpoints_are_clear_errors(trained_run, tmp_path):
    out = str(tmp_path / "out")
    with pytest.raises(PipelineError, match="does not exist"):
        run_export(str(tmp_path / "missing"), out)
    with pytest.raises(PipelineError, match="needs --run"):
        run_export("auto", out)
    with pytest.raises(PipelineError, match="no complete checkpoint"):
        (tmp_path / "empty_run").mkdir()
        run_export("auto", out, run_dir=str(tmp_path / "empty_run"))

    cut = tmp_path / "runs" / "t" / "checkpoints" / "step-00000004"
    shutil.copytree(_checkpoint(trained_run), cut)
    (cut / "COMPLETE").unlink()
    with pytest.raises(PipelineError, match="no COMPLETE marker"):
        run_export(str(cut), out)

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "COMPLETE").write_text("1\n")
    (foreign / "model.safetensors").write_bytes(b"")
    with pytest.raises(PipelineError, match="not a checkpoint of `linkbert pretrain`"):
        run_export(str(foreign), out)

    damaged = tmp_path / "damaged"
    shutil.copytree(_checkpoint(trained_run), damaged)
    (damaged / "model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(PipelineError, match="model.safetensors is unreadable"):
        run_export(str(damaged), out, run_dir=str(trained_run))

    other = tmp_path / "runs" / "t" / "checkpoints" / "step-00000002"
    shutil.copytree(_checkpoint(trained_run, 2), other)
    config = json.loads((other / "model_config.json").read_text())
    config["intermediate_size"] = 48
    (other / "model_config.json").write_text(json.dumps(config))
    with pytest.raises(PipelineError, match="weights do not match model_config.json"):
        run_export(str(other), out, run_dir=str(trained_run))
    with pytest.raises(PipelineError, match="config.yaml does not exist"):
        run_export(str(_checkpoint(trained_run)), out, run_dir=str(tmp_path))

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(PipelineError, match="is not an earlier export"):
        run_export(str(_checkpoint(trained_run)), str(occupied))
    assert (occupied / "notes.txt").read_text() == "mine"
    assert not Path(out).exists()


def test_eval_of_a_non_export_is_a_clear_error(tmp_path):
    from pipeline.tree import PipelineConfig

    with pytest.raises(PipelineError, match="not an exported model folder"):
        run_eval(str(tmp_path), None, None, PipelineConfig())


# --- DeepSpeed ------------------------------------------------------------------------------------

# Re-saves a checkpoint's weights through the trainer's Checkpointer under DeepSpeed ZeRO-N (2 ranks).
DEEPSPEED_SAVER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import torch
    import deepspeed.ops
    # The shared-memory all-reduce op is not needed over gloo; skip its C++ build (minutes on a fresh machine).
    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    from accelerate import Accelerator
    from accelerate.utils import DeepSpeedPlugin, InitProcessGroupKwargs
    from pretrain.training.checkpoint import Checkpointer, TrainerState
    from pretrain.config import CheckpointConfig
    from pretrain.export.checkpoint_source import build_exported_model, find_checkpoint

    stage, source_dir, run_dir = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    torch.set_num_threads(1)
    source = find_checkpoint(source_dir, None)
    model = build_exported_model(source).train()
    plugin = DeepSpeedPlugin(zero_stage=stage)
    plugin.deepspeed_config.update(train_micro_batch_size_per_gpu=1, gradient_accumulation_steps=1)
    acc = Accelerator(deepspeed_plugin=plugin, kwargs_handlers=[InitProcessGroupKwargs(backend="gloo")])
    model, optimizer = acc.prepare(model, torch.optim.AdamW(model.parameters(), lr=1e-3))
    state = TrainerState(**source.trainer_state)
    Checkpointer(acc, run_dir, CheckpointConfig()).save(state, source.model_config)
    acc.end_training()
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_checkpoint_exports_equal_the_ddp_export(trained_run, exported, tmp_path, stage):
    run = tmp_path / "runs" / f"zero{stage}"
    run.mkdir(parents=True)
    shutil.copyfile(trained_run / "config.yaml", run / "config.yaml")
    script = tmp_path / "save.py"
    script.write_text(DEEPSPEED_SAVER)
    # Two ranks: each writes its own optimizer partition, and export must consolidate both.
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    proc = subprocess.run(
        [*launch, str(script), str(stage), str(_checkpoint(trained_run)), str(run)],
        env={**_env(), "ACCELERATE_USE_DEEPSPEED": "true"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    checkpoint = _checkpoint(run)
    assert not (checkpoint / "model.safetensors").exists()
    assert len(list((checkpoint / "pytorch_model").glob("zero_pp_rank_*_optim_states.pt"))) == 2

    out = run_export("auto", str(tmp_path / "export"), run_dir=str(run))
    ddp, zero = load_file(str(exported / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert ddp.keys() == zero.keys()
    for key in ddp:
        assert torch.equal(ddp[key], zero[key]), key
    assert json.loads((out / "config.json").read_text()) == json.loads((exported / "config.json").read_text())


def test_an_export_of_another_dtype_never_replaces_one_silently(trained_run, exported, tmp_path):
    out = tmp_path / "export"
    shutil.copytree(exported, out)
    (out / "eval.json").write_text("{}")
    with pytest.raises(PipelineError, match=r"holds a fp32 export .*export-bf16.*--force"):
        run_export("auto", str(out), dtype="bf16", run_dir=str(trained_run))
    assert json.loads((out / "linkbert_export.json").read_text())["dtype"] == "fp32"
    assert (out / "eval.json").is_file()
    run_export("auto", str(out), dtype="bf16", run_dir=str(trained_run), force=True)
    assert json.loads((out / "linkbert_export.json").read_text())["dtype"] == "bf16"


def test_model_card_has_hub_metadata_and_the_resolved_configuration(trained_run, exported):
    import yaml

    from pipeline.tree import load_config
    from pretrain.export.card_metadata import hub_metadata

    text = (exported / "README.md").read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["license"] == "apache-2.0" and meta["library_name"] == "transformers"
    assert meta["datasets"] and "linkbert" in meta["tags"] and "base_model" not in meta  # from scratch
    block = yaml.safe_load(text.split("```yaml")[1].split("```")[0])
    assert (
        block["model"]["hidden_size"] == 32 and block["model"]["num_attention_heads"] == 4
    )  # the run's model
    manifest = json.loads((Path(block["data"]["corpus"]) / "segments" / "manifest.json").read_text())
    assert block["segments"] == manifest["config"]  # the corpus's own segments settings, not the defaults
    # A warm start names its base model and licence; a Wikipedia dump gives the language.
    cfg = load_config(REPO / "configs" / "pretrain" / "demo.yaml")
    sample_corpus = trained_run.parent / "fake-corpus"
    sample_corpus.mkdir(exist_ok=True)
    (sample_corpus / "extract.json").write_text(
        json.dumps({"inputs": [{"path": "/x/enwiki-sample.xml.bz2"}]})
    )
    meta = hub_metadata(cfg, sample_corpus)
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["license"] == "apache-2.0" and meta["language"] == ["en"]
