"""The README documents every option (its table is the user's reference)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trtperf.config import OPTIONS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("option", [o.cli for o in OPTIONS])
def test_every_option_is_in_the_readme(option: str) -> None:
    short = f"-{option}`" if option in ("precision", "batch", "streams") else f"--trtperf-{option}`"
    assert short in README, f"README's options table lacks --trtperf-{option}"


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start)
    return README[start:end]


def test_the_input_examples_declare_what_they_say() -> None:
    import re

    from torch import nn

    import trtperf
    from trtperf.cases import expand_cases

    blocks = re.findall(r"```python\n(.*?)```", _section("### Inputs"), re.S)
    assert len(blocks) == 2
    namespace: dict[str, object] = {"trtperf": trtperf, "nn": nn}
    exec(blocks[0], namespace)  # every InputSpec line is valid
    exec(blocks[1], namespace)  # the named-axis declaration
    bert = namespace["bert"]
    assert isinstance(bert, trtperf.ModelSpec)
    assert bert.dims == {"seq": (128, 512)}
    keys = [c.key for c in expand_cases(bert, ["tensorrt"])]
    assert keys == ["bert[tensorrt-fp16-b8-seq128-s1]", "bert[tensorrt-fp16-b8-seq512-s1]"]
    assert "`bert[tensorrt-fp16-b8-seq128-s1]`" in README


def test_the_onnx_example_declares_what_it_says(tmp_path: Path) -> None:
    import re

    import trtperf

    block = re.findall(r"```python\n(.*?)```", _section("### From an ONNX file"), re.S)[0]
    namespace: dict[str, object] = {"__name__": "suite", "__file__": str(tmp_path / "test_detector.py")}
    exec(block, namespace)  # the files need not exist to declare; their cases fail naming them
    detector, encoder = namespace["detector"], namespace["encoder"]
    assert isinstance(detector, trtperf.ModelSpec) and isinstance(encoder, trtperf.ModelSpec)
    assert detector.name == "detector" and detector.onnx == tmp_path / "models" / "detector.onnx"
    assert detector.precisions == ("fp32", "fp16", "int8") and detector.declared_in == "suite"
    assert encoder.dims == {"sequence": (128, 512)} and encoder.precisions == ("fp32",)


def test_the_fixture_example_names_the_real_fixtures() -> None:
    from trtperf import pytest_fixtures

    section = _section("## In your own tests")
    for name in ("trtperf_build", "trtperf_benchmark"):
        assert "def test_" in section and f"({name})" in section
        assert callable(getattr(pytest_fixtures, name))
