import onnx, sys, warnings
from pathlib import Path
warnings.simplefilter("ignore")
c = Path("/tmp/wt11b-scratch/cmp")
COMPUTE = {"MatMul", "Gemm", "Conv", "Einsum"}
for name in sys.argv[1:]:
    for prec, low in (("fp16", 10), ("bf16", 16)):
        out = []
        for tool in ("trtperf", "autocast"):
            p = c / f"{name}.{tool}.{prec}.onnx"
            if not p.exists(): out.append(f"{tool}: -"); continue
            m = onnx.shape_inference.infer_shapes(onnx.load(str(p)))
            t = {v.name: v.type.tensor_type.elem_type for v in (*m.graph.value_info, *m.graph.output)}
            nodes = [n for n in m.graph.node if n.op_type != "Cast"]
            lowc = [n for n in nodes if n.output and t.get(n.output[0]) == low]
            comp = [n for n in nodes if n.op_type in COMPUTE]
            lowcomp = [n for n in comp if t.get(n.output[0]) == low]
            out.append(f"{tool}: low nodes {len(lowc)}/{len(nodes)}, low MatMul/Gemm/Conv {len(lowcomp)}/{len(comp)}")
        print(name, prec, " | ".join(out))
