#!/bin/bash
# bench/parity_power.py on a GPU machine (issue 11): false failures of the tensorrt and torch backends'
# correct engines on the zoo at full size, and detection of ONNX faults built by TensorRT(-RTX).
# Usage, from the repository root on the GPU machine (TensorRT-RTX through ../shared/gpu/trt-rtx: its
# env.sh sourced first; the onnxconverter-common wheel, needed for the fp16/bf16 variants, in $WHL):
#   OUT=/some/dir NAME=run1 bash bench/h200_parity_power.sh --backends tensorrt,torch --models resnet50 ...
# Every argument goes to bench/parity_power.py; this adds --out "$OUT/parity_power-$NAME" and
# --cache-dir "$CACHE" (shared by the calls on one warm machine: exports, variants and references are
# made once), and a --time-limit of $LIMIT seconds (default 450: the rows so far are kept in
# $OUT/parity_power-$NAME.{json,txt,jsonl}, rewritten after every row).
set -u
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
WHL=${WHL:-.gpu/whl}
CACHE=${CACHE:-/tmp/trtperf-parity-cache}
LIMIT=${LIMIT:-450}
NAME=${NAME:-gpu}
mkdir -p "$OUT"
if ls "$WHL"/onnxconverter_common-*.whl >/dev/null 2>&1 && ! python3 -c "import onnxconverter_common" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHL"/onnxconverter_common-*.whl
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}/tmp/site:$PWD"
export TRTPERF_ZOO_SIZE=${TRTPERF_ZOO_SIZE:-full}
python3 -c "import sys, torch, onnxruntime; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'ort', onnxruntime.__version__)" 2>&1 | tee "$OUT/parity_power-$NAME.env"
python3 -c "import onnxconverter_common" 2>/dev/null || echo "onnxconverter-common missing: fp16/bf16 variants will fail (put its wheel in $WHL)" | tee -a "$OUT/parity_power-$NAME.env"
python3 bench/parity_power.py --cache-dir "$CACHE" --time-limit "$LIMIT" --out "$OUT/parity_power-$NAME" "$@" 2>&1 \
  | grep -v -i -E "warning|torchvision" > "$OUT/parity_power-$NAME.log"
tail -60 "$OUT/parity_power-$NAME.log"
