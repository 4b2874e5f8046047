"""Flavour detection by feature tests: TensorRT 10.x, 11.x and TensorRT-RTX."""

from __future__ import annotations

from types import ModuleType, SimpleNamespace

import pytest

from trtperf.trt.flavour import TENSORRT, TENSORRT_RTX, describe_module, detect


def fake_module(version: str, *, fp16_flag: bool, rtx: bool) -> ModuleType:
    module = ModuleType("fake_tensorrt")
    module.__version__ = version  # type: ignore[attr-defined]
    module.BuilderFlag = SimpleNamespace(TF32=1, **({"FP16": 0} if fp16_flag else {}))  # type: ignore[attr-defined]
    config = SimpleNamespace(**({"set_compute_capability": lambda *a: None} if rtx else {}))
    module.IBuilderConfig = config  # type: ignore[attr-defined]
    if rtx:
        module.ComputeCapability = SimpleNamespace(NONE=0)  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize(
    ("version", "fp16_flag", "rtx", "label", "strongly_typed_flag", "timing_cache", "without_gpu"),
    [
        ("10.16.1.11", True, False, "tensorrt-10", True, True, False),  # weakly typed by default
        ("11.4.0.106", False, False, "tensorrt-11", False, True, False),  # strongly typed always
        ("1.7.1.116", False, True, "tensorrt-rtx", False, False, True),  # no timing cache, CPU builds
    ],
)
def test_flavour_facts_come_from_the_module(
    version: str, fp16_flag: bool, rtx: bool, label: str, strongly_typed_flag: bool, timing_cache: bool,
    without_gpu: bool,
) -> None:
    flavour = describe_module(fake_module(version, fp16_flag=fp16_flag, rtx=rtx), "fake_tensorrt")
    assert flavour.label == label
    assert flavour.kind == (TENSORRT_RTX if rtx else TENSORRT)
    assert flavour.strongly_typed_flag is strongly_typed_flag
    assert flavour.timing_cache is timing_cache
    assert flavour.builds_without_gpu is without_gpu
    assert flavour.portable_engines is rtx
    assert flavour.to_json() == {"flavour": label, "module": "fake_tensorrt", "version": version}


def test_unknown_choice_is_refused() -> None:
    reason = detect("tensorrt-12")
    assert isinstance(reason, str) and "unknown TensorRT flavour" in reason


def test_installed_tensorrt_rtx_is_detected() -> None:
    found = detect(TENSORRT_RTX)
    assert not isinstance(found, str), found
    flavour, module = found
    assert flavour.label == "tensorrt-rtx" and flavour.module_name in ("tensorrt_rtx", "tensorrt_rtx_bindings")
    assert flavour.version == module.__version__


def test_missing_full_tensorrt_gives_the_install_hint() -> None:
    pytest.importorskip("tensorrt_rtx_bindings")
    try:
        import tensorrt  # noqa: F401
    except Exception:
        pass
    else:
        pytest.skip("full TensorRT is importable here")
    reason = detect(TENSORRT)
    assert isinstance(reason, str)
    assert "import tensorrt" in reason and "pip install" in reason
