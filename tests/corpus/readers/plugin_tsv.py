"""An input format defined outside the package, for the plug-in test: tab-separated lines
`id<TAB>title<TAB>text<TAB>link|link|...`, one document each."""

from __future__ import annotations

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpus.readers.base import InputFormat
from corpus.readers.jsonl import parse_record, record_document
from corpus.site.siteinfo import SiteInfo


class TsvReaderStep(PipelineStep):
    name = "TSV reader"
    type = "Reader"

    def __init__(self, plan) -> None:
        super().__init__()
        self.plan = plan

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        site = SiteInfo.default()
        for sl in self.plan[rank]:
            with open(sl.path, encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        continue
                    doc_id, title, text, links = line.rstrip("\n").split("\t")
                    obj = {
                        "id": int(doc_id),
                        "title": title,
                        "text": text,
                        "links": links.split("|") if links else [],
                    }
                    yield record_document(parse_record(obj, site))


class TsvFormat(InputFormat):
    name = "tsv"

    def steps(self, cfg, paths, plan, indexes, logs):
        return [TsvReaderStep(plan)]
