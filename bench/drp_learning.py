"""Does DRP learn on real text? The project's pretraining path against a bare Hugging Face classifier.

On the bundled English Wikipedia sample (built with segments that pair up within `--seq-len`: 62 tokens
for the default 128), for 2 classes (contiguous / random) and 3 (+ linked), the same pairs go through:

  ours      `linkbert pretrain` in this process: the pair sampler, the MLM collator (MLM on),
            `LinkBertForPreTraining` warm-started from the bundled MiniLM (no MLM head, no NSP head),
            the project's optimizer groups and schedule, held-out evaluation on the balanced set;
            the config is a preset (default: configs/pretrain/demo.yaml) resized to the bench's shape.
  baseline  `transformers.BertForSequenceClassification` from the same weights, fed the same training
            batches unmasked, AdamW + linear warmup/decay at `--baseline-lr` (a usual fine-tuning lr);
            evaluated on the same held-out pairs, unmasked.

Same steps, batch, seed and held-out pairs (equal counts per relation, from held-out documents). The two
train at the same time, each in a process of its own with one thread (`--serial`: one after the other).

    .venv/bin/python bench/drp_learning.py [--steps 100] [--eval-every 100] [--classes 2 3]
        [--precision auto|fp32|bf16] [--preset configs/pretrain/demo.yaml] [--set train.lr=1e-4 ...]
        [--baseline-lr 3e-5]

Both paths compute in the same precision: by default bf16 autocast (`train.mixed_precision=bf16` for
ours) where the CPU has native bf16, which takes ~1.7x less time than fp32 for the same accuracies
(bench/RESULTS.md); fp32 elsewhere.

Prints held-out accuracy of both at every evaluation, then one RESULT line per class count and, last,
the one with the lower ratio: `RESULT drp_heldout_acc=<ours> acc baseline=<hf> ratio=<ours/hf>`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.atomic import write_text_atomic  # noqa: E402
from pipeline.paths import resolve_path  # noqa: E402
from pipeline.tree import load_config  # noqa: E402
from pretrain.collator import IGNORE_INDEX  # noqa: E402
from pretrain.corpus_data import LinkedCorpus  # noqa: E402
from pretrain.loader import build_heldout_batches, build_train_loader  # noqa: E402
from pretrain.relations import DEFAULT_RELATIONS  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2"


def segment_tokens(seq_len: int) -> int:
    """The longest segment of which two, plus [CLS] and two [SEP], fit `seq_len` tokens."""
    return (seq_len - 3) // 2


def bench_corpus(root: Path, seq_len: int) -> Path:
    """The bundled sample cut into segments that pair up within `seq_len` (built once per length,
    then reused by its config hash)."""
    from pipeline.build import run_build

    cfg = load_config(
        ROOT / "configs" / "corpus" / "sample.yaml", [f"segments.max_tokens={segment_tokens(seq_len)}"]
    )
    return run_build(cfg, [str(SAMPLE)], str(root), f"bench-drp-{seq_len}")


def overrides(args: argparse.Namespace, corpus: Path, out: Path, classes: int, name: str) -> list[str]:
    return [
        f"data.corpus={corpus}",
        f"data.max_seq_len={args.seq_len}",
        "data.num_workers=0",
        f"drp.relations=[{','.join(DEFAULT_RELATIONS[:classes])}]",
        f"train.output_root={out}",
        f"train.run_name={name}",
        f"train.seed={args.seed}",
        f"train.max_steps={args.steps}",
        f"train.global_batch_size={args.batch}",
        f"train.micro_batch_size={args.batch}",
        f"checkpoint.every={args.steps}",
        "checkpoint.keep_last=1",
        f"logging.every={args.eval_every}",
        "logging.wandb=false",
        "logging.tensorboard=false",
        "logging.progress_bar=false",
        f"eval.every={args.eval_every}",
        f"eval.pairs={args.pairs}",
        f"train.mixed_precision={'bf16' if args.precision == 'bf16' else 'no'}",
        *args.set,
    ]


def run_ours(cfg) -> dict[int, float]:
    """`linkbert pretrain` in this process; held-out DRP accuracy by step from its metrics.jsonl."""
    from accelerate.state import AcceleratorState, GradientState

    from pretrain.trainer import run_pretrain

    run_dir = Path(cfg.train.output_root) / cfg.train.run_name
    shutil.rmtree(run_dir, ignore_errors=True)  # a bench run starts afresh
    try:
        run_pretrain(cfg, config_path=None)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r for r in rows if r.get("split") == "eval"}


def unmasked(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The batch's input ids with every MLM-masked position given back its original token."""
    ids, labels = batch["input_ids"].clone(), batch["labels"]
    ids[labels != IGNORE_INDEX] = labels[labels != IGNORE_INDEX]
    return ids


def native_bf16() -> bool:
    """Whether oneDNN runs bf16 matmuls natively here (AVX512-BF16 or AMX): then bf16 autocast is ~1.7x
    faster than fp32 on this model; elsewhere it is emulated and slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(precision: str):
    """bf16 autocast on the CPU, as `train.mixed_precision=bf16` gives our path through accelerate."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


@torch.no_grad()
def hf_accuracy(model, heldout, precision: str) -> tuple[float, list[float]]:
    model.eval()
    hits = total = 0
    per_class: dict[int, list[int]] = {}
    for batch in heldout:
        labels = batch["drp_labels"]
        keep = labels != IGNORE_INDEX
        with autocast(precision):
            logits = model(
                input_ids=unmasked(batch),
                attention_mask=batch["attention_mask"],
                token_type_ids=batch["token_type_ids"],
            ).logits
        pred = logits.argmax(-1)
        for y, p in zip(labels[keep].tolist(), pred[keep].tolist(), strict=True):
            per_class.setdefault(y, [0, 0])
            per_class[y][0] += int(y == p)
            per_class[y][1] += 1
        hits += int((pred[keep] == labels[keep]).sum())
        total += int(keep.sum())
    model.train()
    return hits / total, [per_class[c][0] / per_class[c][1] for c in sorted(per_class)]


def run_baseline(cfg, args: argparse.Namespace) -> dict[int, dict]:
    """The bare Hugging Face loop on the same batches, unmasked."""
    from transformers import BertForSequenceClassification, get_linear_schedule_with_warmup

    torch.manual_seed(cfg.train.seed)
    corpus = LinkedCorpus.open(resolve_path(cfg.data.corpus))
    model = BertForSequenceClassification.from_pretrained(
        str(resolve_path(cfg.model.init_from)), num_labels=cfg.drp.num_classes
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.baseline_lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, cfg.train.warmup_steps, cfg.train.max_steps)
    batches = iter(
        build_train_loader(
            corpus, cfg.data, cfg.drp, seed=cfg.train.seed, micro_batch_size=args.batch, rank=0, world_size=1
        )
    )
    heldout = build_heldout_batches(
        corpus, cfg.data, cfg.drp, seed=cfg.train.seed, micro_batch_size=args.batch, pairs=args.pairs
    )
    results = {}
    model.train()
    for step in range(1, cfg.train.max_steps + 1):
        batch = next(batches)
        with autocast(args.precision):
            loss = model(
                input_ids=unmasked(batch),
                attention_mask=batch["attention_mask"],
                token_type_ids=batch["token_type_ids"],
                labels=batch["drp_labels"],
            ).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % args.eval_every == 0 or step == cfg.train.max_steps:
            acc, per_class = hf_accuracy(model, heldout, args.precision)
            results[step] = {"drp_acc": acc, "per_class": per_class}
    return results


def start_baseline(args: argparse.Namespace, corpus: Path, work: Path, classes: int) -> tuple:
    """The baseline for `classes` in a child process of this script, beside ours (one thread each)."""
    out = work / f"baseline-{classes}.json"
    out.unlink(missing_ok=True)
    argv = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:], "--work", str(work)]
    argv += ["--role", "baseline", "--classes", str(classes), "--result-json", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL), out


def finish_baseline(child: tuple) -> tuple[dict[int, dict], float]:
    process, out = child
    if process.wait() != 0:
        raise SystemExit(f"the baseline process failed (exit {process.returncode}); rerun with --serial")
    data = json.loads(out.read_text())
    return {int(k): v for k, v in data["results"].items()}, data["cpu_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default=str(ROOT / "configs" / "pretrain" / "demo.yaml"))
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides for our path")
    parser.add_argument("--classes", nargs="+", type=int, default=[2, 3])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128, help="pair length; segments are cut to fit two")
    parser.add_argument("--eval-every", type=int, default=None, help="default: only at the last step")
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-lr", type=float, default=3e-5)
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="both paths; auto = bf16 autocast where the CPU computes bf16 natively, else fp32",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each of the two processes")
    parser.add_argument("--serial", action="store_true", help="the baseline after ours, in this process")
    parser.add_argument("--skip-baseline", action="store_true", help="our path only (for sweeps)")
    parser.add_argument("--work", default=None, help="folder for the corpus and runs (default: a temp dir)")
    parser.add_argument("--role", choices=["both", "baseline"], default="both", help=argparse.SUPPRESS)
    parser.add_argument("--result-json", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.eval_every = args.eval_every or args.steps
    if args.precision == "auto":
        args.precision = "bf16" if native_bf16() else "fp32"
    torch.set_num_threads(args.threads)

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="drp-bench-"))
    corpus = bench_corpus(work / "corpus", args.seq_len)
    if args.role == "baseline":
        classes = args.classes[0]
        cfg = load_config(args.preset, overrides(args, corpus, work / "runs", classes, f"ours-{classes}"))
        results = run_baseline(cfg, args)
        write_text_atomic(
            Path(args.result_json), json.dumps({"results": results, "cpu_s": time.process_time()})
        )
        return

    lines = []
    started = time.perf_counter()
    for classes in args.classes:
        name = f"ours-{classes}"
        cfg = load_config(args.preset, overrides(args, corpus, work / "runs", classes, name))
        child = None if args.skip_baseline or args.serial else start_baseline(args, corpus, work, classes)
        t0 = time.process_time()
        ours = run_ours(cfg)
        ours_cpu = time.process_time() - t0
        heldout = build_heldout_batches(
            LinkedCorpus.open(corpus),
            cfg.data,
            cfg.drp,
            seed=cfg.train.seed,
            micro_batch_size=args.batch,
            pairs=args.pairs,
        ).heldout
        print(
            f"\n{classes} classes, {args.precision}, {heldout.describe()}; chance {1 / classes:.3f}, "
            f"majority {max(heldout.counts) / len(heldout.samples):.3f}"
        )
        if child is not None:
            base, base_cpu = finish_baseline(child)
        elif args.skip_baseline:
            base, base_cpu = {}, 0.0
        else:
            t1 = time.process_time()
            base = run_baseline(cfg, args)
            base_cpu = time.process_time() - t1
        print(
            f"{'step':>6} {'ours acc':>9} {'ours per class':>24} {'mlm loss':>9} {'hf acc':>8} {'hf per class':>24}"
        )
        for step in sorted(ours):
            row = ours[step]
            names = row.get("drp_classes") or []
            ours_pc = " ".join(f"{row.get('drp_acc_' + n, float('nan')):.2f}" for n in names)
            b = base.get(step)
            hf = f"{b['drp_acc']:8.3f} {' '.join(f'{v:.2f}' for v in b['per_class']):>24}" if b else ""
            print(f"{step:>6} {row['drp_acc']:9.3f} {ours_pc:>24} {row['mlm_loss']:9.3f} {hf}")
        print(
            f"CPU seconds: ours {ours_cpu:.0f}, baseline {base_cpu:.0f}; "
            f"wall so far {time.perf_counter() - started:.0f} s"
        )
        last = max(ours)
        if base:
            ours_acc, hf_acc = ours[last]["drp_acc"], base[last]["drp_acc"]
            lines.append((ours_acc / hf_acc, classes, ours_acc, hf_acc))
    for ratio, classes, ours_acc, hf_acc in lines:
        print(
            f"RESULT drp_heldout_acc_{classes}class={ours_acc:.3f} acc baseline={hf_acc:.3f} ratio={ratio:.3f}"
        )
    if lines:
        ratio, classes, ours_acc, hf_acc = min(lines)
        print(f"RESULT drp_heldout_acc={ours_acc:.3f} acc baseline={hf_acc:.3f} ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
