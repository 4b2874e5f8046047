"""What building a model's module costs a case, with and without the per-process pristine copy.

A case builds its model's module up to three times (the export's cache key, the engine's cache key, and
the torch engine itself); ``ModelSpec.build_module`` now runs the factory once per process and copies a
pristine instance after that (``trtperf.spec.PRISTINE_MODULES``). For each zoo model this prints, side by
side in one run: the factory's own time, a copy's time, and their ratio; and what three builds cost a case
each way. Each of those builds' cache keys hashed the weights (``trtperf.code_digest.weights_digest``). The keys
now read the pristine module itself (``ModelSpec.key_module``), whose digest is remembered, so the ``digest``
columns give three hashes (before) against what a later case of the model pays now (none: a remembered digest
checks the tensors' identities), and a later torch case copies the module once (the engine's own) instead of
three times: the ``later case`` columns, before -> now.

    TRTPERF_ZOO_SIZE=full python bench/module_memo.py --out bench/results/module_memo-cpu
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trtperf.spec  # noqa: E402
from trtperf.code_digest import _hash_weights, weights_digest  # noqa: E402
from trtperf.spec import load_suite  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,mobilenet_v2,vit_b16,segformer_b0,bert_base,gpt2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    specs = {s.name: s for s in load_suite(ROOT / "suites" / "zoo" / "test_zoo.py")}
    rows, lines = [], []
    for name in args.models.split(","):
        spec = specs[name]
        spec.build_module()  # imports and first-use costs out of the way
        factory, copied = [], []
        for _ in range(args.repeats):
            trtperf.spec._PRISTINE.clear()
            started = time.perf_counter()
            spec.build_module()  # the factory runs (and a pristine copy is kept)
            factory.append(time.perf_counter() - started)
            started = time.perf_counter()
            spec.build_module()  # a copy
            copied.append(time.perf_counter() - started)
        hashed, remembered = [], []
        for _ in range(args.repeats):
            module = spec.build_module()
            started = time.perf_counter()
            _hash_weights(module)  # what each key cost before: the whole state dict through SHA-256
            hashed.append(time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(3):
                weights_digest(spec.key_module())  # now: the pristine module's, remembered
            remembered.append(time.perf_counter() - started)
        row = {"model": name, "factory_s": statistics.median(factory), "copy_s": statistics.median(copied),
               "three_digests_before_s": 3 * statistics.median(hashed),
               "three_digests_now_s": statistics.median(remembered)}
        row["later_case_before_s"] = 3 * row["copy_s"] + row["three_digests_before_s"]
        row["later_case_now_s"] = row["copy_s"] + row["three_digests_now_s"]
        row["ratio"] = row["factory_s"] / row["copy_s"]
        row["three_builds_before_s"] = 3 * row["factory_s"]
        row["three_builds_now_s"] = row["factory_s"] + 2 * row["copy_s"]  # the first case of a model; later ones copy
        rows.append(row)
        lines.append(f"{name:14} factory {row['factory_s']:6.2f} s  copy {row['copy_s']:5.2f} s  ratio "
                     f"{row['ratio']:5.1f}x  3 builds: {row['three_builds_before_s']:5.2f} s -> "
                     f"{row['three_builds_now_s']:5.2f} s  3 digests: {row['three_digests_before_s']:5.2f} s -> "
                     f"{row['three_digests_now_s']:6.4f} s  later case: {row['later_case_before_s']:5.2f} s -> "
                     f"{row['later_case_now_s']:5.2f} s")
        print(lines[-1], flush=True)
    if args.out:
        meta = {"machine": platform.machine(), "python": platform.python_version(), "argv": sys.argv[1:]}
        args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
        args.out.with_suffix(".txt").write_text(json.dumps(meta) + "\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
