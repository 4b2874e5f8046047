"""Stage 1: torch.nn.Module -> fp32 ONNX with a dynamic batch axis, cached by content."""

from __future__ import annotations

import logging
import os
import re
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.code_digest import weights_digest
from trtperf.errors import ExportError
from trtperf.spec import ModelSpec

if TYPE_CHECKING:
    import torch

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def export_key_parts(spec: ModelSpec, module: torch.nn.Module) -> dict[str, Any]:
    import torch

    return {
        "model": spec.name,
        "weights": weights_digest(module),
        "source": spec.source_digest(module),
        "torch": torch.__version__,
        "opset": spec.opset,
        "max_batch": spec.max_batch,
        "inputs": [[i.name, list(i.shape), i.dtype] for i in spec.inputs],
        "outputs": list(spec.outputs),
        **({"dims": {axis: list(spec.dim_range(axis)) for axis in sorted(spec.dims)}} if spec.dims else {}),
    }


def example_dims(spec: ModelSpec) -> dict[str, int]:
    """Named axes' example values for torch.export: the smallest declared value of at least 2
    (torch.export specializes sizes 0 and 1), within the declared range."""
    out = {}
    for axis in spec.dims:
        low, high = spec.dim_range(axis)
        out[axis] = min(max(low, 2), high)
    return out


def dynamic_shapes_for(spec: ModelSpec) -> tuple[dict[int, Any], ...]:
    """Per input (positionally), a ``torch.export.Dim`` for the batch axis and each named axis.

    Each axis name maps to one Dim shared by every input using it; a named axis whose declared
    values are all the same stays static.
    """
    import torch

    # An example batch of 2: torch.export specializes sizes 0 and 1.
    dims: dict[str, Any] = {"batch": torch.export.Dim("batch", min=1, max=spec.max_batch)}
    for axis in spec.dims:
        low, high = spec.dim_range(axis)
        if low < high:
            dims[axis] = torch.export.Dim(axis, min=low, max=high)
    return tuple({index: dims[d] for index, d in enumerate(i.shape) if isinstance(d, str) and d in dims}
                 for i in spec.inputs)


def example_inputs(spec: ModelSpec, batch: int) -> tuple[torch.Tensor, ...]:
    import torch

    from trtperf.inputs import make_inputs

    arrays = make_inputs(spec, batch, seed=spec.seed, dims=example_dims(spec))
    return tuple(torch.from_numpy(arrays[i.name]) for i in spec.inputs)


def _export(module: torch.nn.Module, args: tuple[torch.Tensor, ...], spec: ModelSpec,
            dynamic_shapes: tuple[dict[int, Any], ...]) -> Any:
    import torch

    return torch.onnx.export(
        module,
        args,
        input_names=[i.name for i in spec.inputs],
        output_names=list(spec.outputs),
        dynamic_shapes=dynamic_shapes,
        opset_version=spec.opset,
        dynamo=True,
        external_data=False,
        verbose=False,
    )


@contextmanager
def _quiet_exporter_logs() -> Iterator[None]:
    """Two of torch's loggers are off during the export:

    - the structured-trace logger (``torch.__trace``, for tlparse) logs at DEBUG whenever it has handlers;
      pytest's log capture gives it some, so a failed case showed hundreds of empty DEBUG lines (kept when
      ``TORCH_TRACE`` asks for the trace);
    - the ONNX op registry warns "torchvision is not installed. Skipping torchvision::nms" for four ops at
      every export where torchvision is missing (as on a CPU-only torch): nothing a model needs from it."""
    loggers = [logging.getLogger("torch.onnx._internal.exporter._registration")]
    if not os.environ.get("TORCH_TRACE"):
        loggers.append(logging.getLogger("torch.__trace"))
    levels = [log.level for log in loggers]
    loggers[0].setLevel(logging.ERROR)
    for log in loggers[1:]:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def export_onnx(spec: ModelSpec, module: torch.nn.Module, target: Path) -> None:
    """Export with torch.export (dynamo): a symbolic batch dimension shared by every input, and one
    symbolic dimension per named axis (bounded by its declared values)."""
    # An example batch of 2: torch.export specializes sizes 0 and 1.
    args = example_inputs(spec, 2)
    # Positional, so declared input names need not match forward()'s parameter names.
    dynamic_shapes = dynamic_shapes_for(spec)
    try:
        with warnings.catch_warnings(), _quiet_exporter_logs():
            # The exporter's own deprecation notices are not actionable by trtperf's users.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            program = _export(module, args, spec, dynamic_shapes)
        if program is None:
            raise RuntimeError("torch.onnx.export returned no program")
    except OSError as exc:
        raise _file_error(spec, target, "exporting", exc) from exc
    except Exception as exc:
        if _caused_by_oserror(exc):
            raise _file_error(spec, target, "exporting", exc) from exc
        detail = _ANSI.sub("", "".join(traceback.format_exception_only(type(exc), exc)).strip())
        raise ExportError(
            f"model {spec.name!r}: torch -> ONNX export failed.\nexporter said: {detail}\n"
            f"Fix the model's forward() for torch.export (see "
            f"https://pytorch.org/docs/stable/export.html) or its declared inputs."
        ) from exc
    try:
        program.save(str(target), external_data=False)
    except OSError as exc:
        raise _file_error(spec, target, "writing", exc) from exc
    except Exception as exc:
        # The ONNX serializer wraps some file errors (e.g. a full disk) in its own types.
        if _caused_by_oserror(exc):
            raise _file_error(spec, target, "writing", exc) from exc
        raise
    _check_exported(spec, target)


def _caused_by_oserror(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _file_error(spec: ModelSpec, target: Path, doing: str, exc: BaseException) -> ExportError:
    """An OSError while exporting is the disk's or the permissions' fault, never the model's."""
    return ExportError(
        f"model {spec.name!r}: {doing} the ONNX export to {target} failed with a file system error: "
        f"{type(exc).__name__}: {exc}. This is not a fault of the model: free disk space or fix the permissions "
        f"of {target.parent} (move the cache with --trtperf-cache-dir)."
    )


def _check_exported(spec: ModelSpec, path: Path) -> None:
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    got_inputs = [i.name for i in model.graph.input]
    got_outputs = [o.name for o in model.graph.output]
    want_inputs = [i.name for i in spec.inputs]
    if got_inputs != want_inputs or got_outputs != list(spec.outputs):
        raise ExportError(
            f"model {spec.name!r}: exported ONNX has inputs {got_inputs} and outputs {got_outputs}, but "
            f"the declaration says {want_inputs} and {list(spec.outputs)}; make outputs= match what "
            f"forward() returns."
        )


def export_cached(spec: ModelSpec, cache: ArtifactCache) -> CacheEntry:
    """The cached fp32 ONNX for ``spec`` (exported on first use)."""
    keyed = spec.key_module()
    # The pristine module is only read; one that was not kept (too large, not copyable) is this call's own.
    return cache.get_or_create(
        "onnx",
        export_key_parts(spec, keyed),
        lambda tmp: export_onnx(spec, spec.build_module() if spec.is_pristine(keyed) else keyed, tmp),
        suffix=".onnx",
        describe=f"ONNX export of {spec.name}",
    )
