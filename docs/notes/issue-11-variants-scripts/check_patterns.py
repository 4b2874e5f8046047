import sys, onnx, numpy as np, warnings
from patterns import PATTERNS, export
from trtperf.backends.onnxruntime import reference_session, run_session
from trtperf.inputs import make_inputs
import importlib
conv_mod = sys.argv[1] if len(sys.argv) > 1 else "trtperf.precision.cast"
cast = importlib.import_module(conv_mod)
names = sys.argv[2:] or list(PATTERNS)
for name in names:
    spec, path = export(name)
    feeds = make_inputs(spec, 2, 0)
    ref = run_session(reference_session(path), feeds)["y"]
    for conv in ("to_fp16", "to_bf16"):
        v, _ = getattr(cast, conv)(onnx.load(str(path)))
        status = "ok"
        try:
            onnx.checker.check_model(v, full_check=True)
        except Exception as e:
            status = "INVALID " + str(e).strip().splitlines()[0][:200]
        run = ""
        if conv == "to_fp16":
            try:
                onnx.save(v, "/tmp/wt11b-scratch/v.onnx")
                got = run_session(reference_session("/tmp/wt11b-scratch/v.onnx"), feeds)["y"]
                fin = np.isfinite(ref)
                err = float(np.max(np.abs(got[fin] - ref[fin]))) if fin.any() else 0.0
                run = f"ort maxerr {err:.3g} nan {int(np.isnan(got).sum())}/{int(np.isnan(ref).sum())}"
            except Exception as e:
                run = "ORT FAIL " + str(e).strip().splitlines()[0][:150]
        print(f"{name:20s} {conv} {status} {run}", flush=True)
