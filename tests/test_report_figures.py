"""Renderers only render: every derived figure a report prints (shares, intensities,
achieved FLOP/s, efficiencies, per-token figures) is a named field of the result that
produced it, checked here against numbers worked out by hand; and each renderer prints the
field it is given (a deliberately different value shows up), so a renderer that went back
to computing the figure itself, or a result that lost the field, fails here."""

from __future__ import annotations

import io

import pytest
import torch
from rich.console import Console
from torch import nn

import flopwise
from flopwise.analysis.predict import shares
from flopwise.analysis.roofline import module_figures, roofline_plot
from flopwise.campaign.summary import flops_per_second
from flopwise.pipeline.predict import LatencyPrediction
from flopwise.report.campaign import campaign_tables
from flopwise.report.html import render_html
from flopwise.report.plots import efficiency_share_chart, latency_chart
from flopwise.report.predict import prediction_table
from test_fit_alpha_cli import isolated_cache, synthetic_csv  # noqa: F401  (fixtures)


def _text(renderable, width: int = 200) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


# -- predict: each class's and module's share of the predicted time ------------------------


def test_shares_are_fractions_of_the_sum():
    assert shares({"conv": 3.0, "norm": 1.0}) == {"conv": 0.75, "norm": 0.25}
    assert shares({"a": 0.5, "b": 1.5, "c": 2.0}) == {"a": 0.125, "b": 0.375, "c": 0.5}
    assert shares({"a": 0.0}) == {"a": 0.0}  # nothing predicted: no share, no division by 0
    assert shares({}) == {}


def _prediction(**overrides) -> LatencyPrediction:
    fields = dict(
        model="m",
        inputs=[{"name": "x", "shape": [1, 4], "dtype": "float32"}],
        dtype="float32",
        hardware={"name": "hw", "kind": "cpu", "source": "by hand"},
        method="roofline floor",
        predicted_s=4e-3,
        roofline_floor_s=4e-3,
        flops=100,
        bytes=400,
        ops=3,
        by_class={
            "conv": {"seconds": 3e-3, "ops": 2, "memory_bound_ops": 1},
            "norm": {"seconds": 1e-3, "ops": 1, "memory_bound_ops": 1},
        },
        by_module={"body": 3.5e-3, "head": 0.5e-3},
        class_share={"conv": 0.75, "norm": 0.25},  # 3 ms and 1 ms of 4 ms
        module_share={"body": 0.875, "head": 0.125},  # 3.5 ms and 0.5 ms of 4 ms
        cost_model=None,
        notes=[],
        complete=True,
    )
    return LatencyPrediction(**{**fields, **overrides})


def _row(text: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    rows = [[c.strip() for c in ln.split("│")[1:-1]] for ln in text.splitlines() if "│" in ln]
    (row,) = [r for r in rows if r and r[0] == first]
    return row


def test_prediction_table_prints_the_predictions_shares():
    text = prediction_table(_prediction())
    assert _row(text, "conv")[-1] == "75.0%" and _row(text, "norm")[-1] == "25.0%"
    assert _row(text, "body")[-1] == "87.5%" and _row(text, "head")[-1] == "12.5%"
    # the renderer formats the fields; it does not recompute them from the seconds
    odd = prediction_table(
        _prediction(class_share={"conv": 0.5, "norm": 0.5}, module_share={"body": 0.3, "head": 0.7})
    )
    assert _row(odd, "conv")[-1] == "50.0%" and _row(odd, "head")[-1] == "70.0%"


def test_predict_model_carries_shares_of_its_own_seconds():
    from flopwise.pipeline import predict_model

    pred = predict_model("torchvision:resnet18", ["1x3x32x32"], hardware="h100")
    assert set(pred.class_share) == set(pred.by_class)
    assert set(pred.module_share) == set(pred.by_module)
    assert sum(pred.class_share.values()) == pytest.approx(1.0, rel=1e-12)
    assert sum(pred.module_share.values()) == pytest.approx(1.0, rel=1e-12)
    module_total = sum(pred.by_module.values())
    for path, seconds in pred.by_module.items():
        assert pred.module_share[path] == pytest.approx(seconds / module_total, rel=1e-12)
    # the JSON document keeps its keys: the seconds give the shares
    assert "class_share" not in pred.to_dict() and "module_share" not in pred.to_dict()


# -- campaign: achieved FLOP/s per device ---------------------------------------------------


def test_campaign_flops_per_second_per_device():
    # 200 FLOPs in 2 s on the CPU, in 0.05 s on the GPU
    row = {"flops": 200, "latency": {"cpu": 2.0, "nvidia-l4": 0.05}}
    assert flops_per_second(row) == {"cpu": 100.0, "nvidia-l4": 4000.0}
    assert flops_per_second({"flops": 0, "latency": {"cpu": 1.0}}) == {}  # nothing counted
    assert flops_per_second({"flops": None, "latency": {"cpu": 1.0}}) == {}


def test_campaign_rows_carry_flops_per_second(tmp_path):
    from flopwise.campaign import run_campaign
    from flopwise.campaign.summary import campaign_rows
    from flopwise.store import Store
    from test_campaign_analysis import FakeExecutor, _documents, _plan

    with Store(tmp_path / "r.sqlite") as store:
        run_campaign(_plan(accuracy=False), store, FakeExecutor(_documents()))
        rows = {r["model"]: r for r in campaign_rows(store, "pareto")}
    # resnet18 there: 200 FLOPs, 2.0 s on the CPU, 0.05 s on the L4 (test_campaign_analysis)
    assert rows["torchvision:resnet18"]["flops_per_second"] == {"cpu": 100.0, "nvidia-l4": 4000.0}
    assert rows["torchvision:vit_b_16"]["flops_per_second"] == {"cpu": 100.0, "nvidia-l4": 1000.0}


def test_campaign_table_prints_the_rows_flops_per_second():
    row = {
        "model": "m",
        "inputs": "1x4",
        "flops": 100,
        "macs": 50,
        "params": 1,
        "count_status": "ok",
        "peak_memory": None,
        "memory_status": None,
        "latency": {"cpu": 1e-3},
        "flops_per_second": {"cpu": 2.5e9},  # not 100 / 1 ms: the field is what is printed
        "energy": {},
        "energy_estimated": set(),
        "predicted": {},
        "predict_method": {},
        "status": {"cpu": "ok"},
        "jobs": {"cpu": {"measure": "ok"}},
    }
    (table,) = campaign_tables([row], "c")
    (line,) = [ln for ln in _text(table).splitlines() if "│ m " in ln]
    assert line.split("│")[-2].strip() == "2.5"  # GFLOP/s


# -- HTML report: intensity, % FLOPs, % time, achieved FLOP/s -------------------------------


def _tiny_document() -> dict:
    """Linear(4, 3) + ReLU on a 2×4 input: Linear 2·2·4·3 + 2·3 = 54 FLOPs moving
    4·(8 + 12 + 3) + 4·6 = 116 bytes; ReLU 6 FLOPs moving 24 + 24 bytes; 60 FLOPs in all."""
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    doc = flopwise.profile(net, torch.randn(2, 4)).to_dict()
    assert [m["flops"] for m in doc["modules"]] == [60, 54, 6]
    return doc


def test_module_figures_of_a_tiny_linear():
    doc = _tiny_document()
    for m in doc["modules"]:
        del m["intensity"]  # an older document without it: FLOPs / bytes
    doc["measured"] = {"latency_s": 1e-5}
    doc["modules"][1]["time_s"] = 6e-6
    figures = module_figures(doc)
    root, linear, relu = figures["modules"]
    assert linear["intensity"] == pytest.approx(54 / 116, rel=1e-12)
    assert relu["intensity"] == pytest.approx(6 / 48, rel=1e-12)
    assert root["flops_percent"] == 100.0
    assert linear["flops_percent"] == pytest.approx(90.0) and relu["flops_percent"] == 10.0
    assert linear["time_percent"] == pytest.approx(60.0)  # 6 µs of the 10 µs latency
    assert linear["achieved_flops_per_s"] == pytest.approx(9e6)  # 54 FLOPs in 6 µs
    assert relu["time_percent"] is None and relu["achieved_flops_per_s"] is None
    assert figures["achieved_flops_per_s"] == pytest.approx(6e6)  # 60 FLOPs in 10 µs
    # the document's own intensity wins (it is what profile_document wrote)
    assert module_figures(_tiny_document())["modules"][1]["intensity"] == round(54 / 116, 6)
    # no latency: times are shares of the root's own time, and no achieved card
    doc.pop("measured")
    doc["modules"][0]["time_s"] = 2e-5
    figures = module_figures(doc)
    assert figures["modules"][1]["time_percent"] == pytest.approx(30.0)
    assert figures["achieved_flops_per_s"] is None


def test_html_prints_the_figures_it_is_given():
    doc = _tiny_document()
    doc["measured"] = {"latency_s": 1e-5}
    doc["modules"][1]["time_s"] = 6e-6
    figures = module_figures(doc)
    figures["achieved_flops_per_s"] = 7.5e9
    figures["modules"][1] = {
        "intensity": 12.5,
        "flops_percent": 33.3,
        "time_percent": 44.4,
        "achieved_flops_per_s": 8.5e9,
    }
    html = render_html(doc, roofline=roofline_plot(doc), figures=figures)
    assert 'Achieved</div><div class="value">7.5 GFLOP/s' in html
    (row,) = [r for r in html.split("<tr") if 'data-path="0"' in r]
    for cell in ('data-v="12.5"', 'data-v="33.3"', 'data-v="44.4"', "8.5 GFLOP/s"):
        assert cell in row


# -- charts: shares per layer and the efficiency in the caption -----------------------------


def _layers_document(latency: float) -> dict:
    """Two layers: 30 and 10 FLOPs, 100 and 300 bytes, 1 s and 3 s, floors 0.5 s each."""
    return {
        "model": "m",
        "measured": {"latency_s": latency},
        "modules": [
            {"path": "", "depth": 0, "flops": 40, "bytes_read": 400, "bytes_written": 0},
            {"path": "a", "depth": 1, "flops": 30, "bytes_read": 100, "bytes_written": 0,
             "time_s": 1.0, "floor_s": 0.5},
            {"path": "b", "depth": 1, "flops": 10, "bytes_read": 200, "bytes_written": 100,
             "time_s": 3.0, "floor_s": 0.5},
        ],
    }  # fmt: skip


def test_layer_shares_and_efficiency():
    plot = roofline_plot(_layers_document(latency=4.0))
    assert plot["shares"] == {"flops": [75.0, 25.0], "bytes": [25.0, 75.0], "time": [25.0, 75.0]}
    assert plot["efficiency"] == 0.25  # waterline 0.5 + 0.5 s of 4 s measured
    assert roofline_plot(_layers_document(latency=0.8))["efficiency"] is None  # under it
    untimed = _layers_document(latency=4.0)
    untimed.pop("measured")
    for m in untimed["modules"]:
        m.pop("time_s", None)
    assert roofline_plot(untimed)["shares"]["time"] is None


def test_charts_draw_the_analysis_shares_and_efficiency():
    doc = _layers_document(latency=4.0)
    plot = roofline_plot(doc)
    assert "(efficiency 25.0%)" in latency_chart(doc, plot).caption
    plot["efficiency"] = 0.125
    assert "(efficiency 12.5%)" in latency_chart(doc, plot).caption
    plot["shares"] = {"flops": [60.0, 40.0], "bytes": None, "time": [10.0, 90.0]}
    chart = efficiency_share_chart(doc, plot)
    # ranked by time: b (3 s) first
    assert [(g.name, g.values) for g in chart.bars] == [
        ("FLOPs share", [40.0, 60.0]),
        ("time share", [90.0, 10.0]),
    ]
    under = _layers_document(latency=0.8)
    assert (
        "(under the floor: a profile error)." in latency_chart(under, roofline_plot(under)).caption
    )


# -- profile table: % FLOPs per module and the count against 6·N --------------------------


def _tiny_profile():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    return flopwise.profile(net, torch.randn(2, 4))


def _table_row(text: str, name: str) -> list[str]:
    (line,) = [ln for ln in text.splitlines() if ln.split() and ln.split()[0] == name]
    return line.split()


def test_profile_flops_percent_of_a_tiny_linear():
    p = _tiny_profile()
    # 54 of 60 FLOPs in the Linear, 6 in the ReLU
    assert p.module_flops_percent == {"": 100.0, "0": 90.0, "1": 10.0}
    text = p.table()
    assert "90.0%" in _table_row(text, "0") and "10.0%" in _table_row(text, "1")


def test_profile_table_prints_the_profiles_percent(monkeypatch):
    from flopwise.profile import Profile

    monkeypatch.setattr(
        Profile, "module_flops_percent", property(lambda self: {"": 100.0, "0": 12.3, "1": 4.5})
    )
    text = _tiny_profile().table()
    assert "12.3%" in _table_row(text, "0") and "4.5%" in _table_row(text, "1")


def test_flops_over_six_n():
    from flopwise.report.table import closed_form_parts
    from flopwise.sections import TrainingClosedForms

    p = _tiny_profile()  # 60 FLOPs counted
    assert p.flops_over_six_n is None  # no closed forms
    p.training_closed_forms = TrainingClosedForms(tokens=2, six_n=48, megatron=50)
    assert p.flops_over_six_n == 1.25  # 60 / 48
    (line,) = closed_form_parts(p)
    assert "6·N·tokens 48 FLOPs (1.25x)," in line.plain
    p.training_closed_forms.six_n = 0  # no ratio to show, and no division by zero
    assert p.flops_over_six_n is None
    assert "x)" not in closed_form_parts(p)[0].plain


# -- llm: decode tokens and matmul FLOPs, per-token training FLOPs, op bytes, spreads ------


def test_llm_decode_tokens_and_matmul_flops():
    from flopwise.llm.estimate import estimate

    est = estimate("hf:gpt2", batch=3, prompt=16, gen=5, hardware="h100")
    assert est.decode.steps == 4 and est.decode_tokens == 12  # 3 sequences × 4 steps
    assert est.decode.matmul_flops == 2 * est.decode.macs
    one = estimate("hf:gpt2", batch=3, prompt=16, gen=2)  # one decode step: step 1's own sum
    assert one.decode.matmul_flops == one.decode_first.matmul_flops
    assert estimate("hf:gpt2", batch=3, prompt=16, gen=1).decode_tokens == 0


def test_llm_phase_table_prints_the_decode_fields(monkeypatch):
    from flopwise.llm.estimate import DecodeTotals, LLMEstimate, estimate
    from flopwise.report.llm import _phase_table

    est = estimate("hf:gpt2", batch=3, prompt=16, gen=5)
    monkeypatch.setattr(LLMEstimate, "decode_tokens", property(lambda self: 777))
    monkeypatch.setattr(DecodeTotals, "matmul_flops", property(lambda self: 4.2e12))
    text = _text(_phase_table(est, [("prefill", est.prefill)], {}))
    assert _row(text, "new tokens")[-1] == "777"
    assert _row(text, "matmul FLOPs (2·MACs)")[-1] == "4.2 TFLOPs"


def test_training_per_token_flops(monkeypatch):
    from flopwise.llm.training import TrainingCost
    from flopwise.report.llm import _training_table

    cost = TrainingCost(
        batch=2, seq=4, forward=80, backward=160, recompute=8, forward_matmul=70,
        six_n=48, kaplan=56, megatron=64, palm=72,
    )  # fmt: skip
    assert cost.per_token_flops == {
        "forward": 10.0,
        "backward": 20.0,
        "recompute": 1.0,
        "step": 31.0,
        "six_n": 6.0,
        "kaplan": 7.0,
        "megatron": 8.0,
        "palm": 9.0,
    }  # fmt: skip  (8 tokens)
    text = _text(_training_table(cost, None, None))
    assert _row(text, "total (counted)") == ["total (counted)", "248 FLOPs", "31 FLOPs"]
    assert _row(text, "6·N")[-1] == "6 FLOPs"
    odd = {name: 1000.0 for name in cost.per_token_flops}
    monkeypatch.setattr(TrainingCost, "per_token_flops", property(lambda self: odd))
    assert _row(_text(_training_table(cost, None, None)), "6·N")[-1] == "1 KFLOPs"


def test_llm_op_activation_and_kv_bytes():
    from flopwise.llm.ops import OpEstimate

    op = OpEstimate("attn", "attention", "contraction", 2, 100, act_read=3, act_written=4,
                    kv_read=5, kv_written=6)  # fmt: skip
    assert (op.act_bytes, op.kv_bytes) == (7, 11)


def test_llm_op_table_prints_the_ops_bytes(monkeypatch):
    from flopwise.llm.estimate import estimate
    from flopwise.llm.ops import OpEstimate
    from flopwise.report.llm import _op_table

    monkeypatch.setattr(OpEstimate, "act_bytes", property(lambda self: 3_000_000))
    monkeypatch.setattr(OpEstimate, "kv_bytes", property(lambda self: 5_000_000))
    text = _text(_op_table("ops", estimate("hf:gpt2", prompt=16, gen=2).prefill, None), 300)
    rows = [r for r in text.splitlines() if "│" in r and "lm_head" in r]
    assert rows and all("3 MB" in r and "5 MB" in r for r in rows)


def test_measured_training_spread():
    from flopwise.llm.measured import _with_spread
    from flopwise.measure.timing import Latency
    from flopwise.report.llm import _measured_training

    # samples 1, 2, 3, 4, 10 s: IQR 4 - 2 = 2 of median 3 (0.667); CV √12.5 / 4 (0.884)
    step = _with_spread(Latency([1.0, 2.0, 3.0, 4.0, 10.0]))
    assert step["spread"] == pytest.approx(12.5**0.5 / 4, rel=1e-12)
    doc = {
        "device": {"name": "cpu"}, "dtype": "float32", "batch": 1, "seq": 8, "what": "x",
        "device_timer": "wall clock", "mfu": None, "step_device": None,
        "step": {**step, "spread": 0.25},  # the field is printed, not the max recomputed
    }  # fmt: skip
    console = Console(width=200, record=True, file=io.StringIO())
    _measured_training(console, doc)
    assert _row(console.export_text(), "spread")[-1] == "25% (n=5)"


# -- hardware: the cache-sized copies of a bandwidth curve ---------------------------------


def test_hardware_cache_copies(monkeypatch):
    from flopwise.measure.hardware.profiles import CacheCopy, HardwareProfile
    from flopwise.report.hardware import profile_table

    curve = [[2**16, 1e11], [2**20, 5e10], [2**22, 6e10], [2**26, 2.1e10]]  # bytes moved, B/s
    hw = HardwareProfile("h", "cpu", {"float32": 1e11}, 2e10, details={"bandwidth_curve": curve})
    copies = hw.cache_copies()
    # every point but the main-memory one; buffers are half the bytes a copy moves; the
    # 512 KiB copy measured 50 GB/s under the 60 GB/s of the larger 2 MiB one: disturbed
    assert [c.buffer_bytes for c in copies] == [2**15, 2**19, 2**21]
    assert [c.bytes_per_s for c in copies] == [1e11, 6e10, 6e10]
    assert [c.disturbed for c in copies] == [False, True, False]
    assert HardwareProfile("h", "cpu", {"float32": 1e11}, 2e10).cache_copies() == []
    text = _text(profile_table(hw), width=300)
    assert "512 KiB buffers" in text and "(measured 50 GB/s, disturbed;" in text
    # the table prints the copies it is given
    odd = CacheCopy(3 * 2**20, 6 * 2**20, 7e9, 8e9, disturbed=True)
    monkeypatch.setattr(HardwareProfile, "cache_copies", lambda self: [odd])
    text = _text(profile_table(hw), width=300)
    assert "3 MiB buffers" in text and "8 GB/s" in text and "(measured 7 GB/s, disturbed;" in text


# -- fit-alpha: the time scale as a rate ----------------------------------------------------


@pytest.mark.usefixtures("isolated_cache")
def test_alpha_macs_per_second(request):
    from flopwise.analysis.alpha import AlphaConstants
    from flopwise.pipeline import run_fit_alpha
    from flopwise.report.calibration import alpha_fit_table

    assert AlphaConstants(seconds_per_mac=2e-11).macs_per_second == pytest.approx(5e10)
    assert AlphaConstants().macs_per_second is None  # the authors' constants: no time scale
    # layers timed at 20 ps per α-MAC (test_fit_alpha_cli.TRUE): 50 α-GMAC/s
    doc = run_fit_alpha(request.getfixturevalue("synthetic_csv")).to_dict()
    assert doc["alpha_macs_per_second"] == pytest.approx(5e10, rel=1e-3)
    assert "(50 α-GMAC/s)" in alpha_fit_table(doc)
    doc["alpha_macs_per_second"] = 4e10  # the field is printed, not 1 / seconds_per_mac
    assert "(40 α-GMAC/s)" in alpha_fit_table(doc)


# -- measured profile: the worst profile error ---------------------------------------------


def test_worst_profile_error():
    from flopwise.report.table import _roofline_lines
    from flopwise.sections import ProfileError, Roofline

    errors = [
        ProfileError(path="a", ratio=1.2),
        ProfileError(path="b", op="aten.mm", ratio=3.0),
        ProfileError(path="c", ratio=3.0),  # a tie: the first stays the worst
    ]
    roof = Roofline(profile_errors=errors)
    assert roof.worst_error is errors[1]
    assert Roofline().worst_error is None
    (line,) = _roofline_lines(roof, None)
    assert "3 measured time(s) under their roofline floor (worst b aten.mm: 3.00x)" in line.plain


# -- memory timeline: the stacked bands ----------------------------------------------------


def test_memory_curve_stacked(monkeypatch):
    from flopwise.memory.result import MemoryProfile
    from flopwise.report.memory import memory_timeline_chart
    from test_memory_timeline_html import tiny_profile

    mp = tiny_profile()
    # parameters 1024 at every op; + gradients 1024 from op 2; + saved 512; + a 2048-byte
    # temporary at op 1; optimizer state (never live) has no band
    assert mp.curve_stacked() == {
        "parameters": [1024, 1024, 1024, 1024],
        "gradients": [1024, 1024, 2048, 2048],
        "saved": [1536, 1536, 2560, 2560],
        "temporaries": [1536, 3584, 2560, 2560],
    }
    areas = {s.name: s.points for s in memory_timeline_chart(mp).series if s.style == "area"}
    assert areas["temporaries"] == [(0, 1536), (1, 3584), (2, 2560), (3, 2560)]
    odd = {"saved": [7, 7, 7, 7]}  # the chart draws the bands it is given
    monkeypatch.setattr(MemoryProfile, "curve_stacked", lambda self: odd)
    areas = {s.name: s.points for s in memory_timeline_chart(mp).series if s.style == "area"}
    assert areas == {"saved": [(0, 7), (1, 7), (2, 7), (3, 7)]}


def test_llm_op_bounds():
    from dataclasses import replace

    from flopwise.llm.estimate import PhaseCost
    from flopwise.llm.ops import OpEstimate
    from flopwise.report.llm import _op_table

    ops = (
        OpEstimate("mm", "mlp", "contraction", 1, 100, act_read=10),  # 100/10 s vs 10/10 s
        OpEstimate("add", "residual", "elementwise", 1, 10, act_read=100),  # 1 s vs 10 s
        OpEstimate("copy", "residual", "memory", 1, 0),  # no flops: memory-bound
    )
    phase = PhaseCost("prefill", tokens=1, context=1, ops=ops)
    time = phase.roofline(peak=10.0, bandwidth=10.0)
    assert time.op_bounds == ("compute", "memory", "memory")
    assert time.op_bounds == tuple(op.bound(10.0, 10.0) for op in ops)

    def bounds(text: str) -> list[str]:
        return [_row(text, name)[-1] for name in ("mm", "add", "copy")]

    assert bounds(_text(_op_table("ops", phase, time))) == ["compute", "memory", "memory"]
    odd = replace(time, op_bounds=("memory", "compute", "compute"))  # printed as given
    assert bounds(_text(_op_table("ops", phase, odd))) == ["memory", "compute", "compute"]
