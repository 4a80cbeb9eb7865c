"""DRP relations, by name: `drp.relations` picks them and their order is the DRP head's label order.

A relation is one class (pretrain/relations/base.py: `Relation`) that says which anchor segments are
eligible, how the pair segment B is drawn for a batch of anchors, and why it is impossible when no
anchor is eligible. Adding one is a new file here plus its line in RELATIONS. Modules are imported
when a sampler is built, so the config checks names without importing numpy.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pretrain.relations.base import Relation

# name -> "module:Class"
RELATIONS = {
    "contiguous": "pretrain.relations.contiguous:Contiguous",  # B is the segment after A
    "random": "pretrain.relations.random_segment:RandomSegment",  # B from another document, uniform
    "linked": "pretrain.relations.linked:Linked",  # B from a document A's document links to
}
# The paper's three relations in the order of the former `drp.classes: 3` (2 = the first two).
DEFAULT_RELATIONS = ("contiguous", "random", "linked")
# The relation between two documents that retrieval and `linkbert score` rank by.
LINKED = "linked"


def relation_class(name: str) -> type[Relation]:
    module, _, attr = RELATIONS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def describe_settings(names: tuple[str, ...] | list[str], drp: Mapping[str, Any]) -> list[str]:
    """Each known relation's own settings, in relation order, as printed by the summary and the card."""
    return [part for n in names if n in RELATIONS for part in relation_class(n).describe_settings(drp)]


def between_documents(names: tuple[str, ...] | list[str]) -> list[bool]:
    """Per relation: whether B can come from another document than A's (unknown names: yes)."""
    return [not (n in RELATIONS and relation_class(n).within_document) for n in names]
