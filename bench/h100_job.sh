#!/bin/bash
# The whole GPU job of issue 5 in one device call (docs/notes/issue-5.md):
#   1. the example suites from the README's main command (`pytest suites`), all backends,
#      recording baselines (the H100 file is committed from this run);
#   2. bench/fidelity.py: trtperf's latency vs independent measurements, plus GPU features;
#   3. the suites again, gated against the baselines of step 1 (a real pass/fail on the GPU).
# Usage on the GPU machine, from the repository root: OUT=/some/dir bash bench/h100_job.sh
# Missing Python packages are installed from wheels in $WHL (default .issue5/whl), if present.
set -u
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
WHL=${WHL:-.issue5/whl}
LOG="$OUT/job.log"
CACHE=/tmp/trtperf-cache
step() { echo "=== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }

step "install missing packages from $WHL"
missing=$(python3 - <<'PY'
import importlib
for module, wheel in [("rich", "rich"), ("markdown_it", "markdown_it_py"), ("mdurl", "mdurl"),
                      ("pygments", "pygments"), ("pynvml", "nvidia_ml_py"), ("onnxscript", "onnxscript"),
                      ("onnx_ir", "onnx_ir"), ("filelock", "filelock"), ("ml_dtypes", "ml_dtypes")]:
    try:
        importlib.import_module(module)
    except Exception:
        print(wheel)
PY
)
echo "missing: ${missing:-none}" | tee -a "$LOG"
if [ -n "$missing" ]; then
  wheels=$(for name in $missing; do ls "$WHL"/"$name"-*.whl 2>/dev/null; done)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $wheels 2>&1 | tail -3 | tee -a "$LOG"
fi
export PYTHONPATH="/tmp/site:$PWD"

step "environment"
{ nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu --format=csv
  python3 -c "import sys, torch, triton, onnx, onnxruntime, pytest; print(sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__, 'onnx', onnx.__version__, 'ort', onnxruntime.__version__, 'pytest', pytest.__version__)"
  python3 -c "import torch; p = torch.cuda.get_device_properties(0); print(p.name, p.major, p.minor, p.multi_processor_count, 'SMs', getattr(p, 'L2_cache_size', '?'), 'B L2')"
} 2>&1 | tee -a "$LOG"

COMMON=(-p trtperf.plugin -p no:cacheprovider --trtperf-cache-dir "$CACHE" --trtperf-baseline-dir "$OUT/baselines")

step "suites, run 1: pytest suites --trtperf-update-baselines"
timeout 270 python3 -m pytest suites "${COMMON[@]}" --trtperf-update-baselines \
  --trtperf-results "$OUT/results-run1.json" -rs 2>&1 | tee -a "$LOG" | tail -80

step "fidelity"
timeout 240 python3 bench/fidelity.py --out "$OUT" --cache-dir "$CACHE" 2>&1 | tail -60 >> "$LOG"

step "suites, run 2: gated against run 1's baselines (torch backends)"
timeout 100 python3 -m pytest suites "${COMMON[@]}" --trtperf-backend torch,torch_compile \
  --trtperf-results "$OUT/results-run2.json" 2>&1 | tee -a "$LOG" | tail -50
step "done"
