import numpy as np, onnx, warnings
from onnx import TensorProto as TP, helper as h, numpy_helper as nh
from onnxconverter_common.float16 import convert_float_to_float16
from trtperf.precision import cast
warnings.simplefilter("ignore")
def model(nodes, inits, inputs, outputs=(("y", TP.FLOAT, ["b", 4]),), opset=18):
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                     [h.make_tensor_value_info(n, t, s) for n, t, s in outputs], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
f = lambda name, v: nh.from_array(np.asarray(v, np.float32), name)
i64 = lambda name, v: nh.from_array(np.asarray(v, np.int64), name)
X = ("x", TP.FLOAT, ["b", 4])
cases = {
 "range_float": model([h.make_node("Shape", ["x"], ["s"], start=1), h.make_node("Squeeze", ["s"], ["n"]), h.make_node("Cast", ["n"], ["nf"], to=TP.FLOAT),
                       h.make_node("Range", ["zero", "nf", "one"], ["r"]), h.make_node("Add", ["x", "r"], ["y"])], [f("zero", 0.0), f("one", 1.0)], [X]),
 "const_of_shape": model([h.make_node("Shape", ["x"], ["s"]), h.make_node("ConstantOfShape", ["s"], ["c"], value=h.make_tensor("v", TP.FLOAT, [1], [0.5])),
                          h.make_node("Mul", ["x", "c"], ["y"])], [], [X]),
 "resize_scales_const": model([h.make_node("Unsqueeze", ["x", "ax"], ["x4"]), h.make_node("Constant", [], ["sc"], value=h.make_tensor("sc", TP.FLOAT, [4], [1, 1, 1, 2])),
                                h.make_node("Resize", ["x4", "", "sc"], ["r"], mode="nearest"), h.make_node("Squeeze", ["r", "ax"], ["y"])], [i64("ax", [0, 1])], [X], (("y", TP.FLOAT, ["b", 8]),)),
 "constant_node": model([h.make_node("Constant", [], ["c"], value=h.make_tensor("c", TP.FLOAT, [4], [1, 2, 3, 4])), h.make_node("Mul", ["x", "c"], ["y"])], [], [X]),
 "where_int_cond": model([h.make_node("Greater", ["x", "z"], ["c"]), h.make_node("Where", ["c", "x", "z"], ["y"])], [f("z", 0.0)], [X]),
 "cast_bool": model([h.make_node("Greater", ["x", "z"], ["c"]), h.make_node("Cast", ["c"], ["cf"], to=TP.FLOAT), h.make_node("Mul", ["x", "cf"], ["y"])], [f("z", 0.0)], [X]),
 "shared_init": model([h.make_node("LayerNormalization", ["x", "g", "zb"], ["ln"], axis=-1), h.make_node("MatMul", ["ln", "W"], ["m"]), h.make_node("Add", ["m", "zb"], ["y"])],
                      [f("g", np.ones(4)), f("zb", np.zeros(4)), f("W", np.eye(4))], [X]),
 "einsum": model([h.make_node("Einsum", ["x", "x"], ["y"], equation="bi,bj->bij")], [], [X], (("y", TP.FLOAT, ["b", 4, 4]),)),
 "eyelike": model([h.make_node("MatMul", ["x", "W"], ["m"]), h.make_node("EyeLike", ["W"], ["e"], dtype=TP.FLOAT), h.make_node("MatMul", ["m", "e"], ["y"])], [f("W", np.eye(4))], [X]),
 "cumsum": model([h.make_node("CumSum", ["x", "ax"], ["y"])], [i64("ax", 1)], [X]),
}
for name, m in cases.items():
    onnx.checker.check_model(m, full_check=True)
    res = []
    for label, fn in (("raw", lambda m: (cast._name_nodes(m), convert_float_to_float16(m, keep_io_types=True))[1]), ("fp16", lambda m: cast.to_fp16(m)[0]), ("bf16", lambda m: cast.to_bf16(m)[0])):
        try:
            v = fn(onnx.load_from_string(m.SerializeToString()))
            onnx.checker.check_model(v, full_check=True); res.append(f"{label}=ok")
        except Exception as e:
            res.append(f"{label}=BAD({str(e).strip().splitlines()[-1][:120]})")
    print(f"{name:20s}", " ".join(res))
