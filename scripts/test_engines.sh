#!/usr/bin/env bash
# The engine tests against real clusters on this machine: a Ray head (scripts/local_ray.sh) and a
# single-node Slurm (scripts/local_slurm.sh), both on 127.0.0.1, started here and stopped on exit,
# failures included. Run through `make test-engines`, which installs Ray first.
#
#   scripts/test_engines.sh [pytest args]     (default: tests/engines)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export BIN=$(cd "$BIN" && pwd)
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
state=$(mktemp -d /tmp/linkbert-engines-XXXXXX)

cleanup() {
  scripts/local_ray.sh stop "$state/ray" || true
  scripts/local_slurm.sh stop "$state/slurm" || true
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ray_out=$(scripts/local_ray.sh start "$state/ray")
export LINKBERT_RAY_ADDRESS=${ray_out#RAY_ADDRESS=}
slurm_out=$(scripts/local_slurm.sh start "$state/slurm")
export SLURM_CONF=${slurm_out#SLURM_CONF=}
echo "engines: Ray at $LINKBERT_RAY_ADDRESS, Slurm with $SLURM_CONF"
sinfo

if [ $# -eq 0 ]; then set -- tests/engines; fi
"$BIN/python" -m pytest -q -m engines "$@"
