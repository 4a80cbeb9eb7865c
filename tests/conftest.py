"""Fixtures shared across the test packages.

`segments_built_sample` is the real enwiki sample built once per session by `run_build` with the
`sample` preset (read-only for tests): the corpus tests read its outputs, the pipeline tests its build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data" / "wiki"
SAMPLE_DUMP = DATA / "enwiki-sample.xml.bz2"
SAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "corpus" / "sample.yaml"


@pytest.fixture(scope="session")
def segments_built_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real sample, built by `run_build` with configs/corpus/sample.yaml (read-only for tests)."""
    from pipeline.build import run_build
    from pipeline.tree import load_config

    root = tmp_path_factory.mktemp("built")
    return run_build(load_config(SAMPLE_CONFIG), [str(SAMPLE_DUMP)], str(root), "sample")
