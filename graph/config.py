"""Config section of the graph stage."""

from __future__ import annotations

from dataclasses import dataclass, field

from graph.sources import SOURCES


@dataclass
class TfidfConfig:
    """`tfidf` source: each document -> its k most similar documents by TF-IDF cosine over its text."""

    k: int = 10  # out-links per document (fewer when fewer documents share a term with it)
    # A document is indexed by its highest-weighted terms only (bench/graph_sources.py, 60-word
    # documents: recall@10 against the exact top-10 56% at 32 terms, 96% at 64, at 13x the CPU).
    terms_per_doc: int = 32
    # A term kept by more documents than this is left out of the index (a stop word for this corpus):
    # it bounds the work per document, so the cost stays linear in the number of documents.
    max_postings: int = 2_000
    min_df: int = 2  # a term in fewer documents cannot link two of them
    hash_bits: int = 20  # terms are hashed into 2^hash_bits columns (no vocabulary held in memory)
    batch_docs: int = 4096  # documents tokenized per batch
    # Candidate (document, document) scores per product chunk: ~12 bytes each, so 16M is ~200 MB.
    chunk_candidates: int = 16_000_000

    def __post_init__(self) -> None:
        for name in ("k", "terms_per_doc", "max_postings", "min_df", "batch_docs", "chunk_candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"graph.tfidf.{name} must be >= 1")
        if not 8 <= self.hash_bits <= 26:
            raise ValueError("graph.tfidf.hash_bits must be between 8 and 26")


@dataclass
class RandomConfig:
    """`random` source: the hyperlink graph's out-degree sequence, targets drawn uniformly."""

    seed: int = 0


@dataclass
class GraphConfig:
    """`linkbert corpus graph`: titles -> node ids, edges from each of `sources` -> one CSR."""

    # Edge sources (graph/sources/): hyperlinks, tfidf, random. The graph is their union; every edge
    # records which sources produced it (edge_kind.npy, one bit per source in this order).
    sources: list[str] = field(default_factory=lambda: ["hyperlinks"])
    include_template_links: bool = True  # {{main|X}}-style hatnote links become edges too
    drop_disambiguation_targets: bool = False  # the paper keeps them
    max_redirect_hops: int = 8  # longer chains are treated as cycles
    tfidf: TfidfConfig = field(default_factory=TfidfConfig)
    random: RandomConfig = field(default_factory=RandomConfig)

    def __post_init__(self) -> None:
        if self.max_redirect_hops < 1:
            raise ValueError("graph.max_redirect_hops must be >= 1")
        if not self.sources:
            raise ValueError(f"graph.sources is empty; name at least one of {sorted(SOURCES)}")
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown:
            raise ValueError(
                f"graph.sources: unknown source {unknown[0]!r} (known: {', '.join(sorted(SOURCES))})"
            )
        if len(set(self.sources)) != len(self.sources):
            raise ValueError(f"graph.sources lists a source twice: {self.sources}")
        if len(self.sources) > 8:
            raise ValueError("graph.sources: at most 8 sources (edge kinds are bits of one byte)")
