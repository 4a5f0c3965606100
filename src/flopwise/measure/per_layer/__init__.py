"""Per-module and per-op time from ``torch.profiler``, on the same module tree as the counts.

How it works: while a profiled iteration runs, global module forward pre/post hooks open and
close a ``record_function("flopwise.module::<path>")`` range around every module of the
model (paths as in ``model.named_modules()``, the root is ``""``). Hooks are fine for
*timing*; counting never uses them. Each ATen event's self time is then attributed to the
innermost enclosing module range, and its inclusive time to every enclosing module, so:

- ``ModuleTime.self_s``  - op time spent directly in the module (not in a child module);
- ``ModuleTime.total_s`` - op time of the module and everything it calls;
- ``ModuleTime.wall_s``  - the range's wall time (adds Python and profiler overhead).

On CUDA each module gets two times: *device* time (the kernels its ATen ops launched, what
``self_s``/``total_s`` hold there) and *host* time (the CPU time of its top-level ATen ops,
dispatch and kernel launches included; ``host_self_s``/``host_total_s``). A model whose host
time is at least its device time while the GPU idles most of the run is host/launch-bound
(:meth:`MeasuredRun.verdict`). On CPU both are the same op time.

Only ATen op time is attributed: Python glue between ops is not, so ``coverage`` (attributed
time over the *uninstrumented* end-to-end median) tells how much of the real latency the
rows explain, and ``overhead`` (instrumented over uninstrumented median, minus one) what the
instrumentation costs. Plain and profiled iterations are interleaved in one run so both see
the same machine load. Every hook is removed and every range closed, even if the model raises.

The package: ``trace`` (module ranges, the profiled call, attributing its events),
``run`` (the interleaved timing loop: :func:`measure_model`, :func:`profile_layers`),
``results`` (:class:`ModuleTime`, :class:`OpTime`, :class:`LayerTimes`,
:class:`MeasuredRun`, :func:`verdict`).
"""

from __future__ import annotations

from flopwise.measure.per_layer.results import (
    COVERAGE_TOLERANCE,
    IDLE_BOUND,
    LayerTimes,
    MeasuredRun,
    ModuleTime,
    OpTime,
    verdict,
)
from flopwise.measure.per_layer.run import measure_model, profile_layers
from flopwise.measure.per_layer.trace import MODULE_RANGE_PREFIX, module_ranges, op_base_name

__all__ = [
    "COVERAGE_TOLERANCE",
    "IDLE_BOUND",
    "MODULE_RANGE_PREFIX",
    "LayerTimes",
    "MeasuredRun",
    "ModuleTime",
    "OpTime",
    "measure_model",
    "module_ranges",
    "op_base_name",
    "profile_layers",
    "verdict",
]
