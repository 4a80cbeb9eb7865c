"""`linkbert export`: a training checkpoint -> a Hugging Face model folder.

Reads a checkpoint written by the trainer (docs/formats.md, runs/NAME/checkpoints/step-XXXXXXXX/):
plain/DDP ones hold `model.safetensors` with the unwrapped model's keys; DeepSpeed ZeRO-2/3 ones hold a
`pytorch_model/` folder of partitions, consolidated here into full fp32 weights. Writes, atomically:

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
from dataclasses import dataclass
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
from pretrain.export.model_card import write_model_card
from pretrain.modeling.linkbert import LinkBertForPreTraining, read_weights_file

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
# What standard transformers can build from the folder with every weight it needs; the DRP head is
# extra to it (LinkBertForPreTraining reads it).
EXPORTED_ARCHITECTURE = "BertForMaskedLM"


@dataclass
class CheckpointSource:
    """A complete trainer checkpoint and the run it belongs to."""

    path: Path
    run_dir: Path
    model_config: dict[str, Any]
    trainer_state: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.trainer_state.get("step", 0))


# ----------------------------------------------------------------------------------------------
# Finding and reading a checkpoint


def find_checkpoint(checkpoint: str, run_dir: str | None) -> CheckpointSource:
    """`checkpoint` is a folder, or `auto` for the newest complete checkpoint of `run_dir`."""
    if checkpoint == "auto":
        if run_dir is None:
            raise PipelineError(
                "--checkpoint auto needs --run runs/NAME (the run whose newest checkpoint to export)"
            )
        run = Path(run_dir)
        if not run.is_dir():
            raise PipelineError(f"run folder {run} does not exist")
        checkpoints = run_format.checkpoints_dir(run)
        found = run_format.newest_complete(checkpoints)
        if found is None:
            raise PipelineError(
                f"{checkpoints} has no complete checkpoint (a folder step-XXXXXXXX with a "
                f"{run_format.COMPLETE_MARKER} marker): train longer or pass --checkpoint DIR"
            )
        path = found
    else:
        path = Path(checkpoint)
        if not path.is_dir():
            raise PipelineError(f"checkpoint folder {path} does not exist")
        if not run_format.is_complete(path):
            raise PipelineError(
                f"{run_format.cut_off(path)}; export an older checkpoint, or use --checkpoint auto --run RUN"
            )
    model_file = path / run_format.MODEL_CONFIG_FILE
    if not model_file.is_file():
        raise PipelineError(
            f"{path} has no {model_file.name}: not a checkpoint of `linkbert pretrain` "
            "(expected runs/NAME/checkpoints/step-XXXXXXXX/)"
        )
    model_config = run_format.read_checkpoint_json(model_file)
    state_file = path / run_format.STATE_FILE
    trainer_state = run_format.read_checkpoint_json(state_file) if state_file.is_file() else {}
    run = Path(run_dir) if run_dir is not None else path.parent.parent
    return CheckpointSource(path=path, run_dir=run, model_config=model_config, trainer_state=trainer_state)


def _deepspeed_tag(path: Path) -> str | None:
    """The sub-folder accelerate's `save_state` gave DeepSpeed (`pytorch_model`), if this is a DeepSpeed one."""
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        if any(sub.glob("*model_states.pt")):
            return sub.name
    return None


def load_checkpoint_weights(path: Path) -> dict[str, torch.Tensor]:
    """Full-precision weights of the model in a checkpoint folder, keyed like `LinkBertForPreTraining`."""
    tag = _deepspeed_tag(path)
    if tag is not None:
        # Consolidates the fp32 master weights from the optimizer partitions of every rank (ZeRO-2 and 3):
        # the exact weights, also after a bf16 run whose module holds bf16 copies.
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        try:
            return dict(get_fp32_state_dict_from_zero_checkpoint(str(path), tag=tag))
        except (OSError, ValueError, KeyError, RuntimeError, AssertionError) as e:
            raise PipelineError(
                f"{path / tag}: DeepSpeed checkpoint could not be consolidated ({type(e).__name__}: {e}); "
                "are the partitions of every rank there? export another checkpoint"
            ) from e

    for name in ("model.safetensors", "pytorch_model.bin"):
        if (path / name).is_file():
            return read_weights_file(path / name)
    raise PipelineError(
        f"{path} has neither model.safetensors nor a DeepSpeed folder (pytorch_model/*model_states.pt): "
        "not a complete `linkbert pretrain` checkpoint"
    )


def build_exported_model(source: CheckpointSource) -> Any:
    """The checkpoint's `LinkBertForPreTraining`, every weight checked against its config."""
    # Deferred: transformers takes seconds to import and only this path needs it.
    from transformers import BertConfig

    try:
        config = BertConfig.from_dict(dict(source.model_config))
    except (TypeError, ValueError) as e:
        raise PipelineError(f"{source.path}/model_config.json is not a BERT config ({e})") from e
    model = LinkBertForPreTraining(config)
    state = load_checkpoint_weights(source.path)
    tied = set(model._tied_weights_keys)
    expected = {k: v.shape for k, v in model.state_dict().items() if k not in tied}
    state = {k: v for k, v in state.items() if k not in tied}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != tuple(expected[k]))
    if missing or unexpected or wrong:
        what = (
            f"missing {missing[:3]}"
            if missing
            else f"unexpected {unexpected[:3]}"
            if unexpected
            else f"{wrong[0]} has shape {list(state[wrong[0]].shape)}, config says {list(expected[wrong[0]])}"
        )
        raise PipelineError(
            f"{source.path}: weights do not match model_config.json ({what}); not a checkpoint of this "
            "model, export a checkpoint written by `linkbert pretrain`"
        )
    model.load_state_dict(state, strict=False)  # strict minus the tied aliases, checked above
    return model.eval()


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


__all__ = [
    "CheckpointSource",
    "build_exported_model",
    "export_tokenizer",
    "find_checkpoint",
    "load_checkpoint_weights",
    "run_export",
]
