#!/usr/bin/env bash
# The tests: set up with the dev and TensorRT-RTX extras, lint, type-check, run the test suite.
set -euo pipefail
EXTRAS=${EXTRAS:-torch,dev,tensorrt-rtx,zoo} . "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ruff check trtperf tests suites bench scripts conftest.py
mypy
exec python -m pytest tests -p no:cacheprovider "$@"
