#!/usr/bin/env bash
# Issue 3, verification layer (b): the tensorrt backend's runtime for real on a GPU, with whatever
# TensorRT flavour is importable (on the H100 here: TensorRT-RTX). Run from the repository root:
#   OUT=/some/dir bash bench/trt_h100.sh
# Every suite model at fp32 and fp16, batches 1/8/32, 1 and 2 streams, parity against ONNX
# Runtime, CUDA graphs off and on; the cnn in e2e timing mode (copies included); int8 Q/DQ
# (TensorRT-RTX cannot run int8 convolutions: expected to fail with a clear message). Writes
# results-*.json and the layer reports into $OUT. The suites declare fp32 only, so copies of them
# with other precisions run here (case keys are the same as the suites' would be).
# TRTPERF_BENCH_SKIP="smoke compute graph e2e int8" skips steps (e.g. on a second call).
set -uo pipefail
OUT=${OUT:-/tmp/trtperf-h100}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
root=$(pwd)
with_precisions() {  # with_precisions DIR "fp32", "fp16": a copy of the suites declaring those precisions
  rm -rf "$1" && cp -r suites "$1"
  sed -i "s/^    streams=(1, 2),\$/    streams=(1, 2),\n    precisions=($2,),/" "$1"/test_*.py
}
suites=/tmp/trtperf-suites
with_precisions "$suites" '"fp32", "fp16"'
cache=${TRTPERF_BENCH_CACHE:-/tmp/trtperf-cache}
# The plugin by name where trtperf is not pip-installed (a bare checkout on PYTHONPATH).
plugin=()
python3 -c "import importlib.metadata as m; m.distribution('trtperf')" 2>/dev/null || plugin=(-p trtperf.plugin)
# -p no:warnings: the GPU machine's torch/onnx versions differ from CI's pinned warning filters.
common=(-q -p no:cacheprovider -p no:warnings "${plugin[@]}" --rootdir "$root" -c "$root/pyproject.toml"
        --trtperf-backend tensorrt --trtperf-cache-dir "$cache" --trtperf-runs 3 --trtperf-min-time 0.1
        --trtperf-warmup 0.05 --durations=5 --log-cli-level=INFO --log-cli-format '%(asctime)s %(message)s')
run() { [[ " ${TRTPERF_BENCH_SKIP:-} " != *" $1 "* ]]; }
step() { echo "=== $(date -u +%T) $*"; }
step "device"; nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"

if run smoke; then
  step "smoke: cnn fp32 b8 s1, graphs off and on"
  timeout 150 python3 -m pytest "$suites" "${common[@]}" -k "cnn and fp32 and b8 and s1" --trtperf-batch 8 \
    --trtperf-results /tmp/smoke.json || { step "smoke failed"; exit 1; }
  timeout 90 python3 -m pytest "$suites" "${common[@]}" -k "cnn and fp32 and b8 and s1" --trtperf-batch 8 \
    --trtperf-cuda-graph on --trtperf-results /tmp/smoke-graph.json || { step "smoke (graph) failed"; exit 1; }
fi
if run compute; then
  step "all models, fp32+fp16, b1/8/32, s1/2, CUDA graphs off (compute timing)"
  timeout 300 python3 -m pytest "$suites" "${common[@]}" --trtperf-batch 1,8,32 \
    --trtperf-results "$OUT/results-compute.json" 2>&1 | tail -60
fi
if run graph; then
  step "same, CUDA graphs on"
  timeout 300 python3 -m pytest "$suites" "${common[@]}" --trtperf-batch 1,8,32 --trtperf-cuda-graph on \
    --trtperf-results "$OUT/results-graph.json" 2>&1 | tail -50
fi
if run e2e; then
  step "cnn, e2e timing (copies included), graphs off"
  timeout 120 python3 -m pytest "$suites" "${common[@]}" -k cnn --trtperf-batch 1,8,32 --trtperf-timing-mode e2e \
    --trtperf-results "$OUT/results-e2e.json" 2>&1 | tail -20
fi
if run int8; then
  step "int8 Q/DQ (TensorRT-RTX: builds, cannot run int8 convolutions)"
  with_precisions /tmp/trtperf-int8-suites '"int8"'
  timeout 150 python3 -m pytest /tmp/trtperf-int8-suites "${common[@]}" -k "b8 and s1" --trtperf-batch 8 \
    --trtperf-results "$OUT/results-int8.json" 2>&1 | grep -v "^[0-9][0-9]:" | tail -40
fi
step "layer reports"
find "$cache" -name '*.layers.txt' | head -40 | while read -r f; do echo "## $f"; cat "$f"; done > "$OUT/layers.txt"
ls -la "$OUT"
