"""Dynamic MLM masking of DRP pair batches: 15% of the text tokens, 80% [MASK] / 10% random / 10% kept.

Vectorized over the whole [batch, length] array: one hash per token position instead of a Python loop
or a torch RNG. A token's draws come from its example's `mask_key` and its position only, so an
example is masked the same way whatever batch, padding width, rank or worker it lands in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from foundation.errors import PipelineError
from pretrain.config import DataConfig
from pretrain.counter_rng import below_array, stream_array
from pretrain.data.corpus_data import SPECIAL_KEYS, LinkedCorpus

IGNORE_INDEX = -100  # label of tokens without an MLM target (torch cross_entropy's default ignore_index)
_RANDOM_TOKEN_DRAWS = 1 << 32  # counter offset of the replacement-token draws, past the per-position ones
_LOW32 = np.uint64(0xFFFFFFFF)
_INV_2_32 = 1.0 / (1 << 32)


def continuation_table(tokenizer_dir: str | Path, vocab_size: int) -> np.ndarray:
    """bool [vocab_size]: token id is a WordPiece continuation piece (`##...`), from tokenizer.json."""
    path = Path(tokenizer_dir) / "tokenizer.json"
    try:
        model = json.loads(path.read_text(encoding="utf-8"))["model"]
    except (OSError, ValueError, KeyError) as e:
        raise PipelineError(f"{path} is missing or unreadable ({e}): whole-word masking needs it") from e
    if model.get("type") != "WordPiece":
        raise PipelineError(
            f"{path}: whole-word masking needs a WordPiece tokenizer (this one is {model.get('type')}); "
            "set data.whole_word_masking: false"
        )
    prefix = model.get("continuing_subword_prefix") or "##"
    ids = [i for token, i in model["vocab"].items() if token.startswith(prefix) and 0 <= i < vocab_size]
    table = np.zeros(vocab_size, dtype=bool)
    table[np.asarray(ids, dtype=np.int64)] = True
    return table


class MlmCollator:
    """Pads DRP examples and masks them for MLM.

    special_ids: a `LinkedCorpus` (ids, vocab size and tokenizer taken from it) or a mapping with
    cls, sep, mask, pad and unk ids (then `vocab_size` is required, and with whole-word masking either
    `continuation` or `tokenizer_dir`). Special tokens and padding are never masked; every sequence
    with a text token gets at least one masked token.
    """

    def __init__(
        self,
        special_ids: LinkedCorpus | Mapping[str, int],
        mlm_probability: float = 0.15,
        pad_to_multiple_of: int = 8,
        whole_word_masking: bool = False,
        vocab_size: int | None = None,
        continuation: np.ndarray | None = None,
        tokenizer_dir: str | Path | None = None,
    ) -> None:
        if isinstance(special_ids, LinkedCorpus):
            corpus = special_ids
            special_ids = corpus.special_ids
            vocab_size = corpus.vocab_size if vocab_size is None else vocab_size
            tokenizer_dir = corpus.tokenizer_dir if tokenizer_dir is None else tokenizer_dir
        missing = [k for k in SPECIAL_KEYS if k not in special_ids]
        if missing:
            raise PipelineError(f"MlmCollator: special ids {missing} not given")
        if vocab_size is None:
            raise PipelineError("MlmCollator: vocab_size is required with a mapping of special ids")
        if not 0.0 < mlm_probability < 1.0 or pad_to_multiple_of < 1:
            raise PipelineError("MlmCollator: mlm_probability must be in (0, 1) and pad_to_multiple_of >= 1")
        self.mlm_probability = mlm_probability
        self.pad_to_multiple_of = pad_to_multiple_of
        self.whole_word_masking = whole_word_masking
        self.vocab_size = vocab_size
        self.mask_id = int(special_ids["mask"])
        self.pad_id = int(special_ids["pad"])
        specials = np.asarray([int(special_ids[k]) for k in SPECIAL_KEYS], dtype=np.int64)
        self._table_size = max(vocab_size, int(specials.max()) + 1)
        self._is_special = np.zeros(self._table_size, dtype=bool)
        self._is_special[specials] = True
        self._replacements = np.flatnonzero(~self._is_special[:vocab_size])
        self._is_continuation = np.zeros(self._table_size, dtype=bool)
        if whole_word_masking:
            if continuation is None:
                if tokenizer_dir is None:
                    raise PipelineError(
                        "MlmCollator: whole-word masking needs `continuation` or `tokenizer_dir`"
                    )
                continuation = continuation_table(tokenizer_dir, vocab_size)
            self._is_continuation[: len(continuation)] = np.asarray(continuation, dtype=bool)[
                : self._table_size
            ]

    @classmethod
    def from_config(cls, corpus: LinkedCorpus, data: DataConfig) -> MlmCollator:
        return cls(
            corpus,
            mlm_probability=data.mlm_probability,
            pad_to_multiple_of=data.pad_to_multiple_of,
            whole_word_masking=data.whole_word_masking,
        )

    def pad(
        self, examples: Sequence[Mapping[str, Any]], generator: np.random.Generator | None = None
    ) -> dict:
        """Example dicts (PairSampler.example) -> padded numpy batch, as PairSampler.batch returns it."""
        lengths = np.asarray([len(e["input_ids"]) for e in examples], dtype=np.int64)
        width = -(-int(lengths.max()) // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = np.full((len(examples), width), self.pad_id, dtype=np.int64)
        token_type_ids = np.zeros((len(examples), width), dtype=np.int64)
        for row, (example, n) in enumerate(zip(examples, lengths, strict=True)):
            input_ids[row, :n] = example["input_ids"]
            if "token_type_ids" in example:
                token_type_ids[row, :n] = example["token_type_ids"]
        batch = {
            "input_ids": input_ids,
            "token_type_ids": token_type_ids,
            "attention_mask": (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64),
        }
        if all("mask_key" in e for e in examples):
            batch["mask_keys"] = np.asarray([e["mask_key"] for e in examples], dtype=np.uint64)
        else:
            rng = generator if generator is not None else np.random.default_rng()
            batch["mask_keys"] = rng.integers(0, 1 << 64, size=len(examples), dtype=np.uint64, endpoint=False)
        for key, name in (("drp_label", "drp_labels"), ("sample_index", "sample_index")):
            if all(key in e for e in examples):
                batch[name] = np.asarray([e[key] for e in examples], dtype=np.int64)
        return batch

    def __call__(
        self, examples: Sequence[Mapping[str, Any]], generator: np.random.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Pad and mask. Examples without `mask_key` are masked with keys drawn from `generator`."""
        return self.collate(self.pad(examples, generator))

    def collate(self, batch: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Mask a padded numpy batch (with `mask_keys`) and hand it over as int64 tensors."""
        input_ids = np.asarray(batch["input_ids"], dtype=np.int64)
        width = input_ids.shape[1]
        padded_width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        out = {k: np.asarray(v) for k, v in batch.items() if k != "mask_keys"}
        if padded_width != width:
            extra = padded_width - width
            out["input_ids"] = np.pad(input_ids, ((0, 0), (0, extra)), constant_values=self.pad_id)
            for key in ("token_type_ids", "attention_mask"):
                out[key] = np.pad(out[key], ((0, 0), (0, extra)))
        out["input_ids"], out["labels"] = self.mask(
            out["input_ids"], out["attention_mask"], np.asarray(batch["mask_keys"], dtype=np.uint64)
        )
        return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.int64)) for k, v in out.items()}

    def mask(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, mask_keys: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(masked input ids, labels) for a [B, W] batch; labels are IGNORE_INDEX where not masked."""
        batch_size, width = input_ids.shape
        if input_ids.size == 0:
            return input_ids.copy(), np.full_like(input_ids, IGNORE_INDEX)
        if int(input_ids.max()) >= self._table_size or int(input_ids.min()) < 0:
            raise PipelineError(
                f"token id {int(input_ids.max())} outside the vocabulary of {self.vocab_size}: the corpus "
                "and the tokenizer/model vocabulary disagree"
            )
        maskable = (attention_mask > 0) & ~self._is_special[input_ids]
        bits = stream_array(mask_keys[:, None], np.arange(1, width + 1, dtype=np.uint64)[None, :])
        u_select = (bits >> np.uint64(32)).astype(np.float64) * _INV_2_32
        u_action = (bits & _LOW32).astype(np.float64) * _INV_2_32
        if self.whole_word_masking:
            # A word = a maskable token that is not a "##" piece (or follows a non-maskable one) and the
            # pieces after it; every token of a word uses the selection draw of its first token.
            previous = np.zeros_like(maskable)
            previous[:, 1:] = maskable[:, :-1]
            starts = maskable & (~self._is_continuation[input_ids] | ~previous)
            word = np.cumsum(starts.ravel()) - 1
            start_index = np.flatnonzero(starts.ravel())
            first_draw = u_select.ravel()[start_index[np.maximum(word, 0)]].reshape(batch_size, width)
            u_select = np.where(maskable, first_draw, 1.0)
        else:
            word = None
        selected = maskable & (u_select < self.mlm_probability)

        # At least one target per sequence: where the draw picked none, take the lowest draw.
        empty = ~selected.any(axis=1) & maskable.any(axis=1)
        if empty.any():
            rows = np.flatnonzero(empty)
            cols = np.argmin(np.where(maskable[rows], u_select[rows], np.inf), axis=1)
            if word is None:
                selected[rows, cols] = True
            else:
                chosen = word.reshape(batch_size, width)[rows, cols]
                selected |= maskable & np.isin(word.reshape(batch_size, width), chosen)

        labels = np.where(selected, input_ids, IGNORE_INDEX)
        masked = input_ids.copy()
        masked[selected & (u_action < 0.8)] = self.mask_id
        replace = selected & (u_action >= 0.8) & (u_action < 0.9)
        rows, cols = np.nonzero(replace)
        if len(rows):
            draws = stream_array(mask_keys[rows], cols.astype(np.uint64) + np.uint64(_RANDOM_TOKEN_DRAWS + 1))
            masked[rows, cols] = self._replacements[below_array(draws, len(self._replacements))]
        return masked, labels
