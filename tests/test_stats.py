"""Correlation and error statistics against scipy (flopwise.analysis.stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flopwise.analysis.stats import (
    bootstrap_ci,
    correlation_table,
    kendall_tau_b,
    loglog_r2,
    mape,
    pearson,
    power_law_fit,
    rankdata,
    spearman,
)

scipy_stats = pytest.importorskip("scipy.stats")


def samples(seed: int, n: int = 80, ties: bool = False):
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=n)
    y = x**0.7 * rng.lognormal(sigma=0.5, size=n)
    if ties:
        x = np.round(x, 0)
        y = np.round(y, 0)
    return x, y


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [False, True])
def test_against_scipy(seed: int, ties: bool) -> None:
    x, y = samples(seed, ties=ties)
    assert pearson(x, y) == pytest.approx(scipy_stats.pearsonr(x, y)[0], abs=1e-12)
    assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y)[0], abs=1e-12)
    assert kendall_tau_b(x, y) == pytest.approx(
        scipy_stats.kendalltau(x, y, variant="b")[0], abs=1e-12
    )
    np.testing.assert_allclose(rankdata(x), scipy_stats.rankdata(x))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=3, max_size=40))
def test_rank_statistics_with_heavy_ties(pairs) -> None:
    x = np.array([p[0] for p in pairs], dtype=float)
    y = np.array([p[1] for p in pairs], dtype=float)
    np.testing.assert_allclose(rankdata(x), scipy_stats.rankdata(x))
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        assert math.isnan(kendall_tau_b(x, y))
        return
    ref = scipy_stats.kendalltau(x, y, variant="b")[0]
    assert kendall_tau_b(x, y) == pytest.approx(ref, abs=1e-12)
    assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y)[0], abs=1e-10)


def test_kendall_blocks() -> None:
    # Larger than one block row-set: exercises the blocked pair count.
    rng = np.random.default_rng(7)
    x = rng.integers(0, 50, 1500).astype(float)
    y = x + rng.integers(0, 30, 1500)
    assert kendall_tau_b(x, y) == pytest.approx(scipy_stats.kendalltau(x, y)[0], abs=1e-12)


def test_loglog_r2_and_mape() -> None:
    x, y = samples(3)
    ref = scipy_stats.linregress(np.log(x), np.log(y)).rvalue ** 2
    assert loglog_r2(x, y) == pytest.approx(ref, abs=1e-12)
    assert mape([110, 90], [100, 100]) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        loglog_r2([1, -1], [1, 2])
    with pytest.raises(ValueError):
        mape([1], [0])


def test_degenerate_inputs() -> None:
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError):
        pearson([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        pearson([1], [1])
    with pytest.raises(ValueError):
        pearson([1, float("nan")], [1, 2])


def test_bootstrap_ci() -> None:
    x, y = samples(1, n=200)
    r = pearson(x, y)
    lo, hi = bootstrap_ci(pearson, x, y, n_resamples=300, seed=4)
    assert lo < r < hi
    assert (lo, hi) == bootstrap_ci(pearson, x, y, n_resamples=300, seed=4)  # deterministic
    ref = scipy_stats.bootstrap(
        (x, y), pearson, paired=True, n_resamples=2000, method="percentile", random_state=0
    ).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.05)
    assert hi == pytest.approx(ref.high, abs=0.05)
    # One-sample statistic.
    m_lo, m_hi = bootstrap_ci(np.mean, x, n_resamples=300)
    assert m_lo < x.mean() < m_hi


def test_power_law_fit() -> None:
    rng = np.random.default_rng(2)
    x = np.array([1, 2, 4, 8, 16, 32], dtype=float)
    y = 3.0 * x**0.8 * rng.lognormal(sigma=0.02, size=x.size)
    fit = power_law_fit(x, y, n_resamples=300)
    ref = scipy_stats.linregress(np.log(x), np.log(y))
    assert fit["exponent"] == pytest.approx(ref.slope, abs=1e-12)
    assert fit["coefficient"] == pytest.approx(math.exp(ref.intercept), rel=1e-12)
    assert fit["ci_low"] <= fit["exponent"] <= fit["ci_high"]
    assert fit["ci_low"] > 0.7 and fit["ci_high"] < 0.9
    with pytest.raises(ValueError):
        power_law_fit([2, 2, 2], [1, 2, 3])


def test_correlation_table() -> None:
    x, y = samples(5)
    table = correlation_table({"a": x, "neg": -x}, y)
    assert set(table) == {"a", "neg"}
    assert table["a"]["pearson"] == pytest.approx(pearson(x, y))
    assert math.isnan(table["neg"]["loglog_r2"])
    assert table["neg"]["spearman"] == pytest.approx(-table["a"]["spearman"])
