"""DRP relations as a registry: the default list draws what the fixed three relations drew, a shorter list
is the old `drp.classes: 2`, `drp.linked_sources` picks edge kinds, and a new relation is one class plus
its registration."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from foundation.config import ConfigError
from foundation.errors import PipelineError
from pipeline.tree import load_config
from pretrain.config import DataConfig, DrpConfig
from pretrain.counter_rng import below_array
from pretrain.data.corpus_data import LinkedCorpus
from pretrain.data.loader import build_eval_sampler, build_train_sampler
from pretrain.data.sampler import PairSampler
from pretrain.relations import RELATIONS
from pretrain.relations.base import Relation, SegmentRanges
from pretrain.training.trainer import stream_view
from tests.pretrain.training.test_trainer import read_metrics, run_cli, tiny_args

REPO = Path(__file__).resolve().parents[3]

# sha256 (first 16 hex digits) of relation, anchor, pair and mask key of samples 0, 7, 14, ... < 200,000
# on the shared synthetic corpus (data: max_seq_len 128, held-out 5%; seed 11), recorded with the sampler
# as it was before relations became modules, with `drp.classes` 3 and 2. Resume and the held-out set of
# existing runs depend on these draws staying the same.
PINNED = {
    (3, "train"): "a59641bd72ef0624",
    (3, "eval"): "933fb5a2f457928d",
    (2, "train"): "25023dd4f30c251d",
    (2, "eval"): "3cca84970ce95c10",
}
THREE = ("contiguous", "random", "linked")


@pytest.fixture(scope="module")
def corpus(synthetic_corpus_dir: Path) -> LinkedCorpus:
    return LinkedCorpus.open(synthetic_corpus_dir)


def digest(sampler: PairSampler) -> str:
    draws = sampler.draw(np.arange(0, 200_000, 7))
    h = hashlib.sha256()
    for values in (draws.relation, draws.anchor, draws.pair, draws.mask_key):
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(("classes", "split"), sorted(PINNED))
def test_default_relations_draw_the_pairs_of_before(corpus: LinkedCorpus, classes: int, split: str) -> None:
    build = build_train_sampler if split == "train" else build_eval_sampler
    # The plain hash split the pinned pairs were drawn with (data.heldout_documents=any).
    data = DataConfig(max_seq_len=128, heldout_fraction=0.05, heldout_documents="any")
    drp = DrpConfig(relations=THREE[:classes])
    assert digest(build(corpus, data, drp, seed=11)) == PINNED[classes, split]


def test_a_relation_draws_the_same_whatever_other_relations_are_listed(corpus: LinkedCorpus) -> None:
    # Two relations, or three with the third never drawn: the same examples.
    two = PairSampler(corpus, DrpConfig(relations=THREE[:2]), 128, seed=3)
    three = PairSampler(corpus, DrpConfig(relations=THREE, probabilities=[0.5, 0.5, 0.0]), 128, seed=3)
    a, b = two.draw(np.arange(5000)), three.draw(np.arange(5000))
    for field in ("relation", "anchor", "pair", "mask_key"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_deprecated_classes_map_to_relations(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = load_config(None, ["drp.classes=2"])
    assert cfg.drp.relations == ("contiguous", "random") and cfg.drp.num_classes == 2
    assert "drp.classes=2 is deprecated" in caplog.text
    with pytest.raises(ConfigError, match="contradicts drp.relations"):
        load_config(None, ["drp.classes=2", "drp.relations=[contiguous,linked]"])
    # A run saved with `classes: 3` and today's default list define the same stream (same resume hash).
    new = load_config(None, ["drp.readout=pooler"])  # the read-out every run of that time had
    old = load_config(None, ["drp.classes=3"])
    assert stream_view({"drp": {"classes": 3, "probabilities": None, "linked_alpha": 1.0}}) == stream_view(
        {"drp": {k: v for k, v in vars(new.drp).items()}}
    )
    assert old.drp.relations == new.drp.relations
    # A list the old key could not express enters the hash as a list.
    other = load_config(None, ["drp.relations=[linked,random]"])
    assert stream_view({"drp": vars(other.drp)})["drp.relations"] == ["linked", "random"]


def test_resume_of_a_run_saved_with_drp_classes(synthetic_corpus_dir: Path, tmp_path: Path) -> None:
    args = tiny_args(
        synthetic_corpus_dir, tmp_path, "old", "train.max_steps=4", "checkpoint.every=2", "drp.readout=pooler"
    )
    assert run_cli([*args, "train.stop_after=2"]) == 0
    # The run's config.yaml as configs written before drp.relations (and drp.readout) held it.
    saved = tmp_path / "old" / "config.yaml"
    config = yaml.safe_load(saved.read_text())
    config["drp"] = {"classes": 3, "probabilities": None, "linked_alpha": 1.0}
    saved.write_text(yaml.safe_dump(config))
    assert run_cli(["--config", str(saved), "--resume", "auto"]) == 0
    assert [r["step"] for r in read_metrics(tmp_path / "old")] == [1, 2, 3, 4]
    assert yaml.safe_load(saved.read_text())["drp"]["relations"] == list(THREE)


@pytest.fixture(scope="module")
def two_kind_corpus(tmp_path_factory: pytest.TempPathFactory) -> LinkedCorpus:
    """The bundled sample with a graph of hyperlinks and random edges (two edge kinds)."""
    from pipeline.build import run_build

    cfg = load_config(
        REPO / "configs" / "corpus" / "sample.yaml",
        ["segments.max_tokens=62", "graph.sources=[hyperlinks,random]"],
    )
    dump = str(REPO / "tests" / "data" / "wiki" / "enwiki-sample.xml.bz2")
    return LinkedCorpus.open(
        run_build(cfg, inputs=[dump], root=str(tmp_path_factory.mktemp("kinds")), name="s")
    )


def test_linked_sources_pick_edge_kinds(two_kind_corpus: LinkedCorpus) -> None:
    from graph.store import DocumentGraph

    corpus = two_kind_corpus
    graph = DocumentGraph.load(corpus.corpus_dir)
    assert graph.edge_kinds == ["hyperlinks", "random"]
    doc_of = lambda s: np.searchsorted(corpus.doc_segments, s, side="right") - 1  # noqa: E731
    src = np.repeat(np.arange(corpus.num_docs), np.diff(corpus.indptr))
    samples = np.arange(20_000)
    for kind in ("hyperlinks", "random"):
        mask = graph.kind_mask([kind])
        edges = set(zip(src[mask].tolist(), corpus.indices[mask].tolist(), strict=True))
        drp = DrpConfig(linked_sources=[kind])
        sampler = PairSampler(corpus, drp, 128, seed=0)
        draws = sampler.draw(samples)
        linked = draws.relation == sampler.relation_index("linked")
        pairs = zip(doc_of(draws.anchor[linked]).tolist(), doc_of(draws.pair[linked]).tolist(), strict=True)
        assert linked.sum() > 1000 and all(p in edges for p in pairs), kind
        # The diversity weight counts in-links of the chosen kind only.
        expected = np.bincount(corpus.indices[mask], minlength=corpus.num_docs)
        weight = sampler.relations[sampler.relation_index("linked")]._weight
        assert np.array_equal(weight, np.maximum(expected, 1).astype(np.float64) ** -1.0)
    # All kinds listed, or none: every edge and the stored in-degree, drawn exactly alike.
    every = PairSampler(corpus, DrpConfig(linked_sources=["random", "hyperlinks"]), 128, seed=0).draw(samples)
    default = PairSampler(corpus, DrpConfig(), 128, seed=0).draw(samples)
    assert np.array_equal(every.pair, default.pair)
    with pytest.raises(PipelineError, match="has no 'tfidf' edges"):
        PairSampler(corpus, DrpConfig(linked_sources=["tfidf"]), 128, seed=0)


class SameDocument(Relation):
    """A relation defined outside the package: B is another segment of A's document, not the next one."""

    name = "same_document"
    why = "no document has three segments"

    def eligible_anchors(self) -> SegmentRanges:
        docs = self.ctx.anchors.docs
        return SegmentRanges.build(self.ctx.doc_segments, docs[np.diff(self.ctx.doc_segments)[docs] >= 3])

    def pairs(self, docs, anchors, pair_bits, target_bits):
        first, count = self.ctx.doc_segments[docs], np.diff(self.ctx.doc_segments)[docs]
        # Uniform over the document's segments other than A and A+1 (A+1 wraps to the first).
        nxt = first + (anchors - first + 1) % count
        j = first + below_array(pair_bits, count - 2)
        low, high = np.minimum(anchors, nxt), np.maximum(anchors, nxt)
        j += j >= low
        j += j >= high
        return j


def test_a_new_relation_is_one_class_plus_its_registration(
    synthetic_corpus_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setitem(RELATIONS, "same_document", f"{__name__}:SameDocument")
    corpus = LinkedCorpus.open(synthetic_corpus_dir)
    relations = [*THREE, "same_document"]
    sampler = PairSampler(corpus, DrpConfig(relations=relations), 128, seed=5)
    draws = sampler.draw(np.arange(8000))
    rows = draws.relation == 3
    doc_a = np.searchsorted(corpus.doc_segments, draws.anchor[rows], side="right") - 1
    doc_b = np.searchsorted(corpus.doc_segments, draws.pair[rows], side="right") - 1
    assert abs(rows.mean() - 0.25) < 0.02
    assert np.array_equal(doc_a, doc_b) and np.all(draws.pair[rows] != draws.anchor[rows])
    assert np.all(draws.pair[rows] != draws.anchor[rows] + 1)
    # It trains: a 4-way DRP head, per-relation metrics and the held-out set name it.
    args = tiny_args(
        synthetic_corpus_dir,
        tmp_path,
        "four",
        "train.max_steps=2",
        "eval.every=2",
        "drp.relations=" + json.dumps(relations),
    )
    assert run_cli(args) == 0
    run = tmp_path / "four"
    assert "drp_acc_same_document" in read_metrics(run)[-1]
    final = read_metrics(run, "eval")[-1]
    assert final["drp_classes"] == relations and final["confusion"] and len(final["confusion"]) == 4
    config = json.loads((run / "checkpoints" / "step-00000002" / "model_config.json").read_text())
    assert config["num_drp_labels"] == 4
    # `linkbert summary` names the run's relations from what the run wrote, not from a fixed list.
    from pipeline.summary import summarize

    text = summarize(str(synthetic_corpus_dir), str(run))
    assert "contiguous, random, linked, same_document; linked_alpha 1.0000" in text
    assert "same_document " in next(line for line in text.splitlines() if "held-out DRP accuracy" in line)
