"""Timing a model end to end with profiled calls interleaved: :func:`measure_model` (plain
samples plus per-layer profiles in one run, so both see the same machine load) and
:func:`profile_layers` (profiled calls only)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from flopwise.measure.options import torch_threads
from flopwise.measure.per_layer.results import LayerTimes, MeasuredRun
from flopwise.measure.per_layer.trace import _attribute, _combine, _profiled_call
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

__all__ = ["measure_model", "profile_layers"]


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
    before and after it, so a run can end with a few more plain samples than ``repeats``.
    Runs under ``torch.no_grad()`` unless ``grad``; the caller puts the model in eval mode. ``items`` (throughput) defaults to the
    first input's leading dimension. ``device`` defaults to where the parameters live.
    ``train=True`` times a training step without the optimiser (zero grads, forward,
    backward of the sum of the outputs); backward ops are attributed to the module whose
    forward op created them (``ModuleTime.backward_*``, ``OpTime.phase == "backward"``).
    ``threads`` sets ``torch.set_num_threads`` for the run (restored after): on a shared
    machine one thread gives far steadier times than several, whose kernels wait for their
    slowest thread.
    """
    if threads is not None and threads < 1:
        raise ValueError("threads must be >= 1")
    kwargs = kwargs or {}
    if repeats is not None and repeats < 1:
        raise ValueError("repeats must be >= 1")
    if repeats is None and budget_s is None:
        budget_s = DEFAULT_BUDGET_S
    inferred_device, dtype, inferred_items = _infer(model, args, kwargs)
    device = check_device(device or inferred_device)
    items = inferred_items if items is None else items
    grad = grad or train
    with torch_threads(threads):  # MeasuredRun records the thread count in force
        call = _make_call(model, args, kwargs, grad, train)
        timer = make_timer(device)
        warm = [timer(call, 1) for _ in range(max(1, warmup))]
        number = _calibrate_number(min(warm), MIN_SAMPLE_S)
        target_prof = profile_iterations if per_layer else 0
        if target_prof:
            _profiled_call(call, model, device)  # pays the profiler's one-time start-up
        plan = _Plan(repeats, budget_s, min_repeats, target_prof)
        plain, profiled = _interleave(call, model, device, timer, number, plan, progress)
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
        if profiled:
            layers = _paired_layers(model, device, plain, profiled)
            layers.instrumented = Latency(
                samples=[wall for _, wall, _ in profiled],
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


@dataclass(frozen=True)
class _Plan:
    """When an interleaved run stops: after ``repeats`` plain samples, or once ``budget_s``
    seconds have passed with at least ``min_repeats``; and after ``profiled`` profiled calls."""

    repeats: int | None
    budget_s: float | None
    min_repeats: int
    profiled: int

    def plain_done(self, samples: int, elapsed: float) -> bool:
        if self.repeats is not None:
            return samples >= self.repeats
        assert self.budget_s is not None
        return elapsed >= self.budget_s and samples >= self.min_repeats

    def profiled_due(self, k: int, samples: int, elapsed: float) -> bool:
        """The k-th profiled call runs once the run is (k + 1/2)/P of the way through (by
        samples with ``repeats``, by time with a budget), spreading them over the run."""
        if self.repeats is not None:
            return samples >= (k + 0.5) * self.repeats / self.profiled
        assert self.budget_s is not None
        return elapsed >= (k + 0.5) * self.budget_s / self.profiled


#: One profiled call: its attributed sums, its wall time, and the index of the plain sample
#: it follows.
_Profiled = tuple[dict[str, Any], float, int]


def _interleave(
    call: Callable[[], Any],
    model: nn.Module,
    device: str,
    timer: Callable[[Callable[[], Any], int], float],
    number: int,
    plan: _Plan,
    progress: bool,
) -> tuple[list[float], list[_Profiled]]:
    """Take plain samples of ``number`` calls each and, spread among them, ``plan.profiled``
    profiled calls, until ``plan`` says both are done; return both."""
    plain: list[float] = []
    profiled: list[_Profiled] = []
    start = time.perf_counter()
    total = float(plan.repeats) if plan.repeats is not None else plan.budget_s
    with progress_bar("measuring", total, progress) as advance:
        while True:
            plain_done = plan.plain_done(len(plain), time.perf_counter() - start)
            prof_done = len(profiled) >= plan.profiled
            if plain_done and prof_done:
                break
            # A plain sample every round (also while profiled calls are still pending, so
            # each profiled call has plain neighbours on both sides to be compared with).
            plain.append(timer(call, number))
            if not prof_done and (
                plain_done
                or plan.profiled_due(len(profiled), len(plain), time.perf_counter() - start)
            ):
                events, wall = _profiled_call(call, model, device)
                profiled.append((_attribute(events, device), wall, len(plain) - 1))
            if plan.repeats is not None:
                advance(0, completed=min(len(plain), plan.repeats))
            else:
                advance(0, completed=min(time.perf_counter() - start, plan.budget_s))
    return plain, profiled


def _paired_layers(
    model: nn.Module, device: str, plain: list[float], profiled: list[_Profiled]
) -> LayerTimes:
    """The profiled calls' medians, with each call's sums beside the mean of the plain
    samples taken right before and after it (what coverage and overhead pair with)."""
    layers = _combine(model, [it for it, _, _ in profiled], device)
    for it, wall, j in profiled:
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
    return layers
