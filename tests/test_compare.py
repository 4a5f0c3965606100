"""flopwise.analysis.compare: proxy correlations, Pareto front, accuracy matching."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from flopwise.analysis import compare as C


def _row(name: str, flops: int, t: float | None, params: int = 10, acc: float | None = None):
    return C.CompareRow(
        name=name,
        spec=f"torchvision:{name}",
        inputs=[],
        params=params,
        flops=flops,
        macs=flops // 2,
        activations=flops // 100,
        bytes=flops // 10 + 7,
        alpha_flops=flops * 0.1,
        median_s=t,
        accuracy=acc,
    )


def test_pareto_front_on_hand_made_points():
    points = [
        ("a", 1.0, 70.0),  # cheapest
        ("b", 2.0, 75.0),  # better and dearer: on the front
        ("c", 3.0, 74.0),  # dominated by b
        ("d", 4.0, 80.0),  # best accuracy
        ("e", 2.0, 72.0),  # dominated by b (same cost, lower accuracy)
        ("f", 5.0, 80.0),  # dominated by d (same accuracy, dearer)
        ("g", float("nan"), 99.0),  # ignored
    ]
    assert C.pareto_front(points) == ["a", "b", "d"]
    assert C.pareto_front([("x", 1.0, 1.0), ("y", 1.0, 1.0)]) == ["x", "y"]
    assert C.pareto_front([]) == []


def test_correlation_table_matches_scipy():
    times = [0.010, 0.030, 0.020, 0.080, 0.050]
    flops = [1e9, 2e9, 3e9, 9e9, 4e9]
    params = [5, 1, 4, 2, 3]
    rows = [
        _row(f"m{i}", int(f), t, params=p)
        for i, (f, t, p) in enumerate(zip(flops, times, params, strict=True))
    ]
    corr = C.proxy_correlations(rows)
    assert set(corr) == {"params", "flops", "alpha_flops", "activations", "bytes"}
    fl = corr["flops"]
    assert fl["n"] == 5
    assert fl["pearson"] == pytest.approx(sps.pearsonr(flops, times)[0])
    assert fl["spearman"] == pytest.approx(sps.spearmanr(flops, times)[0])
    assert fl["kendall"] == pytest.approx(sps.kendalltau(flops, times)[0])
    r = sps.pearsonr([math.log(f) for f in flops], [math.log(t) for t in times])[0]
    assert fl["loglog_r2"] == pytest.approx(r * r)
    assert corr["params"]["spearman"] == pytest.approx(sps.spearmanr(params, times)[0])
    assert C.best_proxy(corr) in {"flops", "alpha_flops", "activations", "bytes"}


def test_correlations_need_three_measured_rows():
    rows = [_row("a", 10, 0.1), _row("b", 20, 0.2), _row("c", 30, None)]
    assert C.proxy_correlations(rows) == {}
    assert C.best_proxy({}) is None


def test_parse_and_match_accuracies():
    acc = C.parse_accuracies(["resnet50=76.1", "torchvision:mobilenet_v2=71.9", "x=1e1"])
    assert acc == {"resnet50": 76.1, "torchvision:mobilenet_v2": 71.9, "x": 10.0}
    for bad in ("resnet50", "=3", "a=b"):
        with pytest.raises(ValueError):
            C.parse_accuracies([bad])
    rows = [_row("resnet50", 1, 0.1), _row("mobilenet_v2", 1, 0.1), _row("resnet50", 2, 0.2)]
    matched, unmatched = C.match_accuracies(rows, acc)
    assert matched == {0: 76.1, 2: 76.1, 1: 71.9}
    assert unmatched == ["x"]


def test_row_to_dict_keeps_integers():
    d = _row("a", 1000, 0.5).to_dict()
    assert isinstance(d["flops"], int) and isinstance(d["params"], int)
    assert d["median_s"] == 0.5
