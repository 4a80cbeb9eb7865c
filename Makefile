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
export DS_SKIP_SHM ?= 1

.PHONY: install test test-fast lint format corpus clean

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

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf runs wandb data/corpus .pytest_cache
