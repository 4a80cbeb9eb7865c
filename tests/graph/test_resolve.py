import numpy as np
import pyarrow as pa

from graph.resolve import LOOP, MISSING, LinkResolver, build_title_table


def table(articles, redirects, max_hops=8):
    sources = pa.array([s for s, _ in redirects], pa.string())
    targets = pa.array([t for _, t in redirects], pa.string())
    return build_title_table(pa.array(articles, pa.string()), sources, targets, max_hops)


def resolve(t, titles):
    return LinkResolver(t).resolve(pa.array(titles, pa.string())).node.tolist()


def test_chains_cycles_and_self_redirects():
    t = table(
        ["A", "B"],
        [("x", "y"), ("y", "z"), ("z", "B"), ("s", "s"), ("p", "q"), ("q", "p"), ("d", "gone"), ("i", "p")],
    )
    assert resolve(t, ["x", "y", "z", "A", "s", "p", "i", "d", "gone", None]) == [
        1,
        1,
        1,
        0,
        LOOP,
        LOOP,
        LOOP,
        MISSING,
        MISSING,
        MISSING,
    ]
    c = t.counts
    assert c["redirect_cycles"] == 4  # s, p, q, and i (which leads into the p <-> q cycle)
    assert c["redirect_chains"] == 2 and c["redirects_to_missing"] == 1 and c["redirect_chains_too_long"] == 0
    assert t.name_hops[t.num_nodes : t.num_nodes + 3].tolist() == [3, 2, 1]


def test_article_wins_over_redirect_and_first_duplicate_redirect_wins():
    t = table(["A", "B", "C"], [("A", "B"), ("r", "C"), ("r", "B"), (None, "A")])
    assert resolve(t, ["A", "r"]) == [0, 2]
    assert t.counts["redirects_shadowed_by_article"] == 1
    assert t.counts["redirects_duplicate"] == 1
    assert t.counts["redirects_invalid"] == 1


def test_hop_limit():
    chain = [(f"r{i}", f"r{i + 1}") for i in range(5)] + [("r5", "T")]  # r0 needs 6 hops
    t = table(["T"], chain, max_hops=6)
    assert resolve(t, ["r0"]) == [0]
    t = table(["T"], chain, max_hops=5)
    assert resolve(t, ["r0", "r1"]) == [LOOP, 0]
    assert t.counts["redirect_chains_too_long"] == 1 and t.counts["redirect_cycles"] == 0


def test_resolver_counts_and_redirects_used():
    t = table(["A", "B"], [("a", "A"), ("b", "B"), ("unused", "A"), ("loop", "loop")])
    r = LinkResolver(t)
    out = r.resolve(pa.chunked_array([pa.array(["a", "A", "a"]), pa.array(["b", "nope", "loop"])]))
    np.testing.assert_array_equal(out.node, [0, 0, 0, 1, MISSING, LOOP])
    np.testing.assert_array_equal(out.via_redirect, [True, False, True, True, False, True])
    assert r.counts == {
        "resolved_direct": 1,
        "resolved_via_redirect": 3,
        "unresolved_missing": 1,
        "unresolved_redirect_loop": 1,
    }
    assert r.redirects_used == 2
