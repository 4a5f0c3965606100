"""Fitting α-FLOPs constants to timed layers, and judging the fit.

The time model is ``t ≈ s · α(S, K; β, γ) · macs`` with one (β, γ) pair per kernel class
(K = 1 and K > 1) and one time scale ``s`` (seconds per α-MAC). On logs it reads

    ln t − ln macs = ln s + γ_c · ln((S_K + β_c·(S − S_K)) / S)

which, for fixed β's, is linear in (ln s, γ_1, γ_{>1}). The fitter therefore searches the two
β's (on a log grid, then a shrinking pattern search) and solves the rest exactly by
(weighted, regularised) linear least squares at every point: deterministic, numpy only, no
starting guess to tune.

Two choices matter and are parameters:

- ``weighting="time"`` (default) weights each layer's log residual by its time, so the
  layers that dominate total cost dominate the fit (a relative error that does not let a
  crowd of tiny, overhead-bound layers steer it); ``"uniform"`` is plain log least squares.
- ``prior_strength`` (default 0.3) pulls (log10 β, γ) towards a prior (the authors'
  constants unless told otherwise). A kernel class whose layers barely vary in S or K (e.g.
  only 3×3 kernels at large S) leaves β and γ almost unconstrained; the prior keeps them
  sensible instead of letting them drift to the edge of the search box. The strength is
  relative to how well the model fits: the penalty of moving log10 β by one decade (or γ
  by 0.5) is ``prior_strength`` times the weighted mean squared log residual of the
  unregularised fit. So a prior of 1 weighs a one-decade move like the whole misfit of the
  data, and with timings the model explains exactly the prior has no effect. Set it to 0 for
  a pure fit (``relative_prior=False`` makes the strength absolute).

A timed-layer table uses the α-FLOPs data set's columns (plot, line, H, W, Cin, Cout, K1, K2,
time): output spatial size H×W, kernel K1×K2, macs = H·W·Cin·Cout·K1·K2; a dense layer is
written with the batch as H, W = 1 and K1 = K2 = 1.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from flopwise.analysis.alpha import DEFAULT_CONSTANTS, AlphaConstants, alpha_array
from flopwise.analysis.stats import kendall_tau_b, loglog_r2, mape, pearson, spearman

__all__ = [
    "AlphaFit",
    "LayerSpec",
    "LayerTable",
    "cross_validate_halves",
    "cross_validate_plots",
    "evaluate",
    "fit_alpha",
    "generate_grid",
    "predict_seconds",
    "read_layers_csv",
    "write_layers_csv",
]

LOG10_BETA_RANGE = (-6.0, 0.0)  # search box of log10 β
_PRIOR_SIGMA_LOG10_BETA = 1.0  # prior scale: one decade of β ...
_PRIOR_SIGMA_GAMMA = 0.5  # ... weighs as much as half a unit of γ

CSV_COLUMNS = ("plot", "line", "H", "W", "Cin", "Cout", "K1", "K2", "time_ms")


# -- timed layers --------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerTable:
    """Timed conv/dense layers, one row each (columns as in the α-FLOPs data set).

    ``seconds`` is the measured time per execution in seconds; ``plot`` names the
    experiment a row belongs to (the unit a cross-validation holds out).
    """

    plot: tuple[str, ...]
    line: np.ndarray
    h: np.ndarray
    w: np.ndarray
    cin: np.ndarray
    cout: np.ndarray
    k1: np.ndarray
    k2: np.ndarray
    seconds: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.plot)
        for name in ("line", "h", "w", "cin", "cout", "k1", "k2", "seconds"):
            arr = getattr(self, name)
            if np.asarray(arr).shape != (n,):
                raise ValueError(
                    f"column {name} has shape {np.asarray(arr).shape}, expected ({n},)"
                )

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]]) -> LayerTable:
        """Build from rows ``(plot, line, H, W, Cin, Cout, K1, K2, seconds)``."""
        rows = list(rows)
        cols = list(zip(*rows, strict=True)) if rows else [()] * 9
        return cls(
            plot=tuple(str(p) for p in cols[0]),
            line=np.asarray(cols[1], dtype=int),
            h=np.asarray(cols[2], dtype=float),
            w=np.asarray(cols[3], dtype=float),
            cin=np.asarray(cols[4], dtype=float),
            cout=np.asarray(cols[5], dtype=float),
            k1=np.asarray(cols[6], dtype=float),
            k2=np.asarray(cols[7], dtype=float),
            seconds=np.asarray(cols[8], dtype=float),
        )

    @classmethod
    def from_specs(cls, specs: Sequence[LayerSpec], seconds: Sequence[float]) -> LayerTable:
        """The layers of ``specs`` timed at ``seconds`` each (same order)."""
        return cls.from_rows(
            (s.plot, s.line, s.h, s.w, s.cin, s.cout, s.k1, s.k2, t)
            for s, t in zip(specs, seconds, strict=True)
        )

    def __len__(self) -> int:
        return len(self.plot)

    @property
    def spatial(self) -> np.ndarray:
        """S = H·W (the batch for a dense layer)."""
        return self.h * self.w

    @property
    def kernel(self) -> np.ndarray:
        """K = K1·K2."""
        return self.k1 * self.k2

    @property
    def macs(self) -> np.ndarray:
        """H·W·Cin·Cout·K1·K2."""
        return self.h * self.w * self.cin * self.cout * self.k1 * self.k2

    @property
    def plots(self) -> list[str]:
        """Distinct plot names in first-seen order."""
        return list(dict.fromkeys(self.plot))

    def subset(self, mask: Any) -> LayerTable:
        """Rows where ``mask`` (a boolean array) is true."""
        m = np.asarray(mask, dtype=bool)
        return LayerTable(
            plot=tuple(p for p, keep in zip(self.plot, m, strict=True) if keep),
            line=self.line[m],
            h=self.h[m],
            w=self.w[m],
            cin=self.cin[m],
            cout=self.cout[m],
            k1=self.k1[m],
            k2=self.k2[m],
            seconds=self.seconds[m],
        )

    def in_plots(self, plots: Iterable[str]) -> np.ndarray:
        """Boolean mask of the rows whose plot is in ``plots``."""
        wanted = set(plots)
        return np.array([p in wanted for p in self.plot], dtype=bool)


def _layer_row(r: dict[str, Any], tcol: str, scale: float, where: str) -> tuple:
    """One CSV row as a LayerTable row; a short row or a cell that is not a number is a
    ValueError naming ``where`` (file and line)."""
    try:
        sizes = [float(r[c]) for c in ("H", "W", "Cin", "Cout", "K1", "K2")]
        if not all(math.isfinite(v) for v in sizes):
            raise ValueError("H, W, Cin, Cout, K1, K2 must be finite numbers")
        return (
            r.get("plot") or "all",
            int(r.get("line") or 0),
            *sizes,
            float(r[tcol]) * scale,
        )
    except (TypeError, ValueError) as exc:
        cells = ", ".join(f"{k}={v!r}" for k, v in r.items() if v is None or v == "")
        why = f"missing value(s): {cells}" if cells else str(exc)
        raise ValueError(f"{where}: {why}") from None


def read_layers_csv(path: str | Path) -> LayerTable:
    """Read timed layers in the data set's CSV format.

    Required columns: H, W, Cin, Cout, K1, K2 and one of ``time_ms`` / ``time_s``;
    ``plot`` and ``line`` are optional (default ``"all"`` and 0).
    """
    path = Path(path)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields = set(reader.fieldnames or ())
        missing = {"H", "W", "Cin", "Cout", "K1", "K2"} - fields
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
        if "time_ms" in fields:
            scale, tcol = 1e-3, "time_ms"
        elif "time_s" in fields:
            scale, tcol = 1.0, "time_s"
        else:
            raise ValueError(f"{path}: needs a time_ms or time_s column")
        rows = [_layer_row(r, tcol, scale, f"{path}: line {reader.line_num}") for r in reader]
    if not rows:
        raise ValueError(f"{path}: no rows")
    table = LayerTable.from_rows(rows)
    if not np.all(np.isfinite(table.seconds)):
        raise ValueError(f"{path}: times must be finite numbers (no nan or inf)")
    if np.any(table.seconds <= 0):
        raise ValueError(f"{path}: times must be positive")
    if np.any(table.spatial < 1) or np.any(table.kernel < 1) or np.any(table.macs <= 0):
        raise ValueError(f"{path}: H, W, Cin, Cout, K1, K2 must be >= 1")
    return table


def write_layers_csv(table: LayerTable, path: str | Path) -> None:
    """Write ``table`` in the data set's CSV format (time in milliseconds)."""
    with Path(path).open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(CSV_COLUMNS)
        for i in range(len(table)):
            out.writerow(
                [
                    table.plot[i],
                    int(table.line[i]),
                    *(int(v) for v in (table.h[i], table.w[i], table.cin[i], table.cout[i])),
                    int(table.k1[i]),
                    int(table.k2[i]),
                    repr(float(table.seconds[i]) * 1e3),
                ]
            )


# -- the fit -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlphaFit:
    """Result of :func:`fit_alpha`: the fitted constants and how well they explain the data.

    ``quality`` is :func:`evaluate` on the training rows; ``classes`` says, per kernel class,
    how many rows and distinct S / K values constrained it (``fitted`` False means the class
    had no rows and kept the prior's constants).
    """

    constants: AlphaConstants
    quality: dict[str, Any]
    classes: dict[str, dict[str, Any]]
    objective: float


def _log_base(spatial: np.ndarray, kernel: np.ndarray, beta: np.ndarray) -> np.ndarray:
    sk = np.log(kernel) + 1.0
    return np.log((sk + beta * (spatial - sk)) / spatial)


class _Problem:
    """The separable least-squares problem over (log10 β_1, log10 β_>1)."""

    def __init__(
        self,
        table: LayerTable,
        prior: AlphaConstants,
        prior_strength: float,
        weighting: str,
    ) -> None:
        t = table.seconds
        if weighting == "time":
            w = t / t.sum()
        elif weighting == "uniform":
            w = np.full(t.size, 1.0 / t.size)
        else:
            raise ValueError(f"weighting must be 'time' or 'uniform', got {weighting!r}")
        self.sqrt_w = np.sqrt(w)
        self.y = np.log(t) - np.log(table.macs)
        self.spatial = table.spatial
        self.kernel = table.kernel
        self.pointwise = self.kernel <= 1
        self.has = (bool(self.pointwise.any()), bool((~self.pointwise).any()))
        self.prior = prior
        self.lam = float(prior_strength)
        self.prior_u = (math.log10(prior.beta_k1), math.log10(prior.beta_kn))
        self.prior_g = (prior.gamma_k1, prior.gamma_kn)

    def solve(self, u: tuple[float, float]) -> tuple[float, float, float, float]:
        """(objective, ln s, γ_1, γ_>1) at log10 β = u (for a class without rows, the prior)."""
        beta = np.where(self.pointwise, 10.0 ** u[0], 10.0 ** u[1])
        base = _log_base(self.spatial, self.kernel, beta)
        cols = [np.ones_like(self.y)]
        col_classes = []
        for c, mask in enumerate((self.pointwise, ~self.pointwise)):
            if self.has[c]:
                cols.append(np.where(mask, base, 0.0))
                col_classes.append(c)
        # A class without rows has no column: it keeps the prior's γ.
        a = np.column_stack(cols) * self.sqrt_w[:, None]
        b = self.y * self.sqrt_w
        ridge_rows, ridge_rhs = [], []
        penalty_u = 0.0
        if self.lam > 0:
            root = math.sqrt(self.lam) / _PRIOR_SIGMA_GAMMA
            for j, c in enumerate(col_classes):
                row = np.zeros(len(cols))
                row[j + 1] = root
                ridge_rows.append(row)
                ridge_rhs.append(root * self.prior_g[c])
                penalty_u += self.lam * ((u[c] - self.prior_u[c]) / _PRIOR_SIGMA_LOG10_BETA) ** 2
        if ridge_rows:
            a = np.vstack([a, np.array(ridge_rows)])
            b = np.concatenate([b, np.array(ridge_rhs)])
        coef, *_ = np.linalg.lstsq(a, b, rcond=None)
        resid = a @ coef - b
        gammas = list(self.prior_g)
        for j, c in enumerate(col_classes):
            gammas[c] = float(coef[j + 1])
        return float(resid @ resid + penalty_u), float(coef[0]), gammas[0], gammas[1]


def _search(
    prob: _Problem, grid_points: int
) -> tuple[tuple[float, float, float, float], tuple[float, float]]:
    """Grid over both log10 β, then a pattern search with halving steps; returns the best
    ``solve`` result and its (log10 β_1, log10 β_>1)."""
    lo, hi = LOG10_BETA_RANGE
    grid = np.linspace(lo, hi, grid_points)
    axes = [grid if prob.has[c] else np.array([prob.prior_u[c]]) for c in (0, 1)]
    best_u = (float(axes[0][0]), float(axes[1][0]))
    best = prob.solve(best_u)
    for u0, u1 in itertools.product(axes[0], axes[1]):
        cand = prob.solve((float(u0), float(u1)))
        if cand[0] < best[0]:
            best, best_u = cand, (float(u0), float(u1))
    # Pattern search: try ± step along each free axis, halve the step when nothing improves.
    step = (hi - lo) / max(grid_points - 1, 1)
    free = [c for c in (0, 1) if prob.has[c]]
    while step > 1e-5:
        improved = False
        for c in free:
            for sign in (1.0, -1.0):
                u = list(best_u)
                u[c] = min(hi, max(lo, u[c] + sign * step))
                cand = prob.solve((u[0], u[1]))
                if cand[0] < best[0] - 1e-15:
                    best, best_u, improved = cand, (u[0], u[1]), True
        if not improved:
            step /= 2.0
    return best, best_u


def fit_alpha(
    table: LayerTable,
    *,
    prior: AlphaConstants = DEFAULT_CONSTANTS,
    prior_strength: float = 0.3,
    weighting: str = "time",
    grid_points: int = 49,
    relative_prior: bool = True,
    source: str = "fitted",
) -> AlphaFit:
    """Fit (β, γ) per kernel class and a time scale (s per α-MAC) to timed layers.

    Deterministic: a ``grid_points``² grid over log10 β ∈ [-6, 0] for both classes, then a
    pattern search with halving steps down to 1e-5 decades, all inside the box. A class with
    no rows keeps the prior's (β, γ). See the module docstring for ``weighting`` and
    ``prior_strength``.
    """
    if len(table) < 3:
        raise ValueError(f"need at least 3 timed layers to fit, got {len(table)}")
    if np.any(table.seconds <= 0) or np.any(table.macs <= 0):
        raise ValueError("times and macs must be positive")
    if prior_strength < 0:
        raise ValueError("prior_strength must be >= 0")
    if relative_prior and prior_strength > 0:
        pure = _search(_Problem(table, prior, 0.0, weighting), grid_points)
        lam = prior_strength * max(pure[0][0], 1e-12)
    else:
        lam = prior_strength
    prob = _Problem(table, prior, lam, weighting)
    best, best_u = _search(prob, grid_points)
    lo, hi = LOG10_BETA_RANGE
    objective, ln_s, g1, gn = best
    classes = {}
    for c, name in enumerate(("k1", "k_gt1")):
        mask = prob.pointwise if c == 0 else ~prob.pointwise
        classes[name] = {
            "rows": int(mask.sum()),
            "distinct_S": int(np.unique(table.spatial[mask]).size),
            "distinct_K": int(np.unique(table.kernel[mask]).size),
            "fitted": prob.has[c],
            "at_search_edge": prob.has[c] and (best_u[c] <= lo + 1e-9 or best_u[c] >= hi - 1e-9),
        }
    constants = AlphaConstants(
        beta_k1=10.0 ** best_u[0],
        gamma_k1=g1,
        beta_kn=10.0 ** best_u[1],
        gamma_kn=gn,
        seconds_per_mac=math.exp(ln_s),
        source=source,
    )
    quality = evaluate(constants, table)
    fit_info = {
        "layers": len(table),
        "weighting": weighting,
        "prior_strength": prior_strength,
        "prior_relative": relative_prior,
        "pearson_macs": quality["macs"]["pearson"],
        "pearson_alpha_macs": quality["alpha_macs"]["pearson"],
    }
    constants = replace(constants, fit=fit_info)
    return AlphaFit(constants=constants, quality=quality, classes=classes, objective=objective)


def predict_seconds(constants: AlphaConstants, table: LayerTable) -> np.ndarray:
    """Predicted time per layer, s · α · macs; needs ``constants.seconds_per_mac``."""
    if constants.seconds_per_mac is None:
        raise ValueError("these α constants have no time scale (seconds_per_mac)")
    return (
        constants.seconds_per_mac * alpha_array(table.spatial, table.kernel, constants) * table.macs
    )


def evaluate(constants: AlphaConstants, table: LayerTable) -> dict[str, Any]:
    """How well MACs and α-MACs track the measured times of ``table``.

    Returns ``{"layers": n, "macs": {...}, "alpha_macs": {...}}`` where each proxy has
    Pearson, Spearman, Kendall τ-b and log-log R² against time, plus, when the constants
    have a time scale, ``predicted_mape`` (MAPE of s · α · macs) and, for comparison,
    ``macs_only_mape`` (MAPE of the best single scale on plain MACs, the median ratio).
    """
    t = table.seconds
    m = table.macs
    am = alpha_array(table.spatial, table.kernel, constants) * m
    out: dict[str, Any] = {"layers": len(table)}
    for name, proxy in (("macs", m), ("alpha_macs", am)):
        row = {
            "pearson": pearson(proxy, t),
            "spearman": spearman(proxy, t),
            "kendall": kendall_tau_b(proxy, t),
            "loglog_r2": loglog_r2(proxy, t),
        }
        out[name] = row
    if constants.seconds_per_mac is not None:
        out["predicted_mape"] = mape(constants.seconds_per_mac * am, t)
        scale = float(np.median(t / m))
        out["macs_only_mape"] = mape(scale * m, t)
    return out


def cross_validate_plots(table: LayerTable, **fit_kwargs: Any) -> dict[str, Any] | None:
    """Leave-one-plot-out: fit on all plots but one, predict the held-out plot's times.

    Returns the pooled out-of-plot figures, ``{"folds", "pearson", "spearman", "mape",
    "macs_pearson", "macs_mape"}``: Pearson/Spearman/MAPE of the predicted times
    (s · α · macs, each plot predicted by the fit that never saw it) against the measured
    ones, and the same for plain MACs with one scale (the median time per MAC of the
    training plots). ``None`` with fewer than 2 plots.
    """
    plots = table.plots
    if len(plots) < 2:
        return None
    predicted = np.empty(len(table))
    baseline = np.empty(len(table))
    for plot in plots:
        held = table.in_plots([plot])
        train = table.subset(~held)
        if len(train) < 3:
            return None
        c = fit_alpha(train, **fit_kwargs).constants
        test = table.subset(held)
        predicted[held] = predict_seconds(c, test)
        baseline[held] = float(np.median(train.seconds / train.macs)) * test.macs
    t = table.seconds
    return {
        "folds": len(plots),
        "pearson": pearson(predicted, t),
        "spearman": spearman(predicted, t),
        "mape": mape(predicted, t),
        "macs_pearson": pearson(baseline, t),
        "macs_mape": mape(baseline, t),
    }


def cross_validate_halves(table: LayerTable, **fit_kwargs: Any) -> list[dict[str, Any]]:
    """Fit on every half of the plots, evaluate on the other half.

    With P plots (P even), each of the C(P, P/2) train halves gives one row:
    ``{"train": [...], "test": [...], "pearson_alpha_macs": r, "pearson_macs": r0,
    "pearson_default_alpha": r_d}`` (test-half Pearson of the refit α-MACs, plain MACs and
    the authors' α-MACs with time).
    """
    plots = table.plots
    if len(plots) < 2:
        raise ValueError("cross-validation needs at least 2 plots")
    half = len(plots) // 2
    rows = []
    for train in itertools.combinations(plots, half):
        mask = table.in_plots(train)
        fitted = fit_alpha(table.subset(mask), **fit_kwargs).constants
        test = table.subset(~mask)
        t = test.seconds
        rows.append(
            {
                "train": list(train),
                "test": [p for p in plots if p not in train],
                "pearson_alpha_macs": pearson(
                    alpha_array(test.spatial, test.kernel, fitted) * test.macs, t
                ),
                "pearson_macs": pearson(test.macs, t),
                "pearson_default_alpha": pearson(
                    alpha_array(test.spatial, test.kernel, DEFAULT_CONSTANTS) * test.macs, t
                ),
            }
        )
    return rows


# -- generated layer grids (pure: shapes only; timing lives in flopwise.measure) ------------


@dataclass(frozen=True)
class LayerSpec:
    """One layer to time: a conv (batch 1, 'same' padding) or a dense layer (batch = H).

    Same columns as a :class:`LayerTable` row, without the time.
    """

    plot: str
    line: int
    h: int
    w: int
    cin: int
    cout: int
    k1: int
    k2: int

    @property
    def kind(self) -> str:
        return "dense" if self.plot == "increasing_batch" else "conv"

    @property
    def macs(self) -> int:
        return self.h * self.w * self.cin * self.cout * self.k1 * self.k2


def generate_grid(size: str = "small") -> list[LayerSpec]:
    """Layers like the paper's experiments, scaled for a CPU (1-50 ms each at ~50 GMAC/s).

    Plots (as in the data set): ``conv_K_vs_S`` (constant MACs: kernel grows while the
    output shrinks), ``conv_K_vs_C`` (constant MACs: kernel grows while channels shrink),
    ``increasing_W``, ``increasing_Cout``, ``increasing_Cout_with_K1``,
    ``conv_fixed_progressive`` (tiny outputs, many channels), ``increasing_batch`` (dense
    layers, batch as H). ``size`` is ``"small"`` (~50 layers) or ``"paper"`` (~130).
    """
    if size not in ("small", "paper"):
        raise ValueError(f"grid size must be 'small' or 'paper', got {size!r}")
    paper = size == "paper"
    specs: list[LayerSpec] = []

    def add(plot: str, line: int, h: int, w: int, cin: int, cout: int, k: int) -> None:
        specs.append(LayerSpec(plot, line, int(h), int(w), int(cin), int(cout), int(k), int(k)))

    # Constant MACs, kernel up, output down: S·K ≈ const (H·k ≈ side).
    kernels = (1, 2, 3, 4, 5, 6, 7, 9, 11) if paper else (1, 2, 3, 5, 7, 9)
    for line, (side, ch) in enumerate([(128, 64), (96, 96)] if paper else [(128, 64)]):
        for k in kernels:
            hw = max(1, round(side / k))
            add("conv_K_vs_S", line, hw, hw, ch, ch, k)
    # Constant MACs, kernel up, channels down: C·k ≈ const, output fixed at 8×8.
    for line, base in enumerate([1024, 1536] if paper else [1024]):
        for k in kernels:
            c = max(1, round(base / k))
            add("conv_K_vs_C", line, 8, 8, c, c, k)
    # Width sweep, 3×3.
    widths = (2, 4, 8, 16, 24, 32, 48, 64, 96, 128) if paper else (2, 4, 8, 16, 32, 64, 128)
    for line, ch in enumerate([64, 96] if paper else [64]):
        for w in widths:
            add("increasing_W", line, 32, w, ch, ch, 3)
    # Output channels, 3×3 and 1×1.
    couts = (8, 16, 32, 48, 64, 96, 128, 192, 256) if paper else (8, 16, 32, 64, 128, 256)
    for line, (hw, cin) in enumerate([(32, 64), (16, 128)] if paper else [(32, 64)]):
        for co in couts:
            add("increasing_Cout", line, hw, hw, cin, co, 3)
    for line, (hw, cin) in enumerate([(64, 64), (32, 128)] if paper else [(64, 64)]):
        for co in couts:
            add("increasing_Cout_with_K1", line, hw, hw, cin, co, 1)
    # Tiny outputs, wide 1×1 layers.
    for line, ch in enumerate([768, 1024] if paper else [1024]):
        for hw in (1, 2, 3, 4, 6, 8) if paper else (1, 2, 4, 8):
            add("conv_fixed_progressive", line, hw, hw, ch, ch, 1)
    # Dense layers: the batch is H.
    batches = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128) if paper else (1, 2, 4, 8, 16, 32, 64)
    for line, feat in enumerate([1536, 2048] if paper else [2048]):
        for b in batches:
            specs.append(LayerSpec("increasing_batch", line, b, 1, feat, feat, 1, 1))
    return specs
