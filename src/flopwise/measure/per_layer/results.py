"""What a per-layer measurement returns: per-module and per-op times, the profiled
iterations' sums, and the end-to-end run with its coverage, overhead and verdict (device-,
host/launch-bound or mixed). Pure data and arithmetic over it; no profiling here."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import torch

from flopwise.measure.timing import Latency

__all__ = [
    "COVERAGE_TOLERANCE",
    "IDLE_BOUND",
    "LayerTimes",
    "MeasuredRun",
    "ModuleTime",
    "OpTime",
    "verdict",
]

#: Coverage outside [1 - x, 1 + x] is reported as a warning.
COVERAGE_TOLERANCE = 0.15
#: A GPU idle at least this fraction of the end-to-end time is not what bounds the model.
IDLE_BOUND = 0.5


def verdict(host_coverage: float | None, device_coverage: float | None) -> dict[str, Any]:
    """What bounds a GPU run, from the host time (op or wall time) and the device (kernel)
    time as fractions of the uninstrumented end-to-end time.

    The GPU's idle fraction is ``1 - device_coverage``. Kernels that keep the GPU busy at
    least ``1 - IDLE_BOUND`` of the time: ``"device-bound"``. An idle GPU while the host's
    op time is at least the device's: ``"host/launch-bound"`` (the CPU cannot issue kernels
    as fast as the GPU runs them). An idle GPU whose host op time is also short:
    ``"mixed"`` (time goes outside both: Python glue, synchronisation, copies). Without a
    device time (a CPU run): ``"cpu"``.
    """
    if device_coverage is None:
        return {"bound": "cpu", "gpu_idle_fraction": None, "reason": "CPU run: host is the device"}
    idle = max(0.0, 1.0 - device_coverage)
    host = host_coverage or 0.0
    if idle < IDLE_BOUND:
        bound = "device-bound"
        reason = f"kernels keep the GPU busy {1 - idle:.0%} of the end-to-end time"
    elif host >= device_coverage:
        bound = "host/launch-bound"
        reason = (
            f"the GPU idles {idle:.0%} of the time while the host takes {host:.0%} "
            f"(kernels {device_coverage:.0%}): the CPU issues kernels slower than they run"
        )
    else:
        bound = "mixed"
        reason = (
            f"the GPU idles {idle:.0%} of the time but the host covers only {host:.0%}: "
            "time goes to Python between ops, synchronisation or copies"
        )
    return {"bound": bound, "gpu_idle_fraction": idle, "reason": reason}


@dataclass
class ModuleTime:
    """Time of one module per call of the model (median over profiled iterations).

    ``self_s``/``total_s``/``wall_s`` are forward time (device time on CUDA, CPU op time on
    CPU). With ``train=True`` runs, ``backward_self_s``/``backward_total_s`` hold the
    backward ops that autograd ran for this module's forward ops (matched through autograd
    sequence numbers). ``host_*`` is the forward CPU time of the module's top-level ATen
    ops (dispatch and kernel launches included), ``device_*`` their kernels' time (0 on CPU).
    """

    path: str
    type: str
    self_s: float
    total_s: float
    calls: int
    wall_s: float
    backward_self_s: float = 0.0
    backward_total_s: float = 0.0
    host_self_s: float = 0.0
    host_total_s: float = 0.0
    device_self_s: float = 0.0
    device_total_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "calls": self.calls,
            "self_s": self.self_s,
            "total_s": self.total_s,
            "wall_s": self.wall_s,
            "backward_self_s": self.backward_self_s,
            "backward_total_s": self.backward_total_s,
            "host_self_s": self.host_self_s,
            "host_total_s": self.host_total_s,
            "device_self_s": self.device_self_s,
            "device_total_s": self.device_total_s,
        }


@dataclass
class OpTime:
    """Time of one profiler op name within one module (innermost), per model call.

    ``op`` uses the records' spelling (``aten.addmm``; the profiler has no overload name).
    ``parents`` are the enclosing ATen ops inside the same module, outermost first (e.g.
    ``("aten.linear",)`` for the ``aten.addmm`` a ``Linear`` runs): ``parents == ()`` marks
    a top-level op, and top-level ``total_s`` sums to the module's ``self_s``.
    """

    op: str
    module_path: str
    parents: tuple[str, ...]
    calls: int
    self_s: float
    total_s: float
    phase: str = "forward"

    @property
    def seconds(self) -> float:
        """The op's inclusive time (what a join with counted records should use)."""
        return self.total_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "module_path": self.module_path,
            "phase": self.phase,
            "parents": list(self.parents),
            "calls": self.calls,
            "self_s": self.self_s,
            "total_s": self.total_s,
        }


@dataclass
class LayerTimes:
    """What the profiled iterations found: per-module and per-op times (medians per model
    call), the attributed op time, and the instrumented per-call latency."""

    modules: dict[str, ModuleTime]
    ops: list[OpTime]
    iterations: int
    attributed_s: float
    outside_s: float
    instrumented: Latency | None = None
    device: str = "cpu"
    #: Per profiled iteration: attributed op time (and its host and device parts), wall
    #: time and (when measured by :func:`measure_model`) the mean of the plain samples
    #: taken right before and after it.
    per_iteration: list[dict[str, float]] = field(default_factory=list)
    #: Host (CPU op) and device (kernel) time attributed to modules, forward + backward.
    attributed_host_s: float = 0.0
    attributed_device_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "iterations": self.iterations,
            "per_iteration": [dict(d) for d in self.per_iteration],
            "attributed_s": self.attributed_s,
            "attributed_host_s": self.attributed_host_s,
            "attributed_device_s": self.attributed_device_s,
            "outside_modules_s": self.outside_s,
            "instrumented": self.instrumented.to_dict() if self.instrumented else None,
            "modules": [m.to_dict() for m in self.modules.values()],
            "ops": [o.to_dict() for o in self.ops],
        }


@dataclass
class MeasuredRun:
    """The result of :func:`measure_model`: uninstrumented end-to-end latency and, when
    ``per_layer``, the profiled per-module/per-op times with coverage and overhead."""

    latency: Latency
    layers: LayerTimes | None = None
    device: str = "cpu"
    threads: int = field(default_factory=torch.get_num_threads)
    dtype: str | None = None
    grad: bool = False
    train: bool = False

    @property
    def modules(self) -> dict[str, ModuleTime]:
        return self.layers.modules if self.layers else {}

    @property
    def ops(self) -> list[OpTime]:
        return self.layers.ops if self.layers else []

    def _paired(self, key: str) -> float | None:
        pairs = [
            d[key] / d["reference_s"]
            for d in (self.layers.per_iteration if self.layers else [])
            if d.get("reference_s", 0) > 0
        ]
        return statistics.median(pairs) if pairs else None

    @property
    def coverage(self) -> float | None:
        """Attributed op time / uninstrumented end-to-end time.

        Each profiled call is compared with the plain samples taken right before and after
        it (so a burst of load hits both), and the median of those ratios is returned;
        without pairs, the ratio of the medians."""
        if not self.layers:
            return None
        return self._paired_or_ratio("attributed_s", self.layers.attributed_s)

    @property
    def coverage_of_medians(self) -> float | None:
        """Median attributed op time / median uninstrumented latency (unpaired)."""
        if not self.layers or self.latency.median_s <= 0:
            return None
        return self.layers.attributed_s / self.latency.median_s

    @property
    def is_gpu(self) -> bool:
        return str(self.device).startswith("cuda")

    @property
    def host_coverage(self) -> float | None:
        """Host (CPU op) time attributed to modules / uninstrumented end-to-end time,
        paired like :attr:`coverage`."""
        if not self.layers:
            return None
        return self._paired_or_ratio("host_s", self.layers.attributed_host_s)

    @property
    def host_wall_coverage(self) -> float | None:
        """The root module's host wall time (its profiler range: ATen ops *and* the Python
        between them that issues them) / uninstrumented end-to-end time, paired like
        :attr:`coverage`. It includes the profiler's own per-op cost (see
        :attr:`overhead`), so it reads high by about that much."""
        if not self.layers or "" not in self.layers.modules:
            return None
        return self._paired_or_ratio("host_wall_s", self.layers.modules[""].wall_s)

    @property
    def device_coverage(self) -> float | None:
        """Kernel time attributed to modules / uninstrumented end-to-end time (GPU runs;
        None on CPU), paired like :attr:`coverage`."""
        if not self.layers or not self.is_gpu:
            return None
        return self._paired_or_ratio("device_s", self.layers.attributed_device_s)

    def _paired_or_ratio(self, key: str, attributed_s: float) -> float | None:
        """The paired coverage of ``key`` when there is one, else ``attributed_s`` over the
        median uninstrumented latency (None when that latency is not positive)."""
        paired = self._paired(key)
        if paired is not None:
            return paired
        if self.latency.median_s <= 0:
            return None
        return attributed_s / self.latency.median_s

    def verdict(self) -> dict[str, Any]:
        """Device-bound, host/launch-bound or mixed (see :func:`verdict`), judging the host
        by its wall time in the model (Python that issues kernels is host work too), or by
        its op time when no root range was seen."""
        host = self.host_wall_coverage
        return verdict(self.host_coverage if host is None else host, self.device_coverage)

    @property
    def overhead(self) -> float | None:
        """Profiler overhead: instrumented / uninstrumented time - 1, paired like
        :attr:`coverage` (median of per-call ratios)."""
        if not self.layers:
            return None
        paired = self._paired("wall_s")
        if paired is not None:
            return paired - 1.0
        if not self.layers.instrumented or self.latency.median_s <= 0:
            return None
        return self.layers.instrumented.median_s / self.latency.median_s - 1.0

    @property
    def warnings(self) -> list[str]:
        out = []
        if not self.latency.trustworthy:
            out.append(f"end-to-end latency is not trustworthy: {self.latency.reason}")
        cov = self.coverage
        if cov is not None and abs(cov - 1.0) > COVERAGE_TOLERANCE:
            if self.is_gpu:
                v = self.verdict()
                host = self.host_coverage or 0.0
                wall = self.host_wall_coverage or 0.0
                out.append(
                    f"per-module device (kernel) times cover {cov:.0%} of the end-to-end "
                    f"median, host op times {host:.0%} (host wall {wall:.0%}): "
                    f"{v['bound']} ({v['reason']})"
                )
            else:
                out.append(
                    f"per-module times cover {cov:.0%} of the end-to-end median "
                    f"(outside ±{COVERAGE_TOLERANCE:.0%}: Python overhead between ops, or noise)"
                )
        if self.layers and self.layers.instrumented and not self.layers.instrumented.trustworthy:
            out.append(
                "profiled iterations are noisy: "
                + (self.layers.instrumented.reason or "").removeprefix("noisy: ")
            )
        return out

    @property
    def trustworthy(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: floats in seconds (``_s`` keys), fractions as plain ratios."""
        return {
            "schema": "flopwise.measured/1",
            "device": self.device,
            "threads": self.threads,
            "dtype": self.dtype,
            "grad": self.grad,
            "phase": "training" if self.train else "forward",
            "torch": torch.__version__,
            "latency": self.latency.to_dict(),
            "per_layer": self.layers is not None,
            "coverage": self.coverage,
            "coverage_of_medians": self.coverage_of_medians,
            "host_coverage": self.host_coverage,
            "host_wall_coverage": self.host_wall_coverage,
            "device_coverage": self.device_coverage,
            "verdict": self.verdict() if self.layers else None,
            "profiler_overhead": self.overhead,
            "trustworthy": self.trustworthy,
            "warnings": self.warnings,
            "layers": self.layers.to_dict() if self.layers else None,
        }
