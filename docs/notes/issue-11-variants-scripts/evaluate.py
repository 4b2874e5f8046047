"""wt11b venv: trtperf variants vs ModelOpt variants: validity (full_check), ORT-CPU error vs fp32, range report, time."""
import json, sys, time, warnings, numpy as np, onnx
from pathlib import Path
warnings.simplefilter("ignore")
from trtperf.backends.onnxruntime import reference_session, run_session
from trtperf.precision import cast
from trtperf.precision.overflow import overflow_report
from trtperf.precision.quantize import quantize_int8
from trtperf.precision.calibration import CalibrationSet
d = Path("/tmp/wt11b-scratch"); c = d / "cmp"
times = json.loads((c / "autocast_times.json").read_text())
rows = []
def valid(path):
    try:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True); return "yes"
    except Exception as e:
        return "NO: " + str(e).strip().splitlines()[-1][:90]
def err(path, feeds, ref):
    try:
        got = run_session(reference_session(path), feeds)
    except Exception as e:
        return None, None, "ORT: " + str(e).strip().splitlines()[0][:80]
    name = next(iter(ref)); g, r = got[name].astype(np.float64), ref[name].astype(np.float64)
    fin = np.isfinite(r)
    return float(np.max(np.abs(g - r)[fin])), float(np.linalg.norm((g - r)[fin]) / np.linalg.norm(r[fin])), ""
for name in sys.argv[1:]:
    src = d / f"{name}.onnx"
    feeds = dict(np.load(c / f"{name}.inputs.npz"))
    ref = run_session(reference_session(src), feeds)
    for prec in ("fp16", "bf16", "int8"):
        mine = c / f"{name}.trtperf.{prec}.onnx"
        t = time.time()
        if prec == "int8":
            calib = dict(np.load(c / f"{name}.calib.npz"))
            quantize_int8(src, mine, CalibrationSet(batches=(calib,), digest="x", source="seed 1234"))
        else:
            v, _ = (cast.to_fp16 if prec == "fp16" else cast.to_bf16)(onnx.load(str(src)))
            onnx.save(v, str(mine))
        tt = time.time() - t
        theirs = c / (f"{name}.autocast.{prec}.onnx" if prec != "int8" else f"{name}.modelopt.int8.onnx")
        for tool, path, dt in (("trtperf", mine, tt), ("modelopt", theirs, times.get(f"{name}:{prec}", {}).get("time_s"))):
            row = {"model": name, "precision": prec, "tool": tool, "time_s": dt}
            if not path.exists():
                row["valid"] = "not made: " + times.get(f"{name}:{prec}", {}).get("error", "?")[:100]
            else:
                row["valid"] = valid(path)
                if prec != "bf16":
                    row["max_abs"], row["rel_l2"], row["run"] = err(path, feeds, ref)
                if prec in ("fp16", "bf16"):
                    try:
                        r = overflow_report(path, src, prec, feeds)
                        row["overflow_tensors"] = len(r.overflows)
                    except Exception as e:
                        row["overflow_tensors"] = "probe failed: " + str(e).strip().splitlines()[0][:60]
                m = onnx.load(str(path))
                row["nodes"] = len(m.graph.node)
                row["casts"] = sum(n.op_type == "Cast" for n in m.graph.node)
                row["qdq"] = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in m.graph.node)
            rows.append(row); print(json.dumps(row), flush=True)
prev = c / "results.json"
old = json.loads(prev.read_text()) if prev.exists() else []
old = [r for r in old if r["model"] not in sys.argv[1:]] + rows
prev.write_text(json.dumps(old, indent=1))
