#!/usr/bin/env bash
# Issue 3, verification layer (b): the tensorrt backend's runtime for real on a GPU, with whatever
# TensorRT flavour is importable (on the H100 here: TensorRT-RTX). Run from the repository root:
#   OUT=/some/dir bash bench/trt_h100.sh
# Every suite model at fp32 and fp16, batches 1/8/32, 1 and 2 streams, parity against ONNX
# Runtime, CUDA graphs off and on; then the cnn in e2e timing mode (copies included). Writes
# results-*.json, the layer reports and a log into $OUT. The suites declare fp32 only, so a copy
# of them with fp16 added runs here (case keys are the same as the suites' would be).
set -uo pipefail
OUT=${OUT:-/tmp/trtperf-h100}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
root=$(pwd)
suites=/tmp/trtperf-suites
rm -rf "$suites" && cp -r suites "$suites"
sed -i 's/^    streams=(1, 2),$/    streams=(1, 2),\n    precisions=("fp32", "fp16"),/' "$suites"/test_*.py
cache=${TRTPERF_BENCH_CACHE:-/tmp/trtperf-cache}
# The plugin by name where trtperf is not pip-installed (a bare checkout on PYTHONPATH).
plugin=()
python3 -c "import importlib.metadata as m; m.distribution('trtperf')" 2>/dev/null || plugin=(-p trtperf.plugin)
# -p no:warnings: the GPU machine's torch/onnx versions differ from CI's pinned warning filters.
common=(-q -p no:cacheprovider -p no:warnings "${plugin[@]}" --rootdir "$root" -c "$root/pyproject.toml"
        --trtperf-backend tensorrt --trtperf-cache-dir "$cache" --trtperf-runs 3 --trtperf-min-time 0.1
        --trtperf-warmup 0.05 --durations=5 --log-cli-level=INFO --log-cli-format '%(asctime)s %(message)s')

step() { echo "=== $(date -u +%T) $*"; }
step "device"; nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"

step "smoke: cnn fp32 b8 s1, graphs off and on"
timeout 110 python3 -m pytest "$suites" "${common[@]}" -k "cnn and fp32 and b8 and s1" --trtperf-batch 8 \
  --trtperf-results /tmp/smoke.json || { step "smoke failed"; exit 1; }
timeout 90 python3 -m pytest "$suites" "${common[@]}" -k "cnn and fp32 and b8 and s1" --trtperf-batch 8 \
  --trtperf-cuda-graph on --trtperf-results /tmp/smoke-graph.json || { step "smoke (graph) failed"; exit 1; }

step "all models, fp32+fp16, b1/8/32, s1/2, CUDA graphs off (compute timing)"
timeout 200 python3 -m pytest "$suites" "${common[@]}" --trtperf-batch 1,8,32 \
  --trtperf-results "$OUT/results-compute.json" 2>&1 | tail -60
step "same, CUDA graphs on"
timeout 110 python3 -m pytest "$suites" "${common[@]}" --trtperf-batch 1,8,32 --trtperf-cuda-graph on \
  --trtperf-results "$OUT/results-graph.json" 2>&1 | tail -50
step "cnn, e2e timing (copies included), graphs off"
timeout 45 python3 -m pytest "$suites" "${common[@]}" -k cnn --trtperf-batch 1,8,32 --trtperf-timing-mode e2e \
  --trtperf-results "$OUT/results-e2e.json" 2>&1 | tail -20

step "layer reports"
find "$cache" -name '*.layers.txt' | head -40 | while read -r f; do echo "## $f"; cat "$f"; done > "$OUT/layers.txt"
python3 - "$cache" "$OUT" <<'PY'
import json, pathlib, shutil, sys
cache, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
# One inspector JSON per model (fp32 batch 8 profile) for tests/data.
for results in [out / "results-compute.json"]:
    if not results.exists():
        continue
    for case in json.loads(results.read_text())["cases"]:
        key = case["case"]["key"]
        if case["case"]["precision"] == "fp32" and case["case"]["batch"] == 8 and case["case"]["streams"] == 1:
            raw = case.get("build", {}).get("inspector_json")
            if raw and pathlib.Path(raw).exists():
                shutil.copy(raw, out / f"{case['case']['model']}-fp32-inspector.json")
PY
ls -la "$OUT"
