"""`corpus.format=hf`: a Hugging Face dataset (save_to_disk folder or parquet/JSON files) read through
`datasets` with mapped column names gives the same documents as the same records as JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from corpus.extract.launch import run_extract
from foundation.errors import PipelineError
from pipeline.tree import load_config

# Published-style column names, an extra column the reader must ignore, string and int ids, a link
# target that is not an article title (dropped), a row without links.
ROWS = [
    {"doc_id": "paper-1", "name": "Graph neural networks", "body": "GNNs pass messages.", "cites": ["Message passing", "Talk:Foo"], "year": 2017},
    {"doc_id": "paper-2", "name": "Message passing", "body": "Nodes exchange vectors.", "cites": ["Graph neural networks"], "year": 2016},
    {"doc_id": "paper-3", "name": "Attention", "body": "Weights over inputs.", "cites": [], "year": 2014},
    {"doc_id": "paper-4", "name": "Transformers", "body": "Attention only.", "cites": ["Attention", "Message passing"], "year": 2017},
    {"doc_id": "paper-5", "name": "BERT", "body": "Masked language models.", "cites": ["Transformers"], "year": 2018},
    {"doc_id": "paper-6", "name": "LinkBERT", "body": "Documents with links.", "cites": ["BERT", "Graph neural networks"], "year": 2022},
]  # fmt: skip
MAPPING = ["corpus.hf_columns.id=doc_id", "corpus.hf_columns.title=name", "corpus.hf_columns.text=body"]
MAPPING.append("corpus.hf_columns.links=cites")


def docs(out: Path) -> list[dict]:
    rows = [r for shard in sorted((out / "docs").glob("*.parquet")) for r in pq.read_table(shard).to_pylist()]
    return sorted(rows, key=lambda r: r["id"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The same records through the JSONL reader."""
    root = tmp_path_factory.mktemp("jsonl")
    with open(root / "docs.jsonl", "w") as f:
        for r in ROWS:
            f.write(
                json.dumps({"id": r["doc_id"], "title": r["name"], "text": r["body"], "links": r["cites"]})
                + "\n"
            )
    cfg = load_config(None, ["corpus.format=jsonl"])
    run_extract(cfg.corpus, [str(root / "docs.jsonl")], str(root / "out"))
    rows = docs(root / "out")
    assert len(rows) == 6 and sum(len(r["links"]) for r in rows) == 7  # Talk:Foo is not an article
    return rows


def test_save_to_disk_folder_with_mapped_columns_in_two_tasks(tmp_path: Path, reference):
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "ds"))
    cfg = load_config(None, ["corpus.format=hf", "corpus.tasks=2", "corpus.workers=1", *MAPPING])
    stats = run_extract(cfg.corpus, [str(tmp_path / "ds")], str(tmp_path / "out"))
    assert stats["articles"] == 6
    assert docs(tmp_path / "out") == reference
    shards = sorted((tmp_path / "out" / "docs").glob("*.parquet"))
    assert [pq.read_metadata(s).num_rows for s in shards] == [3, 3]  # rows split, not files


def test_parquet_files_and_a_dataset_dict_split(tmp_path: Path, reference):
    ds = datasets.Dataset.from_list(ROWS)
    ds.select(range(4)).to_parquet(str(tmp_path / "a.parquet"))
    ds.select(range(4, 6)).to_parquet(str(tmp_path / "b.parquet"))
    cfg = load_config(None, ["corpus.format=hf", "corpus.tasks=3", "corpus.workers=1", *MAPPING])
    run_extract(cfg.corpus, [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")], str(tmp_path / "out"))
    assert docs(tmp_path / "out") == reference

    datasets.DatasetDict({"validation": ds.select([0]), "wiki": ds}).save_to_disk(str(tmp_path / "dd"))
    cfg = load_config(None, ["corpus.format=hf", "corpus.hf_split=wiki", *MAPPING])
    run_extract(cfg.corpus, [str(tmp_path / "dd")], str(tmp_path / "out-dd"))
    assert docs(tmp_path / "out-dd") == reference


def test_bad_datasets_are_one_line_errors(tmp_path: Path):
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "ds"))
    cfg = load_config(None, ["corpus.format=hf", "corpus.hf_columns.title=name"])
    with pytest.raises(PipelineError, match=r"no column for id -> 'id', text -> 'text'.*corpus.hf_columns"):
        run_extract(cfg.corpus, [str(tmp_path / "ds")], str(tmp_path / "out"))
    assert not (tmp_path / "out" / "docs").exists()  # refused before any task ran

    bad = [dict(r) for r in ROWS]
    bad[4]["cites"] = None
    bad[3]["doc_id"] = "x"
    datasets.Dataset.from_list([*bad, {**ROWS[0], "name": "", "doc_id": "empty"}]).to_parquet(
        str(tmp_path / "b.parquet")
    )
    cfg = load_config(None, ["corpus.format=hf", *MAPPING])
    stats = run_extract(cfg.corpus, [str(tmp_path / "b.parquet")], str(tmp_path / "out-b"))
    assert stats["articles"] == 6 and stats["failed"] == 1  # an empty title is a failed page, not an error

    floats = [{**r, "doc_id": i + 0.5} for i, r in enumerate(ROWS)]
    datasets.Dataset.from_list(floats).to_parquet(str(tmp_path / "f.parquet"))
    with pytest.raises(
        PipelineError, match=r"f.parquet: row 0 has an id 0.5 that is neither an integer nor a string"
    ):
        run_extract(cfg.corpus, [str(tmp_path / "f.parquet")], str(tmp_path / "out-f"))
    with pytest.raises(
        PipelineError, match=r"notes.txt: --format hf reads a save_to_disk folder or \.parquet"
    ):
        (tmp_path / "notes.txt").write_text("x")
        run_extract(cfg.corpus, [str(tmp_path / "notes.txt")], str(tmp_path / "out-c"))
    with pytest.raises(PipelineError, match="not a dataset folder written by save_to_disk"):
        (tmp_path / "empty").mkdir()
        run_extract(cfg.corpus, [str(tmp_path / "empty")], str(tmp_path / "out-d"))
