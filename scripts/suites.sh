#!/usr/bin/env bash
# The main job: set up, then run the example suites on every backend this machine has.
# On a machine with an NVIDIA GPU it also installs the zoo extra, so suites/zoo runs real architectures at full
# size (ResNet-50 and ViT-B/16 at batch 32, BERT-base and GPT-2 at batch 8 x sequence 128, ...); without a GPU the
# zoo is skipped with its install hint unless EXTRAS includes zoo (then it runs at a small size).
# Extra arguments go to pytest, e.g.: bash scripts/suites.sh --trtperf-update-baselines
set -euo pipefail
if [ -z "${EXTRAS:-}" ]; then
  EXTRAS=torch
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    EXTRAS=torch,zoo
  fi
fi
export EXTRAS
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec python -m pytest suites -p no:cacheprovider "$@"
