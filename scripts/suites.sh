#!/usr/bin/env bash
# The main job: set up, then run the example suites on every backend this machine has.
# Extra arguments go to pytest, e.g.: bash scripts/suites.sh --trtperf-update-baselines
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec python -m pytest suites -p no:cacheprovider "$@"
