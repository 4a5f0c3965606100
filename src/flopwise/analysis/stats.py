"""Correlation and error statistics for judging cost proxies against measured time.

numpy only (scipy is a test-time reference, never a runtime dependency). Every function
takes array-likes of equal length and returns plain Python floats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "bootstrap_ci",
    "correlation_table",
    "kendall_tau_b",
    "loglog_r2",
    "mape",
    "pearson",
    "power_law_fit",
    "rankdata",
    "spearman",
]


def _pair(x: Any, y: Any, min_n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"x and y differ in length: {a.size} vs {b.size}")
    if a.size < min_n:
        raise ValueError(f"need at least {min_n} points, got {a.size}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("x and y must be finite")
    return a, b


def pearson(x: Any, y: Any) -> float:
    """Pearson's linear correlation coefficient; NaN if either input is constant."""
    a, b = _pair(x, y)
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    if denom == 0:
        return float("nan")
    return float(np.clip((a * b).sum() / denom, -1.0, 1.0))


def rankdata(x: Any) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (scipy's ``method="average"``)."""
    a = np.asarray(x, dtype=float).ravel()
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    # Start index of each run of equal values.
    new_run = np.concatenate(([True], sorted_a[1:] != sorted_a[:-1]))
    run_id = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    ends = np.concatenate((starts[1:], [a.size]))
    avg = (starts + ends - 1) / 2.0 + 1.0
    ranks = np.empty(a.size, dtype=float)
    ranks[order] = avg[run_id]
    return ranks


def spearman(x: Any, y: Any) -> float:
    """Spearman's rank correlation (Pearson of average ranks, so ties are handled)."""
    a, b = _pair(x, y)
    return pearson(rankdata(a), rankdata(b))


def kendall_tau_b(x: Any, y: Any) -> float:
    """Kendall's τ-b, which corrects for ties in either variable; NaN if either is constant.

    Exact O(n²) pair count, done in blocks so memory stays O(n · block).
    """
    a, b = _pair(x, y)
    n = a.size
    concordant_minus_discordant = 0.0
    pairs_untied_x = 0.0
    pairs_untied_y = 0.0
    block = max(1, min(n, 2_000_000 // max(n, 1)))
    for start in range(0, n, block):
        stop = min(n, start + block)
        idx = np.arange(start, stop)
        dx = np.sign(a[idx, None] - a[None, :])
        dy = np.sign(b[idx, None] - b[None, :])
        # Count each unordered pair once: only j > i.
        upper = np.arange(n)[None, :] > idx[:, None]
        concordant_minus_discordant += float((dx * dy)[upper].sum())
        pairs_untied_x += float((dx != 0)[upper].sum())
        pairs_untied_y += float((dy != 0)[upper].sum())
    denom = np.sqrt(pairs_untied_x * pairs_untied_y)
    if denom == 0:
        return float("nan")
    return float(np.clip(concordant_minus_discordant / denom, -1.0, 1.0))


def loglog_r2(x: Any, y: Any) -> float:
    """R² of the least-squares line log(y) = a + b·log(x) (a power law); needs x, y > 0.

    This equals the squared Pearson correlation of log(x) and log(y).
    """
    a, b = _pair(x, y)
    if np.any(a <= 0) or np.any(b <= 0):
        raise ValueError("log-log R² needs strictly positive x and y")
    r = pearson(np.log(a), np.log(b))
    return float(r * r)


def mape(predicted: Any, actual: Any) -> float:
    """Mean absolute percentage error, as a fraction (0.1 = 10%); ``actual`` must be non-zero."""
    p, a = _pair(predicted, actual, min_n=1)
    if np.any(a == 0):
        raise ValueError("MAPE is undefined when an actual value is 0")
    return float(np.mean(np.abs((p - a) / a)))


def bootstrap_ci(
    statistic: Callable[..., float],
    *samples: Any,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic(*samples)``.

    The samples are paired: each resample draws the same row indices from every sample.
    Deterministic for a given ``seed``. Resamples on which the statistic is not finite
    (e.g. a constant resample for a correlation) are dropped.
    """
    if not samples:
        raise ValueError("bootstrap_ci needs at least one sample")
    arrays = [np.asarray(s, dtype=float).ravel() for s in samples]
    n = arrays[0].size
    if any(arr.size != n for arr in arrays):
        raise ValueError("paired samples must have equal length")
    if n < 2:
        raise ValueError("need at least 2 points")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for i in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        try:
            values[i] = statistic(*(arr[idx] for arr in arrays))
        except (ValueError, FloatingPointError, ZeroDivisionError):
            values[i] = np.nan
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return float(lo), float(hi)


def power_law_fit(
    x: Any, y: Any, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Fit y = c · x^exponent by least squares on logs.

    Returns ``exponent``, ``coefficient``, ``r2`` (log-log) and a bootstrap confidence
    interval ``ci_low`` / ``ci_high`` of the exponent (NaN with fewer than 3 points).
    """
    a, b = _pair(x, y)
    if np.any(a <= 0) or np.any(b <= 0):
        raise ValueError("a power-law fit needs strictly positive x and y")
    lx, ly = np.log(a), np.log(b)

    def slope(u: np.ndarray, v: np.ndarray) -> float:
        du = u - u.mean()
        ss = (du * du).sum()
        if ss == 0:
            return float("nan")
        return float((du * (v - v.mean())).sum() / ss)

    k = slope(lx, ly)
    if not np.isfinite(k):
        raise ValueError("a power-law fit needs at least two distinct x values")
    c = float(np.exp(ly.mean() - k * lx.mean()))
    r = pearson(lx, ly)
    if a.size >= 3:
        lo, hi = bootstrap_ci(
            slope, lx, ly, n_resamples=n_resamples, confidence=confidence, seed=seed
        )
    else:
        lo = hi = float("nan")
    return {"exponent": k, "coefficient": c, "r2": r * r, "ci_low": lo, "ci_high": hi}


def correlation_table(
    proxies: Mapping[str, Sequence[float]] | Mapping[str, np.ndarray], measured: Any
) -> dict[str, dict[str, float]]:
    """Pearson, Spearman, Kendall τ-b and log-log R² of each proxy against ``measured``.

    Log-log R² is NaN when a proxy or the measurement has a non-positive value.
    """
    t = np.asarray(measured, dtype=float)
    table: dict[str, dict[str, float]] = {}
    for name, values in proxies.items():
        v = np.asarray(values, dtype=float)
        row = {
            "pearson": pearson(v, t),
            "spearman": spearman(v, t),
            "kendall": kendall_tau_b(v, t),
        }
        try:
            row["loglog_r2"] = loglog_r2(v, t)
        except ValueError:
            row["loglog_r2"] = float("nan")
        table[name] = row
    return table
