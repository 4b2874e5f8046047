#!/bin/bash
# Issue 14 item 7 on nvidia-h200-x2: pytest -n 2 puts one worker per GPU; -n 4 on 2 GPUs takes turns
# per GPU (device locks); plus bench/torch_graph_streams_probe.py. torch backend only (no TensorRT needed).
# Usage on the GPU machine, from the repository root: OUT=/some/dir bash bench/h200_x2_xdist.sh
set -u
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
WHL=${WHL:-../whl}
if ls "$WHL"/*.whl >/dev/null 2>&1 && ! python3 -c "import onnxconverter_common" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHL"/*.whl
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}/tmp/site:$PWD"
LOG="$OUT/job.log"
step() { echo "=== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }
step environment
nvidia-smi -L | tee -a "$LOG"
python3 -c "import torch; print('torch', torch.__version__, 'gpus', torch.cuda.device_count())" | tee -a "$LOG"
if [ -n "${PROBE:-}" ]; then
  step "torch graphs on two streams"
  timeout 200 python3 bench/torch_graph_streams_probe.py 2>&1 | grep '^{' | tee "$OUT/streams_probe.log" | tee -a "$LOG"
fi
if [ -n "${CNN:-}" ]; then
  for g in off auto; do
    step "cnn torch fp32 b1 s2, cuda_graph $g, CUDA_LAUNCH_BLOCKING=1"
    CUDA_LAUNCH_BLOCKING=1 timeout 90 python3 -m pytest suites/test_cnn.py -p trtperf.plugin -p no:cacheprovider \
      -p no:benchmark --trtperf-cache-dir /tmp/c --trtperf-baseline-dir /tmp/b -q --trtperf-backend torch \
      --trtperf-precision fp32 --trtperf-batch 1 --trtperf-streams 2 --trtperf-cuda-graph $g --trtperf-runs 2 \
      --trtperf-results /tmp/r.json > "$OUT/cnn-s2-$g.log" 2>&1
    echo "exit $?" | tee -a "$LOG"; grep -E "^E |passed|failed|^trtperf/|torch_backend.py:[0-9]+" "$OUT/cnn-s2-$g.log" | head -20 | tee -a "$LOG"
  done
fi
ARGS=(-p trtperf.plugin -p no:cacheprovider -p no:benchmark --trtperf-cache-dir /tmp/c --trtperf-baseline-dir /tmp/b -q
      --trtperf-backend torch --trtperf-precision fp32)
for n in 2 4; do
  step "pytest -n $n suites/test_mlp.py suites/test_transformer.py (torch fp32, 8 cases)"
  start=$(date +%s)
  timeout 150 python3 -m pytest -n $n suites/test_mlp.py suites/test_transformer.py "${ARGS[@]}" \
    --trtperf-results "$OUT/results-n$n.json" > "$OUT/xdist-n$n.log" 2>&1
  echo "exit $? after $(( $(date +%s) - start )) s" | tee -a "$LOG"
  tail -3 "$OUT/xdist-n$n.log" | tee -a "$LOG"
  python3 - "$OUT/results-n$n.json" <<'PY' | tee -a "$LOG"
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
    lock = c["environment"].get("device_lock", {})
    print(c["case"]["key"] if isinstance(c["case"], dict) else c["case"], c["outcome"], "worker", lock.get("worker"),
          "gpu", c["device"]["facts"].get("cuda_index"), c["device"]["facts"].get("uuid", "")[:12],
          "lock", lock.get("name", "")[:16], "waited_s", lock.get("waited_s"))
PY
done
step done
