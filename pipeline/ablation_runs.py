"""`linkbert ablation`: the link ablations in one command.

Every variant is a set of corpus overrides (its graph: `graph.sources=[tfidf]`) and pretraining
overrides (`drp.linked_alpha=0`) on top of one shared corpus config, dump, pretraining preset and
budget. Variants with the same corpus overrides share one corpus folder; each variant is a run of its
own, started afresh. The stages run through the command line they have everywhere else (`linkbert
corpus build`, `linkbert preflight`, `linkbert pretrain`, under `accelerate launch` when `launch` names
an accelerate config), so an ablation is exactly the `make corpus` / `make pretrain` calls it replaces;
then `pipeline/ablation.py` tables the runs' last held-out evaluations.

Default (configs/ablation.yaml): the paper's four variants, hyperlinks / tfidf / random links /
no-diversity, on the bundled sample with the demo preset for 30 steps (a toy table on CPU).
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from foundation.config import ConfigError, from_dict, merge_overrides, read_yaml
from foundation.errors import PipelineError
from pipeline.ablation import write_ablation

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # variant names become folder names


@dataclass
class AblationVariant:
    corpus: list[str] = field(default_factory=list)  # corpus overrides: the variant's graph
    pretrain: list[str] = field(default_factory=list)  # pretraining overrides


def paper_variants() -> dict[str, AblationVariant]:
    """The LinkBERT paper's link ablations (which links, and the in-degree "diversity" weighting), and
    MLM alone."""
    return {
        "hyperlinks": AblationVariant(corpus=["graph.sources=[hyperlinks]"]),
        "tfidf": AblationVariant(corpus=["graph.sources=[tfidf]"]),
        "random": AblationVariant(corpus=["graph.sources=[random]"]),
        "no-diversity": AblationVariant(
            corpus=["graph.sources=[hyperlinks]"], pretrain=["drp.linked_alpha=0"]
        ),
        # The same budget without DRP: what MLM alone gives, beside which DRP's cost or gain for MLM shows.
        "mlm-only": AblationVariant(corpus=["graph.sources=[hyperlinks]"], pretrain=["model.drp_weight=0"]),
    }


@dataclass
class AblationConfig:
    inputs: list[str] = field(default_factory=lambda: ["tests/data/wiki/enwiki-sample.xml.bz2"])
    corpus_config: str = "configs/corpus/sample.yaml"
    corpus_args: list[str] = field(default_factory=list)  # corpus overrides shared by every variant
    corpus_root: str = "data/corpus"
    preset: str = "configs/pretrain/demo.yaml"
    # The shared budget: the same for every variant.
    pretrain_args: list[str] = field(
        default_factory=lambda: [
            "train.max_steps=30",
            "eval.every=30",
            "checkpoint.every=30",
            "logging.wandb=false",
            "logging.tensorboard=false",
        ]
    )
    launch: str | None = None  # an accelerate config (configs/accelerate/*.yaml); null = one process
    runs_root: str = "runs"
    # Corpus folders CORPUS_ROOT/NAME-<variant>, runs RUNS_ROOT/NAME-<variant>, the table in RUNS_ROOT/NAME/.
    name: str = "ablation"
    variants: dict[str, AblationVariant] = field(default_factory=paper_variants)

    def __post_init__(self) -> None:
        if not self.variants:
            raise ValueError("variants: at least one variant is needed")
        for name in [self.name, *self.variants]:
            if not _NAME.match(name):
                raise ValueError(f"{name!r} is not a usable name (letters, digits, '_', '.', '-')")
        if not self.inputs:
            raise ValueError("inputs: at least one dump file is needed")


def load_ablation_config(path: str | None, overrides: list[str] | None = None) -> AblationConfig:
    """The defaults, then the file, then dotted overrides (`launch=configs/accelerate/cpu.yaml`)."""
    data = read_yaml(path) if path else {}
    data = merge_overrides(data, overrides or [])
    try:
        return from_dict(AblationConfig, data, "")
    except ConfigError as e:
        raise PipelineError(f"ablation config {path or '(defaults)'}: {e}") from e


@dataclass(frozen=True)
class Step:
    what: str
    command: list[str]
    remove: Path | None = None  # a run folder to remove first (each variant starts afresh)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", *args]


def corpus_names(cfg: AblationConfig) -> dict[str, str]:
    """Variant -> corpus name; variants with the same corpus overrides share the first one's folder."""
    first: dict[tuple[str, ...], str] = {}
    return {v: f"{cfg.name}-{first.setdefault(tuple(var.corpus), v)}" for v, var in cfg.variants.items()}


def run_dirs(cfg: AblationConfig) -> dict[str, Path]:
    return {v: Path(cfg.runs_root) / f"{cfg.name}-{v}" for v in cfg.variants}


def plan(cfg: AblationConfig) -> list[Step]:
    """Every command of the ablation, in order: one corpus build per distinct corpus, then per variant
    a preflight, a pretraining run, its export and its evaluation."""
    steps: list[Step] = []
    corpora = corpus_names(cfg)
    for variant, name in corpora.items():
        if name != f"{cfg.name}-{variant}":
            continue  # shares an earlier variant's corpus
        overrides = [*cfg.corpus_args, *cfg.variants[variant].corpus]
        steps.append(
            Step(
                f"corpus {name}: {' '.join(overrides) or '(corpus config as is)'}",
                _cli(
                    "corpus",
                    "build",
                    "--config",
                    cfg.corpus_config,
                    "--input",
                    *cfg.inputs,
                    "--root",
                    cfg.corpus_root,
                    "--name",
                    name,
                    *overrides,
                ),
            )
        )
    for variant, run_dir in run_dirs(cfg).items():
        overrides = [
            *cfg.pretrain_args,
            *cfg.variants[variant].pretrain,
            f"data.corpus={Path(cfg.corpus_root) / corpora[variant]}",
            f"train.output_root={cfg.runs_root}",
            f"train.run_name={run_dir.name}",
        ]
        launch = ["--launch", cfg.launch] if cfg.launch else []
        steps.append(
            Step(f"preflight {variant}", _cli("preflight", *launch, "--config", cfg.preset, *overrides))
        )
        pretrain = ["pretrain", "--config", cfg.preset, *overrides]
        if cfg.launch:
            accelerate = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch"]
            command = [*accelerate, "--config_file", cfg.launch, "-m", "pipeline.cli", *pretrain]
        else:
            command = _cli(*pretrain)
        variant_args = " ".join(cfg.variants[variant].pretrain)
        steps.append(Step(f"run {variant}: {variant_args or 'the preset as is'}", command, remove=run_dir))
        # Export and evaluate each run: eval.json adds the baselines' intervals and cross-document
        # retrieval to the table.
        export = run_dir / "export"
        steps.append(
            Step(
                f"export {variant}",
                _cli(
                    "export",
                    "--checkpoint",
                    "auto",
                    "--run",
                    str(run_dir),
                    "--output",
                    str(export),
                    "--force",
                ),
            )
        )
        steps.append(Step(f"eval {variant}", _cli("eval", "--model", str(export))))
    return steps


def run_ablation(cfg: AblationConfig, *, dry_run: bool = False) -> str | None:
    """Run every step (stopping at the first that fails), then write and return the markdown table."""

    steps = plan(cfg)
    for i, step in enumerate(steps, 1):
        print(f"== ablation {i}/{len(steps)}: {step.what}", flush=True)
        print("   " + shlex.join(step.command), flush=True)
        if dry_run:
            continue
        if step.remove is not None and step.remove.exists():
            log.info("removing %s: every variant starts afresh", step.remove)
            shutil.rmtree(step.remove)
        code = subprocess.call(step.command)
        if code != 0:
            raise PipelineError(
                f"ablation step '{step.what}' failed (exit status {code}; its error is printed above): fix it "
                "and rerun `linkbert ablation` (finished corpus folders are reused)"
            )
    if dry_run:
        return None
    out = Path(cfg.runs_root) / cfg.name
    table = write_ablation(run_dirs(cfg), out)
    print(table, end="")
    print(f"written: {out}/table.md, table.csv, ablation.png")
    return table
