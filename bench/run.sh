#!/usr/bin/env bash
# Benchmarks against the peers: set up bench/.venv (reptune editable + repeng + steering-vectors),
# run every benchmark on the embedded model and rewrite BENCHMARKS.md (19 minutes on 2 quiet cores).
# Usage: bench/run.sh [--quick] [--only extraction,generation,tuning]
#   --quick: tiny sizes (a smoke run), writes bench/.quick/BENCHMARKS.md instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
PIP=(bench/.venv/bin/python -m pip install -q --disable-pip-version-check)
[[ -x bench/.venv/bin/python ]] || "$PY" -m venv bench/.venv
# torch is pinned in both commands so that no CUDA build comes in; numpy<2 for repeng.
"${PIP[@]}" "torch==2.13.0" "numpy<2" -e .
"${PIP[@]}" --no-deps "torch==2.13.0" -r bench/requirements.txt
export OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
exec bench/.venv/bin/python -m bench "$@"
