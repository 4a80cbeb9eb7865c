import numpy as np
import pytest

import graph.csr
from graph.csr import EdgeBuffer, build_csr, csr_sources


@pytest.mark.parametrize("chunk", [3, 1 << 24])
def test_csr_sorted_deduplicated_across_chunks(monkeypatch, chunk):
    monkeypatch.setattr(graph.csr, "CHUNK", chunk)  # small chunks cross every dedup boundary
    rng = np.random.default_rng(0)
    src = rng.integers(0, 7, 200).astype(np.int32)
    dst = rng.integers(0, 7, 200).astype(np.int32)
    buf = EdgeBuffer(capacity=10)  # forces growth
    for lo in range(0, 200, 37):
        buf.append(src[lo : lo + 37], dst[lo : lo + 37])
    csr = build_csr(buf.release(), num_nodes=9)
    expected = sorted(set(zip(src.tolist(), dst.tolist(), strict=True)))
    got = list(zip(csr_sources(csr.indptr).tolist(), csr.indices.tolist(), strict=True))
    assert got == expected
    assert csr.duplicates == 200 - len(expected)
    assert csr.indptr.dtype == np.int64 and csr.indices.dtype == np.int32 and len(csr.indptr) == 10


def test_large_node_ids_survive_packing():
    buf = EdgeBuffer(4)
    big = np.int32(2**31 - 1)
    buf.append(np.array([big, 0], np.int32), np.array([0, big], np.int32))
    keys = buf.release()
    assert (keys >> 32).tolist() == [big, 0] and (keys & 0xFFFFFFFF).tolist() == [0, big]
