"""Stage: ONNX precision variants, cached.

TensorRT 11 and TensorRT-RTX have no precision builder flags: the graph carries the precision
(Cast nodes for fp16/bf16, Q/DQ nodes for int8/fp8) and the network is strongly typed. So every
backend gets the same variant ONNX for a precision:

- fp32, tf32: the fp32 ONNX as it is (tf32 is a build setting of the GPU backends).
- fp16, bf16: :mod:`trtperf.precision.cast` (I/O and numerically sensitive ops stay fp32).
- int8, fp8: :mod:`trtperf.precision.quantize` (post-training, symmetric Q/DQ, per-channel weights,
  bias in fp32), calibrated on :mod:`trtperf.precision.calibration` data.
- A model whose ONNX already carries Q/DQ nodes (quantization-aware training) runs as it is at
  its own quantized precision.

TensorRT 10's FP16/BF16/INT8/FP8 builder flags are an explicit opt-in (setting
``trt_precision_flags``): then the tensorrt backend gets the fp32 ONNX and sets the flag itself.

A variant's cache key holds the fp32 ONNX digest, the precision, the recipe version, the versions
of the tools that made it, and (int8/fp8) the calibration data's digest.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.errors import BuildError, PrecisionError, TrtperfUsageError
from trtperf.precision.calibration import CalibrationSet, calibration_set
from trtperf.precisions import precisions_where
from trtperf.spec import ModelSpec
from trtperf.text import plural

PASS_THROUGH = frozenset(precisions_where("none"))
CAST = frozenset(precisions_where("cast"))
QUANTIZED = frozenset(precisions_where("quantize"))
RECIPE_VERSION = 2
"""Bump when a change here changes the variants produced from the same inputs.

2: fp16/bf16 types repaired after conversion (:mod:`trtperf.precision.retype`), ``keep_fp32``,
every variant checked with ``full_check``, bf16 Constant values re-rounded from fp32 (not from the
fp16 values the converter clamped)."""

__all__ = ["CAST", "PASS_THROUGH", "QUANTIZED", "carried_qdq", "invalid_variant_error", "keep_fp32_split",
           "precision_variant", "preflight_range", "tool_versions", "validate_variant"]


def tool_versions() -> dict[str, str]:
    """Versions of the libraries that make variants (part of every variant's cache key)."""
    versions = {}
    for dist in ("onnx", "onnxruntime", "onnxconverter-common", "ml_dtypes"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "absent"
    return versions


@functools.lru_cache(maxsize=64)
def _carried_qdq(path: str, sha256: str) -> frozenset[str]:
    import onnx

    from trtperf.onnx_io import qdq_element_types

    return frozenset(qdq_element_types(onnx.load(path, load_external_data=False)))


def carried_qdq(entry: CacheEntry) -> frozenset[str]:
    """Quantized types of the Q/DQ nodes the fp32 ONNX already carries (empty for a float model)."""
    return _carried_qdq(str(entry.path), str(entry.meta["sha256"]))


def _missing_tool(precision: str, exc: ImportError) -> BuildError:
    return BuildError(f"the {precision} variant needs onnxconverter-common ({exc}); "
                      f"install it: pip install onnxconverter-common")


def _failed(spec: ModelSpec, precision: str, fp32: CacheEntry, exc: Exception) -> BuildError:
    return BuildError(
        f"model {spec.name!r}: making the {precision} ONNX variant of {fp32.path} failed: "
        f"{type(exc).__name__}: {exc}. Declare precisions= without {precision} for this model, "
        f"or report the model to trtperf."
    )


_NODE_IN_ERROR = re.compile(r"op_type:\s*(?P<op>[\w.]+),\s*node name:\s*(?P<node>[^)]*)\)")


def invalid_variant_error(spec: ModelSpec, precision: str, exc: Exception) -> BuildError:
    """The error for a variant that fails ``check_model(full_check=True)``: trtperf's fault, with the workaround."""
    text = str(exc).strip()
    first = next((line.strip() for line in text.splitlines() if "node name" in line), text.splitlines()[0] if text
                 else type(exc).__name__)
    found = _NODE_IN_ERROR.search(text)
    if found:
        op, node = found["op"], found["node"].strip()
        where = f"at node {node!r} ({op})"
        fix = (f"keep that node in fp32: @trtperf.model(..., keep_fp32=[{op!r}]) (every {op}) or "
               f"keep_fp32=[{node!r}] (this node)")
    else:
        where = "(no node named by the checker)"
        fix = "keep the op types around the failure in fp32 with @trtperf.model(..., keep_fp32=[...])"
    return BuildError(
        f"model {spec.name!r}: trtperf's {precision} conversion produced an invalid ONNX variant {where} "
        f"(a trtperf fault, not your model's): {first[:400]}. Workaround: {fix}, or declare precisions= without "
        f"{precision}; please report the model to trtperf."
    )


def validate_variant(spec: ModelSpec, precision: str, model: Any) -> None:
    """``onnx.checker.check_model(full_check=True)`` (strict type and shape inference) on a variant.

    Raises :class:`BuildError` from :func:`invalid_variant_error` when the variant is invalid.
    """
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise invalid_variant_error(spec, precision, exc) from exc


def keep_fp32_split(spec: ModelSpec, model: Any) -> tuple[frozenset[str], frozenset[str]]:
    """``spec.keep_fp32`` as (op types, node names) of ``model``; a usage error for an entry naming neither."""
    ops = {n.op_type for n in model.graph.node}
    nodes = {n.name for n in model.graph.node}
    unknown = [k for k in spec.keep_fp32 if k not in ops and k not in nodes]
    if unknown:
        examples = sorted(nodes)[:5]
        raise TrtperfUsageError(
            f"model {spec.name!r}: keep_fp32 entries {unknown} name no op type or node of its ONNX; op types there: "
            f"{sorted(ops)}; node names look like {examples}"
        )
    return frozenset(k for k in spec.keep_fp32 if k in ops), frozenset(k for k in spec.keep_fp32 if k in nodes)


def _make_cast(spec: ModelSpec, precision: str, source: Path, target: Path) -> dict[str, Any]:
    import onnx

    try:
        from trtperf.precision.cast import to_bf16, to_fp16
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise _missing_tool(precision, exc) from None
    model = onnx.load(str(source))
    ops, nodes = keep_fp32_split(spec, model)
    try:
        variant, notes = (to_fp16 if precision == "fp16" else to_bf16)(model, ops, nodes)
    except ImportError as exc:
        raise _missing_tool(precision, exc) from None
    validate_variant(spec, precision, variant)
    onnx.save(variant, str(target))
    return notes


def _make_quantized(spec: ModelSpec, precision: str, source: Path, target: Path,
                    calib: CalibrationSet) -> dict[str, Any]:
    import onnx

    from trtperf.precision.quantize import quantize_int8, retarget_int8_to_fp8

    notes = quantize_int8(source, target, calib)
    model = onnx.load(str(target))
    if precision == "fp8":
        model = retarget_int8_to_fp8(model)
        notes["tool"] += "; int8 scales retargeted to fp8 E4M3 (x127/448)"
    validate_variant(spec, precision, model)
    onnx.save(model, str(target))
    return notes


def precision_variant(
    spec: ModelSpec,
    fp32: CacheEntry,
    precision: str,
    cache: ArtifactCache,
    *,
    calibration_data: Path | None = None,
    builder_flags: bool = False,
    dims: Mapping[str, int] | None = None,
) -> CacheEntry:
    """The ONNX to build for ``precision`` (the fp32 entry itself where no variant is needed).

    ``calibration_data``: an ``.npz`` calibration set for int8/fp8 (default: drawn from the input
    spec). ``builder_flags``: TensorRT 10 opt-in; the fp32 ONNX is returned and the backend sets
    the precision flag. ``dims``: the case's named-axis values, at which drawn calibration data is made.
    """
    if precision in PASS_THROUGH or builder_flags:
        return fp32
    if precision not in CAST | QUANTIZED:
        raise TrtperfUsageError(f"model {spec.name!r}: unknown precision {precision!r}")
    try:
        carried = carried_qdq(fp32)
    except Exception as exc:
        raise _failed(spec, precision, fp32, exc) from exc
    if carried and precision in QUANTIZED:
        if carried == {precision}:
            return fp32  # quantization-aware training: its own Q/DQ nodes are the variant
        raise BuildError(
            f"model {spec.name!r}: its ONNX already carries {sorted(carried)} Q/DQ nodes (quantization-aware "
            f"training), so trtperf will not re-quantize it to {precision}; declare precisions="
            f"{tuple(sorted(carried & QUANTIZED)) or ('fp32',)} for it."
        )
    parts: dict[str, Any] = {
        "onnx": fp32.meta["sha256"],
        "precision": precision,
        "recipe": RECIPE_VERSION,
        "tools": tool_versions(),
        "keep_fp32": sorted(spec.keep_fp32),
    }
    calib = calibration_set(spec, calibration_data, dims) if precision in QUANTIZED else None
    if calib is not None:
        parts["calibration"] = calib.digest

    def produce(tmp: Path) -> dict[str, Any]:
        try:
            if calib is None:
                return _make_cast(spec, precision, fp32.path, tmp)
            return _make_quantized(spec, precision, fp32.path, tmp, calib)
        except (TrtperfUsageError, BuildError):
            raise
        except Exception as exc:
            raise _failed(spec, precision, fp32, exc) from exc

    return cache.get_or_create("onnx-variant", parts, produce, suffix=".onnx",
                               describe=f"{precision} variant of {spec.name}")


def clamp_note(extra: dict[str, Any], precision: str) -> str | None:
    """A note on constants the conversion clamped into the format's range (from the variant's cache meta)."""
    clamped = extra.get("clamped") or []
    if not clamped:
        return None
    first = clamped[0]
    count = plural(int(extra.get("clamped_count", len(clamped))), "constant")
    return (f"the {precision} conversion clamped {count} to "
            f"+-65504 (e.g. {first['name']!r}: [{first['min']:.4g}, {first['max']:.4g}]): the variant computes with "
            f"the clamped values (a mask of float32's minimum becomes -65504), which the cost check then sees")


OVERFLOW_RECIPE = 1
"""Bump when :mod:`trtperf.precision.overflow` changes what it reports for the same variant and inputs."""
FIX_ROUNDS = 4
"""Rounds of keep_fp32 suggestions tried (each re-converts and re-probes) before suggesting what was found."""


def _range_report(variant: Path, fp32: Path, precision: str, inputs: dict[str, Any]) -> Any:
    from trtperf.precision.overflow import overflow_report

    return overflow_report(variant, fp32, precision, inputs)


def suggest_keep_fp32(spec: ModelSpec, fp32: CacheEntry, precision: str, inputs: dict[str, Any],
                      first: list[str]) -> tuple[list[str], bool]:
    """keep_fp32 entries that bring the variant back into range: (entries, verified).

    Adds the report's :meth:`~trtperf.precision.overflow.OverflowReport.fix` to ``spec.keep_fp32`` and
    re-checks, up to :data:`FIX_ROUNDS` times (keeping a node in fp32 can move the overflow to the next
    node that reads its output). ``verified`` False: the last round still overflowed.
    """
    import tempfile

    import onnx

    from trtperf.precision.cast import to_bf16, to_fp16

    keep = list(spec.keep_fp32) + [f for f in first if f not in spec.keep_fp32]
    model = onnx.load(str(fp32.path))
    with tempfile.TemporaryDirectory(prefix="trtperf-range-") as tmp:
        path = Path(tmp) / "variant.onnx"
        for _ in range(FIX_ROUNDS):
            ops = frozenset(k for k in keep if k in {n.op_type for n in model.graph.node})
            nodes = frozenset(k for k in keep if k in {n.name for n in model.graph.node})
            variant, _ = (to_fp16 if precision == "fp16" else to_bf16)(onnx.load(str(fp32.path)), ops, nodes)
            onnx.save(variant, str(path))
            report = _range_report(path, fp32.path, precision, inputs)
            if report.passed:
                return keep, True
            keep += [f for f in report.fix() if f not in keep]
    return keep, False


def preflight_range(spec: ModelSpec, fp32: CacheEntry, variant: CacheEntry, precision: str,
                    inputs: dict[str, Any], input_key: dict[str, Any], cache: ArtifactCache) -> str | None:
    """The pre-flight range report of an fp16/bf16 variant on the case's inputs (cached).

    Raises :class:`PrecisionError` naming the nodes and outputs whose values leave the format's
    range, with keep_fp32 entries that fix it; returns a note on values that flush to zero (or on a
    report that could not run), else None. ``input_key``: what identifies ``inputs`` (batch, seed, specs).
    """
    import json

    import onnxruntime

    from trtperf.precision.overflow import OverflowReport

    if precision not in CAST or variant.meta["sha256"] == fp32.meta["sha256"]:
        return None
    parts = {"variant": variant.meta["sha256"], "precision": precision, "recipe": OVERFLOW_RECIPE,
             "onnxruntime": onnxruntime.__version__, **input_key}

    def produce(tmp: Path) -> None:
        try:
            data = _range_report(variant.path, fp32.path, precision, inputs).to_json()
        except Exception as exc:  # ONNX Runtime cannot run the probe: say so, do not fail the case for it
            data = {"error": (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]}
        tmp.write_text(json.dumps(data))

    entry = cache.get_or_create("range-report", parts, produce, suffix=".json",
                                describe=f"{precision} range report of {spec.name}")
    data = json.loads(entry.path.read_text())
    if "error" in data:
        return f"{precision} range pre-flight could not run on ONNX Runtime (CPU): {data['error']}"
    report = OverflowReport.from_json(data)
    if report.passed:
        notes = [n for n in (clamp_note(variant.meta.get("extra", {}), precision), report.flush_note()) if n]
        return " | ".join(notes) or None
    keep, verified = suggest_keep_fp32(spec, fp32, precision, inputs, report.fix())
    how = ("with them the variant stays in range on these inputs" if verified else
           f"after {FIX_ROUNDS} rounds some values still overflow: also consider the op types involved")
    raise PrecisionError(
        f"model {spec.name!r}: values of its {precision} variant leave {precision}'s range (found before any engine "
        f"ran, by ONNX Runtime on the CPU with every {precision} tensor checked; ONNX Runtime's own {precision} "
        f"arithmetic runs in fp32 and would not show it, while a GPU engine computing the variant gives inf/NaN):\n"
        f"{report.describe()}\n"
        f"Fix: keep them in float32 with @trtperf.model(..., keep_fp32={keep!r}) ({how}), "
        f"or declare precisions= without {precision}."
    )
