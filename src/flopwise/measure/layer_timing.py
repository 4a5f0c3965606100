"""Time a grid of single conv / dense layers on this machine, for refitting α-FLOPs.

The grid itself (shapes only) comes from :func:`flopwise.analysis.fit.generate_grid`; this
module builds each layer with random weights, times all of them interleaved in the same run
(so a burst of load from a neighbour hits every layer alike) and returns a
:class:`~flopwise.analysis.fit.LayerTable` of per-layer times.

Which time: by default the fastest of the repeated samples (``statistic="min"``). α
constants describe the hardware, not the neighbours; on a shared machine with more runnable
threads than cores, a multi-threaded op waits at every barrier for a descheduled thread, and
the median can be tens of times the undisturbed time, while the fastest sample stays close to
it. ``statistic="median"`` is there for quiet machines and for comparison.

Convolutions run at batch 1 without padding on an input of (H + K1 − 1) × (W + K2 − 1), so
the output is exactly H × W and no padding op is timed; dense layers run a batch of H rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from flopwise.analysis.fit import LayerSpec, LayerTable

__all__ = [
    "build_layer",
    "time_layer_statistics",
    "time_layers",
    "time_layers_with_spread",
]


def build_layer(
    spec: LayerSpec, dtype: torch.dtype = torch.float32, seed: int = 0, device: str = "cpu"
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


def time_layers(
    specs: Sequence[LayerSpec],
    *,
    budget_s: float = 30.0,
    progress: bool = True,
    dtype: torch.dtype = torch.float32,
    statistic: str = "min",
    device: str = "cpu",
) -> LayerTable:
    """Time every layer of ``specs`` (interleaved rounds) within about ``budget_s`` on
    ``device`` (CUDA timing uses events and a synchronisation).

    ``statistic`` is ``"min"`` (default: the least disturbed sample) or ``"median"``.

    At least a few rounds always run, so a very small budget can be exceeded.
    """
    return time_layers_with_spread(
        specs,
        budget_s=budget_s,
        progress=progress,
        dtype=dtype,
        statistic=statistic,
        device=device,
    )[0]


def time_layers_with_spread(
    specs: Sequence[LayerSpec],
    *,
    budget_s: float = 30.0,
    progress: bool = True,
    dtype: torch.dtype = torch.float32,
    statistic: str = "min",
    device: str = "cpu",
) -> tuple[LayerTable, list[float]]:
    """Like :func:`time_layers`, plus each layer's relative spread (IQR / median)."""
    if statistic not in ("min", "median"):
        raise ValueError(f"statistic must be 'min' or 'median', got {statistic!r}")
    tables = time_layer_statistics(
        specs, budget_s=budget_s, progress=progress, dtype=dtype, device=device
    )
    return tables[statistic], tables["spread"]


def time_layer_statistics(
    specs: Sequence[LayerSpec],
    *,
    budget_s: float = 30.0,
    progress: bool = True,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
) -> dict[str, Any]:
    """One interleaved timing run of ``specs``: ``{"min": LayerTable, "median": LayerTable,
    "spread": [IQR / median per layer]}``."""
    if not specs:
        raise ValueError("no layers to time")
    fns = {
        f"{i}": build_layer(spec, dtype=dtype, seed=i, device=device)
        for i, spec in enumerate(specs)
    }
    for fn in fns.values():  # check shapes before timing anything
        fn()
    measured = _measure(fns, budget_s, progress, device)
    out: dict[str, Any] = {}
    for pick, key in ((0, "min"), (1, "median")):
        rows = [
            (s.plot, s.line, s.h, s.w, s.cin, s.cout, s.k1, s.k2, measured[f"{i}"][pick])
            for i, s in enumerate(specs)
        ]
        out[key] = LayerTable.from_rows(rows)
    out["spread"] = [measured[f"{i}"][2] for i in range(len(specs))]
    return out
