#!/usr/bin/env bash
# make bench: every benchmark, each printing its figures. PyTCI lives only in .venv-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [[ ! -x .venv-bench/bin/python ]]; then
  "$PY" -m venv .venv-bench
fi
.venv-bench/bin/pip install --quiet -e . -r benchmarks/requirements-bench.txt
for bench in cli_startup pk_population pk_tci charting_load cohort_scale; do
  if [[ -f benchmarks/$bench.py ]]; then
    echo "== $bench"
    .venv-bench/bin/python benchmarks/$bench.py
  fi
done
