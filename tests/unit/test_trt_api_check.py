"""Verification layer (c): every TensorRT name the backend uses exists in TensorRT-RTX (stubs) and
in the real TensorRT 10.x and 11.x binding wheels (names extracted into tests/data/trt_api)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_trt_api", ROOT / "scripts" / "check_trt_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_trt_api"] = module
    spec.loader.exec_module(module)
    return module


def test_every_tensorrt_name_the_backend_uses_exists_in_10x_11x_and_rtx(
    checker: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    apis = checker.load_names_files()
    assert {name.split("-")[1] for name in apis} == {"cu12", "cu13"}, apis.keys()  # 10.x and 11.x wheels
    assert checker.check() == 0, capsys.readouterr().out
    direct, _ = checker.tensorrt_names(checker.used_names(), checker.stub_names())
    # The core of the build and run path is among the checked names.
    assert {"OnnxParser", "build_serialized_network", "set_input_shape", "set_tensor_address", "execute_async_v3",
            "engine_host_code_allowed", "create_engine_inspector", "set_timing_cache"} <= direct


def test_a_name_missing_from_full_tensorrt_is_reported(checker: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "uses.py"
    # is_stream_capturable and set_compute_capability exist only in TensorRT-RTX.
    source.write_text("ctx.is_stream_capturable(s)\nconfig.set_compute_capability(x)\n"
                      "ok = hasattr(trt, 'ComputeCapability')\nbuilder.build_serialized_network(n, c)\n")
    direct, probes = checker.tensorrt_names(checker.used_names([source]), checker.stub_names())
    missing = checker.missing_names(direct, checker.load_names_files())
    assert probes == {"ComputeCapability"}  # a feature test may be missing anywhere
    assert set(missing) == set(checker.load_names_files())
    assert all(names == ["is_stream_capturable", "set_compute_capability"] for names in missing.values())


def test_linker_merged_strings_count_as_bound(checker: ModuleType) -> None:
    strings = {"IBuilder", "INTERNAL_ERROR", "set_input_shape"}
    assert checker.bound("Builder", strings) and checker.bound("ERROR", strings)
    assert checker.bound("set_input_shape", strings) and not checker.bound("execute_async_v3", strings)


def test_stub_fixups_make_valid_python(checker: ModuleType) -> None:
    text = ("def f(self, in: int, out: int) -> None: ...\n"
            "def add_scale_nd(self, input: ITensor, mode: ScaleMode, shift: Weights = None, scale: Weights = None, "
            "power: Weights = None, channel_axis: typing.SupportsInt) -> IScaleLayer: ...\n")
    compile(checker.fix_stub_text(text), "stub.pyi", "exec")
    assert (ROOT / "typings" / "tensorrt_rtx_bindings" / "tensorrt_rtx.pyi").exists()
