"""Format versions: `linkbert-<contract>/<n>` recorded in each manifest, checked by every reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from foundation.atomic import write_json_atomic
from foundation.errors import PipelineError

UPGRADE_HINT = (
    "rebuild the corpus with this version's `make corpus` (or `linkbert corpus build`), "
    "or upgrade linkbert-pipeline to a version that reads it"
)


def check_version(found: Any, supported: tuple[str, ...], where: Path | str) -> str:
    """`found` if it is one of `supported`; a one-line PipelineError naming the file otherwise.

    A newer version of a known contract is told apart from an unknown one: only the former can be
    read by upgrading."""
    if found in supported:
        return found
    name = supported[-1].rsplit("/", 1)[0]
    if isinstance(found, str) and found.rsplit("/", 1)[0] == name:
        what = f"version {found!r}"
    else:
        what = f"format {found!r} (expected {name})"
    raise PipelineError(
        f"{where}: {what} is not one this version of linkbert-pipeline reads "
        f"(supported: {', '.join(supported)}); {UPGRADE_HINT}"
    )


def read_json(path: Path, rebuild: str) -> dict[str, Any]:
    """A JSON object from `path`; a PipelineError that says how to rebuild when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise PipelineError(f"{path} is unreadable ({e}); {rebuild}") from e
    if not isinstance(data, dict):
        raise PipelineError(f"{path} does not hold a JSON object; {rebuild}")
    return data


def peek_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or {} when it is absent or unreadable: for reports, never for decisions."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_versioned(
    path: Path, manifest: dict[str, Any], version: str, key: str = "format"
) -> dict[str, Any]:
    """`manifest` with the format version under `key`, written atomically (last: it marks the output
    complete). Returns what was written."""
    written = {**manifest, key: version}
    write_json_atomic(path, written)
    return written


def read_versioned(
    path: Path, supported: tuple[str, ...], rebuild: str, unversioned: str, key: str = "format"
) -> dict[str, Any] | None:
    """The manifest at `path` with its version checked (`unversioned`: what a manifest without one
    is), or None when absent (not built, or cut off before it)."""
    if not path.is_file():
        return None
    manifest = read_json(path, rebuild)
    check_version(manifest.get(key, unversioned), supported, path)
    return manifest


def require(manifest: dict[str, Any] | None, folder: Path, name: str, build_command: str) -> dict[str, Any]:
    """`manifest`, or a PipelineError saying how to build `folder` when it has none."""
    if manifest is not None:
        return manifest
    if not folder.is_dir():
        raise PipelineError(f"{folder} does not exist: build it with `{build_command}`")
    raise PipelineError(
        f"{folder} has no {name}, so it is incomplete (not built, or cut off): rerun `{build_command}`"
    )
