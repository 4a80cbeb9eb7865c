from pathlib import Path

import numpy as np

from graph.build import run_graph
from graph.config import GraphConfig
from graph.stats import degree_summary, print_graph_stats, weak_components
from pipeline.cli import main


def test_print_graph_stats_table(small_corpus: Path, capsys):
    run_graph(GraphConfig(), str(small_corpus))
    print_graph_stats(small_corpus)
    out = capsys.readouterr().out
    assert "links_read" in out and "networkx.strong_components" in out
    assert "networkx.weak_components" in out
    top = out.split("top in-degree:")[1].split()
    assert top[:2] == ["3", "A"]  # A has the most in-links (from B, C and Disamb)
    assert (small_corpus / "graph" / "degree.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_commands(small_corpus: Path, capsys):
    assert main(["graph", "stats", "--corpus", str(small_corpus)]) == 2  # not built yet: one-line error
    assert "graph does not exist: build it with `linkbert corpus graph" in capsys.readouterr().err
    assert main(["corpus", "graph", "--corpus", str(small_corpus), "graph.max_redirect_hops=4"]) == 0
    assert main(["graph", "stats", "--corpus", str(small_corpus)]) == 0
    assert "edges" in capsys.readouterr().out


def test_degree_summary_and_components():
    s = degree_summary(np.array([0, 1, 1, 2, 10]))
    assert s["p50"] == 1 and s["max"] == 10 and s["mean"] == 2.8
    # 0 -> 1, 2 -> 1 is one weak component; 3 alone.
    assert weak_components(np.array([0, 1, 1, 2, 2]), np.array([1, 1], np.int32)) == {
        "count": 2,
        "largest": 3,
    }
