#!/usr/bin/env bash
# `pip install .` (no extras) into a fresh virtual environment, then every command on the bundled sample,
# run from outside the checkout so only the installed package is importable: corpus extract, graph,
# segments (a WordPiece trained on the corpus: the demo's packaged model is a [dev] extra), graph stats,
# extract of a Hugging Face dataset (the sample's docs parquet through `datasets`), pretrain (2 CPU
# processes through accelerate, a small model from scratch), export and eval.
#
#   scripts/check_install.sh            (PYTHON=python3.11 to pick the interpreter)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d /tmp/linkbert-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Install from a copy of the tracked and unignored files: an in-tree build would leave build/ and
# *.egg-info in the checkout.
mkdir "$tmp/src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$tmp/src"
"$PYTHON" -m venv "$tmp/venv"
bin=$tmp/venv/bin
"$bin/pip" install -q -U pip
# The CPU wheel first on machines without a GPU (as `make install` does): no multi-GB CUDA build.
if ! command -v nvidia-smi >/dev/null 2>&1; then "$bin/pip" install -q torch==2.13.0; fi
"$bin/pip" install -q "$tmp/src"

mkdir "$tmp/work"
cd "$tmp/work"
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 WANDB_MODE=offline WANDB_DIR=$tmp/work
unset PYTHONPATH
where=$("$bin/python" -c "import corpus, pretrain; print(corpus.__file__)")
case $where in "$tmp/venv/"*) ;; *) echo "error: corpus imported from $where, not the fresh install" >&2; exit 1 ;; esac

step() { echo "== check_install: $*"; "$@"; }
step "$bin/linkbert" corpus extract --input "$repo/tests/data/wiki/enwiki-sample.xml.bz2" --output corpus
step "$bin/linkbert" corpus graph --corpus corpus
step "$bin/linkbert" corpus segments --corpus corpus segments.tokenizer=train segments.vocab_size=2000 \
  segments.max_tokens=62
step "$bin/linkbert" graph stats --corpus corpus >/dev/null
# The same documents read back as a Hugging Face dataset (corpus.format=hf, through `datasets`).
step "$bin/linkbert" corpus extract --format hf --input corpus/docs/rank-00000.parquet --output corpus-hf \
  corpus.hf_columns.links=
model=(model.init_from=null model.hidden_size=64 model.num_hidden_layers=2 model.num_attention_heads=2
  model.intermediate_size=128 model.max_position_embeddings=128)
step "$bin/accelerate" launch --config_file "$repo/configs/accelerate/cpu.yaml" --main_process_port 0 \
  -m pipeline.cli pretrain --config "$repo/configs/pretrain/demo.yaml" "${model[@]}" data.corpus=corpus \
  data.max_seq_len=128 train.output_root=runs train.run_name=fresh train.max_steps=4 checkpoint.every=2 \
  eval.every=4 eval.pairs=16 logging.every=1 logging.progress_bar=false
step "$bin/linkbert" export --checkpoint auto --run runs/fresh --output model
step "$bin/linkbert" eval --model model --pairs 12
test -s model/eval.json
echo "check_install: a plain 'pip install .' ran extract, graph, segments, pretrain, export and eval"
