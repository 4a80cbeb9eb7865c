"""The on-disk contracts between stages, one module each: `documents` (what extraction writes),
`graph` (the CSR graph) and `segments` (token ids cut into segments).

Each module holds the file names, the schema, the format name and version, a writer and a reader,
and the reader checks the version (`formats.version`). Every stage, pretraining, the synthetic
generator and the summary go through these modules; nothing else opens those files. They import no
stage: only the foundation (`foundation.errors`, `foundation.atomic`). docs/formats.md describes the files.
"""
