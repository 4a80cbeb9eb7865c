"""Does pretraining teach DRP more than a frozen encoder already knows? The project's path against the
strongest cheap baseline, on real text.

On the bundled English Wikipedia sample (built with segments that pair up within `--seq-len`: 62 tokens
for the default 128), with the relations of the preset (contiguous, random, linked), the same held-out
pairs (equal counts per relation, from held-out documents with links, DRP scored unmasked) go through:

  ours        `linkbert pretrain` in this process: the pair sampler, the MLM collator (MLM on),
              `LinkBertForPreTraining` warm-started from the bundled MiniLM, the project's optimizer
              groups and schedule, held-out evaluation; the config is a preset (default:
              configs/pretrain/demo.yaml) resized to the bench's shape.
  cosine      the zero-training baseline the trainer logs beside every evaluation: the frozen warm
              start's cosine of A's and B's mean-pooled embeddings, thresholds fit on training pairs.
  mlm-only    the same run with `model.drp_weight=0` (and the pooler read-out, which costs no second
              encoder pass): held-out MLM loss on the same masked text, so DRP's price (or gain) for MLM
              is measured, not assumed (`--skip-mlm-only` leaves it out).
  classifier  `transformers.BertForSequenceClassification` from the same weights, fed the same training
              batches unmasked, AdamW + linear warmup/decay at `--baseline-lr` (a usual fine-tuning lr);
              evaluated on the same held-out pairs, unmasked (`--skip-baseline` leaves it out).

The trained paths run at the same time, each in a process of its own with one thread.

    .venv/bin/python bench/drp_learning.py [--steps 200] [--eval-every 50] [--classes 3]
        [--precision auto|fp32|bf16] [--preset configs/pretrain/demo.yaml] [--set train.lr=1e-4 ...]

Both compute in the same precision: by default bf16 autocast (`train.mixed_precision=bf16` for ours)
where the CPU has native bf16, ~1.7x less time than fp32 for the same accuracies; fp32 elsewhere.

Prints held-out accuracy per relation of each at every evaluation, then one RESULT line per class count
and, last, the one with the lower ratio: `RESULT drp_heldout_acc=<ours> acc baseline=<frozen cosine>
ratio=<ours/cosine>`.
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

from formats import run as run_format  # noqa: E402
from foundation.atomic import write_text_atomic  # noqa: E402
from foundation.paths import resolve_path  # noqa: E402
from pipeline.tree import load_config  # noqa: E402
from pretrain.data.collator import IGNORE_INDEX  # noqa: E402
from pretrain.data.corpus_data import LinkedCorpus  # noqa: E402
from pretrain.data.loader import build_heldout_batches, build_train_loader  # noqa: E402
from pretrain.relations import DEFAULT_RELATIONS  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2"
# The MLM-only run: no DRP loss. Its DRP read-out is the pooler, which needs no second encoder pass: with a
# DRP weight of 0 the read-out changes nothing of what MLM learns (same MLM head init, no DRP gradient).
MLM_ONLY = ("model.drp_weight=0", "drp.readout=pooler")


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
        "eval.retrieval_queries=0",
        f"train.mixed_precision={'bf16' if args.precision == 'bf16' else 'no'}",
        *args.set,
    ]


def run_ours(cfg) -> dict[int, dict]:
    """`linkbert pretrain` in this process; its held-out evaluation rows by step (from its metrics rows)."""
    from accelerate.state import AcceleratorState, GradientState

    from pretrain.training.trainer import run_pretrain

    run_dir = Path(cfg.train.output_root) / cfg.train.run_name
    shutil.rmtree(run_dir, ignore_errors=True)  # a bench run starts afresh
    try:
        run_pretrain(cfg.pretraining(), config_path=None)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    _, evals = run_format.split_rows(run_format.read_metrics(run_dir))
    return {r["step"]: r for r in evals}


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


def heldout_batches(cfg, corpus, batch: int):
    """The run's own held-out set (the trainer's caps), unsharded."""
    return build_heldout_batches(
        corpus,
        cfg.data,
        cfg.drp,
        seed=cfg.train.seed,
        micro_batch_size=batch,
        pairs=cfg.eval.pairs,
        max_pairs_per_edge=cfg.eval.max_pairs_per_edge,
        max_pairs_per_document=cfg.eval.max_pairs_per_document,
    )


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
    heldout = heldout_batches(cfg, corpus, args.batch)
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


def start_child(args: argparse.Namespace, work: Path, classes: int, role: str) -> tuple:
    """A trained comparison (`role`) for `classes` in a child process of this script, beside ours."""
    out = work / f"{role}-{classes}.json"
    out.unlink(missing_ok=True)
    argv = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:], "--work", str(work)]
    argv += ["--role", role, "--classes", str(classes), "--result-json", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL), out, role


def finish_child(child: tuple | None) -> tuple[dict[int, dict], float]:
    if child is None:
        return {}, 0.0
    process, out, role = child
    if process.wait() != 0:
        raise SystemExit(f"the {role} process failed (exit {process.returncode}); rerun with --serial")
    data = json.loads(out.read_text())
    return {int(k): v for k, v in data["results"].items()}, data["cpu_s"]


def child_role(args: argparse.Namespace, corpus: Path, work: Path) -> None:
    """This process is a child: run its comparison and write its results."""
    classes = args.classes[0]
    if args.role == "baseline":
        cfg = load_config(args.preset, overrides(args, corpus, work / "runs", classes, f"ours-{classes}"))
        results = run_baseline(cfg, args)
    else:
        name = f"mlm-only-{classes}"
        cfg = load_config(args.preset, [*overrides(args, corpus, work / "runs", classes, name), *MLM_ONLY])
        results = run_ours(cfg)
    write_text_atomic(Path(args.result_json), json.dumps({"results": results, "cpu_s": time.process_time()}))


def _per_class(row: dict, names: list[str], prefix: str) -> str:
    return " ".join(
        f"{row.get(prefix + n) if row.get(prefix + n) is not None else float('nan'):.2f}" for n in names
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default=str(ROOT / "configs" / "pretrain" / "demo.yaml"))
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides for our path")
    parser.add_argument("--classes", nargs="+", type=int, default=[3])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128, help="pair length; segments are cut to fit two")
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-lr", type=float, default=3e-5)
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="every path; auto = bf16 autocast where the CPU computes bf16 natively, else fp32",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each process")
    parser.add_argument("--serial", action="store_true", help="the comparisons after ours, in this process")
    parser.add_argument("--skip-baseline", action="store_true", help="leave out the plain classifier")
    parser.add_argument("--skip-mlm-only", action="store_true", help="leave out the MLM-only run")
    parser.add_argument("--work", default=None, help="folder for the corpus and runs (default: a temp dir)")
    parser.add_argument(
        "--role", choices=["both", "baseline", "mlm-only"], default="both", help=argparse.SUPPRESS
    )
    parser.add_argument("--result-json", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.precision == "auto":
        args.precision = "bf16" if native_bf16() else "fp32"
    torch.set_num_threads(args.threads)

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="drp-bench-"))
    corpus = bench_corpus(work / "corpus", args.seq_len)
    if args.role != "both":
        child_role(args, corpus, work)
        return

    lines = []
    started = time.perf_counter()
    for classes in args.classes:
        name = f"ours-{classes}"
        cfg = load_config(args.preset, overrides(args, corpus, work / "runs", classes, name))
        roles = [
            r for r, skip in (("baseline", args.skip_baseline), ("mlm-only", args.skip_mlm_only)) if not skip
        ]
        children = {} if args.serial else {r: start_child(args, work, classes, r) for r in roles}
        t0 = time.process_time()
        ours = run_ours(cfg)
        ours_cpu = time.process_time() - t0
        results, cpu = {}, {"ours": ours_cpu}
        for role in roles:
            if args.serial:
                t1 = time.process_time()
                if role == "baseline":
                    results[role] = run_baseline(cfg, args)
                else:
                    mlm_cfg = load_config(
                        args.preset,
                        [*overrides(args, corpus, work / "runs", classes, f"mlm-only-{classes}"), *MLM_ONLY],
                    )
                    results[role] = run_ours(mlm_cfg)
                cpu[role] = time.process_time() - t1
            else:
                results[role], cpu[role] = finish_child(children[role])
        heldout = heldout_batches(cfg, LinkedCorpus.open(corpus), args.batch).heldout
        names = list(heldout.class_names)
        print(
            f"\n{classes} relations ({', '.join(names)}), {args.precision}, {args.steps} steps of {args.batch}; "
            f"{heldout.describe()}; chance {1 / classes:.3f}, majority {max(heldout.counts) / len(heldout.samples):.3f}"
        )
        print(
            f"{'step':>5} {'ours':>6} {'per relation':>15} {'cosine':>7} {'per relation':>15} "
            f"{'mlm':>7} {'mlm-only':>9} {'classifier':>11} {'per relation':>15}"
        )
        for step in sorted(ours):
            row = ours[step]
            mlm_only = results.get("mlm-only", {}).get(step, {})
            clf = results.get("baseline", {}).get(step)
            clf_text = (
                f"{clf['drp_acc']:11.3f} {' '.join(f'{v:.2f}' for v in clf['per_class']):>15}" if clf else ""
            )
            print(
                f"{step:>5} {row['drp_acc']:6.3f} {_per_class(row, names, 'drp_acc_'):>15} "
                f"{row.get('baseline_cosine_acc') or float('nan'):7.3f} "
                f"{_per_class(row, names, 'baseline_cosine_acc_'):>15} {row['mlm_loss']:7.3f} "
                f"{mlm_only.get('mlm_loss', float('nan')):9.3f} {clf_text}"
            )
        print(
            "CPU seconds: "
            + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
            + f"; wall so far {time.perf_counter() - started:.0f} s"
        )
        last = ours[max(ours)]
        if last.get("baseline_cosine_acc"):
            lines.append(
                (
                    last["drp_acc"] / last["baseline_cosine_acc"],
                    classes,
                    last["drp_acc"],
                    last["baseline_cosine_acc"],
                )
            )
        clf = results.get("baseline", {}).get(max(ours))
        if clf:
            print(
                f"RESULT drp_heldout_acc_{classes}class_vs_classifier={last['drp_acc']:.3f} acc "
                f"baseline={clf['drp_acc']:.3f} ratio={last['drp_acc'] / clf['drp_acc']:.3f}"
            )
        mlm_only = results.get("mlm-only", {}).get(max(ours))
        if mlm_only:
            print(
                f"RESULT heldout_mlm_loss_{classes}class={last['mlm_loss']:.3f} nats "
                f"baseline={mlm_only['mlm_loss']:.3f} ratio={last['mlm_loss'] / mlm_only['mlm_loss']:.3f}"
            )
    for ratio, classes, ours_acc, base_acc in lines:
        print(
            f"RESULT drp_heldout_acc_{classes}class={ours_acc:.3f} acc baseline={base_acc:.3f} ratio={ratio:.3f}"
        )
    if lines:
        ratio, classes, ours_acc, base_acc = min(lines)
        print(f"RESULT drp_heldout_acc={ours_acc:.3f} acc baseline={base_acc:.3f} ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
