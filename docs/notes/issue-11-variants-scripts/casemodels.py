import importlib.util, sys
from pathlib import Path
from trtperf.spec import load_suite
from trtperf.export import export_onnx
def case_specs(fname):
    return load_suite(Path("/work/shared/cases") / fname)
if __name__ == "__main__":
    for f in sys.argv[1:]:
        for s in case_specs(f):
            p = Path(f"/tmp/wt11b-scratch/{s.name}.onnx")
            if not p.exists(): export_onnx(s, s.build_module(), p)
            print(s.name, p)
