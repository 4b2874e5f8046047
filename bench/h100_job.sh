#!/bin/bash
# The whole GPU job of issue 5 in one device call (docs/notes/issue-5.md). Steps ($STEPS):
#   record:   the example suites from the README's main command (`pytest suites`), all backends,
#             recording baselines into $OUT/baselines (the H100 file is committed from this run);
#   gate:     the suites on the torch backends, gated against $BASELINES (default: the committed
#             baselines/ of the checkout, i.e. measured on another H100 machine);
#   fidelity: bench/fidelity.py: trtperf's latency vs independent measurements ($FIDELITY_ARGS);
#   trt-record: the suites on the tensorrt backend (TensorRT-RTX through ../shared/gpu/trt-rtx here),
#             recording baselines into $OUT/baselines ($TRT_RECORD_ARGS);
#   gate-power: bench/gate_power.py $GATE_POWER_ARGS --out $OUT/gate_power;
#   notes:    the suites on $NOTES_BACKENDS (fp32, 1 stream, 3 runs), CUDA graphs off and on, then
#             each case's latency, enqueue time and verdict notes (launch-bound, short inference).
# Usage on the GPU machine, from the repository root: OUT=/some/dir bash bench/h100_job.sh
# Missing Python packages are installed from wheels in $WHL (default .issue5/whl), if present.
set -u
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
WHL=${WHL:-.issue5/whl}
STEPS=${STEPS:-record fidelity gate}
BASELINES=${BASELINES:-baselines}
FIDELITY_ARGS=${FIDELITY_ARGS:-}
RECORD_ARGS=${RECORD_ARGS:-}
GATE_ARGS=${GATE_ARGS:---trtperf-backend torch,torch_compile}
LOG="$OUT/job.log"
CACHE=/tmp/trtperf-cache
step() { echo "=== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }

step "install missing packages from $WHL"
missing=$(python3 - <<'PY'
import importlib
for module, wheel in [("rich", "rich"), ("markdown_it", "markdown_it_py"), ("mdurl", "mdurl"),
                      ("pygments", "pygments"), ("pynvml", "nvidia_ml_py"), ("onnxscript", "onnxscript"),
                      ("onnx_ir", "onnx_ir"), ("filelock", "filelock"), ("ml_dtypes", "ml_dtypes"),
                      ("onnxconverter_common", "onnxconverter_common")]:
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
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"  # keeps TensorRT-RTX's env.sh path

step "environment"
{ nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu --format=csv
  python3 -c "import sys, torch, triton, onnx, onnxruntime, pytest; print(sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__, 'onnx', onnx.__version__, 'ort', onnxruntime.__version__, 'pytest', pytest.__version__)"
  python3 -c "import torch; p = torch.cuda.get_device_properties(0); print(p.name, p.major, p.minor, p.multi_processor_count, 'SMs', getattr(p, 'L2_cache_size', '?'), 'B L2')"
} 2>&1 | tee -a "$LOG"

plugin=()  # the plugin by name where trtperf is not pip-installed (a bare checkout on PYTHONPATH)
python3 -c "import importlib.metadata as m; m.distribution('trtperf')" 2>/dev/null || plugin=(-p trtperf.plugin)
COMMON=("${plugin[@]}" -p no:cacheprovider --trtperf-cache-dir "$CACHE")
for s in $STEPS; do
  case $s in
    record)
      step "record: pytest suites --trtperf-update-baselines"
      timeout ${RECORD_TIMEOUT:-270} python3 -m pytest suites "${COMMON[@]}" --trtperf-baseline-dir "$OUT/baselines" \
        --trtperf-update-baselines --trtperf-results "$OUT/results-record.json" $RECORD_ARGS -rs 2>&1 | tee -a "$LOG" | tail -80 ;;
    gate)
      step "gate: pytest suites $GATE_ARGS against $BASELINES"
      timeout ${GATE_TIMEOUT:-200} python3 -m pytest suites "${COMMON[@]}" --trtperf-baseline-dir "$BASELINES" \
        $GATE_ARGS --trtperf-results "$OUT/results-gate.json" 2>&1 | tee -a "$LOG" | tail -80 ;;
    trt-record)
      step "trt-record: pytest suites --trtperf-backend tensorrt --trtperf-update-baselines ${TRT_RECORD_ARGS:-}"
      timeout ${TRT_RECORD_TIMEOUT:-300} python3 -m pytest suites "${COMMON[@]}" --trtperf-backend tensorrt \
        --trtperf-baseline-dir "$OUT/baselines" --trtperf-update-baselines \
        --trtperf-results "$OUT/results-trt-record.json" ${TRT_RECORD_ARGS:-} -rs 2>&1 | tee -a "$LOG" | tail -70 ;;
    gate-power)
      step "gate-power: bench/gate_power.py $GATE_POWER_ARGS"
      timeout ${GATE_POWER_TIMEOUT:-540} python3 bench/gate_power.py ${GATE_POWER_ARGS:-} --cache-dir "$CACHE" \
        --out "$OUT/gate_power" 2>&1 | tee -a "$LOG" | tail -25 ;;
    notes)
      for graph in off on; do
        step "notes: pytest suites --trtperf-backend ${NOTES_BACKENDS:-torch} --trtperf-cuda-graph $graph"
        timeout ${NOTES_TIMEOUT:-150} python3 -m pytest suites "${COMMON[@]}" -q --trtperf-backend "${NOTES_BACKENDS:-torch}" \
          --trtperf-precision fp32 --trtperf-streams 1 --trtperf-runs 3 --trtperf-cuda-graph $graph \
          --trtperf-baseline-dir /tmp/notes-baselines --trtperf-results "$OUT/results-notes-graph-$graph.json" 2>&1 | tail -3 | tee -a "$LOG"
        python3 - "$OUT/results-notes-graph-$graph.json" <<'PY' 2>&1 | tee -a "$LOG"
import json, sys
for r in json.load(open(sys.argv[1]))["cases"]:
    st = r.get("stats") or {}
    note = (r.get("verdict") or {}).get("note", "")
    print(f"{r['case']['key']:34s} {st.get('median_ms', float('nan')):.4f} ms "
          f"enqueue {st.get('enqueue_median_ms')} | {note}")
PY
      done ;;
    fidelity)
      step "fidelity $FIDELITY_ARGS"
      timeout ${FIDELITY_TIMEOUT:-330} python3 bench/fidelity.py --out "$OUT" --cache-dir "$CACHE" $FIDELITY_ARGS 2>&1 | tail -60 >> "$LOG" ;;
  esac
done
step "done"
