"""Small transformers models from configs as trtperf ModelSpecs, exported by trtperf (dynamo)."""
import sys, time, torch
from pathlib import Path
import trtperf
from trtperf import InputSpec
from trtperf.export import export_onnx

class Wrap(torch.nn.Module):
    def __init__(self, m, names, out):
        super().__init__(); self.m, self.names, self.out = m, names, out
    def forward(self, a):
        return self.m(**{self.names[0]: a}, return_dict=True)[self.out]

class Wrap2(Wrap):
    def forward(self, a, b):
        return self.m(**{self.names[0]: a, self.names[1]: b}, return_dict=True)[self.out]

def specs(small=True):
    import transformers as T
    s = small
    bert = T.BertConfig(hidden_size=64 if s else 768, num_hidden_layers=2 if s else 12, num_attention_heads=4 if s else 12, intermediate_size=128 if s else 3072, vocab_size=1000 if s else 30522)
    gpt = T.GPT2Config(n_embd=64 if s else 768, n_layer=2 if s else 12, n_head=4 if s else 12, vocab_size=1000 if s else 50257, n_positions=128 if s else 1024)
    vit = T.ViTConfig(hidden_size=64 if s else 768, num_hidden_layers=2 if s else 12, num_attention_heads=4 if s else 12, intermediate_size=128 if s else 3072, image_size=64 if s else 224, patch_size=16)
    seg = T.SegformerConfig(hidden_sizes=[16, 32, 40, 64] if s else [32, 64, 160, 256], decoder_hidden_size=64 if s else 256, depths=[1,1,1,1] if s else [2,2,2,2], num_labels=10)
    rn = T.ResNetConfig() if not s else T.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1])
    L = 16 if s else 128; R = 64 if s else 224
    tok = lambda v: [InputSpec("input_ids", ("batch", L), "int64", 0, v), InputSpec("attention_mask", ("batch", L), "int64", 0, 2)]
    img = lambda r: [InputSpec("pixel_values", ("batch", 3, r, r), low=-1, high=1)]
    d = {
        "bert": (lambda: Wrap2(T.BertModel(bert), ["input_ids", "attention_mask"], "last_hidden_state"), tok(bert.vocab_size), "last_hidden_state"),
        "gpt2": (lambda: Wrap2(T.GPT2LMHeadModel(gpt), ["input_ids", "attention_mask"], "logits"), tok(gpt.vocab_size), "logits"),
        "vit": (lambda: Wrap(T.ViTForImageClassification(vit), ["pixel_values"], "logits"), img(vit.image_size), "logits"),
        "segformer": (lambda: Wrap(T.SegformerForSemanticSegmentation(seg), ["pixel_values"], "logits"), img(R if s else 512), "logits"),
        "resnet": (lambda: Wrap(T.ResNetForImageClassification(rn), ["pixel_values"], "logits"), img(R), "logits"),
    }
    return {n: trtperf.model(inputs=inp, outputs=[o], name=n + ("" if s else "_full"), precisions=("fp32", "fp16", "bf16", "int8"))(f) for n, (f, inp, o) in d.items()}

def export(name, small=True, folder="/tmp/wt11b-scratch"):
    spec = specs(small)[name]
    path = Path(folder) / f"{spec.name}.onnx"
    if not path.exists():
        export_onnx(spec, spec.build_module(), path)
    return spec, path

if __name__ == "__main__":
    small = sys.argv[1] == "small"
    for n in sys.argv[2:]:
        t = time.time(); s, p = export(n, small); print(n, p, round(time.time() - t, 1), flush=True)
