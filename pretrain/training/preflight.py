"""`linkbert preflight`: everything a launch can be refused for, checked in one process before
`accelerate launch` starts any (`make pretrain` and `make resume` run it first).

Inside a launch every process would find the same error and print it, each followed by the launcher's
traceback; here it is printed once. Checked: the run folder (lock, existing checkpoints, corpus pin,
the checkpoint to resume from), the corpus (and whether two of its segments fit data.max_seq_len:
`pretrain.data.pair_fit`), the warm-start folder, the batch arithmetic for the launch's
process count, the schedule, and a memory estimate per process against what the machine has.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from formats import run as run_format
from formats.pin import check_pin, resolved_corpus
from foundation.errors import PipelineError
from foundation.paths import resolve_path
from pretrain.config import PretrainConfig
from pretrain.training.memory import LaunchShape, available_memory, check_memory, model_dims

# `make resume` of a run that already reached train.max_steps: nothing to launch (not an error).
FINISHED = 10


def read_launch(path: str | None) -> LaunchShape:
    """Process counts of an accelerate config file (one process without one)."""
    # Deferred: the config checks run without torch; only this check needs it.
    import torch

    gpu = torch.cuda.is_available()
    if path is None:
        return LaunchShape(1, 1, gpu)
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise PipelineError(
            f"accelerate config {file} is unreadable ({e}); pass LAUNCH=configs/accelerate/..."
        ) from e
    processes = int(data.get("num_processes", 1) or 1)
    machines = max(1, int(data.get("num_machines", 1) or 1))
    return LaunchShape(processes, max(1, processes // machines), gpu)


# ----------------------------------------------------------------------------------------------


def _check_warm_start(cfg: PretrainConfig, vocab_size: int) -> None:
    if not cfg.model.init_from:
        return
    folder = resolve_path(cfg.model.init_from)
    if not (folder / "config.json").is_file():
        raise PipelineError(
            f"model.init_from={cfg.model.init_from}: {folder} is not a Hugging Face model folder (no "
            "config.json); point it at a local BERT folder, or set model.init_from=null to train from scratch"
        )
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("pytorch_model*.bin")):
        raise PipelineError(
            f"model.init_from={cfg.model.init_from}: {folder} has no model weights (*.safetensors)"
        )
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PipelineError(f"{folder / 'config.json'} is unreadable ({e})") from e
    if int(config.get("vocab_size", vocab_size)) != vocab_size:
        raise PipelineError(
            f"model.init_from={cfg.model.init_from} has a vocabulary of {config.get('vocab_size')} tokens, the "
            f"corpus {cfg.data.corpus} of {vocab_size}: build the corpus with that model's tokenizer "
            f"(make corpus CORPUS_ARGS=segments.tokenizer={cfg.model.init_from})"
        )
    if int(config.get("max_position_embeddings", 512)) < cfg.data.max_seq_len:
        raise PipelineError(
            f"data.max_seq_len={cfg.data.max_seq_len} exceeds max_position_embeddings="
            f"{config.get('max_position_embeddings')} of model.init_from; lower data.max_seq_len"
        )


def _check_run(cfg: PretrainConfig, resume: str, corpus_dir: Path) -> tuple[list[str], bool]:
    """Lock, checkpoints and pin of the run folder; returns notes and whether the run is already finished."""
    # Deferred: loads torch and accelerate; the config checks before it run without them.
    from pretrain.training.checkpoint import TrainerState, checkpoint_problem, finished_note
    from pretrain.training.run_lock import held_elsewhere

    run_dir = Path(cfg.train.output_root) / cfg.train.run_name
    name = cfg.train.run_name
    problem = held_elsewhere(run_dir)
    if problem is not None:
        raise PipelineError(problem)
    checkpoints = run_format.checkpoints_dir(run_dir)
    complete = [p for _, p in reversed(run_format.list_checkpoints(checkpoints)) if run_format.is_complete(p)]
    if resume == "none":
        if complete:
            raise PipelineError(
                f"run folder {run_dir} already has checkpoints (newest {complete[0].name}): continue it with "
                f"`make resume RUN={name}`, or choose another RUN"
            )
        return [f"new run {run_dir}"], False
    if resume != "auto":
        path = Path(resume)
        if not path.is_dir() or not run_format.is_complete(path):
            raise PipelineError(
                f"CHECKPOINT={resume}: not a complete checkpoint folder (step-XXXXXXXX with a "
                f"{run_format.COMPLETE_MARKER} marker); "
                f"complete ones of this run: {', '.join(str(p) for p in complete) or 'none'}"
            )
        damage = checkpoint_problem(path)
        if damage is not None:
            raise PipelineError(f"CHECKPOINT={resume} is damaged ({damage}): resume from another one")
        complete = [path]
    if not complete:
        return [f"run {run_dir}: no checkpoint yet, starting from step 0"], False
    check_pin(
        run_dir,
        corpus_dir,
        action=f"resume (data.corpus={cfg.data.corpus})",
        hint=f"resume with the run's own config (make resume RUN={name}), or start a new run on the new corpus",
    )
    newest = run_format.newest_complete(checkpoints) if resume == "auto" else complete[0]
    good = next((p for p in complete if checkpoint_problem(p) is None), None)
    notes = []
    if good is None:
        raise PipelineError(
            f"no complete checkpoint of {run_dir} is intact ({checkpoint_problem(complete[0])}): start a new run"
        )
    if good != newest:
        notes.append(
            f"newest checkpoint {newest.name} is damaged ({checkpoint_problem(newest)}); resuming from {good.name}"
        )
    step = TrainerState.from_json(good / run_format.STATE_FILE).step
    finished = finished_note(run_dir, step, cfg.train)
    if finished is not None:
        return [finished], True
    notes.append(f"resuming {run_dir} from {good.name} (step {step} of {cfg.train.max_steps})")
    return notes, False


def preflight(
    cfg: PretrainConfig, *, shape: LaunchShape, resume: str = "none", available: int | None = None
) -> tuple[list[str], bool]:
    """All checks; returns the lines to print and whether the run is already finished (nothing to launch)."""
    # Deferred: loads torch and accelerate; the config checks before it run without them.
    from pretrain.data.corpus_data import LinkedCorpus
    from pretrain.data.loader import build_train_sampler
    from pretrain.data.pair_fit import pair_fit_warning
    from pretrain.training.distributed import plan_batches

    corpus_dir = resolved_corpus(cfg.data.corpus)
    notes, finished = _check_run(cfg, resume, corpus_dir)
    if finished:
        return notes, True
    corpus = LinkedCorpus.open(corpus_dir)
    _check_warm_start(cfg, corpus.vocab_size)
    if not cfg.model.init_from and cfg.model.max_position_embeddings < cfg.data.max_seq_len:
        raise PipelineError(
            f"data.max_seq_len={cfg.data.max_seq_len} exceeds model.max_position_embeddings="
            f"{cfg.model.max_position_embeddings}; lower data.max_seq_len"
        )
    fit = pair_fit_warning(
        corpus.segment_offsets, corpus.segments_manifest.get("max_tokens"), cfg.data.max_seq_len
    )
    if fit is not None:
        notes.append(f"warning: {fit}")
    # The relations on this corpus: one impossible here, or edge kinds the graph lacks, fail before the launch.
    sampler = build_train_sampler(corpus, cfg.data, cfg.drp, seed=cfg.train.seed)
    notes.append(
        "DRP relations: "
        + ", ".join(
            f"{name} p={p:.3g} ({relation.eligible.size:,} anchor segments)"
            for name, p, relation in zip(
                sampler.relation_names, sampler.probabilities, sampler.relations, strict=True
            )
        )
    )
    if shape.gpu is False and cfg.train.mixed_precision == "fp16":
        raise PipelineError("train.mixed_precision=fp16 needs a GPU; use bf16 or no on CPU")
    plan = plan_batches(cfg.train, shape.processes)
    notes.append(
        f"corpus {corpus_dir}: {corpus.num_docs:,} documents, {corpus.num_segments:,} segments; "
        f"{shape.processes} process(es) x micro batch {plan.micro_batch_size} x {plan.accumulation} "
        f"accumulation = {plan.global_batch_size} sequences per step"
    )
    if cfg.train.warmup_steps >= cfg.train.max_steps:
        notes.append(
            f"warning: train.warmup_steps={cfg.train.warmup_steps} >= train.max_steps={cfg.train.max_steps}: "
            f"the lr never reaches train.lr={cfg.train.lr:g}; lower train.warmup_steps (e.g. "
            f"{max(1, cfg.train.max_steps // 10)})"
        )
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cfg.data.num_workers * shape.per_machine > cpus:
        notes.append(
            f"warning: data.num_workers={cfg.data.num_workers} x {shape.per_machine} processes = "
            f"{cfg.data.num_workers * shape.per_machine} DataLoader workers on {cpus} CPUs: they will compete with "
            f"training; lower data.num_workers (the example stream is the same for any count)"
        )
    dims = model_dims(cfg, corpus.vocab_size)
    notes.append(
        check_memory(cfg, dims, shape, available if available is not None else available_memory(shape))
    )
    return notes, False


def run_preflight(cfg: PretrainConfig, *, launch: str | None, resume: str | None) -> int:
    shape = read_launch(launch)
    notes, finished = preflight(cfg, shape=shape, resume=resume or cfg.checkpoint.resume)
    for note in notes:
        print(f"preflight: {note}")
    return FINISHED if finished else 0


__all__ = [
    "FINISHED",
    "LaunchShape",
    "preflight",
    "read_launch",
    "run_preflight",
]
