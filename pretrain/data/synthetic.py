"""A generated linked corpus in the exact on-disk formats (graph/ + segments/), for tests, benches and
smoke runs that need more documents or denser links than the bundled Wikipedia sample.

Link targets follow a Zipf-like popularity, so in-degrees span orders of magnitude as on Wikipedia
(the linked-pair sampler's 1/in-degree weighting is then observable). Some documents link nowhere
and some have no segments (dropped as too short), the two cases the sampler must route around.
Everything is vectorized: 200k documents take a few seconds.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from formats import graph as graph_format
from formats import segments as segments_format
from foundation.atomic import atomic_dir

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4
CONTINUATION_EVERY = 4  # every 4th ordinary vocab entry is a WordPiece "##" continuation piece


def synthetic_vocab(vocab_size: int) -> list[str]:
    """Special tokens first, then word pieces `w<i>` and continuation pieces `##p<i>`."""
    if vocab_size < len(SPECIAL_TOKENS) + 8:
        raise ValueError(f"vocab_size must be >= {len(SPECIAL_TOKENS) + 8}")
    words = [
        f"##p{i}" if i % CONTINUATION_EVERY == CONTINUATION_EVERY - 1 else f"w{i}"
        for i in range(len(SPECIAL_TOKENS), vocab_size)
    ]
    return [*SPECIAL_TOKENS, *words]


def _write_tokenizer(folder: Path, vocab: list[str]) -> str:
    """A BERT-style WordPiece fast tokenizer over `vocab`, saved so `AutoTokenizer` loads it."""
    # Deferred: the tokenizer libraries load only when a corpus is generated.
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    ids = {tok: i for i, tok in enumerate(vocab)}
    backend = Tokenizer(models.WordPiece(vocab=ids, unk_token="[UNK]", max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.BertProcessing(("[SEP]", ids["[SEP]"]), ("[CLS]", ids["[CLS]"]))
    backend.decoder = decoders.WordPiece(prefix="##")
    tokenizer = BertTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        do_lower_case=True,
    )
    tokenizer.save_pretrained(str(folder))
    if not (folder / "vocab.txt").is_file():
        (folder / "vocab.txt").write_text("".join(f"{t}\n" for t in vocab), encoding="utf-8")
    return hashlib.sha256((folder / "tokenizer.json").read_bytes()).hexdigest()[:16]


def _generate_graph(
    rng: np.random.Generator, num_docs: int, avg_out_links: float, isolated_fraction: float, zipf: float
) -> tuple[np.ndarray, np.ndarray]:
    popularity = (np.arange(num_docs, dtype=np.float64) + 1.0) ** -zipf
    popularity = popularity[rng.permutation(num_docs)]
    popularity /= popularity.sum()
    out_degree = rng.poisson(avg_out_links, size=num_docs)
    out_degree[rng.random(num_docs) < isolated_fraction] = 0
    sources = np.repeat(np.arange(num_docs, dtype=np.int64), out_degree)
    targets = rng.choice(num_docs, size=len(sources), p=popularity).astype(np.int64)
    keep = sources != targets
    edges = np.unique(sources[keep] * num_docs + targets[keep])  # sorted by (source, target), deduped
    sources, targets = edges // num_docs, edges % num_docs
    indptr = np.zeros(num_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(sources, minlength=num_docs), out=indptr[1:])
    return indptr, targets.astype(np.int32)


def write_synthetic_corpus(
    out_dir: str | Path,
    *,
    num_docs: int = 2000,
    seed: int = 0,
    avg_out_links: float = 8.0,
    vocab_size: int = 1000,
    segments_per_doc: tuple[int, int] = (1, 6),
    segment_tokens: tuple[int, int] = (8, 254),
    dropped_fraction: float = 0.03,
    isolated_fraction: float = 0.05,
    zipf_exponent: float = 1.0,
    overwrite: bool = False,
) -> Path:
    """Write `out_dir/graph/` and `out_dir/segments/` (formats.md) and return `out_dir`.

    segments_per_doc / segment_tokens: inclusive ranges drawn uniformly per document / segment.
    dropped_fraction: documents with no segments; isolated_fraction: documents with no out-links.
    """
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    config = {
        "num_docs": num_docs,
        "seed": seed,
        "avg_out_links": avg_out_links,
        "vocab_size": vocab_size,
        "segments_per_doc": list(segments_per_doc),
        "segment_tokens": list(segment_tokens),
        "dropped_fraction": dropped_fraction,
        "isolated_fraction": isolated_fraction,
        "zipf_exponent": zipf_exponent,
    }
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]

    indptr, indices = _generate_graph(rng, num_docs, avg_out_links, isolated_fraction, zipf_exponent)
    in_degree = np.bincount(indices, minlength=num_docs).astype(np.int32)
    # Every generated link is a hyperlink: bit 0 of edge_kind, the only source in the manifest.
    edge_kind = np.ones(len(indices), dtype=np.uint8)
    with atomic_dir(graph_format.graph_dir(out_dir), overwrite=overwrite) as tmp:
        stats = {"nodes": num_docs, "edges": len(indices), "synthetic": True}
        graph_format.write_files(tmp, _nodes(num_docs), indptr, indices, in_degree, edge_kind, stats)
        manifest = {"nodes": num_docs, "edges": len(indices), "edge_kinds": ["hyperlinks"]}
        graph_format.write_manifest(tmp, {**manifest, "config": config, "config_hash": config_hash})

    lo, hi = segments_per_doc
    per_doc = rng.integers(lo, hi + 1, size=num_docs)
    per_doc[rng.random(num_docs) < dropped_fraction] = 0
    doc_segments = np.zeros(num_docs + 1, dtype=np.int64)
    np.cumsum(per_doc, out=doc_segments[1:])
    num_segments = int(doc_segments[-1])
    lengths = rng.integers(segment_tokens[0], segment_tokens[1] + 1, size=num_segments)
    segment_offsets = np.zeros(num_segments + 1, dtype=np.int64)
    np.cumsum(lengths, out=segment_offsets[1:])
    num_tokens = int(segment_offsets[-1])
    if num_tokens == 0:
        raise ValueError("the generated corpus has no tokens: raise num_docs or lower dropped_fraction")
    dtype = np.uint16 if vocab_size <= 65536 else np.uint32
    vocab = synthetic_vocab(vocab_size)

    with atomic_dir(segments_format.segments_dir(out_dir), overwrite=overwrite) as tmp:
        with segments_format.tokens_writer(tmp) as f:
            chunk = 1 << 24  # bounded memory however large the corpus
            for start in range(0, num_tokens, chunk):
                stop = min(start + chunk, num_tokens)
                f.write(
                    rng.integers(len(SPECIAL_TOKENS), vocab_size, size=stop - start, dtype=dtype).tobytes()
                )
        segments_format.write_index(tmp, segment_offsets, doc_segments)
        tokenizer_hash = _write_tokenizer(tmp / segments_format.TOKENIZER_DIR, vocab)
        manifest = {
            "num_tokens": num_tokens,
            "num_segments": num_segments,
            "num_docs": num_docs,
            "dtype": np.dtype(dtype).name,
            "vocab_size": vocab_size,
            "special_ids": {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4},
            "tokenizer_hash": tokenizer_hash,
            "config": config,
            "config_hash": config_hash,
            "docs_dropped": int((per_doc == 0).sum()),
        }
        segments_format.write_manifest(tmp, manifest)
    return out_dir


def _nodes(num_docs: int) -> pa.Table:
    ids = np.arange(num_docs, dtype=np.int64) * 3 + 10  # ascending page ids, as node order requires
    return pa.table(
        {
            "id": ids,
            "title": pa.array([f"Document {i}" for i in range(num_docs)]),
            "is_disambiguation": np.zeros(num_docs, dtype=bool),
        }
    )
