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
# pytest-timeout's limit for slow-marked tests (the default, in pyproject.toml, is for the rest): they
# launch processes or run the pipeline end to end, and share 2 cores with the rest of the suite in CI.
SLOW_TIMEOUT_S = 1800


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))


@pytest.fixture(scope="session")
def segments_built_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real sample, built by `run_build` with configs/corpus/sample.yaml (read-only for tests)."""
    from pipeline.build import run_build
    from pipeline.tree import load_config

    root = tmp_path_factory.mktemp("built")
    return run_build(load_config(SAMPLE_CONFIG), [str(SAMPLE_DUMP)], str(root), "sample")
