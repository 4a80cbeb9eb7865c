"""Title resolution: link target titles -> node ids, through redirect chains, as vectorized joins.

All titles a link may name (article titles, then redirect sources) form one `names` array. Each
name maps to a final node (`name_node`), so resolving a batch of links is one hash join
(`pyarrow.compute.index_in`) and one numpy gather; no Python code runs per link or per title.
Redirect chains are followed by vectorized hops over all redirects at once; what is still a
redirect after `max_hops` is classified by pointer doubling as a cycle or an over-long chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# name_node codes for names that do not resolve to an article.
MISSING = -1  # the chain ends at a title that is no article
LOOP = -2  # the chain is a cycle, or longer than max_hops


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _string_type_for(*arrays: pa.Array) -> pa.DataType:
    # A plain string array holds at most 2 GiB of characters; full-Wikipedia title sets stay below,
    # but a generic corpus with long titles might not.
    total = sum(pc.sum(pc.binary_length(a)).as_py() or 0 for a in arrays)
    return pa.large_string() if total >= 2**31 - 1 else pa.string()


def lookup(values: pa.Array | pa.ChunkedArray, names: pa.Array) -> np.ndarray:
    """Index of each value in `names` (int32; -1 when absent or null). `names` must be unique.

    One call hashes all of `names` again: batch many values into one call. A chunked `values` is
    looked up chunk by chunk against that one hash (not combined first: a copy of every string)."""
    if values.type != names.type:
        values = values.cast(names.type)
    idx = pc.index_in(values, value_set=names)
    return idx.fill_null(-1).to_numpy(zero_copy_only=False)


def first_occurrences(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Positions of the first occurrence of each distinct value (ascending)."""
    codes = pc.dictionary_encode(_as_array(values)).indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    return np.sort(first)


@dataclass
class TitleTable:
    """Every resolvable title and the node it ends at."""

    names: pa.Array  # node titles (name i == node i for i < num_nodes), then redirect sources
    name_node: np.ndarray  # int32 per name, plus one trailing MISSING slot that index -1 lands on
    name_hops: np.ndarray  # int8 per name: 0 for articles, redirect hops otherwise
    num_nodes: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def num_redirects(self) -> int:
        return len(self.names) - self.num_nodes


def build_title_table(
    node_titles: pa.Array | pa.ChunkedArray,
    redirect_sources: pa.Array | pa.ChunkedArray,
    redirect_targets: pa.Array | pa.ChunkedArray,
    max_hops: int,
) -> TitleTable:
    """Resolve every redirect to a node. `node_titles` must be unique (node order)."""
    node_titles = _as_array(node_titles)
    sources, targets = _as_array(redirect_sources), _as_array(redirect_targets)
    n = len(node_titles)
    counts = {"redirects": len(sources)}

    valid = pc.and_(pc.is_valid(sources), pc.is_valid(targets))
    counts["redirects_invalid"] = len(sources) - (pc.sum(valid).as_py() or 0)
    sources, targets = sources.filter(valid), targets.filter(valid)
    # A title that is both an article and a redirect source: the article wins.
    shadowed = pc.is_in(sources, value_set=node_titles)
    counts["redirects_shadowed_by_article"] = pc.sum(shadowed).as_py() or 0
    keep = pc.invert(shadowed)
    sources, targets = sources.filter(keep), targets.filter(keep)
    first = first_occurrences(sources) if len(sources) else np.zeros(0, np.int64)
    counts["redirects_duplicate"] = len(sources) - len(first)
    sources, targets = sources.take(pa.array(first)), targets.take(pa.array(first))

    string_type = _string_type_for(node_titles, sources)
    names = pa.concat_arrays([node_titles.cast(string_type), sources.cast(string_type)])
    r = len(sources)
    sink = n + r  # the state every broken chain falls into
    step = np.empty(n + r + 1, dtype=np.int64)  # one hop from each name; articles and sink are fixed
    step[:n] = np.arange(n)
    first_hop = lookup(targets, names)
    step[n:sink] = np.where(first_hop >= 0, first_hop, sink)
    del first_hop
    step[sink] = sink

    cur = step[n:sink].copy()
    hops = np.ones(r, dtype=np.int8)
    pending = np.flatnonzero((cur >= n) & (cur < sink))
    while len(pending) and hops[pending[0]] < max_hops:
        cur[pending] = step[cur[pending]]
        hops[pending] += 1
        pending = pending[(cur[pending] >= n) & (cur[pending] < sink)]

    redirect_node = np.where(cur < n, cur, MISSING)
    if len(pending):
        # Still on a redirect after max_hops: doubling the step function ceil(log2(r)) + 1 times
        # reaches the end of any finite chain, so what is still on a redirect is in a cycle.
        far = step.copy()
        for _ in range(int(np.ceil(np.log2(r + 1))) + 1):
            far = far[far]
        end = far[n + pending]
        in_cycle = (end >= n) & (end < sink)
        counts["redirect_cycles"] = int(in_cycle.sum())
        counts["redirect_chains_too_long"] = int((~in_cycle).sum())
        redirect_node[pending] = LOOP
    else:
        counts["redirect_cycles"] = counts["redirect_chains_too_long"] = 0
    counts["redirects_to_missing"] = int((redirect_node == MISSING).sum())
    counts["redirect_chains"] = int(((hops > 1) & (redirect_node >= 0)).sum())

    name_node = np.empty(n + r + 1, dtype=np.int32)
    name_node[:n] = np.arange(n, dtype=np.int32)
    name_node[n:sink] = redirect_node
    name_node[sink] = MISSING
    name_hops = np.zeros(n + r + 1, dtype=np.int8)
    name_hops[n:sink] = hops
    return TitleTable(names, name_node, name_hops, n, counts)


@dataclass
class ResolvedLinks:
    node: np.ndarray  # int32 target node, or MISSING / LOOP
    via_redirect: np.ndarray  # bool: the title named a redirect


class LinkResolver:
    """Resolves batches of link targets against a TitleTable and keeps the running counts."""

    def __init__(self, table: TitleTable) -> None:
        self.table = table
        self.redirect_used = np.zeros(table.num_redirects, dtype=bool)
        self.counts = dict.fromkeys(
            ("resolved_direct", "resolved_via_redirect", "unresolved_missing", "unresolved_redirect_loop"), 0
        )

    def resolve(self, targets: pa.Array | pa.ChunkedArray) -> ResolvedLinks:
        t = self.table
        idx = lookup(targets, t.names)
        node = t.name_node[idx]  # idx -1 lands on the trailing MISSING slot
        via = idx >= t.num_nodes
        ok = node >= 0
        used = idx[via & ok] - t.num_nodes
        self.redirect_used[used] = True
        n_via = int(np.count_nonzero(via & ok))
        n_ok = int(np.count_nonzero(ok))
        n_loop = int(np.count_nonzero(node == LOOP))
        self.counts["resolved_via_redirect"] += n_via
        self.counts["resolved_direct"] += n_ok - n_via
        self.counts["unresolved_redirect_loop"] += n_loop
        self.counts["unresolved_missing"] += len(node) - n_ok - n_loop
        return ResolvedLinks(node, via)

    @property
    def redirects_used(self) -> int:
        return int(self.redirect_used.sum())
