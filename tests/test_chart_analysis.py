"""The numbers the report's charts draw are computed in analysis (roofline_plot, sweep_plot,
comparison_plot) and passed by the API; the renderer only places them."""

from __future__ import annotations

from flopwise.analysis.compare import comparison_plot
from flopwise.analysis.roofline import roofline_plot
from flopwise.analysis.sweep import sweep_plot
from flopwise.pipeline import report_chart_list
from flopwise.report.plots import sweep_charts


def _tie_comparison() -> dict:
    # (name, time s, accuracy): A and B tie exactly; D is C's time with less accuracy;
    # E is C's accuracy at more time.
    rows = [
        ("A", 1.0, 70.0),
        ("B", 1.0, 70.0),
        ("C", 2.0, 80.0),
        ("D", 2.0, 75.0),
        ("E", 3.0, 80.0),
    ]
    return {
        "schema": "flopwise.compare/1",
        "models": [
            {"model": m, "params": 1, "flops": 10, "time_s": t, "accuracy": a} for m, t, a in rows
        ],
    }


def test_pareto_front_of_a_document_without_one_keeps_exact_ties():
    # By hand: A and B (cheapest, equal) are both undominated, C is the most accurate at the
    # next cost; D loses to C on accuracy at equal time, E to C on time at equal accuracy.
    # The renderer's former fallback kept only the first of a tie (A, C); the analysis'
    # pareto_front (ties kept) is the one used now.
    plot = comparison_plot(_tie_comparison())
    assert plot["pareto"]["cost"] == "time_s"
    assert plot["pareto"]["front"] == ["A", "B", "C"]
    charts = {c.id: c for c in report_chart_list(_tie_comparison())}
    front = next(s for s in charts["compare-pareto"].series if s.name == "Pareto front")
    dominated = next(s for s in charts["compare-pareto"].series if s.name == "dominated")
    assert sorted(front.labels) == ["A", "B", "C"] and sorted(dominated.labels) == ["D", "E"]


def test_a_front_carried_by_the_document_is_used_as_is():
    doc = _tie_comparison()
    doc["pareto"] = {"cost": "measured median time (s)", "front": ["A", "E"]}
    assert comparison_plot(doc)["pareto"]["front"] == ["A", "E"]


def test_comparison_rows_of_older_documents():
    doc = {
        "rows": [
            {"label": "x", "median_s": 0.5, "bytes_read": 30, "bytes_written": 12},
            {"name": "y", "flops": 7},
        ]
    }
    plot = comparison_plot(doc)
    x, y = plot["rows"]
    assert (x["model"], x["time_s"], x["bytes"]) == ("x", 0.5, 42)
    assert y["model"] == "y" and "bytes" not in y
    assert [r["model"] for r in plot["timed"]] == ["x"]
    assert plot["pareto"] == {"cost": "flops", "rows": [], "front": []}
    assert comparison_plot(None) is None


def test_sweep_lines_and_rate_fallback():
    sweep = {
        "base_dims": {"batch": 1},
        "points": [
            {"dims": {"batch": 1}, "flops": 100, "alpha_flops": 50.0, "seconds": 2.0},
            {"dims": {"batch": 2}, "flops": 300, "alpha_flops": 75.0, "time_s": 4.0},
            {"dims": {"batch": 4}, "flops": 800, "time_s": 5.0, "flops_per_s": 999.0},
        ],
    }
    (line,) = sweep_plot(sweep)
    assert line["dim"] == "batch" and line["x"] == [1.0, 2.0, 4.0]
    assert line["time"] == [2.0, 4.0, 5.0]
    # FLOPs line: 2 s at 100 FLOPs, so 6 s at 300 and 16 s at 800
    assert line["lines"]["flops"] == [(1.0, 2.0), (2.0, 6.0), (4.0, 16.0)]
    assert line["lines"]["alpha_flops"] is None  # the last point has no α-FLOPs
    assert line["predicted"] is None
    # FLOPs / time where the point has no rate (100/2, 300/4), its own rate otherwise
    assert line["rates"] == [(1.0, 50.0), (2.0, 75.0), (4.0, 999.0)]
    assert line["labels"] == ["batch=1", "batch=2", "batch=4"]
    assert sweep_plot(None) is None and sweep_plot({"points": []}) == []


def test_sweep_charts_draw_the_given_numbers():
    line = {
        "dim": "batch",
        "x": [1.0, 3.0],
        "time": [0.25, 0.5],
        "labels": ["a", "b"],
        "lines": {"flops": [(1.0, 7.0), (3.0, 9.0)], "alpha_flops": None},
        "predicted": [0.125, 0.375],
        "rates": [(1.0, 11.0)],
    }
    time_chart, rate_chart = sweep_charts({"points": []}, [line])
    series = {s.name: s.points for s in time_chart.series}
    assert series == {
        "measured": [(1.0, 0.25), (3.0, 0.5)],
        "FLOPs prediction": [(1.0, 7.0), (3.0, 9.0)],
        "predicted": [(1.0, 0.125), (3.0, 0.375)],
    }
    assert rate_chart.series[0].points == [(1.0, 11.0)]


def test_roofline_plot_totals_and_measured_latency():
    modules = [
        {"path": "", "depth": 0, "flops": 130, "bytes_read": 80, "bytes_written": 20},
        {"path": "fc", "depth": 1, "flops": 120, "bytes_read": 50, "bytes_written": 10},
        {"path": "act", "depth": 1, "flops": 10, "bytes_read": 30, "bytes_written": 10},
    ]
    modules[1]["time_s"], modules[2]["time_s"] = 0.003, 0.001
    plot = roofline_plot({"model": "m", "modules": modules})
    # the layers only (not the root): 120 + 10 FLOPs, 60 + 40 bytes, 3 + 1 ms
    assert plot["totals"] == {"flops": 130, "bytes": 100, "time": 0.004}
    assert plot["measured_s"] == 0.004  # no end-to-end latency: the layers' sum
    plot = roofline_plot({"model": "m", "modules": modules, "measured": {"latency_s": 0.01}})
    assert plot["measured_s"] == 0.01


def test_roofline_plot_ranks_layers_by_time_else_flops():
    modules = [{"path": "", "depth": 0}] + [
        {"path": f"l{i}", "depth": 1, "flops": f} for i, f in enumerate((5, 0, 9, 5))
    ]
    plot = roofline_plot({"model": "m", "modules": modules})
    # untimed: by FLOPs, the tie (l0, l3) in document order, l1 (no FLOPs) left out
    assert not plot["timed"] and plot["ranked"] == [2, 0, 3]
    modules[2]["time_s"], modules[4]["time_s"] = 0.002, 0.001
    plot = roofline_plot({"model": "m", "modules": modules})
    assert plot["timed"] and plot["ranked"] == [1, 3]  # timed: by time, untimed layers out
