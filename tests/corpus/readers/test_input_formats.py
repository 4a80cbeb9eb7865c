"""Input formats are plug-ins: a format defined outside the package (tests/corpus/readers/plugin_tsv.py) and its
line in corpus.readers.FORMATS are the whole of adding one; the corpus build then runs on it unchanged."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus.config import CorpusConfig
from corpus.extract.launch import run_extract
from corpus.readers import FORMATS, input_format
from foundation.config import from_dict
from foundation.errors import ConfigError, PipelineError
from graph.build import run_graph
from graph.config import GraphConfig

ROWS = [
    "1\tAthens\tAthens is the capital of Greece.\tGreece|Sparta",
    "2\tGreece\tGreece is a country.\tAthens",
    "3\tSparta\tSparta was a city.\t",
]


def test_a_format_registered_from_outside_builds_a_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(FORMATS, "tsv", "tests.corpus.readers.plugin_tsv:TsvFormat")
    dump = tmp_path / "docs.tsv"
    dump.write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    cfg = from_dict(CorpusConfig, {"format": "tsv"})
    stats = run_extract(cfg, [str(dump)], str(tmp_path / "corpus"))
    assert stats["articles"] == 3 and stats["failed"] == 0
    rows = [
        r
        for path in sorted((tmp_path / "corpus" / "docs").glob("*.parquet"))
        for r in pq.read_table(path).to_pylist()
    ]
    assert {r["title"]: [link["target"] for link in r["links"]] for r in rows} == {
        "Athens": ["Greece", "Sparta"],
        "Greece": ["Athens"],
        "Sparta": [],
    }
    graph = run_graph(GraphConfig(), str(tmp_path / "corpus"))
    assert graph["edges"] == 3  # Athens -> Greece, Athens -> Sparta, Greece -> Athens


def test_an_unknown_format_names_the_known_ones():
    with pytest.raises(
        ConfigError, match=r"corpus.format='csv': no such input format \(known: hf, jsonl, wikipedia\)"
    ):
        from_dict(CorpusConfig, {"format": "csv"})
    with pytest.raises(PipelineError, match="no such input format"):
        input_format("csv")


def test_each_bundled_format_is_registered_under_its_own_name():
    assert {name: input_format(name).name for name in FORMATS} == {n: n for n in FORMATS}
