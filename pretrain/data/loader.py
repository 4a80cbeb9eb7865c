"""Training and held-out batch streams: sharded by rank, resumable at any sample, worker-count invariant.

One optimizer micro-step of the whole job consumes `world_size * micro_batch_size` consecutive global
sample numbers; rank r takes its slice `[base + r*mb, base + (r+1)*mb)`. Every row is a pure function
of its sample number, so a stream started at `start_sample` equals the uninterrupted one from there,
whatever the number of DataLoader workers (each worker builds whole micro batches; the DataLoader
returns them in index order).

Do not pass these loaders through `accelerator.prepare`: they are already sharded.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from foundation.errors import PipelineError
from pretrain.config import DataConfig, DrpConfig
from pretrain.data.collator import MlmCollator
from pretrain.data.corpus_data import LinkedCorpus, split_documents
from pretrain.data.heldout import HeldOutBatches, select_balanced
from pretrain.data.sampler import PairSampler
from pretrain.relations import relation_class

# "Infinite" stream length in micro batches: a DataLoader needs a length; 2**40 micro steps is never
# reached and keeps every global sample number far below 2**63.
ENDLESS = 1 << 40


class MicroBatches(Dataset):
    """Item i: this rank's i-th micro batch counted from `start_sample`, masked and collated."""

    def __init__(
        self,
        sampler: PairSampler,
        collator: MlmCollator,
        *,
        micro_batch_size: int,
        rank: int,
        world_size: int,
        start_sample: int = 0,
        num_batches: int = ENDLESS,
    ) -> None:
        if micro_batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise PipelineError(
                f"invalid data sharding: micro_batch_size={micro_batch_size}, rank={rank}, "
                f"world_size={world_size}"
            )
        if start_sample < 0:
            raise PipelineError(f"start_sample must be >= 0, got {start_sample}")
        self.sampler, self.collator = sampler, collator
        self.micro_batch_size, self.rank, self.world_size = micro_batch_size, rank, world_size
        self.start_sample, self.num_batches = start_sample, num_batches

    def __len__(self) -> int:
        return self.num_batches

    def samples(self, i: int) -> np.ndarray:
        """Global sample numbers of item i."""
        first = (
            self.start_sample
            + i * self.world_size * self.micro_batch_size
            + self.rank * self.micro_batch_size
        )
        return np.arange(first, first + self.micro_batch_size, dtype=np.int64)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < self.num_batches:
            raise IndexError(i)
        batch = self.sampler.batch(self.samples(i), pad_to_multiple_of=self.collator.pad_to_multiple_of)
        return self.collator.collate(batch)


def _identity(batch: Any) -> Any:  # module level: picklable for spawned workers
    return batch


def _data_loader(dataset: MicroBatches, num_workers: int, prefetch_factor: int, seed: int) -> DataLoader:
    workers = min(num_workers, len(dataset))
    # torch warns, from every process and at every new iterator, when workers outnumber the CPUs it sees;
    # `linkbert preflight` says it once, before the launch.
    warnings.filterwarnings("ignore", message=r"This DataLoader will create \d+ worker processes")
    return DataLoader(
        dataset,
        batch_size=None,
        shuffle=False,
        collate_fn=_identity,
        num_workers=workers,
        prefetch_factor=prefetch_factor if workers else None,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
        # Owned generator: otherwise each new iterator draws its base seed from the global torch RNG,
        # shifting the trainer's dropout stream on resume.
        generator=torch.Generator().manual_seed(seed),
    )


def heldout_split(corpus: LinkedCorpus, data: DataConfig, drp: DrpConfig) -> tuple[np.ndarray, np.ndarray]:
    """(training documents, held-out documents). With `data.heldout_documents=linked` the held-out
    documents are drawn among those every relation of `drp.relations` can be measured on (for `linked`:
    documents with links), so the held-out set covers as many links as the fraction allows."""
    prefer = None
    if data.heldout_documents == "linked":
        for name in drp.relations:
            wanted = relation_class(name).heldout_preference(corpus, drp)
            if wanted is not None:
                prefer = wanted if prefer is None else prefer & wanted
    return split_documents(corpus.num_docs, data.heldout_fraction, data.split_seed, prefer)


def build_train_sampler(corpus: LinkedCorpus, data: DataConfig, drp: DrpConfig, *, seed: int) -> PairSampler:
    """The training pair sampler: anchors and pairs from the training split only."""
    train_docs, _ = heldout_split(corpus, data, drp)
    return PairSampler(corpus, drp, data.max_seq_len, seed, train_docs)


def build_eval_sampler(corpus: LinkedCorpus, data: DataConfig, drp: DrpConfig, *, seed: int) -> PairSampler:
    """The held-out pair sampler: anchors from held-out documents, random/linked pairs from any
    document; relations impossible there are skipped with a warning."""
    _, heldout = heldout_split(corpus, data, drp)
    if len(heldout) == 0 or int(np.diff(corpus.doc_segments)[heldout].sum()) == 0:
        raise PipelineError(
            f"{corpus.corpus_dir}: no held-out document has segments (data.heldout_fraction="
            f"{data.heldout_fraction}): raise data.heldout_fraction or change data.split_seed"
        )
    return PairSampler(
        corpus, drp, data.max_seq_len, seed, heldout, restrict_pairs=False, skip_impossible=True
    )


def build_train_loader(
    corpus: LinkedCorpus,
    data: DataConfig,
    drp: DrpConfig,
    *,
    seed: int,
    micro_batch_size: int,
    rank: int,
    world_size: int,
    start_sample: int = 0,
) -> Iterable[dict[str, torch.Tensor]]:
    """Endless stream of this rank's micro batches, starting at global sample `start_sample`
    (= optimizer step * global batch size when resuming)."""
    dataset = MicroBatches(
        build_train_sampler(corpus, data, drp, seed=seed),
        MlmCollator.from_config(corpus, data),
        micro_batch_size=micro_batch_size,
        rank=rank,
        world_size=world_size,
        start_sample=start_sample,
    )
    return _data_loader(dataset, data.num_workers, data.prefetch_factor, seed)


def build_heldout_batches(
    corpus: LinkedCorpus,
    data: DataConfig,
    drp: DrpConfig,
    *,
    seed: int,
    micro_batch_size: int,
    pairs: int,
    rank: int = 0,
    world_size: int = 1,
    max_pairs_per_edge: int | None = None,
    max_pairs_per_document: int | None = None,
) -> HeldOutBatches:
    """The held-out DRP set of about `pairs` pairs, equal counts per relation where the held-out documents
    allow it, as this rank's micro batches: the same pairs (and masks) for any world size, so `linkbert
    eval` on an export scores exactly the set the run evaluated during training."""
    if pairs < 1:
        raise PipelineError(f"eval.pairs must be >= 1, got {pairs}")
    sampler = build_eval_sampler(corpus, data, drp, seed=seed)
    training_docs, _ = heldout_split(corpus, data, drp)
    heldout = select_balanced(
        sampler,
        -(-pairs // drp.num_classes),
        sampler.relation_names,
        max_per_edge=max_pairs_per_edge,
        max_per_document=max_pairs_per_document,
        training_docs=training_docs,
    )
    return HeldOutBatches(
        heldout,
        sampler,
        MlmCollator.from_config(corpus, data),
        micro_batch_size=micro_batch_size,
        rank=rank,
        world_size=world_size,
    )
