"""The summary's "vs torch" column (speed-up over torch eager) and its throttling mark."""

from __future__ import annotations

from typing import Any

from trtperf.cases import Case
from trtperf.record.results import (
    SUMMARY_HEADER,
    VS_TORCH,
    CaseResult,
    render_summary,
    speedups_vs_torch,
    summary_rows,
)


def _result(backend: str, median_ms: float, precision: str = "fp16", batch: int = 8, streams: int = 1,
            device: str = "nvidia-h200", **environment: Any) -> CaseResult:
    return CaseResult(case=Case("cnn", backend, precision, batch, streams), stats={"median_ms": median_ms,
                      "p99_ms": median_ms * 1.1}, environment=dict(environment), device={"slug": device})


def test_speedup_is_eager_median_over_case_median_within_the_same_model_precision_batch_streams() -> None:
    results = [
        _result("torch", 0.62), _result("torch_compile", 0.31), _result("tensorrt", 0.155),
        _result("tensorrt", 0.5, batch=1),  # no torch eager result at batch 1 in this run
        _result("tensorrt", 0.2, precision="fp32"),  # nor at fp32
        _result("torch", 1.0, streams=2), _result("tensorrt", 0.25, streams=2),
    ]
    speedups = speedups_vs_torch(results)
    assert speedups == {
        "cnn[torch-fp16-b8-s1]": 1.0,
        "cnn[torch_compile-fp16-b8-s1]": 2.0,
        "cnn[tensorrt-fp16-b8-s1]": 4.0,
        "cnn[torch-fp16-b8-s2]": 1.0,
        "cnn[tensorrt-fp16-b8-s2]": 4.0,
    }


def test_untimed_cases_have_no_speedup() -> None:
    untimed = CaseResult(case=Case("cnn", "tensorrt", "fp16", 8, 1))
    assert speedups_vs_torch([_result("torch", 0.62), untimed]) == {"cnn[torch-fp16-b8-s1]": 1.0}
    assert speedups_vs_torch([CaseResult(case=Case("cnn", "torch", "fp16", 8, 1)), _result("tensorrt", 0.1)]) == {}


def test_summary_shows_the_column_and_marks_throttled_gpu_results() -> None:
    rows = summary_rows([_result("torch", 0.62), _result("tensorrt", 0.155, gpu_clocks={"throttled": True}),
                         _result("onnxruntime", 3.0, precision="fp32")])
    column = SUMMARY_HEADER.index(VS_TORCH)
    by_case = {row[0]: row for row in rows}
    assert by_case["cnn[tensorrt-fp16-b8-s1]"][column] == "4.00x"
    assert by_case["cnn[torch-fp16-b8-s1]"][column] == "1.00x"
    assert by_case["cnn[onnxruntime-fp32-b8-s1]"][column] == "-"
    assert by_case["cnn[tensorrt-fp16-b8-s1]"][-1].endswith("(throttled)")
    assert not by_case["cnn[torch-fp16-b8-s1]"][-1].endswith("(throttled)")
    text = render_summary(iter([_result("torch", 0.62), _result("torch_compile", 0.31)]))
    assert "vs torch (same device)" in text and "2.00x" in text


def test_no_speedup_across_devices() -> None:
    """Issue 14: onnxruntime on the CPU showed "0.07x" against torch on the GPU."""
    results = [_result("torch", 0.62), _result("onnxruntime", 8.9, device="cpu-amd-epyc"), _result("tensorrt", 0.31)]
    assert speedups_vs_torch(results) == {"cnn[torch-fp16-b8-s1]": 1.0, "cnn[tensorrt-fp16-b8-s1]": 2.0}
