#!/bin/bash
# The GPU work of issues 11 and 14 in few device calls (an H200; the tensorrt backend through the
# TensorRT-RTX harness of ../shared/gpu/trt-rtx, whose env.sh must be sourced first). Steps ($STEPS, in order),
# each under its own limit ($LIMIT_<step> or $LIMIT seconds; SIGINT first, so pytest still writes its results), all within $BUDGET s:
#   gputests      pytest tests/gpu ($GPUTESTS, default all of it)
#   record-B      the main job, `pytest suites` (the example suites and the zoo, full size on a GPU), on backend B
#                 at default settings, recording baselines into $OUT/w/baselines; one pytest session per file
#   gate-B        the same again on backend B, gated against those baselines (warm cache: seconds per verdict)
#   fidelity      python bench/fidelity.py $FIDELITY_ARGS
#   gatepower     python bench/gate_power.py $GATE_POWER_ARGS
#   paritypower   python bench/parity_power.py $PARITY_ARGS
#   profile-B     a warm `pytest` rerun of $PROFILE_FILE -k "$PROFILE_K" on backend B under cProfile (record first,
#                 then the profiled gate): where a verdict's seconds go; top functions in $W/profile-B.txt
# A SUITE_FILES entry `file@expr` runs `pytest file -k expr` (one session per zoo model: a session cut off by its
# limit loses only its own cases). Baselines go to $BASELINES (default $W/baselines; a folder under /tmp outlives
# the call on a warm machine, so a later call can gate against them) and are copied into $W/baselines.
# Usage on the GPU machine, from the repository root: OUT=/some/dir STEPS="record-torch gate-torch" bash bench/gpu_job.sh
# Everything lands in $OUT/w and is packed into $OUT/w.tgz after each step (a call cut off keeps what finished);
# at the end w/ is removed, leaving w.tgz (KEEP_W=1 keeps it); the log is $OUT/job.log. Wheels of missing packages (onnxconverter-common) are installed from $WHL if present.
set -u
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
WHL=${WHL:-.whl}
STEPS=${STEPS:-gputests}
LIMIT=${LIMIT:-300}
CACHE=${CACHE:-/tmp/trtperf-cache}
W="$OUT/w"
mkdir -p "$W"
LOG="$OUT/job.log"
step() { echo "=== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }
BASELINES=${BASELINES:-$W/baselines}
pack() {
  if [ "$BASELINES" != "$W/baselines" ] && [ -d "$BASELINES" ]; then mkdir -p "$W/baselines"; cp -p "$BASELINES"/*.json "$W/baselines/" 2>/dev/null; fi
  tar czf "$OUT/w.tgz" -C "$OUT" w
}
END=$(( $(date +%s) + ${BUDGET:-540} ))  # the whole job ends by then (a device call may run 600 s)
run_limited() {  # a command under min($STEP_LIMIT, what is left of $BUDGET) seconds; SIGINT first, so pytest reports
  local left=$(( END - $(date +%s) ))
  [ "$left" -gt "$STEP_LIMIT" ] && left=$STEP_LIMIT
  if [ "$left" -lt 15 ]; then echo "skipped (budget spent): $*" | tee -a "$LOG"; return 124; fi
  timeout -s INT -k 20 "$left" "$@"
}
if ls "$WHL"/*.whl >/dev/null 2>&1 && ! python3 -c "import onnxconverter_common" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHL"/*.whl
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}/tmp/site:$PWD"
SUITE_FILES=${SUITE_FILES:-suites/test_cnn.py suites/test_mlp.py suites/test_transformer.py suites/zoo/test_zoo.py}
PLUGIN=()  # where trtperf is not pip-installed (the device machine), load its pytest plugin by name
python3 -c "import importlib.metadata as m, sys; sys.exit(any(e.name == 'trtperf' for e in m.entry_points(group='pytest11')))" \
  && PLUGIN=(-p trtperf.plugin)
SUITE=("${PLUGIN[@]}" -p no:cacheprovider --trtperf-cache-dir "$CACHE" --trtperf-baseline-dir "$BASELINES" -q
       --durations=0 -rfE)
step "environment"
{ nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv
  python3 -c "import sys, torch, onnxruntime; print(sys.version.split()[0], 'torch', torch.__version__, 'ort', onnxruntime.__version__, 'gpus', torch.cuda.device_count())"
  python3 -c "import tensorrt_rtx_bindings as t; print('tensorrt-rtx', t.__version__)" 2>/dev/null || echo "no tensorrt-rtx"
} 2>&1 | tee -a "$LOG"
for s in $STEPS; do
  start=$(date +%s)
  limit_name="LIMIT_${s//-/_}"  # LIMIT_fidelity=250 etc.: a step's own limit, else $LIMIT
  STEP_LIMIT=${!limit_name:-$LIMIT}
  case $s in
    gputests)
      step "pytest ${GPUTESTS:-tests/gpu}"
      run_limited python3 -m pytest ${GPUTESTS:-tests/gpu} -p no:cacheprovider -q -rA > "$W/gputests.log" 2>&1
      echo "exit $?" | tee -a "$LOG"
      grep -E "passed|failed|PASSED|FAILED|Error" "$W/gputests.log" | tail -30 | tee -a "$LOG" ;;
    record-*|gate-*)
      backend=${s#*-}
      what=${s%%-*}
      extra=()
      [ "$what" = record ] && extra=(--trtperf-update-baselines)
      for entry in $SUITE_FILES; do
        f=${entry%%@*}
        select=()
        name=$(basename "$f" .py)
        if [ "$entry" != "$f" ]; then select=(-k "${entry#*@}"); name="$name-${entry#*@}"; fi
        step "$what: pytest $f ${select[*]} --trtperf-backend $backend ${extra[*]}"
        t0=$(date +%s)
        run_limited python3 -m pytest "$f" "${select[@]}" "${SUITE[@]}" --trtperf-backend "$backend" "${extra[@]}" \
          --trtperf-results "$W/$what-$backend-$name.json" ${PYTEST_ARGS:-} > "$W/$what-$backend-$name.log" 2>&1
        echo "exit $? after $(( $(date +%s) - t0 )) s" | tee -a "$LOG"
        grep -E "^(FAILED|ERROR)|[0-9]+ (passed|failed)" "$W/$what-$backend-$name.log" | tail -12 | tee -a "$LOG"
        pack
      done ;;
    fidelity)
      step "bench/fidelity.py $FIDELITY_ARGS"
      run_limited python3 bench/fidelity.py --out "$W/fidelity" --cache-dir "$CACHE" $FIDELITY_ARGS \
        > "$W/fidelity.log" 2>&1
      echo "exit $?" | tee -a "$LOG"; tail -25 "$W/fidelity.log" | tee -a "$LOG" ;;
    gatepower)
      step "bench/gate_power.py $GATE_POWER_ARGS"
      run_limited python3 bench/gate_power.py --cache-dir "$CACHE" $GATE_POWER_ARGS > "$W/gate_power.log" 2>&1
      echo "exit $?" | tee -a "$LOG"; tail -25 "$W/gate_power.log" | tee -a "$LOG" ;;  # pass --out "$W/..." in the args
    paritypower)
      # The zoo at full size; --time-limit keeps every finished row (rewritten after each).
      left=$(( END - $(date +%s) - 30 )); [ "$left" -gt "$STEP_LIMIT" ] && left=$STEP_LIMIT
      step "bench/parity_power.py $PARITY_ARGS (time limit $left s)"
      TRTPERF_ZOO_SIZE=full run_limited python3 bench/parity_power.py --cache-dir "$CACHE" --time-limit "$left" \
        --out "$W/parity_power-${PARITY_NAME:-gpu}" $PARITY_ARGS 2>&1 | grep -v -i -E "warning|torchvision" \
        > "$W/parity_power.log"
      echo "exit $?" | tee -a "$LOG"; tail -25 "$W/parity_power.log" | tee -a "$LOG" ;;
    profile-*)
      backend=${s#*-}
      pf=${PROFILE_FILE:-suites/test_cnn.py}
      step "profile: pytest $pf -k '${PROFILE_K:-fp32}' --trtperf-backend $backend (record, then a profiled warm gate)"
      run_limited python3 -m pytest "$pf" -k "${PROFILE_K:-fp32}" "${SUITE[@]}" --trtperf-backend "$backend" \
        --trtperf-update-baselines > "$W/profile-$backend-record.log" 2>&1
      run_limited python3 -m cProfile -o "$W/profile-$backend.prof" -m pytest "$pf" -k "${PROFILE_K:-fp32}" \
        "${SUITE[@]}" --trtperf-backend "$backend" > "$W/profile-$backend-gate.log" 2>&1
      echo "exit $?" | tee -a "$LOG"; grep -E "s call|passed|failed" "$W/profile-$backend-gate.log" | tee -a "$LOG"
      python3 -c "import pstats, sys; s = pstats.Stats(sys.argv[1], stream=open(sys.argv[2], 'w')); s.sort_stats('cumulative').print_stats(80); s.sort_stats('tottime').print_stats(40)" \
        "$W/profile-$backend.prof" "$W/profile-$backend.txt"
      rm -f "$W/profile-$backend.prof" ;;
    *) echo "unknown step $s" | tee -a "$LOG" ;;
  esac
  echo "step $s took $(( $(date +%s) - start )) s" | tee -a "$LOG"
  pack
done
step "done"
pack
# The device call returns a bounded number of files: leave job.log and w.tgz only (KEEP_W=1 keeps w/ too).
# A call cut off before this line still has w.tgz as of its last finished step.
[ "${KEEP_W:-0}" = 1 ] || rm -rf "$W"
