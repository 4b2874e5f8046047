"""The reference runner: ONNX Runtime (CPU, no graph optimization) on the fp32 ONNX and on the
case's precision variant, with cached outputs for the seeded inputs.

Parity is checked two ways (:mod:`trtperf.parity.tolerance`): against the fp32 reference
(*cost*) and against ONNX Runtime running the same variant (*faithful*). This module runs the
references; :mod:`trtperf.parity.compare` only compares arrays (as Polygraphy keeps its runners
and comparators apart). The pipeline, the precision stage and the Hypothesis mode all use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.isolate import run_isolated
from trtperf.parity.compare import UNMEASURED, TwoWayParity, precision_errors, two_way_parity
from trtperf.parity.tolerance import cost_tolerance_for, default_precision, faithful_tolerance_for
from trtperf.spec import ModelSpec

Outputs = dict[str, np.ndarray]

OPTIMIZED_RUN = "ONNX Runtime's optimized run vs the unoptimized reference"
TF32_RUN = "ONNX Runtime on the model with MatMul/Gemm/Conv inputs rounded to TF32 vs the fp32 reference"
"""How the own error of an adaptive fp32 bound is measured: IEEE-fp32 backends, and where TF32 may be on."""


def tf32_emulated(spec: ModelSpec, fp32: CacheEntry, cache: ArtifactCache) -> CacheEntry:
    """The cached fp32 ONNX of ``spec`` with TF32 emulated (:func:`trtperf.parity.tf32.tf32_emulation`)."""

    def produce(tmp: Path) -> None:
        import onnx

        from trtperf.parity.tf32 import tf32_emulation

        onnx.save(tf32_emulation(onnx.load(str(fp32.path))), str(tmp))

    return cache.get_or_create("tf32-emulation", {"onnx": fp32.meta["sha256"], "schema": 1}, produce,
                               suffix=".onnx", describe=f"TF32 emulation of {spec.name}")


def cached_outputs(spec: ModelSpec, onnx: CacheEntry, batch: int, seed: int, cache: ArtifactCache,
                   dims: Mapping[str, int] | None = None, optimized: bool = False) -> Outputs:
    """ONNX Runtime (CPU, ``onnx`` as it is, no graph optimizations) on the seeded inputs, cached.

    ``dims``: the case's named-axis values (e.g. ``{"seq": 128}``; none for a batch-only model).
    ``optimized``: ONNX Runtime with every graph optimization instead (ORT_ENABLE_ALL), cached apart:
    the measure of the model's own fp32 arithmetic error (:meth:`ReferenceRunner.fp32_own_errors`).

    Returns one array per declared output. Raises whatever ONNX Runtime raises for a graph it
    cannot run (its own exception types: NOT_IMPLEMENTED, INVALID_GRAPH).
    """
    import onnxruntime

    from trtperf.backends.onnxruntime import reference_to_file

    parts = {
        "onnx": onnx.meta["sha256"],
        "batch": batch,
        "seed": seed,
        # The inputs are drawn from the declared specs: a changed range means another reference.
        "inputs": [i.describe() for i in spec.inputs],
        "onnxruntime": onnxruntime.__version__,
        **({"dims": dict(sorted(dims.items()))} if dims else {}),
        **({"optimization": "ORT_ENABLE_ALL"} if optimized else {}),
    }
    run = "optimized ONNX Runtime run" if optimized else "ONNX Runtime reference run"

    def produce(tmp: Path) -> None:
        # In a child process (issue 12): a crash of ONNX Runtime on this model fails the case, not the session.
        run_isolated(reference_to_file, onnx.path, [dataclasses.asdict(i) for i in spec.inputs], batch, seed, tmp,
                     dims, optimized, what=f"the {run} of {spec.name!r} (batch {batch}{_dims_text(dims)})")

    entry = cache.get_or_create("reference", parts, produce, suffix=".npz",
                                describe=f"{'optimized run' if optimized else 'reference'} of {spec.name}")
    with np.load(entry.path) as data:
        return {name: data[name] for name in spec.outputs}


def _dims_text(dims: Mapping[str, int] | None) -> str:
    return "".join(f", {axis} {value}" for axis, value in sorted((dims or {}).items()))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


class ReferenceRunner:
    """The references of one case: fp32 (cost) and the variant (faithful).

    ``variant`` is the ONNX the engine was built from (the fp32 entry itself for fp32/tf32 or
    builder flags: then the two checks are one comparison).
    """

    def __init__(self, spec: ModelSpec, fp32: CacheEntry, variant: CacheEntry, precision: str,
                 cache: ArtifactCache, backend: str | None = None) -> None:
        self.spec = spec
        self.backend = backend
        """The engine's backend: picks the default tolerances (fp32 on TensorRT: TF32's)."""
        self.fp32 = fp32
        self.variant = variant
        self.precision = precision
        self.cache = cache
        self.same = variant.meta["sha256"] == fp32.meta["sha256"]
        self._sessions: dict[str, Any] = {}
        self._own_errors: dict[tuple[int, int, tuple[tuple[str, int], ...]], dict[str, float] | None] = {}
        self.own_error_unmeasured = ""
        """Why the model's own error could not be measured (its bound is then the cap), or ''."""
        self.variant_unavailable = ""

    def _unavailable(self, exc: Exception) -> str:
        return (f"ONNX Runtime (CPU) cannot run the {self.precision} variant of {self.spec.name!r}, so only the "
                f"cost check gates: {_first_line(exc)}")

    # -- seeded inputs (cached) ------------------------------------------------------------------
    def fp32_outputs(self, batch: int, seed: int, dims: Mapping[str, int] | None = None) -> Outputs:
        return cached_outputs(self.spec, self.fp32, batch, seed, self.cache, dims)

    def variant_outputs(self, batch: int, seed: int, dims: Mapping[str, int] | None = None) -> Outputs | None:
        """The variant's reference, or None (``variant_unavailable`` says why) when ORT cannot run it."""
        if self.same:
            return self.fp32_outputs(batch, seed, dims)
        try:
            return cached_outputs(self.spec, self.variant, batch, seed, self.cache, dims)
        except Exception as exc:  # ONNX Runtime's own types (NOT_IMPLEMENTED, INVALID_GRAPH)
            self.variant_unavailable = self._unavailable(exc)
            return None

    def needs_fp32_own_errors(self) -> bool:
        """Whether some output's cost tolerance scales with fp32's own error (``Tolerance.rel_l2_floor``:
        the fp32 default on IEEE-fp32 backends), which costs one more (cached) ONNX Runtime run."""
        return self.same and any(
            cost_tolerance_for(self.spec, self.precision, name, self.backend).rel_l2_floor is not None
            for name in self.spec.outputs)

    @property
    def tf32_may_be_on(self) -> bool:
        """Whether this case's fp32 arithmetic may run in TF32 (the tf32 precision; fp32 on TensorRT)."""
        return default_precision(self.precision, self.backend) == "tf32"

    @property
    def own_error_source(self) -> str:
        """How :meth:`fp32_own_errors` measures, or why it could not (for messages)."""
        if self.own_error_unmeasured:
            return self.own_error_unmeasured
        return TF32_RUN if self.tf32_may_be_on else OPTIMIZED_RUN

    def fp32_own_errors(self, batch: int, seed: int, dims: Mapping[str, int] | None = None) -> dict[str, float] | None:
        """Per float output, the model's own error at this case's fp32 arithmetic, as relative L2 distance
        from the fp32 reference on the seeded inputs. IEEE fp32: ONNX Runtime's optimized run
        (ORT_ENABLE_ALL: fused kernels, other summation orders). Where TF32 may be on: ONNX Runtime on the
        model with every MatMul/Gemm/Conv input rounded to TF32 (:mod:`trtperf.parity.tf32`). Runs are
        cached and run in a child process. None when no tolerance of this case needs it."""
        if not self.needs_fp32_own_errors():
            return None
        key = (batch, seed, tuple(sorted((dims or {}).items())))
        if key not in self._own_errors:  # the timed path checks every run and stream: compute once
            if self.tf32_may_be_on:
                other = self._tf32_outputs(batch, seed, dims)
            else:
                other = cached_outputs(self.spec, self.fp32, batch, seed, self.cache, dims, optimized=True)
            self._own_errors[key] = None if other is None else precision_errors(
                other, self.fp32_outputs(batch, seed, dims))
        return self._own_errors[key]

    def _tf32_outputs(self, batch: int, seed: int, dims: Mapping[str, int] | None) -> Outputs | None:
        """ONNX Runtime on the TF32 emulation; None (the bound is then its cap, 0.1) when the emulation cannot
        cover the model or ONNX Runtime cannot run it: a measuring aid must not fail a case the cap would judge."""
        from trtperf.parity.tf32 import TF32EmulationIncomplete

        try:
            emulated = tf32_emulated(self.spec, self.fp32, self.cache)
            return cached_outputs(self.spec, emulated, batch, seed, self.cache, dims)
        except TF32EmulationIncomplete as exc:
            self.own_error_unmeasured = f"{UNMEASURED}: TF32 emulation not possible: {exc}"
        except Exception as exc:  # ONNX Runtime's own types, or the emulation's graph rejected
            self.own_error_unmeasured = f"{UNMEASURED}: TF32 emulation failed: {_first_line(exc)}"
        return None

    def check(self, got: Mapping[str, np.ndarray], batch: int, seed: int,
              dims: Mapping[str, int] | None = None) -> TwoWayParity:
        """Parity both ways of ``got`` (the engine's outputs on the seeded inputs at ``batch`` and ``dims``)."""
        expected = self.fp32_outputs(batch, seed, dims)
        variant = expected if self.same else self.variant_outputs(batch, seed, dims)
        return self._compare(got, expected, variant, self.fp32_own_errors(batch, seed, dims))

    # -- arbitrary inputs (Hypothesis) -------------------------------------------------------------
    def _session(self, which: str) -> Any:
        from trtperf.backends.onnxruntime import reference_session

        if which not in self._sessions:
            if which == "fp32-optimized":
                from trtperf.backends.onnxruntime import optimized_session

                self._sessions[which] = optimized_session(self.fp32.path)
            elif which == "tf32-emulated":
                self._sessions[which] = reference_session(tf32_emulated(self.spec, self.fp32, self.cache).path)
            else:
                entry = self.fp32 if which == "fp32" else self.variant
                self._sessions[which] = reference_session(entry.path)
        return self._sessions[which]

    def compare(self, got: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray]) -> TwoWayParity:
        """Parity both ways of ``got`` (the engine's outputs on ``inputs``), running the references now."""
        from trtperf.backends.onnxruntime import run_session

        expected = run_session(self._session("fp32"), inputs)
        variant: Outputs | None = expected
        if not self.same:
            try:
                variant = run_session(self._session("variant"), inputs)
            except Exception as exc:  # as in variant_outputs
                self.variant_unavailable = self._unavailable(exc)
                variant = None
        own_run = "tf32-emulated" if self.tf32_may_be_on else "fp32-optimized"
        own = None
        if self.needs_fp32_own_errors() and not self.own_error_unmeasured:
            try:
                own = precision_errors(run_session(self._session(own_run), inputs), expected)
            except Exception as exc:  # as in _tf32_outputs: the cap judges
                if not self.tf32_may_be_on:
                    raise
                self.own_error_unmeasured = f"{UNMEASURED}: TF32 emulation failed: {_first_line(exc)}"
        return self._compare(got, expected, variant, own)

    def _compare(self, got: Mapping[str, np.ndarray], expected: Outputs, variant: Outputs | None,
                 fp32_errors: Mapping[str, float] | None = None) -> TwoWayParity:
        spec, precision = self.spec, self.precision
        backend = self.backend
        return two_way_parity(got, expected, lambda name: cost_tolerance_for(spec, precision, name, backend), variant,
                              lambda name: faithful_tolerance_for(spec, precision, name, backend), precision,
                              self.variant_unavailable if variant is None else "", fp32_errors,
                              self.own_error_source)
