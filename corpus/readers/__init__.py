"""Input formats of `linkbert corpus extract`, by name: `corpus.format` picks one.

A format is one module with a subclass of `InputFormat` (corpus/readers/base.py: check the inputs, cut
them into tasks, give the datatrove steps that read them). Adding one is a new file plus its line in
FORMATS; a format defined outside the package is registered the same way (tests/corpus/readers/plugin_tsv.py).
Modules are imported when used, so the config checks names without importing datatrove.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from foundation.errors import PipelineError

if TYPE_CHECKING:
    from corpus.readers.base import InputFormat

# name -> "module:Class"
FORMATS = {
    "wikipedia": "corpus.readers.wikipedia:WikipediaFormat",  # MediaWiki XML dumps, multistream included
    "jsonl": "corpus.readers.jsonl:JsonlFormat",  # one record (id, title, text, links) per line
    "hf": "corpus.readers.hf:HfFormat",  # Hugging Face datasets: save_to_disk folders, data files
}


def input_format(name: str) -> InputFormat:
    if name not in FORMATS:
        raise PipelineError(
            f"corpus.format={name}: no such input format (known: {', '.join(sorted(FORMATS))})"
        )
    module, _, attr = FORMATS[name].partition(":")
    return getattr(importlib.import_module(module), attr)()
