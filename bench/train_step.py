"""Benchmark of the trainer's optimizer step against a bare PyTorch loop on the same model and batches.

CPU mode (default): a small LinkBertForPreTraining from scratch, one process, one thread. Ours = the
trainer's `train_step` (Accelerator, accumulation context, on-device metric sums, the per-step flag
all-reduce and host sync, AdamW + schedule) plus the loop's bookkeeping; baseline = forward, backward,
clip, `optimizer.step()`, the lr schedule, `zero_grad()` on an identical copy of the model with the
same AdamW and the same batches. Blocks of steps alternate between the two so that a shared machine's
load hits both alike; the figure is the median CPU time per step (robust to other jobs on the cores).

    .venv/bin/python bench/train_step.py [--steps 30] [--rounds 5] [--hidden 128] [--seq 128] [--batch 8]

GPU mode (`--gpu`): tokens/s and MFU of our trainer step for the `base` model size (12 x 768, vocab
30522) at seq 128 and 512 in bf16 against a plain `transformers.BertForPreTraining` + fused AdamW loop
under bf16 autocast (its MLM head projects every position; ours only the masked ones). Random tokens,
no corpus; ~2 minutes on one H100.

    .venv/bin/python bench/train_step.py --gpu [--steps 20]

Last line: `RESULT train_step_ms=<ours> ms baseline=<bare> ratio=<ours/bare>` (CPU) or
`RESULT train_tokens_per_s=<ours> tokens/s baseline=<bare> ratio=<ours/bare>` (GPU, seq 512).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.tree import load_config  # noqa: E402
from pretrain.modeling.flops import flops_per_token, peak_flops  # noqa: E402
from pretrain.modeling.linkbert import LinkBertForPreTraining  # noqa: E402
from pretrain.training.checkpoint import TrainerState  # noqa: E402
from pretrain.training.distributed import build_accelerator, configure_batches  # noqa: E402
from pretrain.training.metrics import MetricsLogger  # noqa: E402
from pretrain.training.optim import build_optimizer  # noqa: E402
from pretrain.training.schedule import LrSchedule  # noqa: E402
from pretrain.training.trainer import StopRequest, _advance, train_step  # noqa: E402


def random_batches(n: int, batch: int, seq: int, vocab: int, device: str, seed: int = 0) -> list[dict]:
    """Pretraining batches as the loader makes them: [CLS] A [SEP] B [SEP], 15% of tokens as MLM targets."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.randint(5, vocab, (batch, seq), generator=g)
        ids[:, 0], ids[:, seq // 2], ids[:, -1] = 2, 3, 3
        types = torch.zeros_like(ids)
        types[:, seq // 2 + 1 :] = 1
        masked = torch.rand(batch, seq, generator=g) < 0.15
        masked[:, 0] = masked[:, seq // 2] = masked[:, -1] = False
        labels = torch.where(masked, ids, torch.full_like(ids, -100))
        ids = torch.where(masked, torch.full_like(ids, 4), ids)
        out.append(
            {
                "input_ids": ids.to(device),
                "attention_mask": torch.ones_like(ids).to(device),
                "token_type_ids": types.to(device),
                "labels": labels.to(device),
                "drp_labels": torch.randint(0, 3, (batch,), generator=g).to(device),
                "sample_index": torch.arange(batch),
            }
        )
    return out


def sizes(args: argparse.Namespace, seq: int) -> list[str]:
    return [
        f"model.hidden_size={args.hidden}",
        f"model.num_hidden_layers={args.layers}",
        f"model.num_attention_heads={args.heads}",
        f"model.intermediate_size={args.hidden * 4}",
        f"model.max_position_embeddings={max(512, seq)}",
        f"data.max_seq_len={seq}",
    ]


def bert_config(args: argparse.Namespace, seq: int):
    """The BertConfig of the same sizes as `sizes` (for the models both sides of a comparison build)."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        intermediate_size=args.hidden * 4,
        max_position_embeddings=max(512, seq),
    )


class Ours:
    """The trainer's step, built exactly as `run_pretrain` builds its parts."""

    def __init__(self, cfg, model: LinkBertForPreTraining, run_dir: Path) -> None:
        self.cfg = cfg
        self.acc = build_accelerator(cfg.train)
        self.plan = configure_batches(self.acc, cfg.train)
        optimizer = build_optimizer(model, cfg.train, fused=self.acc.device.type == "cuda")
        self.schedule = LrSchedule.for_groups(optimizer.param_groups, cfg.train)
        self.model, self.optimizer = self.acc.prepare(model, optimizer)
        self.metrics = MetricsLogger(
            self.acc,
            run_dir,
            cfg.logging,
            run_name="bench",
            run_config={},
            drp_relations=cfg.drp.relations,
            start_step=0,
            total_steps=cfg.train.max_steps,
        )
        self.state = TrainerState()
        self.stop = StopRequest()

    def step(self, batches) -> None:
        result = train_step(
            self.acc, self.model, self.optimizer, self.schedule, batches, self.plan, self.metrics, self.cfg,
            self.stop, self.state,
        )  # fmt: skip
        _advance(self.state, self.plan, result.skipped, self.cfg.train.max_nonfinite_steps)
        self.metrics.end_step(self.state.step, skipped=result.skipped, grad_norm=result.grad_norm)
        if self.state.step % self.cfg.logging.every == 0:
            self.metrics.log_train(self.state.step, {"lr": result.lr})

    def close(self) -> None:
        self.stop.restore()
        self.metrics.close()


class Bare:
    """forward, backward, clip, step, schedule, zero_grad: nothing else."""

    def __init__(self, cfg, model: torch.nn.Module, device: str, autocast: bool = False) -> None:
        self.model = model.to(device).train()
        self.optimizer = build_optimizer(model, cfg.train, fused=device == "cuda")
        self.schedule = LrSchedule.for_groups(self.optimizer.param_groups, cfg.train)
        self.updates = 0
        self.max_norm = cfg.train.max_grad_norm
        self.device, self.autocast = device, autocast

    def loss(self, batch: dict) -> torch.Tensor:
        inputs = {
            k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids", "labels", "drp_labels")
        }
        return self.model(**inputs).loss

    def step(self, batches) -> None:
        batch = next(batches)
        self.schedule.apply(self.optimizer.param_groups, self.updates)
        with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.autocast):
            loss = self.loss(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_norm)
        self.optimizer.step()
        self.updates += 1
        self.optimizer.zero_grad(set_to_none=True)


class BareHfBert(Bare):
    """`transformers.BertForPreTraining`: the MLM head projects every position onto the vocabulary."""

    def loss(self, batch: dict) -> torch.Tensor:
        drp = batch["drp_labels"].clamp(max=1)  # its NSP head has 2 classes
        return self.model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
            labels=batch["labels"],
            next_sentence_label=drp,
        ).loss


def cycle(batches: list[dict]):
    while True:
        yield from batches


def timed(runner, batches, steps: int, sync) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per step over `steps` steps."""
    sync()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        runner.step(batches)
    sync()
    return (time.process_time() - cpu0) / steps, (time.perf_counter() - wall0) / steps


def run_cpu(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    overrides = [
        *sizes(args, args.seq),
        f"train.global_batch_size={args.batch}",
        f"train.micro_batch_size={args.batch}",
        "train.max_steps=100000",
        "train.warmup_steps=10",
        "logging.every=10",
        "logging.wandb=false",
        "logging.tensorboard=false",
        "logging.progress_bar=false",
        "train.lr=1e-4",  # small: the two copies stay in the same numeric regime for the whole run
    ]
    cfg = load_config(None, overrides)

    config = bert_config(args, args.seq)
    config.num_drp_labels = 3
    torch.manual_seed(0)
    model = LinkBertForPreTraining(config)
    batches = random_batches(8, args.batch, args.seq, args.vocab, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        ours = Ours(cfg, copy.deepcopy(model), Path(tmp))
        bare = Bare(cfg, copy.deepcopy(model), "cpu")
        stream_ours, stream_bare = cycle(batches), cycle(batches)
        for runner, stream in ((ours, stream_ours), (bare, stream_bare)):  # warm-up: allocator, kernels
            timed(runner, stream, 5, lambda: None)
        per = {"ours": [], "bare": []}
        for _ in range(args.rounds):
            per["ours"].append(timed(ours, stream_ours, args.steps, lambda: None))
            per["bare"].append(timed(bare, stream_bare, args.steps, lambda: None))
        ours.close()
    cpu = {k: statistics.median(c for c, _ in v) * 1e3 for k, v in per.items()}
    wall = {k: statistics.median(w for _, w in v) * 1e3 for k, v in per.items()}
    print(
        f"model: {args.layers} layers, hidden {args.hidden}, vocab {args.vocab}; batch {args.batch} x seq {args.seq}; "
        f"{args.rounds} rounds x {args.steps} steps each, alternating"
    )
    print(f"ours: {cpu['ours']:.2f} ms CPU/step ({wall['ours']:.2f} ms wall)")
    print(f"bare: {cpu['bare']:.2f} ms CPU/step ({wall['bare']:.2f} ms wall)")
    ratio = cpu["ours"] / cpu["bare"]
    print(f"RESULT train_step_ms={cpu['ours']:.2f} ms baseline={cpu['bare']:.2f} ratio={ratio:.3f}")


def run_gpu(args: argparse.Namespace) -> None:
    from transformers import BertForPreTraining

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.allow_cpu:
        raise SystemExit("--gpu needs a CUDA device (--allow-cpu runs the same code on CPU as a dry run)")
    torch.backends.cuda.matmul.allow_tf32 = True
    peak = peak_flops(torch.cuda.get_device_name()) if device == "cuda" else None
    print(
        f"device: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}; peak bf16 {peak or 0:.3g} FLOP/s"
    )
    result = None
    for seq, batch in ((128, args.gpu_batch * 4), (512, args.gpu_batch)):
        cfg = load_config(
            None,
            [
                *sizes(args, seq),
                f"train.global_batch_size={batch}",
                f"train.micro_batch_size={batch}",
                "train.max_steps=100000",
                "train.mixed_precision=bf16",
                "logging.every=10",
                "logging.wandb=false",
                "logging.tensorboard=false",
                "logging.progress_bar=false",
            ],
        )
        config = bert_config(args, seq)
        config.num_drp_labels = 3
        batches = random_batches(4, batch, seq, args.vocab, device)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        tokens = batch * seq
        rates = {}
        with tempfile.TemporaryDirectory() as tmp:
            torch.manual_seed(0)
            ours = Ours(cfg, LinkBertForPreTraining(config), Path(tmp))
            timed(ours, cycle(batches), 3, sync)
            rates["ours"] = tokens / timed(ours, cycle(batches), args.steps, sync)[1]
            ours.close()
            del ours
            torch.manual_seed(0)
            bare = BareHfBert(cfg, BertForPreTraining(config), device, autocast=True)
            timed(bare, cycle(batches), 3, sync)
            rates["bare"] = tokens / timed(bare, cycle(batches), args.steps, sync)[1]
            del bare
        if device == "cuda":
            torch.cuda.empty_cache()
        common = dict(hidden_size=args.hidden, num_layers=args.layers, intermediate_size=args.hidden * 4)
        fpt = {
            "ours": flops_per_token(**common, vocab_size=args.vocab, seq_len=seq, mlm_probability=0.15),
            "bare": flops_per_token(**common, vocab_size=args.vocab, seq_len=seq, mlm_probability=1.0),
        }
        for name in ("ours", "bare"):
            mfu = f"{rates[name] * fpt[name] / peak:.3f}" if peak else "n/a"
            print(f"seq {seq} batch {batch}: {name}: {rates[name]:,.0f} tokens/s, MFU {mfu}")
        result = rates
    print(
        f"RESULT train_tokens_per_s={result['ours']:.0f} tokens/s baseline={result['bare']:.0f} "
        f"ratio={result['ours'] / result['bare']:.3f}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gpu", action="store_true", help="tokens/s and MFU of the base size in bf16 on a GPU")
    p.add_argument("--allow-cpu", action="store_true", help="with --gpu: dry run on CPU (use tiny sizes)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per block (CPU) or per variant (GPU)")
    p.add_argument("--rounds", type=int, default=5, help="alternating blocks per variant (CPU)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (CPU default 128, GPU 768)")
    p.add_argument("--layers", type=int, default=None, help="layers (CPU default 2, GPU 12)")
    p.add_argument("--heads", type=int, default=None, help="attention heads (CPU default 2, GPU 12)")
    p.add_argument("--vocab", type=int, default=None, help="vocabulary (CPU default 8000, GPU 30522)")
    p.add_argument("--seq", type=int, default=128, help="sequence length (CPU)")
    p.add_argument("--batch", type=int, default=8, help="micro batch = global batch (CPU)")
    p.add_argument("--gpu-batch", type=int, default=32, help="micro batch at seq 512 (GPU; x4 at seq 128)")
    args = p.parse_args()
    gpu = args.gpu
    args.steps = args.steps or (20 if gpu else 30)
    args.hidden = args.hidden or (768 if gpu else 128)
    args.layers = args.layers or (12 if gpu else 2)
    args.heads = args.heads or (12 if gpu else 2)
    args.vocab = args.vocab or (30522 if gpu else 8000)
    run_gpu(args) if gpu else run_cpu(args)


if __name__ == "__main__":
    main()
