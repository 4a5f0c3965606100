"""Roofline analysis: pure functions of counts, times and a hardware profile.

For one op with ``F`` flops moving ``B`` bytes on a device with peak ``P`` FLOP/s and
bandwidth ``W`` bytes/s, the roofline *floor* is ``max(F / P, B / W)``: no kernel can run
faster. The op is *compute-bound* when ``F / P`` is the larger term, *memory-bound*
otherwise (its intensity ``F / B`` is below the ridge point ``P / W``).

From floors and measured times (Lavin 2024, "On the Efficiency of Convolutional Neural
Networks"):

- computational efficiency = floor / measured (1.0 = at the ceiling);
- efficiency gap = measured - floor (seconds lost to the hardware not being saturated);
- waterline = the sum of the per-op floors of a model: its best possible latency when
  every op runs at the roofline and ops do not overlap.

Module floors are sums of their ops' floors (ops run one after another), not the floor of
the module's summed flops and bytes, which would be lower and not reachable.

Peaks follow what the backend really runs (:func:`op_peak`, with the :class:`MathModes` in
force): on a GPU profile a float32 convolution runs in TF32 when cuDNN allows it (PyTorch's
default), a float32 matmul only when ``torch.backends.cuda.matmul.allow_tf32`` or
``torch.set_float32_matmul_precision("high"/"medium")`` says so; bf16/fp16/fp8/int8
contractions use the tensor-core rate of their dtype. Any other op uses the smaller of its
dtype's and the float32 peak, since tensor-core rates do not apply to elementwise work.

A floor is a lower bound: a time measured under it means the profile's ceilings are too low
(measured while the machine was busy, a TF32/tensor-core path not priced) or the count is
wrong. Such a row is a *profile error* (:attr:`RooflineRow.beats_floor`,
``summary["profile_errors"]``) and its efficiency is None, never above 100%.

Nothing here measures, reads files or prints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flopwise.capture.records import ancestors
from flopwise.store.metrics import measured_latency, module_metrics
from flopwise.store.profile_doc import (
    document_floors,
    hardware_ceilings,
    leaf_modules,
    op_rows,
    own_floor,
    positive,
)

__all__ = [
    "MathModes",
    "op_peak",
    "profile_errors",
    "Floor",
    "RooflineRow",
    "OpRooflineRow",
    "floor",
    "op_floor",
    "op_dtype",
    "bound",
    "efficiency",
    "efficiency_gap",
    "waterline",
    "module_floors",
    "join_roofline",
    "join_ops",
    "top_k",
    "time_vs_flops",
    "summary",
    "roofline_document",
    "roofline_plot",
    "module_figures",
]


class _Profile(Protocol):  # what the roofline reads from a hardware profile
    memory_bandwidth: float

    def peak_for(self, dtype: Any = "float32", *, sparse: bool = False) -> float: ...


@dataclass(frozen=True)
class MathModes:
    """How the backend runs float32 contractions on a GPU (ignored on CPU profiles).

    The defaults are PyTorch's: cuDNN convolutions may use TF32
    (``torch.backends.cudnn.allow_tf32 = True``), cuBLAS matmuls may not
    (``torch.backends.cuda.matmul.allow_tf32 = False``, float32 matmul precision
    ``"highest"``).
    """

    conv_tf32: bool = True
    matmul_tf32: bool = False
    matmul_precision: str = "highest"

    @classmethod
    def from_torch(cls) -> MathModes:
        """The modes in force now: the per-backend ``fp32_precision`` settings where torch
        has them and they are set (``"tf32"``/``"ieee"``), else the legacy ``allow_tf32``
        flags, and :func:`torch.get_float32_matmul_precision`."""
        import torch

        def flag(chain: list[Any], legacy: bool) -> bool:
            # the most specific setting that is not "none" wins (conv -> cudnn -> global)
            for backend in chain:
                precision = getattr(backend, "fp32_precision", "none")
                if precision == "tf32":
                    return True
                if precision == "ieee":
                    return False
            return bool(legacy)

        cudnn = torch.backends.cudnn
        matmul = torch.backends.cuda.matmul
        return cls(
            conv_tf32=flag([getattr(cudnn, "conv", None), cudnn, torch.backends], cudnn.allow_tf32),
            matmul_tf32=flag([matmul, torch.backends], matmul.allow_tf32),
            matmul_precision=torch.get_float32_matmul_precision(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "cudnn_allow_tf32": self.conv_tf32,
            "cuda_matmul_allow_tf32": self.matmul_tf32,
            "float32_matmul_precision": self.matmul_precision,
        }


def _is_conv(op: str) -> bool:
    """Convolutions (forward, transposed, backward) run through cuDNN, whose TF32 flag is
    separate from cuBLAS's."""
    return "conv" in _base(op).split(".")[-1]


def op_peak(
    hw: _Profile,
    dtype: str,
    category: str,
    op: str = "",
    modes: MathModes | None = None,
) -> tuple[float, str]:
    """(peak FLOP/s, which peak) for one op: the fastest rate the backend may run it at.

    - A float32 contraction on a GPU profile: the TF32 tensor-core rate when the backend
      allows TF32 for it (convolutions: ``modes.conv_tf32``; matmuls and attention:
      ``modes.matmul_tf32`` or precision ``"high"``); with precision ``"medium"`` also the
      bfloat16 rate (cuBLAS may then compute float32 matmuls in bf16). The fastest allowed
      rate is taken, so the floor stays a lower bound.
    - Any other contraction: its dtype's rate (tensor cores for bf16/fp16/fp8/int8; a
      profile without the dtype falls back as :meth:`HardwareProfile.peak_for` does).
    - Any other op: ``min(peak[dtype], peak[float32])``; tensor cores do not run it.
    """
    modes = modes if modes is not None else MathModes()
    if category != "contraction":
        return min(hw.peak_for(dtype), hw.peak_for("float32")), f"{dtype} (no tensor cores)"
    if dtype != "float32" or getattr(hw, "kind", "gpu") != "gpu":
        return hw.peak_for(dtype), dtype
    allowed = ["float32"]
    if _is_conv(op):
        if modes.conv_tf32:
            allowed.append("tfloat32")
    else:
        if modes.matmul_tf32 or modes.matmul_precision in ("high", "medium"):
            allowed.append("tfloat32")
        if modes.matmul_precision == "medium":
            allowed.append("bfloat16")
    best = max(allowed, key=hw.peak_for)  # ties keep the first, the plainest name
    return hw.peak_for(best), best


@dataclass(frozen=True)
class Floor:
    """The roofline floor of some work.

    For one op, ``floor_s = max(compute_s, memory_s)``. Floors add up sequentially (ops run
    one after another): a sum keeps the summed compute and memory times and sums the
    per-op floors, and ``compute_bound_s`` is the part of the floor coming from
    compute-bound ops; the sum is compute-bound when that part is at least half.
    """

    flops: int
    bytes: int
    compute_s: float
    memory_s: float
    floor_s: float
    compute_bound_s: float

    @property
    def bound(self) -> str:
        """``"compute"``, ``"memory"``, or ``"none"`` for work with no flops and no bytes."""
        if self.floor_s <= 0:
            return "none"
        return "compute" if self.compute_bound_s >= self.floor_s / 2 else "memory"

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else 0.0

    def __add__(self, other: Floor) -> Floor:
        return Floor(
            flops=self.flops + other.flops,
            bytes=self.bytes + other.bytes,
            compute_s=self.compute_s + other.compute_s,
            memory_s=self.memory_s + other.memory_s,
            floor_s=self.floor_s + other.floor_s,
            compute_bound_s=self.compute_bound_s + other.compute_bound_s,
        )


ZERO = Floor(flops=0, bytes=0, compute_s=0.0, memory_s=0.0, floor_s=0.0, compute_bound_s=0.0)


def floor(
    flops: float,
    bytes_moved: float,
    hw: _Profile,
    dtype: Any = "float32",
    *,
    peak: float | None = None,
) -> Floor:
    """The roofline floor of ``flops`` moving ``bytes_moved`` on ``hw`` at ``dtype``."""
    p = peak if peak is not None else hw.peak_for(dtype)
    compute_s = flops / p if p > 0 else 0.0
    bw_for = getattr(hw, "bandwidth_for", None)
    bw = bw_for(bytes_moved) if bw_for is not None else hw.memory_bandwidth
    memory_s = bytes_moved / bw if bw > 0 else 0.0
    floor_s = max(compute_s, memory_s)
    return Floor(
        flops=int(flops),
        bytes=int(bytes_moved),
        compute_s=compute_s,
        memory_s=memory_s,
        floor_s=floor_s,
        compute_bound_s=floor_s if compute_s >= memory_s else 0.0,
    )


def bound(flops: float, bytes_moved: float, hw: _Profile, dtype: Any = "float32") -> str:
    """``"compute"`` or ``"memory"`` (``"none"`` for empty work) on ``hw``."""
    return floor(flops, bytes_moved, hw, dtype).bound


def op_dtype(record: Any) -> str:
    """The compute dtype of an op record: its first floating-point input (else its first
    floating output, else ``float32``)."""
    for group in (getattr(record, "inputs", ()), getattr(record, "outputs", ())):
        for t in group:
            dt = getattr(t, "dtype", None)
            if dt is not None and getattr(dt, "is_floating_point", False):
                return str(dt).removeprefix("torch.")
    return "float32"


def op_floor(record: Any, hw: _Profile, *, modes: MathModes | None = None) -> Floor:
    """The floor of one op record (``flops``, ``bytes_read + bytes_written``, dtype, op and
    category as recorded) at the peak :func:`op_peak` picks under ``modes`` (default:
    PyTorch's default math modes)."""
    dtype = op_dtype(record)
    category = getattr(record, "category", "")
    peak, _ = op_peak(hw, dtype, category, getattr(record, "op", ""), modes)
    return floor(record.flops, record.bytes_read + record.bytes_written, hw, dtype, peak=peak)


def efficiency(floor_s: float, measured_s: float | None) -> float | None:
    """Computational efficiency, floor / measured: at most 1. None without a positive
    measurement, and None when the measurement beats the floor (a profile error, see
    :func:`beats_floor`), never a figure above 100%."""
    if measured_s is None or measured_s <= 0 or beats_floor(floor_s, measured_s):
        return None
    return floor_s / measured_s


def beats_floor(floor_s: float, measured_s: float | None) -> bool:
    """Whether a measured time is under its roofline floor: impossible if the profile's
    ceilings and the counts are right, so it is reported as a profile error."""
    return measured_s is not None and measured_s > 0 and measured_s < floor_s


def _error_text(floor_s: float, measured_s: float) -> str:
    return (
        f"measured {measured_s * 1e3:.4g} ms is under its floor {floor_s * 1e3:.4g} ms "
        f"({floor_s / measured_s:.2f}x): the hardware profile's ceilings are too low for what "
        "ran (or the count is wrong); not an efficiency above 100%"
    )


def efficiency_gap(measured_s: float | None, floor_s: float) -> float | None:
    """Seconds above the floor, measured - floor (negative: measured below the floor)."""
    if measured_s is None:
        return None
    return measured_s - floor_s


def waterline(records: Iterable[Any], hw: _Profile, *, modes: MathModes | None = None) -> float:
    """The sum of per-op floors (seconds): the model's roofline latency."""
    return sum(op_floor(r, hw, modes=modes).floor_s for r in records)


def module_floors(
    records: Iterable[Any], hw: _Profile, *, modes: MathModes | None = None, inclusive: bool = True
) -> dict[str, Floor]:
    """Sum of op floors per module path (with its submodules when ``inclusive``)."""
    out: dict[str, Floor] = defaultdict(lambda: ZERO)
    for r in records:
        f = op_floor(r, hw, modes=modes)
        paths = ancestors(r.module_path) if inclusive else [r.module_path]
        for p in paths:
            out[p] = out[p] + f
    return dict(out)


@dataclass
class RooflineRow:
    """One module: counted work, measured time, floor, efficiency and bound.

    ``time_s`` is the module's inclusive op time (``ModuleTime.total_s``); shares are of the
    root's; ``achieved_*`` are per measured second. Fields are None where no time exists.
    """

    path: str
    type: str
    depth: int
    calls: int
    flops: int
    bytes: int
    time_s: float | None
    floor_s: float
    compute_floor_s: float
    memory_floor_s: float
    bound: str
    flop_share: float
    time_share: float | None

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def achieved_flops_per_s(self) -> float | None:
        return self.flops / self.time_s if self.time_s else None

    @property
    def achieved_bytes_per_s(self) -> float | None:
        return self.bytes / self.time_s if self.time_s else None

    @property
    def efficiency(self) -> float | None:
        return efficiency(self.floor_s, self.time_s)

    @property
    def gap_s(self) -> float | None:
        return efficiency_gap(self.time_s, self.floor_s)

    @property
    def beats_floor(self) -> bool:
        """Measured under its floor: a profile error (see :func:`beats_floor`)."""
        return beats_floor(self.floor_s, self.time_s)

    below_floor = beats_floor  # the older name

    @property
    def profile_error(self) -> str | None:
        return _error_text(self.floor_s, self.time_s) if self.beats_floor else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "depth": self.depth,
            "calls": self.calls,
            "flops": self.flops,
            "bytes": self.bytes,
            "intensity_flops_per_byte": self.intensity,
            "time_s": self.time_s,
            "time_share": self.time_share,
            "flop_share": self.flop_share,
            "achieved_flops_per_s": self.achieved_flops_per_s,
            "achieved_bytes_per_s": self.achieved_bytes_per_s,
            "floor_s": self.floor_s,
            "compute_floor_s": self.compute_floor_s,
            "memory_floor_s": self.memory_floor_s,
            "efficiency": self.efficiency,
            "gap_s": self.gap_s,
            "bound": self.bound,
            "below_floor": self.beats_floor,
            "profile_error": self.profile_error,
        }


def _module_times(measured: Any) -> Mapping[str, Any]:
    if measured is None:
        return {}
    if isinstance(measured, Mapping):
        return measured
    return getattr(measured, "modules", {}) or {}


def join_roofline(
    profile: Any, measured: Any, hw: _Profile, *, modes: MathModes | None = None
) -> list[RooflineRow]:
    """Per-module rows joining counts (``profile``), times (``measured``: a
    :class:`~flopwise.measure.per_layer.MeasuredRun` or a ``{path: ModuleTime}`` mapping,
    or None) and a hardware profile, in the profile's module order.

    Flops and bytes are the module's inclusive counts; ``time_s`` its inclusive op time
    (forward, plus backward for a training run).
    """
    floors = module_floors(profile.ops, hw, modes=modes)
    times = _module_times(measured)
    modules = list(profile.modules)
    root_flops = next((m.flops for m in modules if m.path == ""), 0) or sum(
        r.flops for r in profile.ops
    )

    at_root = _backward_counted_at_root(profile)

    def inclusive(mt: Any) -> float:
        # forward + backward (0 unless a training run); when the counts put all backward
        # work on the root, so does the time, to keep flops and seconds comparable.
        if at_root and mt.path != "":
            return mt.total_s
        return mt.total_s + getattr(mt, "backward_total_s", 0.0)

    root_time = inclusive(times[""]) if "" in times else None
    rows = []
    for m in modules:
        f = floors.get(m.path, ZERO)
        mt = times.get(m.path)
        t = inclusive(mt) if mt is not None else None
        rows.append(
            RooflineRow(
                path=m.path,
                type=m.type,
                depth=m.depth,
                calls=m.calls,
                flops=m.flops,
                bytes=m.bytes_read + m.bytes_written,
                time_s=t,
                floor_s=f.floor_s,
                compute_floor_s=f.compute_s,
                memory_floor_s=f.memory_s,
                bound=f.bound,
                flop_share=m.flops / root_flops if root_flops else 0.0,
                time_share=(t / root_time) if (t is not None and root_time) else None,
            )
        )
    return rows


@dataclass
class OpRooflineRow:
    """Counted ops of one name in one module (innermost) joined with profiler time."""

    module_path: str
    op: str
    calls: int
    flops: int
    bytes: int
    time_s: float | None
    floor: Floor
    phase: str = "forward"
    peak: str = ""

    @property
    def floor_s(self) -> float:
        return self.floor.floor_s

    @property
    def beats_floor(self) -> bool:
        return beats_floor(self.floor_s, self.time_s)

    @property
    def profile_error(self) -> str | None:
        return _error_text(self.floor_s, self.time_s) if self.beats_floor else None

    @property
    def bound(self) -> str:
        return self.floor.bound

    @property
    def efficiency(self) -> float | None:
        return efficiency(self.floor_s, self.time_s)

    @property
    def achieved_flops_per_s(self) -> float | None:
        return self.flops / self.time_s if self.time_s else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "module_path": self.module_path,
            "op": self.op,
            "phase": self.phase,
            "calls": self.calls,
            "flops": self.flops,
            "bytes": self.bytes,
            "time_s": self.time_s,
            "floor_s": self.floor_s,
            "efficiency": self.efficiency,
            "achieved_flops_per_s": self.achieved_flops_per_s,
            "bound": self.bound,
            "peak": self.peak,
            "profile_error": self.profile_error,
        }


def _backward_counted_at_root(profile: Any) -> bool:
    """True when the counts file every backward op under the root module (the capture does
    when autograd runs after the forward returned) while profiler times put backward ops
    on the module whose forward created them: joins then compare backward at the root."""
    backward = [r for r in profile.ops if getattr(r, "phase", "forward") == "backward"]
    return bool(backward) and all(r.module_path == "" for r in backward)


def _base(op: str) -> str:
    name = op.replace("::", ".")
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else name


def join_ops(
    profile: Any, op_times: Sequence[Any], hw: _Profile, *, modes: MathModes | None = None
) -> list[OpRooflineRow]:
    """Per (module, op) rows: counted records grouped by innermost module and op name
    (overload dropped), matched to profiler :class:`~flopwise.measure.per_layer.OpTime`
    entries of the same module and name that have no enclosing op of a counted name (so
    ``aten.addmm`` under ``aten.linear`` is matched, and its inner copies are not counted
    twice). Profiler time of a module that matches no counted op is reported as an
    ``(other)`` row with no flops.
    """
    groups: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for r in profile.ops:
        groups[(r.module_path, _base(r.op), getattr(r, "phase", "forward"))].append(r)
    counted_names: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path, name, phase in groups:
        counted_names[(path, phase)].add(name)
    matched: dict[tuple[str, str, str], float] = defaultdict(float)
    other: dict[tuple[str, str], float] = defaultdict(float)
    at_root = _backward_counted_at_root(profile)
    for t in op_times:
        phase = getattr(t, "phase", "forward")
        path = "" if (phase == "backward" and at_root) else t.module_path
        names = counted_names.get((path, phase), set())
        if t.op in names and not any(p in names for p in t.parents):
            matched[(path, t.op, phase)] += t.total_s
        elif not any(p in names for p in t.parents):
            # Unmatched and not inside a matched op: its own time only (matched children
            # carry theirs in their inclusive time).
            other[(path, phase)] += t.self_s
    rows = []
    for (path, name, phase), recs in groups.items():
        f = ZERO
        for r in recs:
            f = f + op_floor(r, hw, modes=modes)
        first = recs[0]
        _, peak_name = op_peak(
            hw, op_dtype(first), getattr(first, "category", ""), getattr(first, "op", ""), modes
        )
        rows.append(
            OpRooflineRow(
                peak=peak_name,
                module_path=path,
                op=name,
                calls=len(recs),
                flops=sum(r.flops for r in recs),
                bytes=sum(r.bytes_read + r.bytes_written for r in recs),
                time_s=matched.get((path, name, phase)),
                floor=f,
                phase=phase,
            )
        )
    for (path, phase), secs in other.items():
        if secs > 0:
            rows.append(
                OpRooflineRow(
                    module_path=path,
                    op="(other)",
                    calls=0,
                    flops=0,
                    bytes=0,
                    time_s=secs,
                    floor=ZERO,
                    phase=phase,
                )
            )
    return rows


def top_k(
    rows: Sequence[RooflineRow], k: int = 10, by: str = "time", leaves_only: bool = True
) -> list[RooflineRow]:
    """The ``k`` rows with the largest time (``by="time"``), flops (``"flops"``) or
    efficiency gap (``"gap"``). ``leaves_only`` keeps modules with no child row, so time is
    not counted twice through parents."""
    pool = list(rows)
    if leaves_only:
        paths = [r.path for r in pool]
        pool = [
            r
            for r in pool
            if r.path and not any(p.startswith(r.path + ".") for p in paths if p != r.path)
        ]
    keys = {
        "time": lambda r: r.time_s or 0.0,
        "flops": lambda r: r.flops,
        "gap": lambda r: r.gap_s or 0.0,
    }
    if by not in keys:
        raise ValueError(f"by must be one of {', '.join(keys)}")
    return sorted(pool, key=keys[by], reverse=True)[:k]


def time_vs_flops(rows: Sequence[RooflineRow], k: int = 10) -> dict[str, list[dict[str, Any]]]:
    """Where time goes versus where FLOPs go: the top-``k`` leaf modules by time share and by
    flop share, each with both shares, for a side-by-side table."""

    def brief(r: RooflineRow) -> dict[str, Any]:
        return {
            "path": r.path,
            "type": r.type,
            "time_share": r.time_share,
            "flop_share": r.flop_share,
            "bound": r.bound,
            "efficiency": r.efficiency,
        }

    return {
        "by_time": [brief(r) for r in top_k(rows, k, by="time")],
        "by_flops": [brief(r) for r in top_k(rows, k, by="flops")],
    }


def summary(
    profile: Any, measured: Any, hw: _Profile, *, modes: MathModes | None = None
) -> dict[str, Any]:
    """Model-level figures: waterline, end-to-end median, efficiency, gap, the share of the
    floor that is memory-bound, achieved FLOP/s. ``measured`` is a MeasuredRun (its
    uninstrumented end-to-end median is used) or None."""
    floors = [op_floor(r, hw, modes=modes) for r in profile.ops]
    water = sum(f.floor_s for f in floors)
    mem = sum(f.floor_s for f in floors if f.bound == "memory")
    flops = sum(r.flops for r in profile.ops)
    latency = getattr(measured, "latency", None)
    e2e = latency.median_s if latency is not None else None
    return {
        "hardware": getattr(hw, "name", None),
        "math_modes": (modes if modes is not None else MathModes()).to_dict(),
        "profile_error": _error_text(water, e2e) if beats_floor(water, e2e) else None,
        "flops": flops,
        "bytes": sum(r.bytes_read + r.bytes_written for r in profile.ops),
        "waterline_s": water,
        "memory_bound_floor_share": mem / water if water else 0.0,
        "measured_s": e2e,
        "efficiency": efficiency(water, e2e),
        "gap_s": efficiency_gap(e2e, water),
        "achieved_flops_per_s": flops / e2e if e2e else None,
    }


def roofline_document(
    profile: Any, measured: Any, hw: Any, *, k: int = 10, modes: MathModes | None = None
) -> dict[str, Any]:
    """The roofline part of a ``measured`` JSON block: ``{"hardware": {...}, "roofline":
    {"modules": [...], "ops": [...], "summary": {...}, "time_vs_flops": {...}}}``.

    ``measured`` is a MeasuredRun (or None for floors only); ``hw`` a HardwareProfile.
    Merge it into the run's own document: ``{**run.to_dict(), **roofline_document(...)}``.
    """
    rows = join_roofline(profile, measured, hw, modes=modes)
    op_times = getattr(measured, "ops", None) or []
    ops = join_ops(profile, op_times, hw, modes=modes)
    summ = summary(profile, measured, hw, modes=modes)
    to_dict = getattr(hw, "to_dict", None)
    return {
        "hardware": to_dict() if to_dict else {"name": getattr(hw, "name", None)},
        "roofline": {
            "modules": [r.to_dict() for r in rows],
            "ops": [o.to_dict() for o in ops],
            "summary": summ,
            "time_vs_flops": time_vs_flops(rows, k),
            "profile_errors": profile_errors(summ, rows, ops),
        },
    }


def profile_errors(
    summ: Mapping[str, Any], rows: Sequence[RooflineRow], ops: Sequence[OpRooflineRow] = ()
) -> list[dict[str, Any]]:
    """Every measured time under its floor (model, module, op), as
    ``{"level", "path", "op", "time_s", "floor_s", "ratio", "message"}``; ``ratio`` is
    floor / measured (> 1). Empty when the profile is consistent with the measurements."""
    out = []
    if summ.get("profile_error"):
        out.append(_error_entry("model", "", None, summ["waterline_s"], summ["measured_s"]))
    for r in rows:
        if r.beats_floor:
            out.append(_error_entry("module", r.path, None, r.floor_s, r.time_s))
    for o in ops:
        if o.beats_floor:
            out.append(_error_entry("op", o.module_path, o.op, o.floor_s, o.time_s))
    return out


def _error_entry(level: str, path: str, op: str | None, floor_s: float, time_s: Any):
    return {
        "level": level,
        "path": path,
        "op": op,
        "time_s": time_s,
        "floor_s": floor_s,
        "ratio": floor_s / time_s,
        "message": _error_text(floor_s, time_s),
    }


# ---------------------------------------------------------------------------------------
# the report's roofline charts, as data

Point = tuple[float, float, str]  # (intensity FLOP/byte or x, FLOP/s or y, label)


class _Ceilings:
    """The two ceilings of a document (:func:`hardware_ceilings`) in the shape
    :func:`floor` reads: one peak whatever the dtype."""

    def __init__(self, hw: Mapping[str, Any]) -> None:
        self.memory_bandwidth = float(hw["memory_bandwidth"])
        self._peak = float(hw["peak_flops"])

    def peak_for(self, dtype: Any = "float32", *, sparse: bool = False) -> float:
        return self._peak


def _layer_points(
    doc: dict[str, Any], hw: Mapping[str, Any] | None
) -> tuple[dict[str, list[Point]], list[Point], list[float]]:
    """Measured layers by bound, unmeasured layers at their roofline bound (with ceilings),
    and the intensity of every layer with FLOPs and bytes."""
    measured: dict[str, list[Point]] = {"memory": [], "compute": []}
    at_bound: list[Point] = []
    intensities = []
    ridge = hw["peak_flops"] / hw["memory_bandwidth"] if hw else None
    for module in leaf_modules(doc):
        metrics = module_metrics(module)
        flops, nbytes = positive(metrics["flops"]), positive(metrics["bytes"])
        if flops is None or nbytes is None:
            continue
        intensity = flops / nbytes
        intensities.append(intensity)
        label = f"{module.get('path') or '(root)'} [{module.get('type', '')}]"
        time_s = positive(metrics["time"])
        if time_s is not None:
            bound = module.get("bound")
            if bound not in ("memory", "compute"):
                bound = "memory" if ridge is not None and intensity < ridge else "compute"
            measured[bound].append((intensity, flops / time_s, label))
        elif hw is not None:
            attainable = min(hw["peak_flops"], hw["memory_bandwidth"] * intensity)
            at_bound.append((intensity, attainable, label))
    return measured, at_bound, intensities


def _op_points(doc: dict[str, Any]) -> list[Point]:
    """Measured ops: (intensity, achieved FLOP/s, "op in module")."""
    points = []
    for row in op_rows(doc):
        metrics = module_metrics(row)
        time_s = positive(metrics["time"])
        if time_s is not None:
            flops = float(metrics["flops"])
            label = f"{row.get('op', '?')} in {row.get('module_path') or '(root)'}"
            points.append((flops / metrics["bytes"], flops / time_s, label))
    return points


def _ceiling_lines(
    hw: Mapping[str, Any], intensities: list[float]
) -> dict[str, list[tuple[float, float]]]:
    """The memory slope up to the ridge and the compute flat beyond it, spanning the
    intensities drawn (and the ridge) with a factor 2 of margin either side."""
    peak, bw = hw["peak_flops"], hw["memory_bandwidth"]
    ridge = peak / bw
    lo = min(min(intensities), ridge) / 2
    hi = max(max(intensities), ridge) * 2
    return {"memory": [(lo, bw * lo), (ridge, peak)], "compute": [(ridge, peak), (hi, peak)]}


def _layer_floors(doc: dict[str, Any], hw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Each layer's floor (the document's own, else that of the layer's totals under the
    document's ceilings: a lower bound of the sum of its ops' floors, equal for single-op
    layers) and the waterline (the analysis' own sum of per-op floors when the document
    carries it, else the sum of the layer floors)."""
    given = document_floors(doc)
    floors, own = [], []
    for module in leaf_modules(doc):
        path = str(module.get("path", ""))
        carried = given.get(path) if given and path in given else own_floor(module)
        own.append(own_floor(module) is not None)
        if carried is None and hw is not None:
            metrics = module_metrics(module)
            flops, nbytes = metrics["flops"] or 0, metrics["bytes"] or 0
            if flops or nbytes:
                carried = floor(flops, nbytes, _Ceilings(hw)).floor_s
        floors.append(carried)
    roof = (doc.get("measured") if isinstance(doc.get("measured"), dict) else {}).get("roofline")
    summ = roof.get("summary") if isinstance(roof, dict) else None
    summ = summ if isinstance(summ, dict) else {}
    if positive(summ.get("waterline_s")):
        waterline = float(summ["waterline_s"])
    else:
        waterline = sum(f or 0.0 for f in floors)
    return {"floors": floors, "own": own, "given": bool(given), "waterline_s": waterline}


def roofline_plot(doc: dict[str, Any]) -> dict[str, Any]:
    """What the report's roofline and efficiency-gap charts draw for a profile document,
    computed here so that the report only places it:

    - ``ceilings``: :func:`hardware_ceilings` (``peak_flops``, ``memory_bandwidth``,
      ``name``) or None; ``ridge``: peak / bandwidth (FLOP/byte) or None;
    - ``lines``: ``{"memory": [(x, y), (x, y)], "compute": [...]}``, the ceilings over the
      drawn intensities (empty without ceilings or layers);
    - ``layers``: ``{"memory": [(intensity, FLOP/s, label)], "compute": [...]}`` measured
      layers by bound; ``ops``: measured ops; ``at_bound``: unmeasured layers at the
      FLOP/s their roofline allows; ``placed``: whether any layer or op has FLOPs and bytes;
    - ``floors``: per layer of ``leaf_modules(doc)``, in order, its floor (s) or None;
      ``own``: whether the layer's row carries that floor itself; ``given``: whether the
      document's roofline section gives floors; ``waterline_s``;
    - ``totals``: ``{"flops", "bytes", "time"}`` summed over the layers (the share charts'
      denominators); ``measured_s``: the document's end-to-end latency, else the sum of
      the layers' times;
    - ``timed``: whether any layer has a measured time; ``ranked``: indices into
      ``leaf_modules(doc)`` of the layers by time (by FLOPs when none is timed), largest
      first, those at zero left out;
    - ``shares``: per layer of ``leaf_modules(doc)``, its percent (0..100) of ``totals``:
      ``{"flops": [...], "bytes": [...] | None, "time": [...] | None}`` (``flops`` all 0
      when the layers have no FLOPs; ``bytes`` None without bytes; ``time`` None when no
      layer is timed);
    - ``efficiency``: :func:`efficiency` of ``waterline_s`` against ``measured_s``
      (fraction, 0..1), None without a measurement or when it beats the waterline.
    """
    hw = hardware_ceilings(doc)
    measured, at_bound, intensities = _layer_points(doc, hw)
    ops = _op_points(doc)
    intensities += [x for x, _, _ in ops]
    floors, totals = _layer_floors(doc, hw), _layer_totals(doc)
    return {
        "ceilings": hw,
        "ridge": hw["peak_flops"] / hw["memory_bandwidth"] if hw else None,
        "lines": _ceiling_lines(hw, intensities) if hw and intensities else {},
        "layers": measured,
        "ops": ops,
        "at_bound": at_bound,
        "placed": bool(intensities),
        **floors,
        **totals,
        "shares": _layer_shares(doc, totals["totals"], totals["timed"]),
        "efficiency": efficiency(floors["waterline_s"], totals["measured_s"]),
    }


def _layer_shares(
    doc: dict[str, Any], totals: Mapping[str, float], timed: bool
) -> dict[str, list[float] | None]:
    """Each layer's percent of the layers' FLOPs, bytes and time (``roofline_plot``)."""
    metrics = [module_metrics(m) for m in leaf_modules(doc)]
    flops, nbytes, time = totals["flops"], totals["bytes"], totals["time"]
    return {
        "flops": [100 * (m["flops"] or 0) / flops if flops else 0 for m in metrics],
        "bytes": [100 * (m["bytes"] or 0) / nbytes for m in metrics] if nbytes else None,
        "time": (
            [100 * (positive(m["time"]) or 0) / time for m in metrics] if timed and time else None
        ),
    }


def module_figures(doc: dict[str, Any]) -> dict[str, Any]:
    """The derived figures of a profile document's cards and module table (the HTML
    report draws them as they are):

    - ``achieved_flops_per_s``: the totals' FLOPs over the measured end-to-end latency
      (FLOP/s), None without a latency or FLOPs;
    - ``modules``: one dict per ``modules[i]`` row that is a dict, in order:
      ``intensity`` (FLOP per byte moved: the row's own, else FLOPs / bytes),
      ``flops_percent`` (percent of the totals' FLOPs), ``time_percent`` (percent of the
      measured latency, else of the root row's time) and ``achieved_flops_per_s`` (the
      row's FLOPs over its time); each None where the row lacks what it needs.
    """
    modules = [m for m in doc.get("modules") or () if isinstance(m, dict)]
    total_flops = module_metrics(doc.get("totals") or {})["flops"]
    latency = measured_latency(doc)
    root_time = _root_time(doc, modules)
    return {
        "achieved_flops_per_s": total_flops / latency if total_flops and latency else None,
        "modules": [_module_row(m, total_flops or 0, root_time) for m in modules],
    }


def _root_time(doc: dict[str, Any], modules: list[dict[str, Any]]) -> float | None:
    """The time module shares are taken of: the measured latency, else the root row's."""
    if not any(module_metrics(m)["time"] is not None for m in modules):
        return None
    latency = measured_latency(doc)
    if latency is not None:
        return latency
    return module_metrics(modules[0])["time"] if modules[0].get("depth", 0) == 0 else None


def _module_row(
    module: dict[str, Any], total_flops: float, root_time: float | None
) -> dict[str, float | None]:
    metrics = module_metrics(module)
    flops, nbytes, t = metrics["flops"], metrics["bytes"], metrics["time"]
    intensity = module.get("intensity")
    if intensity is None and flops is not None and nbytes:
        intensity = flops / nbytes
    return {
        "intensity": intensity,
        "flops_percent": 100 * flops / total_flops if flops is not None and total_flops else None,
        "time_percent": 100 * t / root_time if t is not None and root_time else None,
        "achieved_flops_per_s": flops / t if t and flops is not None else None,
    }


def _layer_totals(doc: dict[str, Any]) -> dict[str, Any]:
    leaves = leaf_modules(doc)
    metrics = [module_metrics(m) for m in leaves]
    time = sum(positive(m["time"]) or 0.0 for m in metrics)
    timed = any(positive(m["time"]) is not None for m in metrics)

    def key(i: int) -> float:
        m = metrics[i]
        return (positive(m["time"]) or 0.0) if timed else float(m["flops"] or 0)

    ranked = sorted(range(len(metrics)), key=key, reverse=True)
    return {
        "totals": {
            "flops": sum(m["flops"] or 0 for m in metrics),
            "bytes": sum(m["bytes"] or 0 for m in metrics),
            "time": time,
        },
        "measured_s": measured_latency(doc) or time,
        "timed": timed,
        "ranked": [i for i in ranked if key(i) > 0],
    }
