"""Run in /tmp/modelopt-venv: ModelOpt AutoCast fp16/bf16 (and int8 quantize) variants of the scratch models."""
import json, sys, time, logging, numpy as np, onnx
from pathlib import Path
logging.disable(logging.WARNING)
from modelopt.onnx.autocast import convert_to_mixed_precision
out = {}
d = Path("/tmp/wt11b-scratch")
for name in sys.argv[1:]:
    src = d / f"{name}.onnx"
    calib = d / "cmp" / f"{name}.calib.npz"
    for prec in ("fp16", "bf16"):
        t = time.time()
        try:
            m = convert_to_mixed_precision(str(src), low_precision_type=prec, keep_io_types=True, calibration_data=str(calib))
            dt = time.time() - t
            onnx.save(m, str(d / "cmp" / f"{name}.autocast.{prec}.onnx"))
            out[f"{name}:{prec}"] = {"time_s": dt}
        except Exception as e:
            out[f"{name}:{prec}"] = {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"}
        print(name, prec, out[f"{name}:{prec}"], flush=True)
    if "int8" in sys.argv[0:1] or True:
        t = time.time()
        try:
            from modelopt.onnx.quantization import quantize
            data = dict(np.load(calib))
            quantize(str(src), "int8", calibration_data=data, calibration_eps=["cpu"], output_path=str(d / "cmp" / f"{name}.modelopt.int8.onnx"), log_level="ERROR", high_precision_dtype="fp32")
            out[f"{name}:int8"] = {"time_s": time.time() - t}
        except Exception as e:
            out[f"{name}:int8"] = {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"}
        print(name, "int8", out[f"{name}:int8"], flush=True)
prev = d / "cmp" / "autocast_times.json"
old = json.loads(prev.read_text()) if prev.exists() else {}
old.update(out)
prev.write_text(json.dumps(old, indent=1))
