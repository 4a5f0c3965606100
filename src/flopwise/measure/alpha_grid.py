"""Time a grid of single conv / dense layers on this machine, for refitting α-FLOPs.

The grid itself (shapes only) comes from :func:`flopwise.analysis.fit.generate_grid`; this
module builds each layer with random weights, times all of them interleaved in the same run
(so a burst of load from a neighbour hits every layer alike) and returns the per-layer
seconds as a :class:`GridTimes`. Turning them into a table and fitting α is the API's job
(:mod:`flopwise.pipeline.fit_alpha`): measure never imports analysis.

Which time: fit-alpha uses the fastest of the repeated samples by default. α constants
describe the hardware, not the neighbours; on a shared machine with more runnable threads
than cores, a multi-threaded op waits at every barrier for a descheduled thread, and the
median can be tens of times the undisturbed time, while the fastest sample stays close to
it. The median is there for quiet machines and for comparison.

Convolutions run at batch 1 without padding on an input of (H + K1 − 1) × (W + K2 − 1), so
the output is exactly H × W and no padding op is timed; dense layers run a batch of H rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["GridTimes", "build_layer", "time_grid"]

# A layer to time is anything with ``kind`` ("conv" or "dense"), ``h``, ``w``, ``cin``,
# ``cout``, ``k1`` and ``k2`` (:class:`flopwise.analysis.fit.LayerSpec` is the one in use;
# measure does not import analysis, so it is not named in the signatures).
LayerShape = Any


@dataclass(frozen=True)
class GridTimes:
    """Seconds per call of each layer of one interleaved timing run, in the grid's order:
    the fastest sample, the median, and the relative spread (IQR / median)."""

    min_s: list[float]
    median_s: list[float]
    spread: list[float]


def build_layer(
    spec: LayerShape, dtype: torch.dtype = torch.float32, seed: int = 0, device: str = "cpu"
) -> Callable[[], Any]:
    """A no-argument callable running one forward pass of ``spec``'s layer (no grad), its
    tensors on ``device`` (drawn on the CPU from ``seed``, so every device gets the same
    values)."""
    gen = torch.Generator().manual_seed(seed)
    if spec.kind == "dense":
        weight = torch.randn(spec.cout, spec.cin, generator=gen, dtype=dtype).to(device)
        x = torch.randn(spec.h, spec.cin, generator=gen, dtype=dtype).to(device)

        def run_dense() -> torch.Tensor:
            with torch.inference_mode():
                return torch.nn.functional.linear(x, weight)

        return run_dense
    weight = torch.randn(spec.cout, spec.cin, spec.k1, spec.k2, generator=gen, dtype=dtype)
    x = torch.randn(
        1, spec.cin, spec.h + spec.k1 - 1, spec.w + spec.k2 - 1, generator=gen, dtype=dtype
    )
    weight, x = weight.to(device), x.to(device)

    def run_conv() -> torch.Tensor:
        with torch.inference_mode():
            return torch.nn.functional.conv2d(x, weight)

    return run_conv


def _measure(
    fns: dict[str, Callable[[], Any]], budget_s: float, progress: bool, device: str = "cpu"
) -> dict[str, tuple[float, float, float]]:
    """(fastest, median) seconds per call and the relative spread (IQR / median) of each
    callable, timed interleaved within ``budget_s``. The one place that does the timing, so
    it can be swapped."""
    from flopwise.measure.timing import measure_interleaved

    results = measure_interleaved(
        fns, warmup=2, budget_s=budget_s, progress=progress, device=device
    )
    return {name: (lat.min_s, lat.median_s, lat.rel_iqr) for name, lat in results.items()}


def time_grid(
    specs: Sequence[LayerShape],
    *,
    budget_s: float = 30.0,
    progress: bool = True,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
) -> GridTimes:
    """Time every layer of ``specs`` in one interleaved run within about ``budget_s`` on
    ``device`` (CUDA timing uses events and a synchronisation). At least a few rounds
    always run, so a very small budget can be exceeded."""
    if not specs:
        raise ValueError("no layers to time")
    fns = {
        f"{i}": build_layer(spec, dtype=dtype, seed=i, device=device)
        for i, spec in enumerate(specs)
    }
    for fn in fns.values():  # check shapes before timing anything
        fn()
    by_name = _measure(fns, budget_s, progress, device)
    measured = [by_name[f"{i}"] for i in range(len(specs))]
    return GridTimes(
        min_s=[m[0] for m in measured],
        median_s=[m[1] for m in measured],
        spread=[m[2] for m in measured],
    )
