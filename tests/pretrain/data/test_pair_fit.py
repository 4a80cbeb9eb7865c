"""`segments.max_tokens` against `data.max_seq_len`: a pair that cannot fit is named, never silent."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from pipeline.tree import load_config
from pretrain.data.corpus_data import LinkedCorpus
from pretrain.data.pair_fit import pair_fit_warning
from pretrain.data.sampler import truncate_longest_first_array
from pretrain.data.synthetic import write_synthetic_corpus
from pretrain.training.memory import GIB, LaunchShape
from pretrain.training.preflight import preflight

PRESETS = Path(__file__).resolve().parents[3] / "configs" / "pretrain"
CPU1 = LaunchShape(processes=1, per_machine=1, gpu=False)


def offsets(lengths: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def test_pairs_that_fit_give_no_warning():
    # 2 x 126 + 3 = 255 <= 256: the sample corpus with the demo preset.
    assert pair_fit_warning(offsets([126, 40, 1]), 126, 256) is None
    assert pair_fit_warning(offsets([]), 126, 256) is None


def test_pairs_that_cannot_fit_name_the_rule_the_count_and_both_fixes():
    # 254-token segments with max_seq_len 256 (the example): every long pair is cut.
    msg = pair_fit_warning(offsets([254, 254, 100, 10]), 254, 256)
    assert msg is not None
    assert "segments.max_tokens=254" in msg and "data.max_seq_len=256" in msg
    assert "511 positions" in msg  # 2 x 254 + 3
    assert "2 of 4 segments (50.0%) are longer than 126 tokens" in msg
    assert "truncated longest-first" in msg
    assert "segments.max_tokens=126" in msg and "data.max_seq_len=511" in msg
    # The rule the warning names is the sampler's: the pair is cut to the budget, longest side first.
    a, b = truncate_longest_first_array(np.array([254]), np.array([100]), 253)
    assert (int(a[0]), int(b[0])) == (153, 100)


def test_corpora_without_a_recorded_bound_use_the_longest_segment():
    msg = pair_fit_warning(offsets([80, 70]), None, 128)
    assert "no recorded max_tokens" in msg and "data.max_seq_len=163" in msg


@pytest.fixture(scope="module")
def long_segments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_corpus(
        tmp_path_factory.mktemp("fit") / "corpus", num_docs=100, seed=1, segment_tokens=(8, 200)
    )


def test_preflight_and_trainer_start_warn_once(long_segments: Path, tmp_path: Path, caplog):
    base = [f"data.corpus={long_segments}", f"train.output_root={tmp_path}"]
    cfg = load_config(PRESETS / "tiny-cpu.yaml", [*base, "data.max_seq_len=128"])
    notes, _ = preflight(cfg, shape=CPU1, available=8 * GIB)
    fit = [n for n in notes if "truncated longest-first" in n]
    assert len(fit) == 1 and fit[0].startswith("warning: segments of up to ")
    cfg = load_config(PRESETS / "tiny-cpu.yaml", [*base, "data.max_seq_len=512"])
    notes, _ = preflight(cfg, shape=CPU1, available=8 * GIB)
    assert not any("truncated longest-first" in n for n in notes)

    # The trainer's start logs the same warning (the `_build` step, where the corpus is opened).
    from accelerate import Accelerator

    from pretrain.training.trainer import _build

    cfg = load_config(PRESETS / "tiny-cpu.yaml", [*base, "data.max_seq_len=128"])
    with caplog.at_level(logging.WARNING, logger="pretrain.training.trainer"):
        _build(Accelerator(cpu=True), cfg)
    corpus = LinkedCorpus.open(long_segments)
    expected = pair_fit_warning(corpus.segment_offsets, None, 128)
    assert [r.getMessage() for r in caplog.records if "longest-first" in r.getMessage()] == [expected]
