#!/bin/bash
# Issue 14's GPU work in device calls on an H200 (TensorRT-RTX through ../shared/gpu/trt-rtx, whose
# env.sh must be sourced first). Steps ($STEPS, in order):
#   probe:     bench/trt_graph_probe.py (ResNet-50 b1/b32: kernel specialization x CUDA graph);
#   gputests:  pytest tests/gpu (parity through the timed path, graphs on auto, context reuse);
#   tensorrt:  the main job's example suites on the tensorrt backend at default settings, recording
#              baselines into $OUT/baselines (wall time per case in the log);
#   torch:     the same on the torch backend;
#   gate:      both backends again, gated against the baselines just recorded (seconds per verdict);
#   gatepower: bench/gate_power.py $GATE_POWER_ARGS (issue 14 item 5: the sequential design's A/A and 2 %);
#   seconds:   bench/verdict_seconds.py per backend in $SECONDS_BACKENDS (default torch): a warm rerun's
#              seconds per verdict, old defaults vs new, side by side, of the cases -k "$SECONDS_K"
#              (default fp32).
# Usage on the GPU machine, from the repository root: OUT=/some/dir STEPS="probe gputests" bash bench/h200_issue14.sh
# Wheels of missing packages (onnxconverter-common) are installed from $WHL if present.
set -u
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
WHL=${WHL:-../whl}
STEPS=${STEPS:-probe gputests tensorrt}
LIMIT=${LIMIT:-280}
CACHE=${CACHE:-/tmp/trtperf-cache}
mkdir -p "$OUT"
LOG="$OUT/job.log"
merge() {  # merge results JSONs (cases appended) into $1, removing the parts
  target=$1; shift
  python3 - "$target" "$@" <<'PY'
import json, os, sys
merged = None
for part in sys.argv[2:]:
    if not os.path.exists(part):
        continue
    doc = json.load(open(part))
    if merged is None:
        merged = doc
    else:
        merged["cases"].extend(doc["cases"])
    os.remove(part)
if merged is not None:
    json.dump(merged, open(sys.argv[1], "w"), indent=1)
    print(f"{sys.argv[1]}: {len(merged['cases'])} cases")
PY
}
step() { echo "=== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }
if ls "$WHL"/*.whl >/dev/null 2>&1 && ! python3 -c "import onnxconverter_common" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHL"/*.whl
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}/tmp/site:$PWD"
SUITE=(-p trtperf.plugin -p no:cacheprovider --trtperf-cache-dir "$CACHE" --trtperf-baseline-dir "$OUT/baselines" -q)
step "environment"
{ nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv
  python3 -c "import sys, torch, onnxruntime, tensorrt_rtx_bindings as t; print(sys.version.split()[0], 'torch', torch.__version__, 'ort', onnxruntime.__version__, 'rtx', t.__version__, 'gpus', torch.cuda.device_count())"
} 2>&1 | tee -a "$LOG"
for s in $STEPS; do
  case $s in
    probe)
      step "probe"
      timeout "$LIMIT" python3 bench/trt_graph_probe.py "$OUT" 2>&1 | grep -v -i warning > "$OUT/probe.log"
      tail -30 "$OUT/probe.log" | tee -a "$LOG" ;;
    gputests)
      step "pytest tests/gpu"
      timeout "$LIMIT" python3 -m pytest tests/gpu -p no:cacheprovider -q -s -rA > "$OUT/gputests.log" 2>&1
      grep -E "resnet50 b1|bert torch|passed|failed|PASSED|FAILED|Error" "$OUT/gputests.log" | tail -40 | tee -a "$LOG" ;;
    tensorrt|torch)
      # One pytest session per suite file: a file cut off by $LIMIT loses only its own cases.
      for f in suites/test_*.py; do
        step "record: pytest $f --trtperf-backend $s --trtperf-update-baselines"
        start=$(date +%s)
        timeout "$LIMIT" python3 -m pytest "$f" "${SUITE[@]}" --trtperf-backend "$s" --trtperf-update-baselines \
          --trtperf-results "$OUT/part-$s-$(basename "$f" .py).json" --durations=0 >> "$OUT/record-$s.log" 2>&1
        echo "exit $? after $(( $(date +%s) - start )) s" | tee -a "$LOG"
        grep -E "passed|failed|skipped|baseline updated" "$OUT/record-$s.log" | tail -3 | tee -a "$LOG"
      done
      merge "$OUT/results-$s.json" "$OUT"/part-$s-*.json ;;
    gate)
      for b in ${GATE_BACKENDS:-tensorrt torch}; do
        for f in suites/test_*.py; do
          step "gate: pytest $f --trtperf-backend $b against the baselines just recorded"
          start=$(date +%s)
          timeout "$LIMIT" python3 -m pytest "$f" "${SUITE[@]}" --trtperf-backend "$b" \
            --trtperf-results "$OUT/part-gate-$b-$(basename "$f" .py).json" --durations=0 >> "$OUT/gate-$b.log" 2>&1
          echo "exit $? after $(( $(date +%s) - start )) s" | tee -a "$LOG"
          grep -E "passed|failed|skipped" "$OUT/gate-$b.log" | tail -1 | tee -a "$LOG"
        done
        merge "$OUT/results-gate-$b.json" "$OUT"/part-gate-$b-*.json
      done ;;
    gatepower)
      step "gate_power: $GATE_POWER_ARGS"
      timeout "$LIMIT" python3 bench/gate_power.py ${GATE_POWER_ARGS:-} --cache-dir "$CACHE" --out "$OUT/gate_power" \
        2>&1 | tee "$OUT/gate_power.log" | tail -25 | tee -a "$LOG" ;;
    seconds)
      for b in ${SECONDS_BACKENDS:-torch}; do
        step "verdict_seconds: --backends $b -k ${SECONDS_K:-fp32}"
        timeout "$LIMIT" python3 bench/verdict_seconds.py --backends "$b" -k "${SECONDS_K:-fp32}" \
          --pytest-args "-p trtperf.plugin --trtperf-cache-dir $CACHE" --out "$OUT/verdict_seconds-$b" \
          2>&1 | tail -40 | tee -a "$LOG"
      done ;;
  esac
done
step "done"
