"""Config section of the graph stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GraphConfig:
    """`linkbert corpus graph`: titles -> node ids, links resolved through redirects -> CSR."""

    include_template_links: bool = True  # {{main|X}}-style hatnote links become edges too
    drop_disambiguation_targets: bool = False  # the paper keeps them
    max_redirect_hops: int = 8  # longer chains are treated as cycles

    def __post_init__(self) -> None:
        if self.max_redirect_hops < 1:
            raise ValueError("graph.max_redirect_hops must be >= 1")
