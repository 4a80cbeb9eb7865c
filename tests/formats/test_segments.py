"""The segments contract: writer and reader agree, versions and damaged folders are refused."""

import json
from pathlib import Path

import numpy as np
import pytest

from formats import segments as segments_format
from foundation.errors import PipelineError

SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}


def _write(corpus: Path, manifest_extra: dict | None = None) -> Path:
    out = segments_format.segments_dir(corpus)
    out.mkdir(parents=True)
    tokens = np.arange(5, 15, dtype=np.uint16)
    with segments_format.tokens_writer(out) as f:
        f.write(tokens[:4].tobytes())
        f.write(tokens[4:].tobytes())
    segments_format.write_index(out, np.array([0, 4, 10]), np.array([0, 1, 1, 2]))
    manifest = {"num_tokens": 10, "num_segments": 2, "num_docs": 3, "dtype": "uint16", "vocab_size": 20}
    segments_format.write_manifest(out, {**manifest, "special_ids": SPECIAL, **(manifest_extra or {})})
    return corpus


def test_round_trip(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c")
    seg = segments_format.read_arrays(corpus)
    assert seg.manifest["format"] == segments_format.FORMAT
    assert seg.tokens.dtype == np.uint16 and seg.segments.dtype == np.int64
    np.testing.assert_array_equal(seg.tokens[seg.segments[1] : seg.segments[2]], np.arange(9, 15))
    np.testing.assert_array_equal(np.diff(seg.doc_segments), [1, 0, 1])
    assert seg.special_ids == SPECIAL and seg.vocab_size == 20
    assert seg.tokenizer_dir == corpus / "segments" / "tokenizer"
    assert segments_format.peek_manifest(corpus)["num_tokens"] == 10


def test_a_manifest_without_format_reads_as_version_1(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c")
    path = corpus / "segments" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["format"]
    path.write_text(json.dumps(manifest))
    seg = segments_format.read_arrays(corpus)
    assert "format" not in seg.manifest and len(seg.segments) == 3


def test_an_unknown_version_is_refused(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c")
    path = corpus / "segments" / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": "linkbert-segments/2"}))
    with pytest.raises(
        PipelineError, match=r"segments/manifest.json: version 'linkbert-segments/2'.*supported"
    ):
        segments_format.read_arrays(corpus)


def test_files_that_disagree_are_refused(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c", {"num_segments": 3})
    with pytest.raises(PipelineError, match="files do not match .*manifest says 3 segments"):
        segments_format.read_arrays(corpus)
    corpus = _write(tmp_path / "d", {"dtype": "int8"})
    with pytest.raises(PipelineError, match="dtype int8 is not uint16 or uint32"):
        segments_format.read_arrays(corpus)


def test_a_missing_folder_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(
        PipelineError, match="segments does not exist: build it with `linkbert corpus segments"
    ):
        segments_format.read_arrays(tmp_path)
