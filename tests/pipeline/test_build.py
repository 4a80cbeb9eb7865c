import json
import os
import re
import shutil
from pathlib import Path

import pytest

from foundation.config import config_hash
from foundation.errors import PipelineError
from pipeline.build import build_key, point_link, run_build
from pipeline.cli import main
from pipeline.tree import load_config
from tests.conftest import SAMPLE_CONFIG, SAMPLE_DUMP


def test_build_makes_every_stage_and_links_the_folder(segments_built_sample: Path):
    root = segments_built_sample.parent
    assert re.fullmatch(r"sample-[0-9a-f]{12}", segments_built_sample.name)
    link = root / "sample"
    assert link.is_symlink() and os.readlink(link) == segments_built_sample.name
    for manifest in ("extract.json", "graph/manifest.json", "segments/manifest.json"):
        assert (segments_built_sample / manifest).is_file(), manifest
    segments = json.loads((segments_built_sample / "segments" / "manifest.json").read_text())
    graph = json.loads((segments_built_sample / "graph" / "manifest.json").read_text())
    assert segments["num_docs"] == graph["nodes"] == 106
    assert segments["max_tokens"] == 62


def test_same_config_reuses_the_folder_through_the_cli(
    segments_built_sample: Path, capsys: pytest.CaptureFixture[str]
):
    root = segments_built_sample.parent
    before = (segments_built_sample / "segments" / "manifest.json").stat().st_mtime_ns
    args = ["corpus", "build", "--config", str(SAMPLE_CONFIG), "--input", str(SAMPLE_DUMP)]
    assert main([*args, "--root", str(root), "--name", "sample"]) == 0
    assert capsys.readouterr().out.strip() == str(segments_built_sample)
    assert (segments_built_sample / "segments" / "manifest.json").stat().st_mtime_ns == before
    assert os.readlink(root / "sample") == segments_built_sample.name


def test_hash_covers_what_decides_the_corpus(tmp_path: Path):
    dump = tmp_path / "dump.xml.bz2"
    shutil.copy(SAMPLE_DUMP, dump)
    base = load_config(SAMPLE_CONFIG)
    key = config_hash(build_key(base, [str(dump)]))

    def changed(*overrides: str) -> str:
        return config_hash(build_key(load_config(SAMPLE_CONFIG, list(overrides)), [str(dump)]))

    for decides in (
        "segments.max_tokens=100",
        "segments.tokenizer=train",
        "graph.max_redirect_hops=3",
        "corpus.tasks=2",
    ):
        assert changed(decides) != key, decides
    for how in ("segments.tasks=4", "segments.workers=2", "segments.batch_size=8", "corpus.workers=1"):
        assert changed(how) == key, how
    # A trained tokenizer's settings decide it; a loaded one's don't (its content does).
    assert changed("segments.vocab_size=1000") == key
    assert changed("segments.tokenizer=train", "segments.vocab_size=1000") != changed(
        "segments.tokenizer=train"
    )
    os.utime(dump, ns=(1, 1))
    assert config_hash(build_key(base, [str(dump)])) != key


def test_bad_build_requests_are_one_line_errors(tmp_path: Path):
    cfg = load_config(SAMPLE_CONFIG)
    with pytest.raises(PipelineError, match="no such file"):
        run_build(cfg, [str(tmp_path / "missing.xml.bz2")], str(tmp_path), "x")
    with pytest.raises(PipelineError, match="plain folder name"):
        run_build(cfg, [str(SAMPLE_DUMP)], str(tmp_path), "a/b")
    slurm = load_config(SAMPLE_CONFIG, ["segments.executor.kind=slurm", "segments.executor.partition=p"])
    with pytest.raises(PipelineError, match="one after another"):
        run_build(slurm, [str(SAMPLE_DUMP)], str(tmp_path), "x")
    (tmp_path / "taken").mkdir()
    with pytest.raises(PipelineError, match="not a symlink"):
        point_link(tmp_path / "taken", tmp_path / "elsewhere")


def test_link_is_swapped_to_the_newest_folder(tmp_path: Path):
    (tmp_path / "c-1").mkdir()
    (tmp_path / "c-2").mkdir()
    point_link(tmp_path / "c", tmp_path / "c-1")
    point_link(tmp_path / "c", tmp_path / "c-2")
    assert os.readlink(tmp_path / "c") == "c-2" and (tmp_path / "c").resolve() == (tmp_path / "c-2").resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "c-1", "c-2"]  # no temporary links left


@pytest.mark.parametrize("preset", sorted((SAMPLE_CONFIG.parent).glob("*.yaml")), ids=lambda p: p.name)
def test_corpus_presets_load(preset: Path):
    cfg = load_config(preset)
    assert cfg.segments.max_tokens * 2 + 3 <= 512
