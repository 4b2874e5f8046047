"""Settings: CLI > environment > ini > default, the source of every value, and clear errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from trtperf.config import (
    OPTIONS,
    OPTIONS_BY_FIELD,
    Settings,
    _percent,
    _probability,
    default_cache_dir,
    resolve,
    validate_model_settings,
)
from trtperf.errors import TrtperfUsageError


def test_defaults_match_the_settings_dataclass_and_are_sourced_as_default() -> None:
    settings = resolve({}, {}, {})
    for option in OPTIONS:
        assert getattr(settings, option.field) == option.default
        assert getattr(Settings(), option.field) == option.default, option.field
        assert settings.sources[option.field] == "default"


def test_option_names_for_each_front_end() -> None:
    option = OPTIONS_BY_FIELD["min_time"]
    assert (option.cli, option.env, option.ini) == ("min-time", "TRTPERF_MIN_TIME", "trtperf_min_time")


@pytest.mark.parametrize(
    ("cli", "env", "ini", "runs", "source"),
    [
        ("7", "6", "5", 7, "command line"),
        (None, "6", "5", 6, "environment"),
        (None, None, "5", 5, "ini"),
        (None, None, None, 5, "default"),
        ("7", None, None, 7, "command line"),
        (None, "", "4", 4, "ini"),  # an empty variable is unset
        (None, None, "", 5, "default"),  # so is an empty ini value
        ("2", None, "9", 2, "command line"),
    ],
)
def test_precedence_per_layer(cli: str | None, env: str | None, ini: str | None, runs: int, source: str) -> None:
    settings = resolve(
        {"runs": cli},
        {} if env is None else {"TRTPERF_RUNS": env},
        {} if ini is None else {"runs": ini},
    )
    assert settings.runs == runs
    assert settings.sources["runs"] == source


def test_each_value_keeps_its_own_source() -> None:
    settings = resolve(
        {"runs": "3"},
        {"TRTPERF_THRESHOLD": "10%", "TRTPERF_BACKEND": "onnxruntime, torch"},
        {"min_iters": "7", "batch": "1,8"},
    )
    assert (settings.runs, settings.threshold, settings.min_iters) == (3, 0.1, 7)
    assert settings.backend == ("onnxruntime", "torch")
    assert settings.batch == (1, 8)
    assert settings.sources["runs"] == "command line"
    assert settings.sources["threshold"] == "environment"
    assert settings.sources["backend"] == "environment"
    assert settings.sources["min_iters"] == "ini"
    assert settings.sources["batch"] == "ini"
    assert settings.sources["warmup"] == "default"


def test_a_cli_flag_left_off_does_not_hide_the_environment() -> None:
    settings = resolve({"update_baselines": False}, {"TRTPERF_UPDATE_BASELINES": "yes"}, {})
    assert settings.update_baselines is True
    assert settings.sources["update_baselines"] == "environment"


def test_non_string_values_pass_through() -> None:
    settings = resolve({"no_timing": True, "runs": 4}, {}, {"cache_dir": Path("/x")})
    assert settings.no_timing is True
    assert settings.runs == 4
    assert settings.cache_dir == Path("/x")


@pytest.mark.parametrize(
    ("layer", "field", "value", "message"),
    [
        ("cli", "runs", "x", "Invalid runs 'x' from --trtperf-runs"),
        ("env", "runs", "0", "Invalid runs '0' from TRTPERF_RUNS"),
        ("ini", "runs", "-1", "Invalid runs '-1' from ini trtperf_runs"),
        ("cli", "min_time", "-0.5", "Invalid min_time '-0.5' from --trtperf-min-time"),
        ("env", "min_iters", "2.5", "Invalid min_iters '2.5' from TRTPERF_MIN_ITERS"),
        ("env", "threshold", "five", "Invalid threshold 'five' from TRTPERF_THRESHOLD"),
        ("ini", "threshold", "2000%", "Invalid threshold '2000%' from ini trtperf_threshold"),
        ("env", "precision", "fp32,fp64", "Invalid precision 'fp32,fp64' from TRTPERF_PRECISION"),
        ("cli", "batch", "1,x", "Invalid batch '1,x' from --trtperf-batch"),
        ("ini", "streams", "0", "Invalid streams '0' from ini trtperf_streams"),
        ("env", "timing_mode", "fast", "Invalid timing_mode 'fast' from TRTPERF_TIMING_MODE"),
        ("env", "cuda_graph", "maybe", "Invalid cuda_graph 'maybe' from TRTPERF_CUDA_GRAPH"),
        ("env", "seed", "s", "Invalid seed 's' from TRTPERF_SEED"),
    ],
)
def test_invalid_values_name_the_value_and_its_source(layer: str, field: str, value: str, message: str) -> None:
    option = OPTIONS_BY_FIELD[field]
    cli: dict[str, Any] = {field: value} if layer == "cli" else {}
    env = {option.env: value} if layer == "env" else {}
    ini = {field: value} if layer == "ini" else {}
    with pytest.raises(TrtperfUsageError) as excinfo:
        resolve(cli, env, ini)
    assert str(excinfo.value).startswith(message + ": "), str(excinfo.value)


def test_a_bad_lower_layer_is_not_read_when_a_higher_one_is_set() -> None:
    settings = resolve({"runs": "2"}, {"TRTPERF_RUNS": "bogus"}, {"runs": "bogus"})
    assert settings.runs == 2


@pytest.mark.parametrize(
    ("text", "value"),
    [("5%", 0.05), ("0.05", 0.05), (" 12.5% ", 0.125), ("0", 0.0), ("0%", 0.0), ("150%", 1.5)],
)
def test_percent_parsing(text: str, value: float) -> None:
    assert _percent(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["-1%", "-0.1", "1000%", "10", "%", "", "five%", "nan"])
def test_percent_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        _percent(text)


@pytest.mark.parametrize("text", ["5", "1", "2.5"])
def test_a_bare_number_of_one_or_more_is_refused_with_the_percent_spelling(text: str) -> None:
    # A new user's trial (2026-12-07): --trtperf-threshold 5 read as 500 % and passed a x5.5 slowdown.
    with pytest.raises(ValueError, match=f"write {text}% for {text} percent"):
        _percent(text)


@pytest.mark.parametrize(("text", "ok"), [("5%", True), ("0.5", True), ("0", False), ("100%", False), ("1", False)])
def test_probability_is_strictly_between_zero_and_one(text: str, ok: bool) -> None:
    if ok:
        assert 0 < _probability(text) < 1
    else:
        with pytest.raises(ValueError):
            _probability(text)


@pytest.mark.parametrize(("text", "value"), [("1", True), ("TRUE", True), ("on", True), ("no", False), ("0", False)])
def test_bool_values(text: str, value: bool) -> None:
    assert resolve({}, {"TRTPERF_L2_FLUSH": text}, {}).l2_flush is value


@pytest.mark.parametrize(("text", "value"),
                         [("1", "on"), ("TRUE", "on"), ("on", "on"), ("no", "off"), ("Auto", "auto")])
def test_cuda_graph_values(text: str, value: str) -> None:
    assert resolve({}, {"TRTPERF_CUDA_GRAPH": text}, {}).cuda_graph == value


def test_model_overrides_take_precedence_and_are_sourced() -> None:
    base = resolve({"runs": "9"}, {}, {})
    settings = base.with_model_overrides({"runs": 2, "threshold": 0.2})
    assert (settings.runs, settings.threshold) == (2, 0.2)
    assert settings.sources["runs"] == "model declaration"
    assert settings.sources["threshold"] == "model declaration"
    assert settings.sources["min_iters"] == "default"
    assert base.runs == 9 and base.sources["runs"] == "command line"  # the shared settings are untouched
    assert base.with_model_overrides({}) is base


def test_model_override_strings_are_parsed_like_every_other_layer() -> None:
    # validate_model_settings accepts threshold="10%"; the case must then run with 0.1, not the string.
    validate_model_settings("m", {"threshold": "10%", "runs": "3"})
    settings = resolve({}, {}, {}).with_model_overrides({"threshold": "10%", "runs": "3"})
    assert settings.threshold == pytest.approx(0.1)
    assert settings.runs == 3


def test_unknown_model_settings_are_rejected_by_name() -> None:
    with pytest.raises(TrtperfUsageError, match=r"model 'm': unknown settings \['cache_dir', 'rnus'\]"):
        validate_model_settings("m", {"rnus": 1, "cache_dir": "/tmp", "runs": 2})
    with pytest.raises(TrtperfUsageError, match=r"model 'm': unknown setting \['rnus'\]; allowed"):
        validate_model_settings("m", {"rnus": 1})


def test_default_cache_dir(tmp_path: Path) -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "trtperf"
    assert default_cache_dir({}) == Path.home() / ".cache" / "trtperf"
    assert default_cache_dir({"XDG_CACHE_HOME": ""}) == Path.home() / ".cache" / "trtperf"


def test_paths_expand_the_home_directory() -> None:
    settings = resolve({}, {"TRTPERF_BASELINE_DIR": "~/b"}, {})
    assert settings.baseline_dir == Path.home() / "b"


def test_ini_lists_from_pyproject_are_parsed_and_validated() -> None:
    # [tool.pytest.ini_options] trtperf_batch = [1, 8] reaches resolve() as a list, not a string
    settings = resolve({}, {}, {"batch": [1, 8], "backend": ["onnxruntime", "torch"]})
    assert settings.batch == (1, 8)
    assert settings.backend == ("onnxruntime", "torch")
    with pytest.raises(TrtperfUsageError, match="Invalid precision 'fp64' from ini trtperf_precision"):
        resolve({}, {}, {"precision": ["fp64"]})


def test_dim_values_parse_per_axis() -> None:
    assert resolve({"dim": "seq=128,512"}, {}, {}).dim == {"seq": (128, 512)}
    assert resolve({}, {"TRTPERF_DIM": "seq=64; width=8,16"}, {}).dim == {"seq": (64,), "width": (8, 16)}
    assert resolve({}, {}, {}).dim is None
    with pytest.raises(TrtperfUsageError, match=r"Invalid dim 'seq=0' from --trtperf-dim: expected AXIS=V1,V2"):
        resolve({"dim": "seq=0"}, {}, {})
    with pytest.raises(TrtperfUsageError, match="expected AXIS=V1,V2"):
        resolve({"dim": "128,512"}, {}, {})


@pytest.mark.parametrize(("text", "message"), [
    ("seq=0", r"expected AXIS=V1,V2 .* with positive values, got 'seq=0'"),
    ("seq=128,", r"expected AXIS=V1,V2 .*got 'seq=128,'"),
    ("seq=abc", r"expected AXIS=V1,V2 .*got 'seq=abc'"),
    ("seq:128", r"expected AXIS=V1,V2 .*got 'seq:128'"),
    # Given twice, the second used to replace the first silently.
    ("seq=128;seq=256", r"axis 'seq' is given twice; list its values once, e.g. 'seq=128,256'"),
    ("batch=8", r"the batch axis is selected with --trtperf-batch \(e.g. --trtperf-batch 8\)"),
])
def test_malformed_dim_values_are_usage_errors_naming_the_part_and_the_form(text: str, message: str) -> None:
    with pytest.raises(TrtperfUsageError, match=f"Invalid dim '{re.escape(text)}' from --trtperf-dim: {message}"):
        resolve({"dim": text}, {}, {})


def test_gpu_defaults_follow_trtexec_11() -> None:
    """Issue 14: CUDA graphs 'auto' by default; RTX compiles specialized kernels before timing; contexts kept."""
    settings = resolve({}, {}, {})
    assert settings.cuda_graph == "auto" and settings.measurement.cuda_graph == "auto"
    assert settings.trt_kernel_specialization == "eager" and settings.fresh_contexts is False


@pytest.mark.parametrize(("text", "value"), [("EAGER", "eager"), ("lazy", "lazy"), (" none ", "none")])
def test_kernel_specialization_values(text: str, value: str) -> None:
    assert resolve({}, {"TRTPERF_TRT_KERNEL_SPECIALIZATION": text}, {}).trt_kernel_specialization == value


def test_bad_kernel_specialization_is_a_usage_error() -> None:
    with pytest.raises(TrtperfUsageError, match="TRTPERF_TRT_KERNEL_SPECIALIZATION"):
        resolve({}, {"TRTPERF_TRT_KERNEL_SPECIALIZATION": "sometimes"}, {})


def test_a_models_bare_threshold_of_one_or_more_is_refused_too() -> None:
    # A review (2026-12-07): a number given in a model declaration skipped the parser, so threshold=5 was 500 %.
    with pytest.raises(TrtperfUsageError, match="write 5% for 5 percent"):
        validate_model_settings("m", {"threshold": 5})
    with pytest.raises(TrtperfUsageError, match="write 5% for 5 percent"):
        resolve({}, {}, {}).with_model_overrides({"threshold": 5})
    assert resolve({}, {}, {}).with_model_overrides({"threshold": 0.2}).threshold == pytest.approx(0.2)
