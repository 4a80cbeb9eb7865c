# linkbert-pipeline: every target sets up what it needs (`make install` is idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One thread per process on CPU: oversubscription makes multi-process CPU runs 30-60x slower.
export OMP_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1
export DS_BUILD_OPS ?= 0

.PHONY: install test test-fast lint format corpus clean pretrain resume export eval demo test-engines check-install ablation

install: $(VENV)/.installed

# torch==2.13.0 first on machines without a GPU: it is the CPU wheel, and the project's torch range
# accepts it, so pip never pulls a multi-GB CUDA build. GPU machines keep the torch they have.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	if ! command -v nvidia-smi >/dev/null 2>&1 && ! $(BIN)/python -c "import torch" 2>/dev/null; then \
		$(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

# The corpus stages on a real Ray head and a real single-node Slurm (slurmctld + slurmd + munged), both
# on 127.0.0.1, started by scripts/test_engines.sh and stopped on exit; scripts/slurm.sbatch pretrains
# on that Slurm too. Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge).
test-engines: install
	$(BIN)/python -c "import ray" 2>/dev/null || $(BIN)/pip install -q -e '.[dev,ray]'
	@command -v slurmctld >/dev/null || test -x /usr/sbin/slurmctld || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge; \
		else echo "error: install Slurm and munge first (apt-get install slurm-wlm munge)"; exit 2; fi; }
	BIN=$(BIN) scripts/test_engines.sh

# `pip install .` (no extras) in a fresh venv runs every command on the sample (part of .ci/run).
check-install:
	scripts/check_install.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Corpus: extract + graph + segments into data/corpus/$(NAME)-<hash>, linked as data/corpus/$(NAME).
# DUMP: one or more dump files (.xml, .xml.bz2, multistream), or .jsonl with corpus.format=jsonl in the
# config; CORPUS_CONFIG: the preset; CORPUS_ARGS: overrides ("segments.tasks=8"). The same config and
# inputs reuse the folder (each stage skips when complete).
DUMP ?= tests/data/wiki/enwiki-sample.xml.bz2
CORPUS_CONFIG ?= configs/corpus/sample.yaml
NAME ?= sample
CORPUS_ARGS ?=

corpus: install
	@# noglob: list overrides like graph.sources=[tfidf] are YAML, not shell patterns
	set -f; $(BIN)/linkbert corpus build --config $(CORPUS_CONFIG) --input $(DUMP) --root data/corpus --name $(NAME) $(CORPUS_ARGS)

# Pretraining. PRESET: configs/pretrain/<PRESET>.yaml (demo, tiny-cpu, ci; tiny, base, large for GPUs);
# RUN: run name (runs/<RUN>/); ARGS: overrides ("train.lr=1e-4 train.max_steps=200"); LAUNCH: accelerate
# config (2 CPU processes without a GPU, one GPU process with one). Both targets first run
# `linkbert preflight` (config, corpus, run folder, batch, memory) in one process, so errors print once
# before `accelerate launch` starts anything. `make resume RUN=name` continues from the newest checkpoint
# that is complete and loads; CHECKPOINT=<checkpoint folder> resumes from that one.
PRESET ?= demo
RUN ?= $(PRESET)
ARGS ?=
LAUNCH ?= $(if $(shell command -v nvidia-smi 2>/dev/null),configs/accelerate/gpu.yaml,configs/accelerate/cpu.yaml)
ACCELERATE := $(BIN)/accelerate launch --config_file $(LAUNCH) -m pipeline.cli
PREFLIGHT := $(BIN)/linkbert preflight --launch $(LAUNCH)

pretrain: install
	@$(PREFLIGHT) --config configs/pretrain/$(PRESET).yaml train.run_name=$(RUN) $(ARGS)
	$(ACCELERATE) pretrain --config configs/pretrain/$(PRESET).yaml train.run_name=$(RUN) $(ARGS)

# Preflight exits 10 for a run that already reached train.max_steps: it says so, nothing is launched.
resume: install
	@test -f runs/$(RUN)/config.yaml || { echo "error: runs/$(RUN)/config.yaml not found: no run named $(RUN) (start one with make pretrain RUN=$(RUN))"; exit 2; }
	@rc=0; $(PREFLIGHT) --config runs/$(RUN)/config.yaml --resume $(CHECKPOINT) $(ARGS) || rc=$$?; \
		if [ $$rc = 10 ]; then exit 0; elif [ $$rc != 0 ]; then exit $$rc; fi; \
		echo "$(ACCELERATE) pretrain --config runs/$(RUN)/config.yaml --resume $(CHECKPOINT) $(ARGS)"; \
		$(ACCELERATE) pretrain --config runs/$(RUN)/config.yaml --resume $(CHECKPOINT) $(ARGS)

# Export a run to a Hugging Face folder and evaluate it on the run's held-out split (corpus and split
# from runs/<RUN>/config.yaml). CHECKPOINT: auto (newest complete) or a checkpoint folder; DTYPE: fp32,
# bf16 or fp16; OUT: the export folder (runs/<RUN>/export, runs/<RUN>/export-bf16 for DTYPE=bf16, ...:
# an export never replaces one of another dtype); MODEL: the exported folder to evaluate (default OUT).
CHECKPOINT ?= auto
DTYPE ?= fp32
OUT ?= runs/$(RUN)/export$(if $(filter-out fp32,$(DTYPE)),-$(DTYPE))
MODEL ?= $(OUT)

export: install
	$(BIN)/linkbert export --checkpoint $(CHECKPOINT) --run runs/$(RUN) --output $(OUT) --dtype $(DTYPE)

eval: install
	$(BIN)/linkbert eval --model $(MODEL)

# The whole pipeline on the bundled Wikipedia sample: corpus -> pretrain the demo preset, stopped halfway as
# a preemption would -> resume to the end -> export -> eval -> summary. The corpus is reused when its config
# and input are unchanged; the run starts afresh every time (runs/demo is removed first).
DEMO_MAKE := $(MAKE) --no-print-directory PRESET=demo RUN=demo CHECKPOINT=auto OUT=runs/demo/export \
	MODEL=runs/demo/export DTYPE=fp32

demo: install
	@echo "== demo 1/6: corpus from the bundled Wikipedia sample -> data/corpus/sample"
	@$(MAKE) --no-print-directory corpus DUMP=tests/data/wiki/enwiki-sample.xml.bz2 \
		CORPUS_CONFIG=configs/corpus/sample.yaml NAME=sample CORPUS_ARGS=
	@if [ -e runs/demo ]; then echo "== demo: removing runs/demo from an earlier demo (the run starts afresh)"; \
		rm -rf runs/demo; fi
	@half=$$($(BIN)/python -c "from pipeline.tree import load_config; \
		print(load_config('configs/pretrain/demo.yaml').train.max_steps // 2)") && \
		echo "== demo 2/6: pretrain preset demo on $(LAUNCH), stopped at step $$half as a preemption would" && \
		$(DEMO_MAKE) pretrain ARGS="train.stop_after=$$half"
	@echo "== demo 3/6: make resume RUN=demo: continue from the newest checkpoint to the end"
	@$(DEMO_MAKE) resume
	@echo "== demo 4/6: make export RUN=demo -> runs/demo/export"
	@$(DEMO_MAKE) export
	@echo "== demo 5/6: make eval RUN=demo: held-out MLM and DRP metrics -> runs/demo/export/eval.json"
	@$(DEMO_MAKE) eval
	@echo "== demo 6/6: summary"
	@$(BIN)/linkbert summary --corpus data/corpus/sample --run runs/demo --model runs/demo/export

# The paper's link ablations (`linkbert ablation`, pipeline/ablation_runs.py; variants in ABLATION_CONFIG):
# the same dump, corpus config, preset and budget; the variants differ only in graph.sources
# (hyperlinks, tfidf, random: a corpus folder each, data/corpus/ablation-SOURCE) or in drp.linked_alpha=0
# (no-diversity: hyperlinks without the 1/in-degree weighting). Each variant is its own run,
# runs/ablation-VARIANT, started afresh; then one table (markdown + CSV) and a plot of held-out MLM loss
# and per-relation DRP accuracy in runs/ablation/. ABLATION_PRESET and, when set, ABLATION_ARGS (the
# shared budget; default: the config's, 30 steps) and CORPUS_ARGS apply to every variant; the defaults
# give a toy table on CPU in minutes (README: the GPU recipe).
ABLATION_CONFIG ?= configs/ablation.yaml
ABLATION_PRESET ?= demo
ABLATION_ARGS ?=

ablation: install
	set -f; $(BIN)/linkbert ablation --config $(ABLATION_CONFIG) --launch $(LAUNCH) \
		--preset configs/pretrain/$(ABLATION_PRESET).yaml --corpus-config $(CORPUS_CONFIG) --input $(DUMP) \
		$(if $(strip $(CORPUS_ARGS)),--corpus-args '$(CORPUS_ARGS)') \
		$(if $(strip $(ABLATION_ARGS)),--pretrain-args '$(ABLATION_ARGS)')

clean:
	rm -rf runs wandb data/corpus .pytest_cache
