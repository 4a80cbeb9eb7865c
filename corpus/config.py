"""Config sections of the corpus stages: extraction (`corpus`) and segmentation (`segments`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from corpus.readers import FORMATS
from corpus.wikitext.hatnotes import HATNOTE_TEMPLATES

# Each corpus stage's `executor` section; defined beside the executor it configures.
from foundation.executor import ExecutorConfig


@dataclass
class CorpusConfig:
    """`linkbert corpus extract`: dumps -> clean documents, links, redirects."""

    # The input format (corpus/readers/: wikipedia, jsonl, hf, or one registered in corpus.readers.FORMATS).
    format: str = "wikipedia"
    # format=hf (corpus/readers/hf.py): the dataset's column for each record field (unmapped fields keep
    # their name); links "" = a dataset without links.
    hf_columns: dict[str, str] = field(
        default_factory=lambda: {"id": "id", "title": "title", "text": "text", "links": "links"}
    )
    # format=hf with a save_to_disk folder of a DatasetDict: the split to read.
    hf_split: str = "train"
    # Number of datatrove tasks; a multistream dump is split across them by stream offsets.
    tasks: int = 1
    # Processes running at once on this machine (local executor); -1 means one per task.
    workers: int = -1
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    # Whole .bz2 files go through this external decompressor: "auto" = lbzip2 when installed (about 2x
    # Python's bz2, the slowest part of reading), "python" = never, or a command name (lbzip2, pbzip2).
    bz2_decompressor: str = "auto"
    # A task stops when more than this fraction of the (at least 100) pages it tried to clean failed:
    # that is a bug or the wrong input, not bad pages, and must not cost a multi-day run.
    max_failed_fraction: float = 0.1
    # The dumps' content language (link trails, localized File/Category names): "" = what the dump
    # says (root `xml:lang`, else the dbname); a code ("de") overrides a dump that says wrong.
    language: str = ""
    # Which variant `-{zh-cn:..;zh-tw:..}-` markup shows (MediaWiki's fallbacks apply: zh-cn ->
    # zh-hans); "" = the first one each rule lists.
    variant: str = ""
    # A dump cut short (an interrupted download) is refused; true keeps every complete page, with a
    # warning that says where it ended.
    allow_truncated: bool = False
    # Expand templates the registry does not render from the input's own template pages (namespace
    # 10: parameters, #if/#ifeq/#switch/#expr; corpus/wikitext/template_expander.py). Costs a read before the
    # extraction: of the streams holding template pages for a multistream dump with its index, of the
    # whole file otherwise; so it is off unless asked for.
    expand_templates: bool = False
    # Templates whose first arguments are article titles ({{main|X}}): links of kind `template`.
    hatnote_templates: list[str] = field(default_factory=lambda: list(HATNOTE_TEMPLATES))

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(
                f"corpus.format={self.format!r}: no such input format (known: {', '.join(sorted(FORMATS))})"
            )
        if self.tasks < 1:
            raise ValueError("corpus.tasks must be >= 1")
        if self.workers == 0 or self.workers < -1:
            raise ValueError("corpus.workers must be >= 1, or -1 for one per task")
        if not 0.0 <= self.max_failed_fraction <= 1.0:
            raise ValueError("corpus.max_failed_fraction must be between 0 and 1")
        unknown = set(self.hf_columns) - {"id", "title", "text", "links"}
        if unknown:
            raise ValueError(f"corpus.hf_columns: unknown fields {sorted(unknown)} (id, title, text, links)")
        # Fields not mapped keep their own name: a partial mapping names only the columns that differ.
        self.hf_columns = {**{k: k for k in ("id", "title", "text", "links")}, **self.hf_columns}
        if not all(self.hf_columns.get(k) for k in ("id", "title", "text")):
            raise ValueError("corpus.hf_columns must name the id, title and text columns")


@dataclass
class SegmentsConfig:
    """`linkbert corpus segments`: tokenize documents and cut them into segments."""

    # A local tokenizer folder or tokenizer.json, a hub name (online only), or "train".
    tokenizer: str = "train"
    # Used when tokenizer == "train": WordPiece trained on the corpus with `tokenizers`.
    vocab_size: int = 30522
    # Case and accents are separate choices of a trained tokenizer: `lowercase` folds case only;
    # `strip_accents` also removes diacritics (Greek "το άγιο όρος" -> "το αγιο ορος", Vietnamese loses
    # tones), which most languages cannot spare. A loaded tokenizer keeps its own normalizer.
    lowercase: bool = True
    strip_accents: bool = False
    max_tokens: int = 254  # two segments + [CLS] [SEP] [SEP] fit in 512
    min_tokens: int = 8  # shorter documents are dropped (and counted)
    tasks: int = 1
    workers: int = -1
    batch_size: int = 256  # documents per encode_batch call
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise ValueError("segments.max_tokens must be >= 8")
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise ValueError("segments.min_tokens must be between 0 and segments.max_tokens")
        if self.vocab_size < 100:
            raise ValueError("segments.vocab_size must be >= 100")
        if self.tasks < 1:
            raise ValueError("segments.tasks must be >= 1")
