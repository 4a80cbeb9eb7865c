"""The checkpoint an export is made from: found (a folder, or `auto`: the newest complete one of a run),
checked, and read back into one model with full fp32 weights.

Plain and DDP checkpoints hold `model.safetensors` with the unwrapped model's keys; DeepSpeed ZeRO-2/3
ones hold a `pytorch_model/` folder of partitions, consolidated here. The layout of the run folder and
of a checkpoint is the run contract's (formats/run.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from formats import run as run_format
from foundation.errors import PipelineError
from pretrain.modeling.linkbert import LinkBertForPreTraining, read_weights_file

log = logging.getLogger(__name__)


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


__all__ = ["CheckpointSource", "build_exported_model", "find_checkpoint", "load_checkpoint_weights"]
