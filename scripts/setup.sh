#!/usr/bin/env bash
# Set up trtperf in ./.venv on a fresh machine. Idempotent; sourced by suites.sh and test.sh.
#   EXTRAS         pip extras to install (default "torch"; test.sh adds dev, tensorrt-rtx and zoo)
#   TRTPERF_TORCH  torch requirement installed when torch is missing (default torch==2.13.0, the CPU
#                  build; on a GPU runner install your CUDA build of torch first and it is kept)
#   CONSTRAINTS    a pip constraints file (CI pins its versions in .ci/constraints.txt)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
pip_args=(-q --disable-pip-version-check)
[ -d /opt/wheels ] && pip_args+=(--find-links /opt/wheels)
[ -n "${CONSTRAINTS:-}" ] && pip_args+=(-c "$CONSTRAINTS")
# torch first and explicitly: left to a dependency resolver, a plain "torch" pulls a multi-GB CUDA build.
if ! python -c "import torch" 2>/dev/null; then
  pip install "${pip_args[@]}" "${TRTPERF_TORCH:-torch==2.13.0}"
fi
pip install "${pip_args[@]}" -e ".[${EXTRAS:-torch}]"
