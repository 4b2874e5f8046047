"""Which TensorRT is installed: ``tensorrt`` 10.x, ``tensorrt`` 11.x or TensorRT-RTX.

Decided by feature tests on the imported module, not by version numbers alone: TensorRT-RTX's
version ("1.7.1.116") is not comparable with TensorRT's ("11.4.0.106"), and the differences that
matter to trtperf are API facts (reference/tensorrt-api.md section 1):

- TensorRT 10.x still has weak typing (``BuilderFlag.FP16`` exists): the network must be created
  with ``STRONGLY_TYPED`` so the precision comes from the ONNX graph, as on 11.x and RTX.
- TensorRT-RTX builds without a GPU, its engines are portable across GPUs (kernels are compiled
  on the target at run time), and its timing-cache calls are deprecated no-ops.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

TENSORRT = "tensorrt"
TENSORRT_RTX = "tensorrt_rtx"
FLAVOUR_CHOICES = ("auto", TENSORRT, TENSORRT_RTX)

# Import names per flavour, in order: the meta package re-exports the bindings module, and an
# install of only the -libs/-bindings wheels has just the bindings name.
MODULES: dict[str, tuple[str, ...]] = {
    TENSORRT: ("tensorrt", "tensorrt_bindings"),
    TENSORRT_RTX: ("tensorrt_rtx", "tensorrt_rtx_bindings"),
}

INSTALL_HINT = (
    "install TensorRT (pip install 'tensorrt-cu13' or 'tensorrt-cu12', with a CUDA GPU) or TensorRT-RTX "
    "(pip install tensorrt-rtx-cu13-libs tensorrt-rtx-cu13-bindings; its builder also runs on CPU-only machines)"
)


@dataclass(frozen=True)
class Flavour:
    """The TensorRT that trtperf drives here, and the facts that change how it is driven."""

    kind: str
    """``tensorrt`` or ``tensorrt_rtx``."""
    module_name: str
    version: str
    major: int
    strongly_typed_flag: bool
    """Create the network with ``1 << STRONGLY_TYPED`` (10.x; harmless and ignored on 11.x)."""
    timing_cache: bool
    """The timing cache does something (not on TensorRT-RTX, where the calls are no-ops)."""
    builds_without_gpu: bool
    portable_engines: bool
    """Engines are not tied to the build machine's GPU (RTX: JIT-compiled on the target)."""

    @property
    def label(self) -> str:
        """``tensorrt-10``, ``tensorrt-11`` or ``tensorrt-rtx``: what results and reports show."""
        return "tensorrt-rtx" if self.kind == TENSORRT_RTX else f"tensorrt-{self.major}"

    def to_json(self) -> dict[str, object]:
        return {"flavour": self.label, "module": self.module_name, "version": self.version}


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def describe_module(module: ModuleType, module_name: str) -> Flavour:
    """The flavour of an imported TensorRT module, from the names it binds."""
    version = str(getattr(module, "__version__", "0"))
    config = getattr(module, "IBuilderConfig", None)
    is_rtx = hasattr(module, "ComputeCapability") and hasattr(config, "set_compute_capability")
    builder_flag = getattr(module, "BuilderFlag", None)
    weakly_typed = hasattr(builder_flag, "FP16")  # removed in 11.0 and absent in RTX
    return Flavour(
        kind=TENSORRT_RTX if is_rtx else TENSORRT,
        module_name=module_name,
        version=version,
        major=_major(version),
        strongly_typed_flag=weakly_typed,
        timing_cache=not is_rtx,
        builds_without_gpu=is_rtx,
        portable_engines=is_rtx,
    )


def _import_first(names: Sequence[str]) -> tuple[ModuleType, str] | str:
    """The first importable module of ``names``, or why none imports."""
    problems = []
    for name in names:
        try:
            return importlib.import_module(name), name
        except Exception as exc:  # a broken install raises OSError or RuntimeError too
            problems.append(f"import {name}: {type(exc).__name__}: {exc}")
    return "; ".join(problems)


def detect(choice: str = "auto") -> tuple[Flavour, ModuleType] | str:
    """The flavour to use for ``choice`` (``auto`` prefers full TensorRT), or why none can be used."""
    if choice not in FLAVOUR_CHOICES:
        return f"unknown TensorRT flavour {choice!r}; choose one of {', '.join(FLAVOUR_CHOICES)}"
    kinds = (TENSORRT, TENSORRT_RTX) if choice == "auto" else (choice,)
    problems = []
    for kind in kinds:
        found = _import_first(MODULES[kind])
        if isinstance(found, str):
            problems.append(found)
            continue
        module, name = found
        flavour = describe_module(module, name)
        if flavour.kind != kind:
            problems.append(f"{name} is {flavour.label}, not {kind}")
            continue
        return flavour, module
    return f"no usable TensorRT ({'; '.join(problems)}); {INSTALL_HINT}"
