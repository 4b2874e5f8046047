"""The HTML report (issue 15, item 3): one self-contained file, every plot embedded."""

from __future__ import annotations

import base64
import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from trtperf.cases import Case
from trtperf.record.history import HistoryStore
from trtperf.record.html import ratio_plot, render_html, write_html
from trtperf.record.results import CaseResult
from trtperf.timing.stats import RunSamples, summarize

pytest.importorskip("matplotlib", reason="pip install -e '.[report]'")



def _result(key: str, median_ms: float, baseline_ms: float | None = None, seed: int = 0) -> CaseResult:
    rng = np.random.default_rng(seed)
    runs = [RunSamples(latencies=tuple(median_ms * 1e-3 * (1 + 0.02 * rng.standard_normal(30))), wall_s=0.03,
                       inferences=30) for _ in range(5)]
    case = Case.from_key(key)
    result = CaseResult(case=case, device={"slug": "cpu-x", "name": "x"}, stats=summarize(runs, case.batch).to_json(),
                        parity={"passed": True, "outputs": [{"name": "y", "max_abs": 10.0 ** -(3 + seed % 4),
                                                             "max_rel": 1e-3, "passed": True}]})
    if baseline_ms is not None:
        ratio = median_ms / baseline_ms
        result.baseline = {"stats": {"median_ms": baseline_ms,
                                     "run_medians_ms": [baseline_ms * (1 + 0.01 * i) for i in range(5)]}}
        result.verdict = {"status": "regressed" if ratio > 1.05 else "pass", "ratio": ratio,
                          "ratio_low": ratio * 0.98, "ratio_high": ratio * 1.02}
    return result


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(str(dict(attrs)["src"]))


def test_the_report_is_one_self_contained_file_with_every_plot(tmp_path: Path) -> None:
    results = [_result(f"mlp[{backend}-{precision}-b{batch}-s1]", 1.0 * batch * (0.5 if backend == "onnxruntime"
                                                                                     else 1.0),
                       baseline_ms=1.0 * batch * 0.5 if backend == "onnxruntime" else None, seed=batch)
               for backend in ("onnxruntime", "torch") for precision in ("fp32", "int8") for batch in (16, 2)]
    results = [r for r in results if not (r.case.backend == "torch" and r.case.precision == "int8")]
    history = HistoryStore(tmp_path / "history")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(6):
        history.append([_result("mlp[onnxruntime-fp32-b2-s1]", 1.0 if i < 3 else 1.3, seed=i)], {},
                       commit=f"{i}" * 40, now=start + dt.timedelta(days=i))
    path = tmp_path / "report.html"
    write_html(path, results, history)
    text = path.read_text()
    parser = _Collector()
    parser.feed(text)
    assert "script" not in parser.tags and not re.search(r"(src|href)=\"(?!data:)", text), "nothing external"
    # ratio, run medians, speed-up, two grids (onnxruntime 2 precisions x 2 batches; torch 1 x 2), history
    assert len(parser.images) == 6
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for heading in ("Candidate against baseline", "Speed-up over torch eager", "Precision &times; batch", "History"):
        assert f"<h2>{heading}</h2>" in text
    rows = re.findall(r"<tr class=\"[a-z]*\"><td>([^<]+)</td>", text)
    assert rows.index("mlp[onnxruntime-fp32-b2-s1]") < rows.index("mlp[onnxruntime-fp32-b16-s1]")


def test_a_run_without_baselines_or_torch_still_renders() -> None:
    text = render_html([_result("m[onnxruntime-fp32-b1-s1]", 1.0)])
    assert "<h2>Summary</h2>" in text and "<img" not in text


@pytest.mark.parametrize(("ratios", "labels"), [
    # All regressions between x1.05 and x1.3: the log axis had no labelled tick between decades, and its minor
    # labels repeated ("x1.1", "x1.1", "x1.2", ...).
    ([(1.08, 1.12, 1.15), (1.18, 1.22, 1.3), (1.04, 1.06, 1.09)],
     ["x1.00", "x1.05", "x1.10", "x1.15", "x1.20", "x1.25", "x1.30"]),
    ([(0.999, 1.0005, 1.002)], ["x0.9990", "x0.9995", "x1.0000", "x1.0005", "x1.0010", "x1.0015", "x1.0020"]),
    ([(0.3, 0.5, 0.6), (1.5, 2.5, 4.0)], ["x0.5", "x1.0", "x2.0"]),  # wide: 1-2-5 per decade, x0.5 not x0
])
def test_the_change_plot_has_distinct_labelled_ratio_ticks(ratios: list[tuple[float, float, float]],
                                                           labels: list[str]) -> None:
    results = []
    for i, (low, ratio, high) in enumerate(ratios):
        result = CaseResult(case=Case.from_key(f"m[onnxruntime-fp32-b{i + 1}-s1]"))
        result.verdict = {"ratio": ratio, "ratio_low": low, "ratio_high": high, "status": "regressed"}
        results.append(result)
    figure = ratio_plot(results)
    assert figure is not None
    (ax,) = figure.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert ax.get_xticklabels(minor=True) == []
    assert ax.get_xlabel().startswith("candidate median / baseline median") and ax.get_ylabel() == "case"
    assert [t.get_text() for t in ax.get_yticklabels()] == [r.case.key for r in results]
