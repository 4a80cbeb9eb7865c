"""The stage lifecycle shared by extract, graph and segments: keyed folders, pending, manifest last."""

import json
from pathlib import Path

import pytest

from foundation.atomic import write_json_atomic
from foundation.config import config_hash
from foundation.errors import PipelineError
from foundation.stage import StageOutput, file_identity, forget_incomplete, keyed_folder


def _write(folder: Path, manifest: dict) -> dict:
    written = {**manifest, "format": "test/1"}
    write_json_atomic(folder / "manifest.json", written)
    return written


def _stage(folder: Path, key: str, tasks: int = 2) -> StageOutput:
    return StageOutput(
        stage="demo",
        folder=folder,
        manifest="manifest.json",
        key={"config_hash": key},
        write_manifest=_write,
        pending=folder / ".pending.json",
        pending_value={"config_hash": key, "tasks": tasks},
        leftovers=(folder / "parts",),
        refusals={"config_hash": f"{folder} was made with another demo config"},
    )


def test_a_run_goes_pending_then_complete(tmp_path: Path) -> None:
    stage = _stage(tmp_path / "out", "aaa")
    assert stage.finished() is None and stage.started_key() is None
    assert stage.begin() is False
    assert stage.started_key() == {"config_hash": "aaa", "tasks": 2}
    (stage.folder / "parts").mkdir()
    manifest = stage.complete({"rows": 3})
    assert manifest == {"rows": 3, "config_hash": "aaa", "format": "test/1"}
    assert not (stage.folder / ".pending.json").exists()
    on_disk = json.loads((stage.folder / "manifest.json").read_text())
    assert on_disk == {"rows": 3, "config_hash": "aaa", "format": "test/1"}
    assert stage.finished() == on_disk


def test_a_finished_folder_of_another_key_is_refused(tmp_path: Path) -> None:
    _stage(tmp_path / "out", "aaa").complete({})
    with pytest.raises(PipelineError, match="made with another demo config"):
        _stage(tmp_path / "out", "bbb").finished()


def test_leftovers_survive_a_rerun_of_the_same_key_and_go_for_another(tmp_path: Path) -> None:
    _stage(tmp_path / "out", "aaa").begin()
    part = tmp_path / "out" / "parts" / "rank-00000"
    part.mkdir(parents=True)
    assert _stage(tmp_path / "out", "aaa").begin() is False and part.exists()
    # Another task count cuts the documents differently: the parts of 2 tasks are of no use to 3.
    assert _stage(tmp_path / "out", "aaa", tasks=3).begin() is True
    assert not part.exists()
    assert _stage(tmp_path / "out", "aaa", tasks=3).started_key()["tasks"] == 3


def test_completion_markers_without_outputs_are_forgotten(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "completions").mkdir(parents=True)
    for rank in range(3):
        (logs / "completions" / f"{rank:05d}").write_text("")
    assert forget_incomplete(logs, 3, lambda rank: rank != 1) == [1]
    assert sorted(p.name for p in (logs / "completions").iterdir()) == ["00000", "00002"]


def test_keyed_folder_and_file_identity(tmp_path: Path) -> None:
    key = {"a": 1}
    assert keyed_folder(tmp_path, "sample", key) == tmp_path / f"sample-{config_hash(key)}"
    assert keyed_folder(tmp_path, "sample", {"a": 2}) != keyed_folder(tmp_path, "sample", key)
    (tmp_path / "dump.xml").write_text("<x/>")
    identity = file_identity(str(tmp_path / "dump.xml"))
    assert identity["size"] == 4 and identity["path"] == str(tmp_path / "dump.xml")
    with pytest.raises(PipelineError, match="no such file"):
        file_identity(str(tmp_path / "missing.xml"))
