"""Benchmark of LinkBertForPreTraining's MLM head: vocabulary projection at masked positions only vs all positions.

Same model, same weights, same batches ([CLS] A [SEP] B [SEP], 15% of tokens masked). Ours = the model's
training forward (`labels` given: hidden states gathered at the masked positions, then projected) +
backward. Baseline = the same model's full `prediction_logits` [B, T, vocab] + cross-entropy with
ignore_index (what `BertForPreTraining` does) + the same DRP loss + backward. Blocks of steps alternate
between the two so a shared machine's load hits both alike; the figure is the median CPU time per step
(one thread). Also prints the analytic forward FLOPs of both per step.

    .venv/bin/python bench/mlm_head.py [--hidden 256] [--layers 4] [--seq 128] [--batch 8] [--rounds 3]

Last line: `RESULT mlm_step_ms=<ours> ms baseline=<full logits> ratio=<ours/baseline>`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from pretrain.config import ModelConfig  # noqa: E402
from pretrain.modeling.linkbert import IGNORE_INDEX, build_model  # noqa: E402


def make_batches(n: int, batch: int, seq: int, vocab: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        ids = torch.randint(5, vocab, (batch, seq), generator=g)
        masked = torch.rand(batch, seq, generator=g) < 0.15
        masked[:, 0] = masked[:, -1] = False
        out.append(
            {
                "input_ids": torch.where(masked, torch.full_like(ids, 4), ids),
                "attention_mask": torch.ones_like(ids),
                "token_type_ids": (torch.arange(seq) > seq // 2).long().expand(batch, seq).contiguous(),
                "labels": torch.where(masked, ids, torch.full_like(ids, IGNORE_INDEX)),
                "drp_labels": torch.randint(0, 3, (batch,), generator=g),
            }
        )
    return out


def ours_step(model, batch) -> None:
    model(**batch).loss.backward()
    model.zero_grad(set_to_none=True)


def full_logits_step(model, batch) -> None:
    out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    vocab = out.prediction_logits.shape[-1]
    mlm = F.cross_entropy(out.prediction_logits.reshape(-1, vocab).float(), batch["labels"].reshape(-1))
    drp = F.cross_entropy(out.drp_logits.float(), batch["drp_labels"])
    (mlm + drp).backward()
    model.zero_grad(set_to_none=True)


def forward_flops(
    hidden: int, layers: int, inter: int, vocab: int, seq: int, tokens: int, projected: int
) -> float:
    """Matmul FLOPs of one forward: encoder on every token, MLM transform + vocabulary on `projected` ones."""
    per_token_layer = 2 * (4 * hidden * hidden + 2 * hidden * inter) + 2 * 2 * seq * hidden
    head = 2 * (hidden * hidden + hidden * vocab)
    return tokens * layers * per_token_layer + projected * head


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3, help="steps per block")
    p.add_argument("--rounds", type=int, default=3, help="alternating blocks per method")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = ModelConfig(
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        intermediate_size=4 * args.hidden,
        max_position_embeddings=max(512, args.seq),
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model, _ = build_model(cfg, vocab_size=args.vocab, drp_classes=3, pad_token_id=0)
    model.train()
    batches = make_batches(args.steps, args.batch, args.seq, args.vocab)

    # Same loss either way (dropout off): the trick changes the cost, not the numbers.
    with torch.no_grad():
        b = batches[0]
        a = model(**b).mlm_loss
        full = model(b["input_ids"], b["attention_mask"], b["token_type_ids"]).prediction_logits
        ref = F.cross_entropy(full.reshape(-1, args.vocab), b["labels"].reshape(-1))
    print(f"MLM loss masked-only {a.item():.6f} vs full logits {ref.item():.6f}")

    ours_step(model, batches[0])  # warm-up: allocator, lazy init
    full_logits_step(model, batches[0])
    times: dict[str, list[float]] = {"ours": [], "full": []}
    for _ in range(args.rounds):
        for name, fn in (("ours", ours_step), ("full", full_logits_step)):
            t0 = time.process_time()
            for batch in batches:
                fn(model, batch)
            times[name].append((time.process_time() - t0) / len(batches) * 1000)
    ours, full_ms = statistics.median(times["ours"]), statistics.median(times["full"])

    tokens = args.batch * args.seq
    masked = sum(int((b["labels"] != IGNORE_INDEX).sum()) for b in batches) / len(batches)
    shape = (args.hidden, args.layers, 4 * args.hidden, args.vocab, args.seq, tokens)
    f_ours, f_full = forward_flops(*shape, int(masked)), forward_flops(*shape, tokens)
    print(
        f"model {args.layers}x{args.hidden}, vocab {args.vocab}, batch {args.batch} x seq {args.seq}, "
        f"{masked:.0f} masked tokens per batch"
    )
    print(
        f"forward GFLOP per step: masked-only {f_ours / 1e9:.2f}, full logits {f_full / 1e9:.2f} "
        f"({1 - f_ours / f_full:.0%} fewer)"
    )
    for seq in (128, 512):  # what the trick saves at BERT-base size (12 x 768), 15% masked
        base = (768, 12, 3072, 30522, seq, seq)
        saved = 1 - forward_flops(*base, round(0.15 * seq)) / forward_flops(*base, seq)
        print(f"BERT-base at seq {seq}: {saved:.0%} fewer forward FLOPs (analytic)")
    print(
        f"CPU ms per training step (median of {args.rounds} blocks of {args.steps}): "
        f"masked-only {ours:.1f}, full logits {full_ms:.1f}"
    )
    print(f"RESULT mlm_step_ms={ours:.1f} ms baseline={full_ms:.1f} ratio={ours / full_ms:.3f}")


if __name__ == "__main__":
    main()
