from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from foundation.errors import PipelineError
from pretrain.data.corpus_data import LinkedCorpus, split_documents


def test_open_reads_the_formats(synthetic_corpus_dir: Path) -> None:
    corpus = LinkedCorpus.open(synthetic_corpus_dir)
    manifest = json.loads((synthetic_corpus_dir / "segments" / "manifest.json").read_text())
    assert corpus.num_docs == 2000 == len(corpus.in_degree)
    assert corpus.num_segments == manifest["num_segments"] == int(corpus.doc_segments[-1])
    assert corpus.tokens.dtype == np.uint16 and len(corpus.tokens) == manifest["num_tokens"]
    assert corpus.special_ids == manifest["special_ids"]
    assert np.array_equal(np.bincount(corpus.indices, minlength=corpus.num_docs), corpus.in_degree)
    for s in (0, 17, corpus.num_segments - 1):
        seg = corpus.segment(s)
        assert len(seg) == corpus.segment_offsets[s + 1] - corpus.segment_offsets[s] > 0
        assert not np.isin(seg, list(corpus.special_ids.values())).any()
    doc = int(np.argmax(np.diff(corpus.indptr)))
    links = corpus.out_links(doc)
    assert len(links) and np.all(np.diff(links) > 0) and doc not in links


def test_tokenizer_folder_loads_with_auto_tokenizer(synthetic_corpus_dir: Path) -> None:
    from transformers import AutoTokenizer

    corpus = LinkedCorpus.open(synthetic_corpus_dir)
    tokenizer = AutoTokenizer.from_pretrained(corpus.tokenizer_dir)
    assert tokenizer.cls_token_id == corpus.cls_id and tokenizer.mask_token_id == corpus.mask_id
    assert tokenizer.pad_token_id == corpus.pad_id and len(tokenizer) == corpus.vocab_size
    ids = tokenizer("w5 w6##p7")["input_ids"]
    assert ids[0] == corpus.cls_id and ids[-1] == corpus.sep_id


def test_pickles_by_path_not_by_content(synthetic_corpus_dir: Path) -> None:
    corpus = LinkedCorpus.open(synthetic_corpus_dir)
    blob = pickle.dumps(corpus)
    assert len(blob) < 10_000  # the token map is reopened, not copied
    again = pickle.loads(blob)
    assert again.num_segments == corpus.num_segments
    assert np.array_equal(again.segment(5), corpus.segment(5))


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("part", ["graph", "segments"])
def test_incomplete_or_missing_folders_are_refused(
    synthetic_corpus_dir: Path, tmp_path: Path, part: str
) -> None:
    corpus_dir = _copy(synthetic_corpus_dir, tmp_path / "c")
    (corpus_dir / part / "manifest.json").unlink()
    with pytest.raises(PipelineError, match=rf"{part} has no manifest.json.*incomplete"):
        LinkedCorpus.open(corpus_dir)
    shutil.rmtree(corpus_dir / part)
    with pytest.raises(PipelineError, match=rf"{part} does not exist"):
        LinkedCorpus.open(corpus_dir)


def test_mismatched_builds_are_refused(synthetic_corpus_dir: Path, tmp_path: Path) -> None:
    corpus_dir = _copy(synthetic_corpus_dir, tmp_path / "c")
    doc_segments = np.load(corpus_dir / "segments" / "doc_segments.npy")
    np.save(corpus_dir / "segments" / "doc_segments.npy", doc_segments[:-5])
    with pytest.raises(PipelineError, match="do not match.*2000 nodes"):
        LinkedCorpus.open(corpus_dir)


def test_the_generated_corpus_is_in_the_current_formats(synthetic_corpus_dir: Path) -> None:
    corpus = LinkedCorpus.open(synthetic_corpus_dir)
    assert corpus.graph_manifest["format"] == "linkbert-graph/2"
    assert corpus.segments_manifest["format"] == "linkbert-segments/1"
    assert corpus.edge_kind is not None and np.all(corpus.edge_kind == 1)  # every link a hyperlink


@pytest.mark.parametrize(
    ("part", "version"), [("graph", "linkbert-graph/3"), ("segments", "linkbert-segments/2")]
)
def test_a_corpus_of_a_newer_format_is_refused(
    synthetic_corpus_dir: Path, tmp_path: Path, part: str, version: str
) -> None:
    corpus_dir = _copy(synthetic_corpus_dir, tmp_path / "c")
    path = corpus_dir / part / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": version}))
    with pytest.raises(PipelineError, match=rf"{part}/manifest.json: version '{version}' .*make corpus"):
        LinkedCorpus.open(corpus_dir)


def test_missing_corpus_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="linkbert corpus build"):
        LinkedCorpus.open(tmp_path / "nope")


def test_split_documents_is_a_stable_hash_split() -> None:
    train, heldout = split_documents(100_000, 0.02, seed=0)
    assert len(np.intersect1d(train, heldout)) == 0
    assert np.array_equal(np.union1d(train, heldout), np.arange(100_000))
    assert abs(len(heldout) / 100_000 - 0.02) < 0.003
    again_train, again_heldout = split_documents(100_000, 0.02, seed=0)
    assert np.array_equal(heldout, again_heldout) and np.array_equal(train, again_train)
    # A node's side does not depend on the corpus size, only on its id and the seed.
    _, smaller = split_documents(50_000, 0.02, seed=0)
    assert np.array_equal(smaller, heldout[heldout < 50_000])
    _, other_seed = split_documents(100_000, 0.02, seed=1)
    assert not np.array_equal(other_seed, heldout)


def test_split_documents_edge_cases() -> None:
    assert len(split_documents(1000, 0.0, seed=0)[1]) == 0
    train, heldout = split_documents(5, 0.01, seed=0)  # tiny corpus: still one held-out document
    assert len(heldout) == 1 and len(train) == 4
    with pytest.raises(PipelineError, match="heldout_fraction"):
        split_documents(10, 1.0, seed=0)
