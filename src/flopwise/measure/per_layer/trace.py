"""Profiler trace → per-module and per-op time.

While a profiled call runs, global module forward pre/post hooks open and close a
``record_function("flopwise.module::<path>")`` range around every module of the model
(:func:`module_ranges`); :func:`_profiled_call` collects the events. :func:`_attribute`
gives each ATen event's self time to the innermost enclosing module range and its
inclusive time to every enclosing module (backward ops to the module whose forward op
created their autograd node), and :func:`_combine` takes the median over iterations.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from flopwise.measure.per_layer.results import LayerTimes, ModuleTime, OpTime

__all__ = ["MODULE_RANGE_PREFIX", "module_ranges", "op_base_name"]

#: Name prefix of the profiler ranges opened around modules.
MODULE_RANGE_PREFIX = "flopwise.module::"


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


#: (op, innermost module, enclosing ATen ops in that module outermost first, phase).
_OpKey = tuple[str, str, tuple[str, ...], str]


class _Attribution:
    """Running sums (seconds) of one profiled iteration's events, per module and per op.

    Host/device sums count only top-level ops (no enclosing ATen op in the same module):
    their inclusive times hold their children's, launches and kernels included.
    """

    def __init__(self, use_device: bool) -> None:
        self.use_device = use_device
        self.mod_self: dict[str, float] = defaultdict(float)
        self.mod_total: dict[str, float] = defaultdict(float)
        self.bwd_self: dict[str, float] = defaultdict(float)
        self.bwd_total: dict[str, float] = defaultdict(float)
        self.mod_calls: dict[str, int] = defaultdict(int)
        self.mod_wall: dict[str, float] = defaultdict(float)
        self.ops: dict[_OpKey, list[float]] = {}
        self.outside = 0.0
        self.seq_module: dict[int, str] = {}
        self.host_self: dict[str, float] = defaultdict(float)
        self.host_total: dict[str, float] = defaultdict(float)
        self.dev_self: dict[str, float] = defaultdict(float)
        self.dev_total: dict[str, float] = defaultdict(float)
        self.bwd_host = self.bwd_dev = 0.0

    def times(self, ev: Any) -> tuple[float, float]:
        """(self, inclusive) time of an ATen event: device time on CUDA, else CPU time."""
        if self.use_device:
            return ev.self_device_time_total / 1e6, ev.device_time_total / 1e6
        return ev.self_cpu_time_total / 1e6, ev.cpu_time_total / 1e6

    def host_dev(self, ev: Any) -> tuple[float, float]:
        dev = ev.device_time_total / 1e6 if self.use_device else 0.0
        return ev.cpu_time_total / 1e6, dev

    def add_op(self, key: _OpKey, self_t: float, total_t: float) -> None:
        slot = self.ops.setdefault(key, [0.0, 0.0, 0])
        slot[0] += self_t
        slot[1] += total_t
        slot[2] += 1

    def module_range(self, path: str, ev: Any) -> None:
        self.mod_calls[path] += 1
        self.mod_wall[path] += ev.cpu_time_total / 1e6

    def forward_op(self, ev: Any) -> bool:
        """Give ``ev`` to its innermost enclosing module range; False when there is none."""
        self_t, total_t = self.times(ev)
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
            return False
        inner = enclosing[0]
        seq = getattr(ev, "sequence_nr", -1)
        if seq is not None and seq >= 0:
            self.seq_module.setdefault(seq, inner)
        self.mod_self[inner] += self_t
        for path in dict.fromkeys(enclosing):  # each enclosing module once
            self.mod_total[path] += self_t
        if not parents:
            host_t, dev_t = self.host_dev(ev)
            self.host_self[inner] += host_t
            self.dev_self[inner] += dev_t
            for path in dict.fromkeys(enclosing):
                self.host_total[path] += host_t
                self.dev_total[path] += dev_t
        key = (op_base_name(ev.name), inner, tuple(reversed(parents)), "forward")
        self.add_op(key, self_t, total_t)
        return True

    def backward_op(self, ev: Any) -> None:
        """Give an op outside every range to the module whose forward op created its
        autograd node (matched by sequence number), else count it as outside."""
        self_t, total_t = self.times(ev)
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
        path = self.seq_module.get(getattr(node, "sequence_nr", -1)) if node is not None else None
        if path is None:
            self.outside += self_t
            return
        self.bwd_self[path] += self_t
        for p in _module_ancestors(path):
            self.bwd_total[p] += self_t
        if not parents:
            host_t, dev_t = self.host_dev(ev)
            self.bwd_host += host_t
            self.bwd_dev += dev_t
        self.add_op(
            (op_base_name(ev.name), path, tuple(reversed(parents)), "backward"), self_t, total_t
        )

    def result(self) -> dict[str, Any]:
        return {
            "self": self.mod_self,
            "total": self.mod_total,
            "bwd_self": self.bwd_self,
            "bwd_total": self.bwd_total,
            "calls": self.mod_calls,
            "wall": self.mod_wall,
            "ops": self.ops,
            "outside": self.outside,
            "attributed": sum(self.mod_self.values()) + sum(self.bwd_self.values()),
            "host_self": self.host_self,
            "host_total": self.host_total,
            "dev_self": self.dev_self,
            "dev_total": self.dev_total,
            "host_attributed": sum(self.host_self.values()) + self.bwd_host,
            # the root module's range: all host time of the forward, Python between ops
            "host_wall": self.mod_wall.get("", 0.0),
            "device_attributed": sum(self.dev_self.values()) + self.bwd_dev,
        }


def _attribute(events: Sequence[Any], device: str) -> dict[str, Any]:
    """One iteration's events → per-module and per-op sums (seconds).

    Forward ATen ops go to the innermost enclosing module range. Backward ATen ops (run by
    autograd after the forward returned, outside every range) go to the module whose
    forward op created their autograd node: the node's ``evaluate_function`` event carries
    the forward op's sequence number.
    """
    sums = _Attribution(device.startswith("cuda"))
    pending = []  # outside every range: backward ops, or truly outside
    for ev in events:
        name = ev.name
        if name.startswith(MODULE_RANGE_PREFIX):
            sums.module_range(name[len(MODULE_RANGE_PREFIX) :], ev)
        elif name.startswith("aten::") and not sums.forward_op(ev):
            pending.append(ev)
    for ev in pending:  # after the forward pass, once every sequence number is known
        sums.backward_op(ev)
    return sums.result()


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
