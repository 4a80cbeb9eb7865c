"""The tokenizer of a corpus: a local Hugging Face fast tokenizer, a hub name, or WordPiece trained here.

Whatever the source, the segments stage saves it to `DIR/segments/tokenizer/` and its tasks load that
copy, so every task, the trainer and the exported model use byte-identical tokenizers. Encoding goes
through the Rust `tokenizers.Tokenizer` directly (`encoding_backend`), never through the Python wrapper:
the wrapper's per-call bookkeeping costs more than the encoding of short texts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, BertTokenizerFast, PreTrainedTokenizerFast
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from foundation.atomic import atomic_dir
from foundation.errors import PipelineError
from foundation.paths import resolve_path

TRAIN = "train"
# BERT's special tokens, in the ids a trained vocabulary gives them (0..4).
PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
TRAINED_SPECIALS = (PAD, UNK, CLS, SEP, MASK)
SPECIAL_ROLES = (
    "cls",
    "sep",
    "mask",
    "pad",
    "unk",
)  # what pretraining needs; a tokenizer lacking one is refused
SAVED_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
UINT16_VOCAB = 1 << 16
HUB_NAME = re.compile(r"[\w.-]+(/[\w.-]+)?")


def token_dtype(vocab_size: int) -> np.dtype:
    """Storage type of token ids: 2 bytes while every id fits, which halves tokens.bin."""
    return np.dtype(np.uint16) if vocab_size <= UINT16_VOCAB else np.dtype(np.uint32)


def _offline() -> bool:
    # Read at call time (huggingface_hub reads it once, at import).
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _is_hub_name(spec: str) -> bool:
    # `name` or `org/name`; anything else (./x, /x, a/b/c, x.json, pkg://...) is meant as a local path.
    return bool(HUB_NAME.fullmatch(spec)) and not spec.startswith(".") and not spec.endswith(".json")


def _from_tokenizer_json(path: Path) -> PreTrainedTokenizerFast:
    """A bare tokenizer.json: the special tokens are found in its vocabulary (BERT or RoBERTa names)."""
    try:
        backend = Tokenizer.from_file(str(path))
    except Exception as e:  # the Rust side raises plain Exception for malformed files
        raise PipelineError(f"tokenizer file {path} is not a valid tokenizer.json ({e})") from e
    vocab = backend.get_vocab()
    names = {
        "cls_token": ("[CLS]", "<s>"),
        "sep_token": ("[SEP]", "</s>"),
        "mask_token": ("[MASK]", "<mask>"),
        "pad_token": ("[PAD]", "<pad>"),
        "unk_token": ("[UNK]", "<unk>"),
    }
    found = {role: next((t for t in cands if t in vocab), None) for role, cands in names.items()}
    specials = {role: tok for role, tok in found.items() if tok is not None}
    if isinstance(backend.model, models.WordPiece):
        return BertTokenizerFast(tokenizer_object=backend, **specials)
    return PreTrainedTokenizerFast(tokenizer_object=backend, **specials)


def load_tokenizer(spec: str) -> PreTrainedTokenizerBase:
    """A fast tokenizer from a local folder, a tokenizer.json, `pkg://...`, or (online) a hub name."""
    if spec == TRAIN:
        raise ValueError("load_tokenizer: 'train' is not a tokenizer to load; use train_wordpiece")
    path = resolve_path(spec)
    if path.is_file():
        tok = _from_tokenizer_json(path)
    elif path.is_dir():
        if not any(
            (path / name).is_file() for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json")
        ):
            raise PipelineError(
                f"tokenizer folder {path} holds no tokenizer.json, vocab.txt or tokenizer_config.json"
            )
        try:
            tok = AutoTokenizer.from_pretrained(str(path), use_fast=True, local_files_only=True)
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise PipelineError(f"tokenizer folder {path} could not be loaded ({_first_line(e)})") from e
    elif not _is_hub_name(spec):
        raise PipelineError(
            f"tokenizer {spec!r}: {path} does not exist (a tokenizer folder or tokenizer.json)"
        )
    else:
        try:
            tok = AutoTokenizer.from_pretrained(spec, use_fast=True, local_files_only=_offline())
        except (OSError, ValueError) as e:
            raise PipelineError(
                f"tokenizer {spec!r} is not a local path and the Hugging Face hub could not provide it "
                f"({_first_line(e)}); pass a local tokenizer folder or tokenizer.json, or segments.tokenizer=train"
            ) from e
    if not getattr(tok, "is_fast", False):
        raise PipelineError(
            f"tokenizer {spec!r} has no fast (Rust) version; convert it to tokenizer.json first"
        )
    special_ids(tok, where=spec)  # refuse early a tokenizer pretraining could not use
    return tok


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def train_wordpiece(
    texts: Iterable[str],
    vocab_size: int,
    lowercase: bool,
    length: int | None = None,
    strip_accents: bool = False,
) -> PreTrainedTokenizerFast:
    """BERT-style WordPiece (BERT normalizer and pre-tokenizer) trained on `texts`, streamed once.

    `strip_accents` is its own choice: BERT's normalizer strips accents whenever it lower-cases
    unless told otherwise, which erases Greek tonos and Vietnamese tones."""
    backend = Tokenizer(models.WordPiece(unk_token=UNK))
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=lowercase
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(TRAINED_SPECIALS), show_progress=False
    )
    backend.train_from_iterator(texts, trainer=trainer, length=length)
    cls_id, sep_id = backend.token_to_id(CLS), backend.token_to_id(SEP)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(CLS, cls_id), (SEP, sep_id)],
    )
    return BertTokenizerFast(
        tokenizer_object=backend,
        do_lower_case=lowercase,
        strip_accents=strip_accents,
        unk_token=UNK,
        sep_token=SEP,
        pad_token=PAD,
        cls_token=CLS,
        mask_token=MASK,
    )


def special_ids(tok: PreTrainedTokenizerBase, where: str = "tokenizer") -> dict[str, int]:
    """{cls, sep, mask, pad, unk} -> id; pretraining builds `[CLS] A [SEP] B [SEP]` and masks with these."""
    ids = {role: getattr(tok, f"{role}_token_id", None) for role in SPECIAL_ROLES}
    missing = [role for role, i in ids.items() if i is None]
    if missing:
        raise PipelineError(
            f"tokenizer {where} has no {', '.join(missing)} token(s); MLM + DRP pretraining needs "
            f"{', '.join(SPECIAL_ROLES)} (use a BERT-style tokenizer or segments.tokenizer=train)"
        )
    return {role: int(i) for role, i in ids.items()}


def encoding_backend(tok: PreTrainedTokenizerBase) -> Tokenizer:
    """The Rust tokenizer, set to encode whole documents: many shipped tokenizer.json files enable
    truncation (e.g. at 128) and padding, which would silently cut every document short. The Python
    wrapper sets both per call, so turning them off here changes nothing for its users."""
    backend = tok.backend_tokenizer
    if backend.truncation is not None:
        backend.no_truncation()
    if backend.padding is not None:
        backend.no_padding()
    return backend


def tokenizer_hash(tok: PreTrainedTokenizerBase) -> str:
    """Identity of what the tokenizer does: its serialized pipeline (vocab, normalizer, ...; the same
    whatever file it was loaded from) and its special tokens."""
    digest = hashlib.sha256(encoding_backend(tok).to_str().encode())
    digest.update(json.dumps(special_ids(tok), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def save_tokenizer(tok: PreTrainedTokenizerBase, folder: str | os.PathLike) -> None:
    """Write the four files `AutoTokenizer.from_pretrained(folder)` and export need, atomically.

    Recent transformers writes only tokenizer.json and tokenizer_config.json, so special_tokens_map.json
    and vocab.txt (ids in order: what BERT tooling expects) are written here."""
    folder = Path(folder)
    encoding_backend(tok)  # saved without truncation/padding: the segments' tokenizer encodes whole texts
    with atomic_dir(folder, overwrite=True) as tmp:
        tok.save_pretrained(str(tmp))
        if not (tmp / "special_tokens_map.json").is_file():
            specials = {f"{role}_token": str(getattr(tok, f"{role}_token")) for role in SPECIAL_ROLES}
            (tmp / "special_tokens_map.json").write_text(
                json.dumps(specials, indent=2, sort_keys=True) + "\n"
            )
        if not (tmp / "vocab.txt").is_file():
            (tmp / "vocab.txt").write_text("".join(f"{t}\n" for t in _tokens_by_id(tok)), encoding="utf-8")
        missing = [name for name in SAVED_FILES if not (tmp / name).is_file()]
        if missing:
            raise RuntimeError(f"saving the tokenizer to {folder} left out {missing}")


def _tokens_by_id(tok: PreTrainedTokenizerBase) -> Iterator[str]:
    vocab = tok.backend_tokenizer.get_vocab(with_added_tokens=True)
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    # A gap in the ids would shift every later line of vocab.txt; fill it so line number == id.
    expected = 0
    for token, i in by_id:
        while expected < i:
            yield f"[unused_id_{expected}]"
            expected += 1
        yield token.replace("\n", " ")
        expected = i + 1


def vocab_size(tok: PreTrainedTokenizerBase) -> int:
    """Ids run 0..vocab_size-1 (added tokens included): the embedding table size and the dtype bound."""
    return max(tok.backend_tokenizer.get_vocab(with_added_tokens=True).values()) + 1
