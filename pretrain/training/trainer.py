"""`linkbert pretrain`: MLM + DRP pretraining through one `Accelerator` (one process, DDP or DeepSpeed).

    setup (accelerator, corpus, model, optimizer, checkpoint) -> while step < stop: train_step ->
    log / evaluate / checkpoint -> exit 0 (also on SIGTERM/SIGINT and train.stop_after, after a checkpoint)

The data stream is a pure function of the global sample number, so the whole data state is
`samples_consumed`: a resumed run restarts the loader there in O(1) and replays nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, set_seed

from formats import run as run_format
from formats.pin import check_pin, resolved_corpus, write_pin
from foundation.config import config_hash, read_yaml, save_resolved, to_dict
from foundation.errors import PipelineError
from foundation.paths import resolve_path
from pretrain.config import PretrainConfig, drp_stream_view
from pretrain.data.corpus_data import LinkedCorpus
from pretrain.data.loader import build_heldout_batches, build_train_loader
from pretrain.data.pair_fit import pair_fit_warning
from pretrain.evaluation.baselines import cached_cosine_baseline, describe_cosine_baseline
from pretrain.evaluation.drp_plots import write_drp_plots
from pretrain.evaluation.evaluate import evaluate_model
from pretrain.evaluation.report import format_metrics
from pretrain.modeling.flops import flops_per_token, peak_flops
from pretrain.modeling.linkbert import DRP_HEAD_PREFIX, POOLER_PREFIX, build_model, init_cosine_head
from pretrain.training.checkpoint import Checkpointer, TrainerState, finished_note
from pretrain.training.distributed import BatchPlan, build_accelerator, configure_batches, is_deepspeed
from pretrain.training.metrics import MetricsLogger
from pretrain.training.optim import build_optimizer
from pretrain.training.run_lock import RunLock
from pretrain.training.schedule import LrSchedule, WarmupLinearDecay

log = logging.getLogger(__name__)

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels", "drp_labels")
# Set to a truthy value to have every rank write, under runs/NAME/debug/, the sample numbers of its micro
# batches and a digest of its final weights (tests use them: ranks see disjoint examples, end identical).
DEBUG_ENV = "LINKBERT_DEBUG"


def run_pretrain(cfg: PretrainConfig, config_path: str | None) -> int:
    run_dir = Path(cfg.train.output_root) / cfg.train.run_name
    acc = build_accelerator(cfg.train, project_dir=str(run_dir))
    plan = configure_batches(acc, cfg.train)
    lock = _lock_run(acc, run_dir)
    try:
        return _run(acc, plan, cfg, run_dir, config_path)
    finally:
        lock.release()


def _run(
    acc: Accelerator, plan: BatchPlan, cfg: PretrainConfig, run_dir: Path, config_path: str | None
) -> int:
    checkpointer = Checkpointer(acc, run_dir, cfg.checkpoint)
    resuming = bool(checkpointer.resume_candidates())
    given_corpus = cfg.data.corpus
    cfg = _pin_corpus(cfg, run_dir, resuming=resuming)
    cfg = _legacy_settings(cfg, run_dir, resuming=resuming)
    model, optimizer, schedule, corpus = _build(acc, cfg)
    before = _prepare_run_dir(
        acc, run_dir, cfg, resuming=resuming, config_path=config_path, given_corpus=given_corpus
    )
    state = TrainerState(config_hash=stream_hash(cfg), world_size=acc.num_processes)
    if resuming:
        restored = checkpointer.restore(expected_hash=state.config_hash)
        if restored is not None:
            state = _restored(checkpointer, *restored)
            _report_schedule_change(acc, schedule, cfg, before, state)
    finished = finished_note(run_dir, state.step, cfg.train)
    if finished is not None:
        acc.print(finished)
        acc.end_training()
        return 0
    loader = _train_loader(corpus, cfg, plan, acc, state.samples_consumed)
    heldout = HeldOut(acc, corpus, cfg)
    metrics = _metrics(acc, run_dir, cfg, model, state.step)
    stop = StopRequest()
    stop_step = min(cfg.train.max_steps, cfg.train.stop_after or cfg.train.max_steps)
    acc.print(f"training steps {state.step} -> {stop_step} of {cfg.train.max_steps}: {plan}")
    try:
        batches = iter(loader)
        metrics.pause()
        while state.step < stop_step:
            result = train_step(acc, model, optimizer, schedule, batches, plan, metrics, cfg, stop, state)
            _advance(state, plan, result.skipped, cfg.train.max_nonfinite_steps)
            metrics.end_step(state.step, skipped=result.skipped, grad_norm=result.grad_norm)
            stop_now = result.stop
            done = state.step >= stop_step or stop_now
            if state.step % cfg.logging.every == 0 or done:
                metrics.log_train(state.step, _progress(state, result.lr, result.lr_fresh))
            if heldout.due(state.step, cfg.train.max_steps):
                heldout.run(model, metrics, state.step)
            if state.step % cfg.checkpoint.every == 0 or done:
                state.epoch, state.epoch_index = loader.dataset.sampler.position(state.samples_consumed)
                checkpointer.save(state, acc.unwrap_model(model).config.to_dict())
                metrics.pause()
            if stop_now:
                metrics.write(f"stop requested: checkpoint of step {state.step} written, exiting")
                break
    finally:
        stop.restore()
        metrics.close()
    _debug_weights(acc, model, cfg)
    acc.wait_for_everyone()
    acc.end_training()
    return 0


def train_step(
    acc: Accelerator,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: LrSchedule,
    batches: Any,
    plan: BatchPlan,
    metrics: MetricsLogger,
    cfg: PretrainConfig,
    stop: StopRequest,
    state: TrainerState,
) -> StepResult:
    """One optimizer step over `plan.accumulation` micro batches."""
    model.train()
    # The schedule counts applied updates: a skipped (non-finite) step does not advance it.
    schedule.apply(optimizer.param_groups, state.step - state.nonfinite_steps)
    lr = optimizer.param_groups[0]["lr"]
    # The new heads' lr beside the encoder's: during train.fresh_warmup_steps the encoder's is 0.
    lr_fresh = next((g["lr"] for g in optimizer.param_groups if g.get("fresh")), None)
    finite = torch.ones((), dtype=torch.bool, device=acc.device)
    for _ in range(plan.accumulation):
        batch = next(batches)
        _debug_samples(acc, batch, cfg, state)
        batch = {k: batch[k].to(acc.device, non_blocking=True) for k in MODEL_INPUTS}
        with acc.accumulate(model):  # no gradient all-reduce (DDP no_sync) until the last micro batch
            out = model(**batch)
            finite &= torch.isfinite(out.loss.detach())
            metrics.add(out, batch)
            acc.backward(out.loss)  # under DeepSpeed the last one also steps (and skips non-finite steps)
    raw_norm = acc.clip_grad_norm_(model.parameters(), cfg.train.max_grad_norm)
    norm = torch.as_tensor(0.0 if raw_norm is None else raw_norm, dtype=torch.float64, device=acc.device)
    requested = torch.tensor(float(stop.requested), dtype=torch.float64, device=acc.device)
    # One host sync per step: did any rank see a non-finite loss or gradient norm, or a stop signal; and
    # the step's tokens. Every rank then takes the same branch.
    flags = torch.stack(
        [(~finite).double(), (~torch.isfinite(norm)).double(), requested, metrics.step_tokens()]
    )
    bad_loss, bad_norm, stop_now, tokens = acc.reduce(flags, reduction="sum").tolist()
    skipped = bad_loss > 0 or bad_norm > 0
    deepspeed = is_deepspeed(acc)  # DeepSpeed stepped inside backward (and skipped a non-finite step itself)
    if not skipped and not deepspeed:
        optimizer.step()
    elif skipped and acc.scaler is not None and bad_loss == 0:
        optimizer.step()  # fp16 overflow: the grad scaler skips the update itself and lowers its scale
    if not deepspeed:
        optimizer.zero_grad(set_to_none=True)
    state.tokens_seen += int(tokens)
    grad_norm = None if raw_norm is None or skipped else norm.item()
    return StepResult(skipped=skipped, grad_norm=grad_norm, lr=lr, stop=stop_now > 0, lr_fresh=lr_fresh)


@dataclass
class StepResult:
    skipped: bool  # non-finite loss or gradient somewhere: no update on any rank
    grad_norm: float | None  # before clipping
    lr: float  # the learning rate this step used
    stop: bool  # a rank received SIGTERM/SIGINT
    lr_fresh: float | None = None  # the warm start's new tensors' lr (None: no such group)


# ----------------------------------------------------------------------------------------------
# Setup


def _build(acc: Accelerator, cfg: PretrainConfig):
    corpus = LinkedCorpus.open(resolve_path(cfg.data.corpus))
    set_seed(cfg.train.seed)  # identical initial weights on every rank
    model, report = build_model(
        cfg.model,
        vocab_size=corpus.vocab_size,
        drp_classes=cfg.drp.num_classes,
        pad_token_id=corpus.pad_id,
        drp_readout=cfg.drp.readout,
    )
    if model.config.max_position_embeddings < cfg.data.max_seq_len:
        raise PipelineError(
            f"data.max_seq_len={cfg.data.max_seq_len} exceeds the model's max_position_embeddings="
            f"{model.config.max_position_embeddings}; lower data.max_seq_len"
        )
    fit = pair_fit_warning(
        corpus.segment_offsets, corpus.segments_manifest.get("max_tokens"), cfg.data.max_seq_len
    )
    if fit is not None and acc.is_main_process:
        log.warning(fit)
    # (build_model logs the warm-start report itself, once per process: rank 0 alone logs at INFO)
    if cfg.drp.readout == "cosine":
        _start_from_the_baseline(acc, model, corpus, cfg)
    set_seed(cfg.train.seed, device_specific=True)  # distinct dropout streams per rank
    fused = acc.device.type == "cuda" and not is_deepspeed(acc)
    fresh = fresh_parameters(model, report)
    optimizer = build_optimizer(model, cfg.train, fused=fused, fresh=fresh)
    if fresh and cfg.train.fresh_warmup_steps >= cfg.train.max_steps:
        log.warning(
            "train.fresh_warmup_steps=%d >= train.max_steps=%d: only the heads new to the warm start train in "
            "this run, the warm-started weights wait throughout (lower train.fresh_warmup_steps)",
            cfg.train.fresh_warmup_steps,
            cfg.train.max_steps,
        )
    # The schedule is ours, applied before each step: never handed to accelerate or DeepSpeed.
    schedule = LrSchedule.for_groups(optimizer.param_groups, cfg.train)
    model, optimizer = acc.prepare(model, optimizer)
    return model, optimizer, schedule, corpus


def _start_from_the_baseline(
    acc: Accelerator, model: torch.nn.Module, corpus: Any, cfg: PretrainConfig
) -> None:
    """The cosine read-out's head starts as the frozen-cosine baseline's threshold classifier (fit on
    training pairs). Rank 0 computes the baseline into the run folder's cache, the others read it there;
    every rank sets the same head before `prepare`, so DDP and DeepSpeed start from it."""

    if cfg.model.init_from is None or cfg.data.heldout_fraction == 0 or cfg.eval.baseline_fit_pairs == 0:
        log.info(
            "drp.readout=cosine without a warm start, held-out documents or baseline_fit_pairs: random head"
        )
        return
    run_dir = Path(cfg.train.output_root) / cfg.train.run_name
    heldout = _heldout_batches(corpus, cfg, rank=0, world_size=1)
    baseline = None
    if acc.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        baseline = cached_cosine_baseline(corpus, heldout, cfg, run_dir / run_format.BASELINE_FILE)
    acc.wait_for_everyone()
    if not acc.is_main_process:
        baseline = cached_cosine_baseline(corpus, heldout, cfg, run_dir / run_format.BASELINE_FILE)
    if baseline is not None:
        init_cosine_head(model, baseline.thresholds.order, baseline.thresholds.cuts)
        if acc.is_main_process:
            log.info(
                "DRP cosine head starts from the frozen-cosine baseline's thresholds %s",
                baseline.thresholds.to_dict(),
            )


def _heldout_batches(corpus: Any, cfg: PretrainConfig, *, rank: int, world_size: int) -> Any:
    return build_heldout_batches(
        corpus,
        cfg.data,
        cfg.drp,
        seed=cfg.train.seed,
        micro_batch_size=cfg.train.micro_batch_size,
        pairs=cfg.eval.pairs,
        rank=rank,
        world_size=world_size,
        max_pairs_per_edge=cfg.eval.max_pairs_per_edge,
        max_pairs_per_document=cfg.eval.max_pairs_per_document,
    )


def fresh_parameters(model: torch.nn.Module, report: Any) -> list[str]:
    """The parameters that start untrained and so learn at train.fresh_lr_scale from step 0: those the
    warm start lacked, and the pooler when it feeds a DRP classifier the checkpoint lacked (it was
    trained for no classifier of ours; checkpoints without an NSP head store an untrained one)."""

    if report is None:
        return []
    fresh = list(report.newly_initialized)
    if getattr(model.config, "drp_readout", "pooler") == "pooler" and any(
        name.startswith(DRP_HEAD_PREFIX) for name in fresh
    ):
        fresh += [n for n, _ in model.named_parameters() if n.startswith(POOLER_PREFIX) and n not in fresh]
    return fresh


# Config keys that define the data stream or the model: a resumed run must not change them. Everything
# else (lr, max_steps, stop_after, logging, checkpointing, precision, micro batch) may change.
STREAM_KEYS = ("data", "drp", "model", "train.seed", "train.global_batch_size", "train.optimizer")
# The stream is the same for any worker count; the corpus is checked by content (its pin), not by path, so a
# run and its corpus folder may move.
NOT_STREAM_KEYS = frozenset({"data.num_workers", "data.corpus"})


def stream_view(data: dict[str, Any]) -> dict[str, Any]:
    """The stream-defining keys of a plain config dict, dotted (`drp` in the form that keeps runs made with
    `drp.classes` resuming: pretrain/config.py:drp_stream_view)."""
    data = {**data, "drp": drp_stream_view(data.get("drp") or {})}
    # Runs from before data.heldout_documents held out documents of any kind: "any" keeps their hash.
    if (data.get("data") or {}).get("heldout_documents", "any") == "any":
        data["data"] = {k: v for k, v in (data.get("data") or {}).items() if k != "heldout_documents"}
    view = {}
    for key in STREAM_KEYS:
        section, _, name = key.partition(".")
        values = data.get(section) or {}
        items = [(name, values.get(name))] if name else list(values.items())
        for k, v in items:
            if f"{section}.{k}" not in NOT_STREAM_KEYS:
                view[f"{section}.{k}"] = v
    return view


def stream_hash(cfg: PretrainConfig) -> str:
    return config_hash(stream_view(to_dict(cfg)))


def _lock_run(acc: Accelerator, run_dir: Path) -> RunLock:
    """Rank 0 takes the run's lock; every rank stops with the same message when it is held elsewhere."""
    lock = RunLock(run_dir)
    problem = None
    if acc.is_main_process:
        try:
            lock.acquire()
        except PipelineError as e:
            problem = str(e)
    if acc.num_processes > 1:
        problem = broadcast_object_list([problem], from_process=0)[0]
    if problem is not None:
        raise PipelineError(problem)
    return lock


# Settings added after runs were saved without them, and what those runs did: a resumed run keeps it.
LEGACY_SETTINGS = {("drp", "readout"): "pooler", ("data", "heldout_documents"): "any"}


def _legacy_settings(cfg: PretrainConfig, run_dir: Path, *, resuming: bool) -> PretrainConfig:
    """A run saved before a setting existed resumes with what it did then (its config.yaml lacks the key,
    and loading it gave today's default)."""
    saved = run_dir / run_format.CONFIG_FILE
    if not resuming or not saved.is_file():
        return cfg
    previous = read_yaml(saved) or {}
    for (section, key), value in LEGACY_SETTINGS.items():
        if key not in (previous.get(section) or {}) and getattr(getattr(cfg, section), key) != value:
            log.info(
                "%s has no %s.%s (saved before the setting): resuming with %s", saved, section, key, value
            )
            cfg = dataclasses.replace(
                cfg, **{section: dataclasses.replace(getattr(cfg, section), **{key: value})}
            )
    return cfg


def _pin_corpus(cfg: PretrainConfig, run_dir: Path, *, resuming: bool) -> PretrainConfig:
    """The run reads the folder `data.corpus` resolves to; a resume checks it is the corpus of the pin."""
    corpus_dir = resolved_corpus(cfg.data.corpus)
    if resuming:
        name = cfg.train.run_name
        check_pin(
            run_dir,
            corpus_dir,
            action=f"resume (data.corpus={cfg.data.corpus})",
            hint=f"resume with the run's own config (make resume RUN={name} reads runs/{name}/config.yaml, which "
            "names the pinned folder), or start a new run on the new corpus (another RUN)",
        )
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, corpus=str(corpus_dir)))


def _prepare_run_dir(
    acc: Accelerator,
    run_dir: Path,
    cfg: PretrainConfig,
    *,
    resuming: bool,
    config_path: str | None,
    given_corpus: str,
) -> dict[str, Any] | None:
    """Check the run folder against this launch and save the resolved config; returns the config saved
    by the previous launch (None on a fresh start)."""
    saved = run_dir / run_format.CONFIG_FILE
    previous = read_yaml(saved) if resuming and saved.is_file() else None
    if not resuming:
        existing = run_format.newest_complete(run_format.checkpoints_dir(run_dir))
        if existing is not None:
            raise PipelineError(
                f"run folder {run_dir} already has checkpoints (newest {existing.name}): continue it with "
                f"`make resume RUN={cfg.train.run_name}` (--resume auto), or choose another RUN (train.run_name)"
            )
    elif previous is not None:
        before, now = stream_view(previous), stream_view(to_dict(cfg))
        changed = [k for k in now if before.get(k) != now[k]]
        if changed:
            key = changed[0]
            raise PipelineError(
                f"{saved}: resuming with {len(changed)} changed key(s) that alter the data stream or the model "
                f"({key}: {before.get(key)!r} -> {now[key]!r}{', ...' if len(changed) > 1 else ''}); "
                "resume with the saved config or start a new run (train.run_name)"
            )
    if acc.is_main_process:
        # stop_after belongs to this invocation (a planned preemption), not to the run: saved, it would make
        # `make resume` (which starts from this file) stop again at once.
        save_resolved(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, stop_after=None)), saved)
        if not resuming or not (run_dir / run_format.PIN_FILE).is_file():
            write_pin(run_dir, Path(cfg.data.corpus), given=given_corpus)
        log.info("run folder %s (config from %s)", run_dir, config_path or "defaults")
    acc.wait_for_everyone()
    return previous


SCHEDULE_KEYS = ("lr", "warmup_steps", "max_steps", "min_lr_ratio", "fresh_lr_scale", "fresh_warmup_steps")


def _report_schedule_change(
    acc: Accelerator, schedule: LrSchedule, cfg: PretrainConfig, previous: dict[str, Any] | None, state: Any
) -> None:
    """Print the lr a resumed run continues with when its schedule settings changed since the last launch.

    The schedule is a function of the config given now and the restored step, so nothing is restored;
    this only says what changed, since a changed max_steps or lr moves the lr of the next step."""
    t = cfg.train
    old = (previous or {}).get("train") or {}
    changed = [k for k in SCHEDULE_KEYS if k in old and old[k] != getattr(t, k)]
    if not changed:
        return
    update = state.step - state.nonfinite_steps
    fn = schedule.multipliers[0]  # group 0: the warm-started (or all) matrices, whose lr is the one logged
    was = WarmupLinearDecay(
        old.get("warmup_steps", t.warmup_steps),
        old.get("max_steps", t.max_steps),
        old.get("min_lr_ratio", t.min_lr_ratio),
        hold=fn.hold and old.get("fresh_warmup_steps", t.fresh_warmup_steps),
    )
    lr_was = float(old.get("lr", t.lr)) * was(update)
    acc.print(
        "schedule changed on resume ("
        + ", ".join(f"train.{k} {old[k]} -> {getattr(t, k)}" for k in changed)
        + f"): warmup {t.warmup_steps} steps, then linear decay from lr {t.lr:g} to "
        f"{t.lr * t.min_lr_ratio:g} at step {t.max_steps}; the lr at step {state.step} is now "
        f"{t.lr * fn(update):.4g} (was {lr_was:.4g})"
    )


def _restored(checkpointer: Checkpointer, path: Path, state: TrainerState) -> TrainerState:
    state.world_size = checkpointer.accelerator.num_processes
    checkpointer.accelerator.print(
        f"resumed from {path}: step {state.step}, sample {state.samples_consumed}, {state.tokens_seen} tokens"
    )
    return state


def _train_loader(corpus: Any, cfg: PretrainConfig, plan: BatchPlan, acc: Accelerator, start_sample: int):
    return build_train_loader(
        corpus,
        cfg.data,
        cfg.drp,
        seed=cfg.train.seed,
        micro_batch_size=plan.micro_batch_size,
        rank=acc.process_index,
        world_size=acc.num_processes,
        start_sample=start_sample,
    )


def _metrics(
    acc: Accelerator, run_dir: Path, cfg: PretrainConfig, model: Any, start_step: int
) -> MetricsLogger:
    fpt = peak = None
    if acc.device.type == "cuda":  # MFU only where a peak FLOP/s is meaningful
        mc = acc.unwrap_model(model).config
        peak = peak_flops(torch.cuda.get_device_name(acc.device))
        fpt = flops_per_token(
            hidden_size=mc.hidden_size,
            num_layers=mc.num_hidden_layers,
            intermediate_size=mc.intermediate_size,
            vocab_size=mc.vocab_size,
            seq_len=cfg.data.max_seq_len,
            mlm_probability=cfg.data.mlm_probability,
        )
    return MetricsLogger(
        acc,
        run_dir,
        cfg.logging,
        run_name=cfg.train.run_name,
        run_config=to_dict(cfg),
        drp_relations=cfg.drp.relations,
        start_step=start_step,
        total_steps=cfg.train.max_steps,
        flops_per_token=fpt,
        peak_flops=peak,
    )


# ----------------------------------------------------------------------------------------------
# Loop helpers


def _advance(state: TrainerState, plan: BatchPlan, skipped: bool, max_nonfinite: int) -> None:
    state.step += 1
    state.samples_consumed += plan.global_batch_size
    if not skipped:
        state.nonfinite_in_a_row = 0
        return
    state.nonfinite_steps += 1
    state.nonfinite_in_a_row += 1
    log.warning("step %d: non-finite loss or gradient, step skipped (no update)", state.step)
    if state.nonfinite_in_a_row >= max_nonfinite:
        first = state.step - state.nonfinite_in_a_row + 1
        raise PipelineError(
            f"step {state.step}: {state.nonfinite_in_a_row} non-finite losses in a row (steps {first}-"
            f"{state.step} skipped, train.max_nonfinite_steps={max_nonfinite}); lower train.lr, use bf16 "
            "instead of fp16, or resume from an earlier checkpoint"
        )


def _progress(state: TrainerState, lr: float, lr_fresh: float | None = None) -> dict[str, Any]:
    row = {
        "lr": lr,
        "samples": state.samples_consumed,
        "tokens_seen": state.tokens_seen,
        "nonfinite_steps": state.nonfinite_steps,
    }
    if lr_fresh is not None:
        row["lr_fresh"] = lr_fresh
    return row


class HeldOut:
    """Periodic held-out evaluation. Its batches are built at start-up, so a corpus without held-out
    documents fails before training rather than at the end, where the final checkpoint waits."""

    def __init__(self, acc: Accelerator, corpus: Any, cfg: PretrainConfig) -> None:
        self.acc, self.every = acc, cfg.eval.every
        self.run_dir = Path(cfg.train.output_root) / cfg.train.run_name
        self.enabled = cfg.data.heldout_fraction > 0
        if not self.enabled:
            acc.print("data.heldout_fraction=0: no held-out documents, evaluation is off")
            return
        self.batches = _heldout_batches(corpus, cfg, rank=acc.process_index, world_size=acc.num_processes)
        acc.print(f"held-out DRP set: {self.batches.heldout.describe()}")
        # The zero-training baseline on the same pairs, logged beside every evaluation (main process only:
        # it alone writes metrics). Cached in the run folder, so a resumed run and `linkbert eval` reuse it.
        self.baseline: dict[str, Any] = {}
        if acc.is_main_process:
            baseline = cached_cosine_baseline(
                corpus, self.batches, cfg, self.run_dir / run_format.BASELINE_FILE
            )
            if baseline is not None:
                self.baseline = baseline.metrics
                acc.print(describe_cosine_baseline(self.baseline, self.batches.heldout.class_names))

    def due(self, step: int, max_steps: int) -> bool:
        return self.enabled and (step == max_steps or (self.every > 0 and step % self.every == 0))

    def run(self, model: Any, metrics: MetricsLogger, step: int) -> None:
        # Evaluation must not move the training RNG, or a run evaluated at step k and one resumed at k diverge.
        devices = [self.acc.device.index or 0] if self.acc.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            results = evaluate_model(
                model, self.batches, accelerator=self.acc, class_names=self.batches.heldout.class_names
            )
        results.update(self.baseline)
        metrics.log_eval(step, results)
        metrics.write(f"eval step {step}: {format_metrics(results)}")
        if self.acc.is_main_process:
            self.plot(step)
        metrics.pause()

    def plot(self, step: int) -> None:
        """Per-relation accuracy over steps and the latest confusion matrix, as PNGs in runs/NAME/plots/."""

        _, evals = run_format.split_rows(run_format.read_metrics(self.run_dir, up_to_step=step))
        write_drp_plots(evals, self.run_dir / run_format.PLOTS_DIR)


def _debug_path(acc: Accelerator, cfg: PretrainConfig, kind: str, suffix: str) -> Path:
    folder = Path(cfg.train.output_root) / cfg.train.run_name / "debug"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{kind}-rank-{acc.process_index:05d}{suffix}"


def _debug_samples(acc: Accelerator, batch: dict[str, Any], cfg: PretrainConfig, state: TrainerState) -> None:
    if not os.environ.get(DEBUG_ENV):
        return
    path = _debug_path(acc, cfg, "samples", ".jsonl")
    with path.open("a") as f:
        f.write(json.dumps({"step": state.step + 1, "samples": batch["sample_index"].tolist()}) + "\n")


def _debug_weights(acc: Accelerator, model: Any, cfg: PretrainConfig) -> None:
    if not os.environ.get(DEBUG_ENV) or is_deepspeed(acc):  # ZeRO shards differ per rank by design
        return
    digest = hashlib.sha256()
    for name, tensor in sorted(acc.unwrap_model(model).state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    _debug_path(acc, cfg, "weights", ".sha256").write_text(digest.hexdigest() + "\n")


class StopRequest:
    """SIGTERM/SIGINT set a flag; the loop checkpoints at the next step boundary and exits 0.

    A second SIGINT interrupts at once (an impatient Ctrl-C), without a checkpoint.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        log.warning(
            "%s received: checkpointing at the end of this step, then exiting", signal.Signals(signum).name
        )

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
