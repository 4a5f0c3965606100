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
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from flopwise.measure.timing import (
    DEFAULT_BUDGET_S,
    DEFAULT_MIN_REPEATS,
    MIN_SAMPLE_S,
    SPREAD_THRESHOLD,
    Latency,
    _calibrate_number,
    check_device,
    make_timer,
    progress_bar,
)

__all__ = [
    "MODULE_RANGE_PREFIX",
    "ModuleTime",
    "OpTime",
    "LayerTimes",
    "MeasuredRun",
    "module_ranges",
    "profile_layers",
    "measure_model",
    "op_base_name",
    "verdict",
]

#: Name prefix of the profiler ranges opened around modules.
MODULE_RANGE_PREFIX = "flopwise.module::"
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


def op_base_name(name: str) -> str:
    """``aten::addmm`` / ``aten.add.Tensor`` / ``aten.mm.default`` → ``aten.addmm`` /
    ``aten.add`` / ``aten.mm``: the spelling shared by profiler events and op records."""
    name = name.replace("::", ".")
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else name


# -- instrumentation ----------------------------------------------------------------------


class _RangeTracker:
    """Opens a profiler range in a global forward pre-hook and closes it in the post-hook.

    Ranges are kept on a stack with the module that opened them; the post-hook pops up to
    and including its own module's range (closing any a swallowed exception left open), and
    :meth:`close` removes both hooks and closes whatever is still open.
    """

    def __init__(self, model: nn.Module) -> None:
        self.paths: dict[int, str] = {id(m): p for p, m in model.named_modules()}
        self.stack: list[tuple[int, Any]] = []
        self.handles: list[Any] = []

    def _pre(self, module: nn.Module, args: Any) -> None:
        path = self.paths.get(id(module))
        if path is None:
            return
        rf = torch.autograd.profiler.record_function(MODULE_RANGE_PREFIX + path)
        rf.__enter__()
        self.stack.append((id(module), rf))

    def _post(self, module: nn.Module, args: Any, output: Any) -> None:
        key = id(module)
        if key not in self.paths or not any(k == key for k, _ in self.stack):
            return
        while self.stack:
            k, rf = self.stack.pop()
            rf.__exit__(None, None, None)
            if k == key:
                break

    def open(self) -> None:
        from torch.nn.modules import module as _m

        self.handles.append(_m.register_module_forward_pre_hook(self._pre))
        try:
            post = _m.register_module_forward_hook(self._post, always_call=True)
        except TypeError:  # torch without always_call: close() still cleans up
            post = _m.register_module_forward_hook(self._post)
        self.handles.append(post)

    def close(self) -> None:
        while self.handles:
            self.handles.pop().remove()
        while self.stack:
            _, rf = self.stack.pop()
            with contextlib.suppress(Exception):
                rf.__exit__(None, None, None)


@contextlib.contextmanager
def module_ranges(model: nn.Module) -> Iterator[None]:
    """Context manager: every module of ``model`` that runs inside it is wrapped in a
    ``flopwise.module::<path>`` profiler range. Hooks are removed on exit, even on error."""
    tracker = _RangeTracker(model)
    try:
        tracker.open()
        yield
    finally:
        tracker.close()


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence the profiler backend's native log lines (written straight to fd 2 when a
    session starts and stops); Python-level stderr is flushed first and restored after."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(fd)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _activities(device: str) -> list[Any]:
    from torch.profiler import ProfilerActivity

    acts = [ProfilerActivity.CPU]
    if device.startswith("cuda"):
        acts.append(ProfilerActivity.CUDA)
    return acts


def _profiled_call(
    call: Callable[[], Any], model: nn.Module, device: str
) -> tuple[list[Any], float]:
    """Run ``call`` once under the profiler with module ranges; return (events, wall s)."""
    from torch.profiler import profile

    sync = (lambda: torch.cuda.synchronize(torch.device(device))) if device != "cpu" else None
    prof = profile(activities=_activities(device))
    with _quiet_native_stderr():
        prof.__enter__()
    try:
        with module_ranges(model):
            if sync:
                sync()
            t0 = time.perf_counter_ns()
            call()
            if sync:
                sync()
            wall = (time.perf_counter_ns() - t0) / 1e9
    finally:
        with _quiet_native_stderr():
            prof.__exit__(None, None, None)
    return list(prof.events()), wall


_BACKWARD_NODE = "autograd::engine::evaluate_function:"


def _module_ancestors(path: str) -> list[str]:
    """``"a.b"`` → ``["a.b", "a", ""]`` (innermost first)."""
    if not path:
        return [""]
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)] + [""]


def _attribute(events: Sequence[Any], device: str) -> dict[str, Any]:
    """One iteration's events → per-module and per-op sums (seconds).

    Forward ATen ops go to the innermost enclosing module range. Backward ATen ops (run by
    autograd after the forward returned, outside every range) go to the module whose
    forward op created their autograd node: the node's ``evaluate_function`` event carries
    the forward op's sequence number.
    """
    use_device = device.startswith("cuda")
    mod_self: dict[str, float] = defaultdict(float)
    mod_total: dict[str, float] = defaultdict(float)
    bwd_self: dict[str, float] = defaultdict(float)
    bwd_total: dict[str, float] = defaultdict(float)
    mod_calls: dict[str, int] = defaultdict(int)
    mod_wall: dict[str, float] = defaultdict(float)
    ops: dict[tuple[str, str, tuple[str, ...], str], list[float]] = {}
    outside = 0.0
    seq_module: dict[int, str] = {}
    pending: list[tuple[Any, float, float]] = []
    # host/device time of top-level ops (no enclosing ATen op in the same module): their
    # inclusive times hold their children's, launches and kernels included
    host_self: dict[str, float] = defaultdict(float)
    host_total: dict[str, float] = defaultdict(float)
    dev_self: dict[str, float] = defaultdict(float)
    dev_total: dict[str, float] = defaultdict(float)
    bwd_host = bwd_dev = 0.0

    def host_dev(ev: Any) -> tuple[float, float]:
        dev = ev.device_time_total / 1e6 if use_device else 0.0
        return ev.cpu_time_total / 1e6, dev

    def add_op(key: tuple[str, str, tuple[str, ...], str], self_t: float, total_t: float) -> None:
        slot = ops.setdefault(key, [0.0, 0.0, 0])
        slot[0] += self_t
        slot[1] += total_t
        slot[2] += 1

    for ev in events:
        name = ev.name
        if name.startswith(MODULE_RANGE_PREFIX):
            path = name[len(MODULE_RANGE_PREFIX) :]
            mod_calls[path] += 1
            mod_wall[path] += ev.cpu_time_total / 1e6
            continue
        if not name.startswith("aten::"):
            continue
        self_t = (ev.self_device_time_total if use_device else ev.self_cpu_time_total) / 1e6
        total_t = (ev.device_time_total if use_device else ev.cpu_time_total) / 1e6
        parents: list[str] = []
        enclosing: list[str] = []
        parent = ev.cpu_parent
        while parent is not None:
            pname = parent.name
            if pname.startswith(MODULE_RANGE_PREFIX):
                enclosing.append(pname[len(MODULE_RANGE_PREFIX) :])
            elif pname.startswith("aten::") and not enclosing:
                parents.append(op_base_name(pname))
            parent = parent.cpu_parent
        if not enclosing:
            pending.append((ev, self_t, total_t))
            continue
        inner = enclosing[0]
        seq = getattr(ev, "sequence_nr", -1)
        if seq is not None and seq >= 0:
            seq_module.setdefault(seq, inner)
        mod_self[inner] += self_t
        for path in dict.fromkeys(enclosing):  # each enclosing module once
            mod_total[path] += self_t
        if not parents:
            host_t, dev_t = host_dev(ev)
            host_self[inner] += host_t
            dev_self[inner] += dev_t
            for path in dict.fromkeys(enclosing):
                host_total[path] += host_t
                dev_total[path] += dev_t
        add_op((op_base_name(ev.name), inner, tuple(reversed(parents)), "forward"), self_t, total_t)

    for ev, self_t, total_t in pending:  # outside every range: backward ops, or truly outside
        parents = []
        node = None
        parent = ev.cpu_parent
        while parent is not None:
            if parent.name.startswith(_BACKWARD_NODE):
                node = parent
                break
            if parent.name.startswith("aten::"):
                parents.append(op_base_name(parent.name))
            parent = parent.cpu_parent
        path = seq_module.get(getattr(node, "sequence_nr", -1)) if node is not None else None
        if path is None:
            outside += self_t
            continue
        bwd_self[path] += self_t
        for p in _module_ancestors(path):
            bwd_total[p] += self_t
        if not parents:
            host_t, dev_t = host_dev(ev)
            bwd_host += host_t
            bwd_dev += dev_t
        add_op((op_base_name(ev.name), path, tuple(reversed(parents)), "backward"), self_t, total_t)

    return {
        "self": mod_self,
        "total": mod_total,
        "bwd_self": bwd_self,
        "bwd_total": bwd_total,
        "calls": mod_calls,
        "wall": mod_wall,
        "ops": ops,
        "outside": outside,
        "attributed": sum(mod_self.values()) + sum(bwd_self.values()),
        "host_self": host_self,
        "host_total": host_total,
        "dev_self": dev_self,
        "dev_total": dev_total,
        "host_attributed": sum(host_self.values()) + bwd_host,
        # the root module's range: all host time of the forward, Python between ops included
        "host_wall": mod_wall.get("", 0.0),
        "device_attributed": sum(dev_self.values()) + bwd_dev,
    }


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _combine(model: nn.Module, iterations: list[dict[str, Any]], device: str) -> LayerTimes:
    """Median over iterations of each per-iteration figure (missing = 0)."""
    n = len(iterations)
    types = {p: type(m).__name__ for p, m in model.named_modules()}
    seen_paths: dict[str, None] = {}
    for p in types:  # keep named_modules order, then any path the model ran but we lack
        if any(p in it["calls"] for it in iterations):
            seen_paths[p] = None
    for it in iterations:
        for p in it["calls"]:
            seen_paths.setdefault(p, None)
    modules: dict[str, ModuleTime] = {}
    for p in seen_paths:
        modules[p] = ModuleTime(
            path=p,
            type=types.get(p, "?"),
            self_s=_median([it["self"].get(p, 0.0) for it in iterations]),
            total_s=_median([it["total"].get(p, 0.0) for it in iterations]),
            calls=round(_median([it["calls"].get(p, 0) for it in iterations])),
            wall_s=_median([it["wall"].get(p, 0.0) for it in iterations]),
            backward_self_s=_median([it["bwd_self"].get(p, 0.0) for it in iterations]),
            backward_total_s=_median([it["bwd_total"].get(p, 0.0) for it in iterations]),
            host_self_s=_median([it["host_self"].get(p, 0.0) for it in iterations]),
            host_total_s=_median([it["host_total"].get(p, 0.0) for it in iterations]),
            device_self_s=_median([it["dev_self"].get(p, 0.0) for it in iterations]),
            device_total_s=_median([it["dev_total"].get(p, 0.0) for it in iterations]),
        )
    keys: dict[tuple[str, str, tuple[str, ...], str], None] = {}
    for it in iterations:
        for k in it["ops"]:
            keys.setdefault(k, None)
    ops = []
    for k in keys:
        vals = [it["ops"].get(k, (0.0, 0.0, 0)) for it in iterations]
        ops.append(
            OpTime(
                op=k[0],
                module_path=k[1],
                parents=k[2],
                phase=k[3],
                calls=round(_median([v[2] for v in vals])),
                self_s=_median([v[0] for v in vals]),
                total_s=_median([v[1] for v in vals]),
            )
        )
    return LayerTimes(
        modules=modules,
        ops=ops,
        iterations=n,
        attributed_s=_median([it["attributed"] for it in iterations]),
        outside_s=_median([it["outside"] for it in iterations]),
        device=device,
        attributed_host_s=_median([it["host_attributed"] for it in iterations]),
        attributed_device_s=_median([it["device_attributed"] for it in iterations]),
    )


# -- entry points -------------------------------------------------------------------------


def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, Mapping):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        for item in obj:
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


def _infer(
    model: nn.Module, args: tuple, kwargs: Mapping[str, Any]
) -> tuple[str, str | None, int | None]:
    """(device, dtype name, items) from the inputs and parameters."""
    first = _first_tensor(args) if args else None
    if first is None:
        first = _first_tensor(kwargs)
    device = None
    dtype = None
    for p in model.parameters():
        device = str(p.device)
        if p.is_floating_point():
            dtype = str(p.dtype).removeprefix("torch.")
        break
    if first is not None:
        device = device or str(first.device)
        if dtype is None and first.is_floating_point():
            dtype = str(first.dtype).removeprefix("torch.")
    items = int(first.shape[0]) if first is not None and first.dim() > 0 else None
    return device or "cpu", dtype, items


def _loss_of(out: Any) -> torch.Tensor:
    """A scalar to call ``backward()`` on: the sum of every floating output that needs grad."""
    leaves: list[torch.Tensor] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, torch.Tensor):
            if obj.requires_grad and obj.is_floating_point():
                leaves.append(obj)
        elif isinstance(obj, Mapping):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)

    walk(out)
    if not leaves:
        from flopwise.errors import FlopwiseError

        raise FlopwiseError("cannot time training: no model output requires grad")
    return sum(t.float().sum() for t in leaves)


def _make_call(
    model: nn.Module, args: tuple, kwargs: Mapping[str, Any], grad: bool, train: bool = False
) -> Callable:
    """The timed callable: a forward (no grad unless ``grad``), or with ``train`` a training
    step without the optimiser: zero the grads, forward, backward of the outputs' sum."""
    kwargs = dict(kwargs)
    if train:

        def step() -> Any:
            model.zero_grad(set_to_none=True)
            with torch.enable_grad():
                out = model(*args, **kwargs)
                _loss_of(out).backward()
            return out

        return step

    def call() -> Any:
        with torch.set_grad_enabled(grad):
            return model(*args, **kwargs)

    return call


def profile_layers(
    model: nn.Module,
    args: tuple = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    iterations: int = 5,
    warmup: int = 2,
    grad: bool = False,
    device: str | None = None,
    progress: bool = False,
    train: bool = False,
) -> LayerTimes:
    """Profile ``iterations`` calls of ``model(*args, **kwargs)`` (after ``warmup`` plain
    calls and one discarded profiled call) and return per-module and per-op medians.
    ``instrumented`` holds the profiled calls' wall times. No uninstrumented reference is
    taken here; :func:`measure_model` interleaves one."""
    kwargs = kwargs or {}
    inferred_device, dtype, items = _infer(model, args, kwargs)
    device = check_device(device or inferred_device)
    call = _make_call(model, args, kwargs, grad, train)
    for _ in range(warmup):
        call()
    _profiled_call(call, model, device)
    results, walls = [], []
    with progress_bar("profiling layers", iterations, progress) as advance:
        for _ in range(iterations):
            events, wall = _profiled_call(call, model, device)
            results.append(_attribute(events, device))
            walls.append(wall)
            advance(1)
    layers = _combine(model, results, device)
    layers.instrumented = Latency(
        samples=walls, warmup=warmup, items=items, device=device, dtype=dtype, label="profiled"
    )
    return layers


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
        paired = self._paired("attributed_s")
        if paired is not None:
            return paired
        return self.coverage_of_medians

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
        paired = self._paired("host_s")
        if paired is not None:
            return paired
        if self.latency.median_s <= 0:
            return None
        return self.layers.attributed_host_s / self.latency.median_s

    @property
    def host_wall_coverage(self) -> float | None:
        """The root module's host wall time (its profiler range: ATen ops *and* the Python
        between them that issues them) / uninstrumented end-to-end time, paired like
        :attr:`coverage`. It includes the profiler's own per-op cost (see
        :attr:`overhead`), so it reads high by about that much."""
        if not self.layers or "" not in self.layers.modules:
            return None
        paired = self._paired("host_wall_s")
        if paired is not None:
            return paired
        if self.latency.median_s <= 0:
            return None
        return self.layers.modules[""].wall_s / self.latency.median_s

    @property
    def device_coverage(self) -> float | None:
        """Kernel time attributed to modules / uninstrumented end-to-end time (GPU runs;
        None on CPU), paired like :attr:`coverage`."""
        if not self.layers or not self.is_gpu:
            return None
        paired = self._paired("device_s")
        if paired is not None:
            return paired
        if self.latency.median_s <= 0:
            return None
        return self.layers.attributed_device_s / self.latency.median_s

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


def measure_model(
    model: nn.Module,
    args: tuple = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    warmup: int = 3,
    repeats: int | None = None,
    budget_s: float | None = None,
    per_layer: bool = True,
    profile_iterations: int = 5,
    progress: bool = True,
    device: str | None = None,
    items: int | None = None,
    grad: bool = False,
    min_repeats: int = DEFAULT_MIN_REPEATS,
    threshold: float = SPREAD_THRESHOLD,
    threads: int | None = None,
    train: bool = False,
) -> MeasuredRun:
    """Time ``model(*args, **kwargs)`` end to end and, with ``per_layer``, per module and op.

    Plain (uninstrumented) samples and ``profile_iterations`` profiled calls are
    interleaved in one run: ``repeats`` plain samples, or as many as fit in ``budget_s``
    (default :data:`~flopwise.measure.timing.DEFAULT_BUDGET_S` when neither is given),
    with the profiled calls spread among them. Every profiled call gets a plain sample
    before and after it, so a run can end with a few more plain samples than ``repeats``. Runs under ``torch.no_grad()`` unless
    ``grad``; the caller puts the model in eval mode. ``items`` (throughput) defaults to the
    first input's leading dimension. ``device`` defaults to where the parameters live.
    ``train=True`` times a training step without the optimiser (zero grads, forward,
    backward of the sum of the outputs); backward ops are attributed to the module whose
    forward op created them (``ModuleTime.backward_*``, ``OpTime.phase == "backward"``).
    ``threads`` sets ``torch.set_num_threads`` for the run (restored after): on a shared
    machine one thread gives far steadier times than several, whose kernels wait for their
    slowest thread.
    """
    if threads is not None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return measure_model(
                model,
                args,
                kwargs,
                warmup=warmup,
                repeats=repeats,
                budget_s=budget_s,
                per_layer=per_layer,
                profile_iterations=profile_iterations,
                progress=progress,
                device=device,
                items=items,
                grad=grad,
                min_repeats=min_repeats,
                threshold=threshold,
                train=train,
            )
        finally:
            torch.set_num_threads(previous)
    kwargs = kwargs or {}
    if repeats is not None and repeats < 1:
        raise ValueError("repeats must be >= 1")
    if repeats is None and budget_s is None:
        budget_s = DEFAULT_BUDGET_S
    inferred_device, dtype, inferred_items = _infer(model, args, kwargs)
    device = check_device(device or inferred_device)
    items = inferred_items if items is None else items
    timer = make_timer(device)
    grad = grad or train
    call = _make_call(model, args, kwargs, grad, train)

    warm = [timer(call, 1) for _ in range(max(1, warmup))]
    per_call = min(warm)
    number = _calibrate_number(per_call, MIN_SAMPLE_S)
    target_prof = profile_iterations if per_layer else 0
    if target_prof:
        _profiled_call(call, model, device)  # pays the profiler's one-time start-up

    def profiled_due(k: int) -> bool:
        """The k-th profiled call runs once the run is (k + 1/2)/P of the way through (by
        samples with ``repeats``, by time with a budget), spreading them over the run."""
        if repeats is not None:
            return len(plain) >= (k + 0.5) * repeats / target_prof
        return time.perf_counter() - start >= (k + 0.5) * budget_s / target_prof

    plain: list[float] = []
    walls: list[float] = []
    iterations: list[dict[str, Any]] = []
    after_plain: list[int] = []  # index of the plain sample each profiled call follows
    start = time.perf_counter()
    total = float(repeats) if repeats is not None else budget_s
    with progress_bar("measuring", total, progress) as advance:
        while True:
            plain_done = (
                len(plain) >= repeats
                if repeats is not None
                else (time.perf_counter() - start >= budget_s and len(plain) >= min_repeats)
            )
            prof_done = len(iterations) >= target_prof
            if plain_done and prof_done:
                break
            # A plain sample every round (also while profiled calls are still pending, so
            # each profiled call has plain neighbours on both sides to be compared with).
            plain.append(timer(call, number))
            if not prof_done and (plain_done or profiled_due(len(iterations))):
                events, wall = _profiled_call(call, model, device)
                iterations.append(_attribute(events, device))
                walls.append(wall)
                after_plain.append(len(plain) - 1)
            if repeats is not None:
                advance(0, completed=min(len(plain), repeats))
            else:
                advance(0, completed=min(time.perf_counter() - start, budget_s))

    latency = Latency(
        samples=plain,
        warmup=warmup,
        number=number,
        items=items,
        device=device,
        dtype=dtype,
        label="end-to-end",
        threshold=threshold,
    )
    layers = None
    if iterations:
        layers = _combine(model, iterations, device)
        for it, wall, j in zip(iterations, walls, after_plain, strict=True):
            neighbours = plain[j : j + 2]
            layers.per_iteration.append(
                {
                    "attributed_s": it["attributed"],
                    "host_s": it["host_attributed"],
                    "host_wall_s": it["host_wall"],
                    "device_s": it["device_attributed"],
                    "wall_s": wall,
                    "reference_s": sum(neighbours) / len(neighbours),
                }
            )
        layers.instrumented = Latency(
            samples=walls,
            warmup=warmup,
            items=items,
            device=device,
            dtype=dtype,
            label="profiled",
            threshold=threshold,
        )
    return MeasuredRun(
        latency=latency, layers=layers, device=device, dtype=dtype, grad=grad, train=train
    )
