"""Graph patterns that might break fp16/bf16 conversion; each a tiny torch module with input x (batch, 8, 16) float and m (batch, 8) int64."""
import sys, math, torch, onnx, numpy as np
import torch.nn.functional as F
from torch import nn
import trtperf
from trtperf import InputSpec
from trtperf.export import export_onnx
from pathlib import Path

class P(nn.Module):
    def __init__(self, fn):
        super().__init__(); self.fn = fn; self.lin = nn.Linear(16, 16)
    def forward(self, x, m):
        return self.fn(self.lin(x), m)

def rope(h, m):
    n = h.shape[1]
    pos = torch.arange(n, dtype=torch.float32, device=h.device)
    inv = 1.0 / (10000 ** (torch.arange(0, 16, 2, dtype=torch.float32) / 16))
    ang = pos[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)
    return h * emb.cos() + h.flip(-1) * emb.sin()

PATTERNS = {
    "int_to_float_cast": lambda h, m: h * m.to(torch.float32)[..., None],
    "bool_to_float_cast": lambda h, m: h * (m > 0).float()[..., None],
    "float_cast_back": lambda h, m: h.float() + 1.0,
    "zeros_like_shape": lambda h, m: h + torch.zeros(h.shape[0], h.shape[1], 16) + torch.full((h.shape[0], 1, 1), 0.5),
    "ones_new": lambda h, m: h * h.new_ones(h.shape),
    "arange_float": lambda h, m: h + torch.arange(h.shape[1], dtype=torch.float32)[:, None],
    "rope": rope,
    "masked_fill_inf": lambda h, m: torch.softmax(h.masked_fill((m == 0)[..., None], float("-inf")), -1),
    "where_scalar": lambda h, m: torch.where(h > 0, h, torch.tensor(0.1)),
    "expand_const": lambda h, m: h + torch.tensor([1.5]).expand(h.shape[0], 8, 16),
    "sqrt_of_dim": lambda h, m: h / math.sqrt(h.shape[-1]) + h / torch.tensor(h.shape[-1]).float().sqrt(),
    "resize_scale": lambda h, m: F.interpolate(h[:, None], scale_factor=2.0, mode="bilinear", align_corners=False)[:, 0],
    "resize_size": lambda h, m: F.interpolate(h[:, None], size=(16, 32), mode="nearest")[:, 0],
    "einsum": lambda h, m: torch.einsum("bij,bkj->bik", h, h),
    "layer_norm": lambda h, m: F.layer_norm(h, (16,)),
    "sdpa_mask": lambda h, m: F.scaled_dot_product_attention(h[:, None], h[:, None], h[:, None], attn_mask=(m > 0)[:, None, None, :]),
    "sdpa_causal": lambda h, m: F.scaled_dot_product_attention(h[:, None], h[:, None], h[:, None], is_causal=True),
    "triu_mask": lambda h, m: torch.softmax(h[..., :8] + torch.triu(torch.full((8, 8), float("-inf")), 1), -1),
    "finfo_min_mask": lambda h, m: h + (1.0 - m.to(h.dtype))[..., None] * torch.finfo(torch.float32).min,
    "clamp": lambda h, m: h.clamp(-0.5, 0.5),
    "gelu_tanh": lambda h, m: F.gelu(h, approximate="tanh"),
    "cumsum": lambda h, m: h.cumsum(1),
    "pow_float_exp": lambda h, m: h.abs() ** 1.5,
    "rsqrt_var": lambda h, m: h * torch.rsqrt(h.var(-1, keepdim=True) + 1e-5),
    "group_norm": lambda h, m: F.group_norm(h, 4),
    "mean_float_div": lambda h, m: h.sum(-1) / (m.sum(-1).to(h.dtype) + 1.0)[:, None],
    "linspace": lambda h, m: h * torch.linspace(0, 1, 16),
    "floor_div": lambda h, m: torch.floor(h * 4) / 4,
    "erf": lambda h, m: torch.erf(h),
    "to_half_explicit": lambda h, m: h.half().float() * 2,
    "max_min_scalar": lambda h, m: torch.maximum(h, torch.tensor(0.0)) + torch.minimum(h, torch.tensor(1.0)),
    "topk_values": lambda h, m: h.topk(3, -1).values,
    "scatter_index_put": lambda h, m: h.index_put((torch.tensor([0]),), torch.tensor(1.0)),
}

INPUTS = [InputSpec("x", ("batch", 8, 16)), InputSpec("m", ("batch", 8), "int64", 0, 2)]

def spec_for(name):
    return trtperf.model(inputs=INPUTS, outputs=["y"], name=name, batches=(2,))(lambda: P(PATTERNS[name]))

def export(name):
    s = spec_for(name)
    p = Path(f"/tmp/wt11b-scratch/pat_{name}.onnx")
    if not p.exists():
        export_onnx(s, s.build_module(), p)
    return s, p

if __name__ == "__main__":
    for n in (sys.argv[1:] or PATTERNS):
        try:
            export(n); print("exported", n, flush=True)
        except Exception as e:
            print("EXPORT FAIL", n, str(e).splitlines()[0][:200], flush=True)
