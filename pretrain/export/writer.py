"""`linkbert export`: a training checkpoint -> a Hugging Face model folder.

The checkpoint is found and read back by pretrain/export/checkpoint_source.py (DeepSpeed partitions
consolidated into full fp32 weights). Writes, atomically:

    config.json, model.safetensors         BertConfig (+ num_drp_labels); encoder, pooler, MLM and DRP heads
    tokenizer.json, vocab.txt, tokenizer_config.json, special_tokens_map.json   the corpus tokenizer
    linkbert_config.yaml                   the run's resolved config (data split, DRP classes, ...)
    trainer_state.json                     step, tokens seen, ... of the checkpoint
    README.md, loss_curves.png             model card
    linkbert_export.json                   what was exported from where; written last

The folder loads with `AutoModel`, `AutoModelForMaskedLM`, `AutoModelFor{SequenceClassification,...}`
and `AutoTokenizer`; `LinkBertForPreTraining.from_pretrained` (or `model.init_from`) restores the DRP
head too, for continued pretraining.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from formats import export as export_format
from formats import run as run_format
from formats import segments as segments_format
from formats.pin import check_pin, corpus_identity
from foundation.atomic import atomic_dir, write_json_atomic
from foundation.errors import PipelineError
from foundation.paths import resolve_path
from pretrain.config import PretrainConfig, load_pretrain_config
from pretrain.export.checkpoint_source import CheckpointSource, build_exported_model, find_checkpoint
from pretrain.export.model_card import write_model_card

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
# What standard transformers can build from the folder with every weight it needs; the DRP head is
# extra to it (LinkBertForPreTraining reads it).
EXPORTED_ARCHITECTURE = "BertForMaskedLM"


# ----------------------------------------------------------------------------------------------
# Finding and reading a checkpoint


# ----------------------------------------------------------------------------------------------
# Run config, tokenizer


def load_run_config(run_dir: Path) -> PretrainConfig:
    path = run_dir / run_format.CONFIG_FILE
    if not path.is_file():
        raise PipelineError(
            f"{path} does not exist: the run's config names the corpus (and its tokenizer); "
            f"pass --run runs/NAME, the folder that holds the run's {run_format.CONFIG_FILE}"
        )
    return load_pretrain_config(path)


def export_tokenizer(corpus_dir: Path, out: Path, *, vocab_size: int, max_length: int) -> Any:
    """Save the corpus's tokenizer into `out` with the four files users expect."""
    # Deferred: transformers takes seconds to import and only this path needs it.
    from transformers import AutoTokenizer

    source = corpus_dir / "segments" / "tokenizer"
    if not source.is_dir():
        raise PipelineError(
            f"tokenizer folder {source} does not exist: the run's corpus (data.corpus) was moved or deleted; "
            "restore it, or pass --run with a config.yaml whose data.corpus points at it"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    if len(tokenizer) != vocab_size:
        raise PipelineError(
            f"tokenizer {source} has {len(tokenizer)} tokens but the model's vocabulary has {vocab_size}: "
            "the run's config points at another corpus than the one it was trained on"
        )
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(str(out))
    if not (out / "vocab.txt").is_file():
        vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        (out / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab), encoding="utf-8")
    if not (out / "special_tokens_map.json").is_file():
        (out / "special_tokens_map.json").write_text(
            json.dumps(tokenizer.special_tokens_map, indent=2) + "\n", encoding="utf-8"
        )
    return tokenizer


def _fix_config(out: Path, source: CheckpointSource, relations: tuple[str, ...]) -> None:
    path = out / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["architectures"] = [EXPORTED_ARCHITECTURE]
    # Trainer-side attributes that mean nothing to a fine-tuner loading the folder.
    for key in ("mlm_weight", "drp_weight"):
        config.pop(key, None)
    config["num_drp_labels"] = int(source.model_config.get("num_drp_labels", 3))
    config["drp_relations"] = list(relations)  # the DRP head's labels, in order
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _check_output(out: Path, dtype: str, force: bool) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not export_format.is_export(out))):
        raise PipelineError(
            f"--output {out} exists and is not an earlier export (no {export_format.MANIFEST}); "
            "choose a new folder, or delete it first"
        )
    earlier = export_format.read_manifest(out)
    if not earlier:
        return
    if earlier.get("dtype") != dtype and not force:
        raise PipelineError(
            f"--output {out} holds a {earlier.get('dtype')} export (and its eval.json); a {dtype} export would "
            f"replace it: write it to its own folder (make export DTYPE={dtype} uses {out}-{dtype}), or pass "
            "--force to replace it"
        )
    log.info(
        "replacing the earlier export in %s (step %s, %s)", out, earlier.get("step"), earlier.get("dtype")
    )


# ----------------------------------------------------------------------------------------------


def run_export(
    checkpoint: str, output: str, dtype: str = "fp32", run_dir: str | None = None, *, force: bool = False
) -> Path:
    """Export a checkpoint (or `auto`: the newest complete one of `run_dir`) to the folder `output`.

    An existing export of another dtype is only replaced with `force`."""

    if dtype not in DTYPES:
        raise PipelineError(f"--dtype {dtype}: choose one of {', '.join(DTYPES)}")
    out = Path(output)
    _check_output(out, dtype, force)
    source = find_checkpoint(checkpoint, run_dir)
    cfg = load_run_config(source.run_dir)
    corpus_dir = resolve_path(cfg.data.corpus)
    # The tokenizer shipped with the weights must be the one they were trained with.
    check_pin(
        source.run_dir,
        corpus_dir,
        action="export",
        hint=f"restore the pinned corpus folder, or point data.corpus in {source.run_dir / run_format.CONFIG_FILE} back at it",
    )
    model = build_exported_model(source).to(DTYPES[dtype])
    log.info("exporting %s (step %d) to %s as %s", source.path, source.step, out, dtype)
    with atomic_dir(out, overwrite=True) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        _fix_config(tmp, source, cfg.drp.relations)
        export_tokenizer(
            corpus_dir,
            tmp,
            vocab_size=model.config.vocab_size,
            max_length=model.config.max_position_embeddings,
        )
        shutil.copyfile(source.run_dir / run_format.CONFIG_FILE, tmp / export_format.RUN_CONFIG_FILE)
        write_json_atomic(tmp / export_format.STATE_FILE, source.trainer_state)
        card = write_model_card(
            tmp,
            cfg=cfg,
            run_dir=source.run_dir,
            corpus_dir=corpus_dir,
            step=source.step,
            trainer_state=source.trainer_state,
            model_config=model.config,
            num_parameters=sum(p.numel() for p in model.parameters()),
            dtype=dtype,
        )
        _share_permissions(tmp)
        export_format.write_manifest(
            tmp,
            {
                "checkpoint": str(source.path.resolve()),
                "run_dir": str(source.run_dir.resolve()),
                "corpus": str(corpus_dir),
                "tokenizer_hash": _tokenizer_hash(corpus_dir),
                "corpus_identity": corpus_identity(corpus_dir),
                "step": source.step,
                "tokens_seen": source.trainer_state.get("tokens_seen"),
                "dtype": dtype,
                "num_drp_labels": int(model.config.num_drp_labels),
                "drp_relations": list(cfg.drp.relations),
                "final_eval": card.final_eval,
            },
        )
    (out / export_format.MANIFEST).chmod(_file_mode())
    log.info("exported %s", out)
    return out


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _file_mode() -> int:
    return 0o666 & ~_umask()


def _share_permissions(folder: Path) -> None:
    # Temp files and dirs are created private (0600/0700); an export is meant to be shared, so it gets
    # the modes a plain `cp` would give under the user's umask.
    dir_mode, file_mode = 0o777 & ~_umask(), _file_mode()
    folder.chmod(dir_mode)
    for path in folder.rglob("*"):
        path.chmod(dir_mode if path.is_dir() else file_mode)


def _tokenizer_hash(corpus_dir: Path) -> str | None:
    return segments_format.peek_manifest(corpus_dir).get("tokenizer_hash")


__all__ = ["export_tokenizer", "load_run_config", "run_export"]
