#!/usr/bin/env bash
# The tests: set up with the dev and TensorRT-RTX extras, lint, type-check, run the test suite.
# Two pytest sessions: every test but the `timed` ones on two xdist workers, then the `timed` ones
# (they gate real timings against a baseline they recorded, so they run with nothing beside them).
# Options after the command go to both sessions (e.g. `bash scripts/test.sh -q -k parity`).
set -euo pipefail
EXTRAS=${EXTRAS:-torch,dev,tensorrt-rtx,zoo} . "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ruff check trtperf tests suites bench scripts conftest.py
mypy
status=0
python -m pytest tests -p no:cacheprovider -n "${TEST_WORKERS:-2}" -m "not timed" "$@" || status=$?
python -m pytest tests -p no:cacheprovider -m timed "$@" || { rc=$?; [ "$rc" -eq 5 ] || status=$rc; }
[ "$status" -eq 5 ] && status=0  # "no tests collected": the -k/-m given selected only the other session's tests
exit "$status"
