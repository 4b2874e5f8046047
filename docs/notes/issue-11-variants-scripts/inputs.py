"""wt11b venv: write each scratch model's case inputs (batch 2, seed 0) as npz for calibration and evaluation."""
import sys, numpy as np
from pathlib import Path
sys.path.insert(0, "/tmp/wt11b-scratch")
from zoo import export as zexport
from casemodels import case_specs
from trtperf.inputs import make_inputs
specs = {}
for f in ("fp16_layernorm_overflow.py", "fp16_int_to_float_cast.py"):
    for s in case_specs(f): specs[s.name] = s
for n in ("bert", "gpt2", "vit", "segformer", "resnet"):
    specs[n] = zexport(n, True)[0]
for n in sys.argv[1:]:
    if n.endswith("_full"):
        specs[n] = zexport(n[:-5], False)[0]
for n, s in specs.items():
    b = 1 if n.endswith("_full") else 2
    np.savez(f"/tmp/wt11b-scratch/cmp/{n}.inputs.npz", **make_inputs(s, b, 0))
    # calibration draws: another seed (as trtperf's int8 calibration avoids the parity inputs)
    np.savez(f"/tmp/wt11b-scratch/cmp/{n}.calib.npz", **make_inputs(s, b, 1234))
print(sorted(specs))
