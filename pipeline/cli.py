"""`linkbert`: the command line of every stage.

    linkbert corpus extract  --input DUMP [DUMP ...] --output DIR
    linkbert corpus graph    --corpus DIR
    linkbert corpus segments --corpus DIR [--tokenizer PATH|train]
    linkbert corpus build    --input DUMP [DUMP ...] --root data/corpus --name NAME   (all three)
    linkbert graph stats     --corpus DIR
    linkbert preflight       --config configs/pretrain/demo.yaml [--launch ACCELERATE_YAML] [--resume auto]
    linkbert pretrain        --config configs/pretrain/demo.yaml [key=value ...] [--resume auto]
    linkbert export          --checkpoint DIR|auto --output DIR
    linkbert eval            --model DIR [--corpus DIR]
    linkbert score           --model DIR (--text TEXT | --text-file F) --candidates FILE [--relation linked]
    linkbert summary         --corpus DIR [--run runs/NAME] [--model DIR]
    linkbert ablation        [--config configs/ablation.yaml] [--launch ACCELERATE_YAML] [key=value ...]

Every command takes `--config FILE` and dotted overrides (`train.lr=3e-4`). A PipelineError is
printed as one line (`error: ...`) with exit status 2; anything else is a bug and keeps its traceback.
Stage modules are imported only when their command runs, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shlex
import sys
from collections.abc import Sequence

from foundation.errors import PipelineError
from pipeline.tree import PipelineConfig, load_config
from pretrain.relations import LINKED

log = logging.getLogger("linkbert")


# Third-party loggers that report routine facts at INFO on every process: warnings only.
QUIET_LOGGERS = ("accelerate", "DeepSpeed", "deepspeed", "torch.distributed", "transformers", "datatrove")


class _DropExpected(logging.Filter):
    """Notices that are expected by design here, printed at every checkpoint otherwise."""

    EXPECTED = ("Removed shared tensor",)  # the MLM decoder is tied to the word embeddings

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)  # accelerate prefixes "[RANK n] "
        return not any(expected in message for expected in self.EXPECTED)


def setup_logging(verbose: bool = False) -> None:
    """Each fact once: ranks > 0 of a launch log warnings only; third-party chatter is kept to warnings."""
    rank = int(os.environ.get("RANK", "0"))
    level = logging.DEBUG if verbose else logging.INFO if rank == 0 else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger().setLevel(level)
    if not verbose:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("accelerate.utils.other").addFilter(_DropExpected())


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="a YAML preset (configs/...); the defaults when omitted")
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="dotted config overrides, e.g. train.lr=3e-4"
    )


def _config(args: argparse.Namespace, extra: Sequence[str] = ()) -> PipelineConfig:
    return load_config(args.config, [*args.overrides, *extra])


# --- corpus ------------------------------------------------------------------------------------


def _corpus_extract(args: argparse.Namespace) -> int:
    # Deferred: a command loads only its own stage (torch, datatrove, ...); `linkbert --help` starts fast.
    from corpus.extract.launch import run_extract

    extra = [
        f"corpus.{k}={v}" for k, v in (("tasks", args.tasks), ("workers", args.workers)) if v is not None
    ]
    if args.executor:
        extra.append(f"corpus.executor.kind={args.executor}")
    if args.format:
        extra.append(f"corpus.format={args.format}")
    cfg = _config(args, extra)
    run_extract(cfg.corpus, inputs=args.input, output=args.output, index=args.index)
    return 0


def _corpus_graph(args: argparse.Namespace) -> int:
    # Deferred: a command loads only its own stage (torch, datatrove, ...); `linkbert --help` starts fast.
    from graph.build import run_graph

    run_graph(_config(args).graph, corpus_dir=args.corpus)
    return 0


def _corpus_segments(args: argparse.Namespace) -> int:
    # Deferred: a command loads only its own stage (torch, datatrove, ...); `linkbert --help` starts fast.
    from corpus.segments.stage import run_segments

    extra = [f"segments.tokenizer={args.tokenizer}"] if args.tokenizer else []
    run_segments(_config(args, extra).segments, corpus_dir=args.corpus)
    return 0


def _corpus_build(args: argparse.Namespace) -> int:
    # Deferred: a command loads only its own stage (torch, datatrove, ...); `linkbert --help` starts fast.
    from pipeline.build import run_build

    cfg = _config(args)
    out = run_build(cfg, inputs=args.input, root=args.root, name=args.name, index=args.index)
    print(out)
    return 0


def _graph_stats(args: argparse.Namespace) -> int:
    # Deferred: a command loads only its own stage (torch, datatrove, ...); `linkbert --help` starts fast.
    from graph.stats import print_graph_stats

    print_graph_stats(args.corpus)
    return 0


# --- pretrain, export, eval ----------------------------------------------------------------------


def _pretrain(args: argparse.Namespace) -> int:
    # Deferred: loads torch and accelerate; the config and corpus checks before it run without them.
    from pretrain.training.trainer import run_pretrain

    # --resume first, so an explicit checkpoint.resume=DIR override (make resume ARGS=...) wins over it
    extra = [f"checkpoint.resume={args.resume}"] if args.resume else []
    cfg = load_config(args.config, [*extra, *args.overrides])
    return run_pretrain(cfg.pretraining(), config_path=args.config) or 0


def _preflight(args: argparse.Namespace) -> int:
    # Deferred: loads torch and accelerate; the config and corpus checks before it run without them.
    from pretrain.training.preflight import run_preflight

    extra = [f"checkpoint.resume={args.resume}"] if args.resume else []
    cfg = load_config(args.config, [*extra, *args.overrides])
    return run_preflight(cfg.pretraining(), launch=args.launch, resume=cfg.checkpoint.resume)


def _export(args: argparse.Namespace) -> int:
    # Deferred: loads torch and accelerate; the config and corpus checks before it run without them.
    from pretrain.export.writer import run_export

    run_export(
        checkpoint=args.checkpoint, output=args.output, dtype=args.dtype, run_dir=args.run, force=args.force
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    # Deferred: loads torch and accelerate; the config and corpus checks before it run without them.
    from pretrain.export.evaluate_export import run_eval

    run_eval(
        model_dir=args.model,
        corpus_dir=args.corpus,
        output=args.output,
        cfg=_config(args).pretraining(),
        pairs=args.pairs,
    )
    return 0


def _score(args: argparse.Namespace) -> int:
    # Deferred: loads torch and accelerate; the config and corpus checks before it run without them.
    from pretrain.evaluation.scoring import DocumentScorer, format_ranking, ranking_json, read_candidates

    text = args.text if args.text is not None else _read_text(args.text_file)
    candidates = read_candidates(args.candidates)
    scorer = DocumentScorer.from_pretrained(args.model)
    ranking = scorer.rank(text, [c.text for c in candidates], args.relation, top=args.top or None)
    show = ranking_json if args.json else format_ranking
    print(show(ranking, candidates, args.relation))
    return 0


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as e:
        raise PipelineError(f"--text-file {path}: cannot read it ({e.strerror or e})") from e


def _summary(args: argparse.Namespace) -> int:
    # Deferred: a command loads only its own stage (torch, datatrove, ...); `linkbert --help` starts fast.
    from pipeline.summary import summarize

    print(summarize(args.corpus, args.run, args.model))
    return 0


def _ablation(args: argparse.Namespace) -> int:
    # Deferred: a command loads only its own stage (torch, datatrove, ...); `linkbert --help` starts fast.
    from pipeline.ablation_runs import load_ablation_config, run_ablation

    cfg = load_ablation_config(args.config, args.overrides)
    flags = {
        "preset": args.preset,
        "inputs": args.input,
        "corpus_config": args.corpus_config,
        "corpus_args": shlex.split(args.corpus_args) if args.corpus_args is not None else None,
        "pretrain_args": shlex.split(args.pretrain_args) if args.pretrain_args is not None else None,
        "launch": args.launch,
    }
    cfg = dataclasses.replace(cfg, **{k: v for k, v in flags.items() if v is not None})
    if cfg.launch == "none":
        cfg = dataclasses.replace(cfg, launch=None)
    if args.variants:
        wanted = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = [v for v in wanted if v not in cfg.variants]
        if unknown:
            raise PipelineError(
                f"--variants: no variant {unknown[0]!r} (the config has {', '.join(cfg.variants)})"
            )
        cfg = dataclasses.replace(cfg, variants={v: cfg.variants[v] for v in wanted})
    run_ablation(cfg, dry_run=args.dry_run)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linkbert", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    corpus = commands.add_parser("corpus", help="build a corpus: extract, graph, segments").add_subparsers(
        dest="corpus_command", required=True
    )
    p = corpus.add_parser("extract", help="dumps -> clean documents, links and redirects (parquet)")
    p.add_argument(
        "--input",
        nargs="+",
        action="extend",  # `--input A --input B` reads both, like `--input A B`
        required=True,
        help=".xml, .xml.bz2 (multistream too) or .jsonl files; with --format hf a save_to_disk folder or "
        ".parquet/.json/.csv files; --input may repeat",
    )
    p.add_argument("--index", help="the -index.txt.bz2 of a multistream dump (found beside it when omitted)")
    p.add_argument("--output", required=True, help="corpus folder to write")
    p.add_argument(
        "--format",
        choices=["wikipedia", "jsonl", "hf"],
        help="input format (default: wikipedia); hf: a Hugging Face dataset, columns in corpus.hf_columns",
    )
    p.add_argument("--tasks", type=int, help="datatrove tasks (a multistream file is split across them)")
    p.add_argument("--workers", type=int, help="tasks running at once (local executor)")
    p.add_argument("--executor", choices=["local", "slurm", "ray"], help="datatrove executor")
    _add_config_args(p)
    p.set_defaults(func=_corpus_extract)

    p = corpus.add_parser("graph", help="documents + redirects -> CSR document graph")
    p.add_argument("--corpus", required=True, help="corpus folder made by `corpus extract`")
    _add_config_args(p)
    p.set_defaults(func=_corpus_graph)

    p = corpus.add_parser("segments", help="tokenize documents and cut them into segments")
    p.add_argument("--corpus", required=True, help="corpus folder with docs/ and graph/")
    p.add_argument("--tokenizer", help="local tokenizer folder or tokenizer.json, a hub name, or 'train'")
    _add_config_args(p)
    p.set_defaults(func=_corpus_segments)

    p = corpus.add_parser("build", help="extract + graph + segments into a folder keyed by the config hash")
    p.add_argument(
        "--input", nargs="+", action="extend", required=True, help="dump file(s); --input may repeat"
    )
    p.add_argument("--index", help="the -index.txt.bz2 of a multistream dump")
    p.add_argument("--root", default="data/corpus", help="parent folder of corpus folders")
    p.add_argument(
        "--name", default="corpus", help="corpus name; the folder is ROOT/NAME-<hash>, ROOT/NAME links to it"
    )
    _add_config_args(p)
    p.set_defaults(func=_corpus_build)

    graph = commands.add_parser("graph", help="analyse a document graph").add_subparsers(
        dest="graph_command", required=True
    )
    p = graph.add_parser("stats", help="degree and component statistics (networkx) of a corpus graph")
    p.add_argument("--corpus", required=True)
    p.set_defaults(func=_graph_stats)

    p = commands.add_parser(
        "pretrain", help="MLM + DRP pretraining (launch with `accelerate launch` for many processes)"
    )
    p.add_argument(
        "--resume", help="'auto' (newest complete checkpoint of the run), 'none', or a checkpoint folder"
    )
    _add_config_args(p)
    p.set_defaults(func=_pretrain)

    p = commands.add_parser(
        "preflight",
        help="check a pretraining launch (config, corpus, run folder, batch, memory) in one process",
    )
    p.add_argument("--launch", help="the accelerate config the launch will use (its process count)")
    p.add_argument("--resume", help="as for pretrain: 'auto', 'none' or a checkpoint folder")
    _add_config_args(p)
    p.set_defaults(func=_preflight)

    p = commands.add_parser("export", help="checkpoint -> Hugging Face model folder")
    p.add_argument("--checkpoint", required=True, help="a checkpoint folder, or 'auto' (newest of --run)")
    p.add_argument("--run", help="run folder (runs/NAME), needed with --checkpoint auto")
    p.add_argument("--output", required=True, help="folder to write the model to")
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--force", action="store_true", help="replace an existing export of another dtype")
    p.set_defaults(func=_export)

    p = commands.add_parser("eval", help="held-out MLM and DRP metrics of an exported model")
    p.add_argument("--model", required=True, help="an exported model folder")
    p.add_argument(
        "--corpus",
        help="corpus folder (graph/ and segments/); default: data.corpus of the model's training config",
    )
    p.add_argument("--output", help="JSON file for the metrics (default: MODEL/eval.json)")
    p.add_argument(
        "--pairs", type=int, help="held-out DRP pairs, equal per relation (default: the run's eval.pairs)"
    )
    _add_config_args(p)
    p.set_defaults(func=_eval)

    p = commands.add_parser(
        "score", help="rank candidate documents for a text by an exported model's DRP head"
    )
    p.add_argument("--model", required=True, help="an exported model folder (`linkbert export`)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the text (segment A of every pair)")
    source.add_argument("--text-file", help="a file holding the text")
    p.add_argument(
        "--candidates",
        required=True,
        help='one candidate text per line, or JSONL lines {"title": ..., "text": ...}',
    )
    p.add_argument("--relation", default=LINKED, help=f"the DRP relation to rank by (default: {LINKED})")
    p.add_argument("--top", type=int, default=10, help="how many candidates to print; 0: all (default: 10)")
    p.add_argument("--json", action="store_true", help="print the ranking as JSON")
    p.set_defaults(func=_score)

    p = commands.add_parser("summary", help="print what a pipeline run produced (corpus, run, model)")
    p.add_argument("--corpus", required=True, help="corpus folder")
    p.add_argument("--run", help="run folder (runs/NAME)")
    p.add_argument("--model", help="exported model folder")
    p.set_defaults(func=_summary)

    p = commands.add_parser(
        "ablation",
        help="link ablations: a corpus per graph, a run per variant, one table of held-out metrics",
    )
    p.add_argument(
        "--config",
        help="ablation config (configs/ablation.yaml); default: the paper's four variants on the sample",
    )
    p.add_argument("--preset", help="pretraining preset shared by the variants (configs/pretrain/*.yaml)")
    p.add_argument("--input", nargs="+", action="extend", help="dump file(s) every corpus is built from")
    p.add_argument("--corpus-config", help="corpus preset shared by the variants (configs/corpus/*.yaml)")
    p.add_argument(
        "--corpus-args", help="corpus overrides shared by every variant, one string (replaces the config's)"
    )
    p.add_argument(
        "--pretrain-args", help="pretraining overrides shared by every variant, one string (the budget)"
    )
    p.add_argument(
        "--launch", help="accelerate config to launch each run with; 'none': one process, no accelerate"
    )
    p.add_argument("--variants", help="comma-separated subset of the config's variants")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="dotted overrides of the ablation config"
    )
    p.set_defaults(func=_ablation)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except PipelineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
