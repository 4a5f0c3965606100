"""Smoke test of benchmarks/peers.py's pure helpers: no torch model, no peer needed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PEERS_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"


@pytest.fixture(scope="module")
def peers():
    spec = importlib.util.spec_from_file_location("bench_peers", PEERS_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peers"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_peers", None)


def test_every_tool_is_described_and_has_a_counter(peers):
    assert peers.TOOLS[0] == "flopwise"
    assert set(peers.TOOLS) == set(peers.COUNTERS)
    for info in peers.TOOL_INFO.values():
        assert {"label", "package", "api", "unit", "to_macs"} <= set(info)


def test_to_macs_halves_flop_counter_only(peers):
    assert peers.to_macs("flop_counter", 8_178_368_512) == 4_089_184_256
    assert peers.to_macs("fvcore", 4_089_184_256) == 4_089_184_256
    assert peers.to_macs("thop", 4.1e9) == 4_100_000_000
    assert peers.to_macs("calflops", None) is None
    with pytest.raises(KeyError):
        peers.to_macs("nope", 1)


def test_ratio_and_flagging(peers):
    assert peers.ratio(11_271_124_992, 17_563_828_224) == pytest.approx(0.6417, abs=1e-4)
    assert peers.ratio(5, 0) is None and peers.ratio(None, 5) is None
    assert peers.is_off(0.98) and peers.is_off(1.02)
    assert not peers.is_off(1.0099) and not peers.is_off(None)
    assert peers.fmt_ratio(0.6417) == "0.642"
    assert peers.fmt_ratio(0) == "0"
    assert peers.fmt_ratio(10.23) == "10.2"
    assert peers.gmacs(17_563_828_224) == "17.56"
    assert peers.gmacs(None) == "—"


def test_time_memory_and_errors(peers):
    assert peers.median_time([3.0, 1.0, 2.0]) == 2.0
    assert peers.rss_delta_kib(1000, 1500) == 500
    assert peers.rss_delta_kib(1500, 1000) == 0
    assert peers.one_line(ValueError("bad shape\nmore detail")) == "ValueError: bad shape"
    assert peers.one_line(StopIteration()) == "StopIteration"
    assert peers.one_line("\n  RuntimeError: x\ntrace") == "RuntimeError: x"
    assert len(peers.one_line("x" * 500)) == 160
    assert peers.mib(2048) == "2"
    assert peers.fmt_seconds(0.05) == "50 ms" and peers.fmt_seconds(1.234) == "1.23 s"


def test_op_names_and_module_breakdowns(peers):
    assert peers.short_op("aten.mm.default") == "aten.mm"
    assert peers.short_op("aten::_grouped_mm") == "aten._grouped_mm"
    assert peers.short_op("aten.mm") == "aten.mm"
    inclusive = {"": 10, "a": 6, "a.x": 4, "b": 3}
    assert peers.exclusive_from_inclusive(inclusive) == {"": 1, "a": 2, "a.x": 4, "b": 3}
    types = {"": "Net", "a": "Block", "a.x": "Linear", "b": "Linear"}
    assert peers.aggregate({"a.x": 4, "b": 3, "a": 2}, types.get) == {"Linear": 7, "Block": 2}


def test_diff_and_evidence(peers):
    peer = {"Linear": 11_155_519_488, "Conv2d": 115_605_504}
    ours = {**peer, "MultiheadAttention": 6_292_703_232}
    rows = peers.diff_breakdown(peer, ours)
    assert rows == [
        {
            "key": "MultiheadAttention",
            "peer": 0,
            "flopwise": 6_292_703_232,
            "diff": -6_292_703_232,
        }
    ]
    line = peers.evidence_line(rows, "module type")
    assert "`MultiheadAttention` 0.000 vs 6.293" in line
    assert "no single" in peers.evidence_line([], "ATen op")
    text = peers.build_evidence(
        {"kind": "op", "items": {"aten.mm": 10**9}, "unsupported": ["aten::_grouped_mm"]},
        {"by_op": {"aten.mm": 10**9, "aten._grouped_mm": 2 * 10**9}},
    )
    assert "`aten._grouped_mm` 0.000 vs 2.000" in text and "aten::_grouped_mm" in text


def _fake_results(peers):
    ok = {"status": "ok", "time_median": 1.2, "rss_delta_kib": 40960}
    fw = {
        **ok,
        "macs": 17_563_828_224,
        "extra": {"complete": True, "macs_by_tensors": {"fake": 17_563_828_224}},
        "breakdown": {
            "by_op": {"aten.addmm": 11_155_519_488, "aten._native_multi_head_attention": 6 * 10**9},
            "by_module_type": {"Linear": 11_155_519_488, "MultiheadAttention": 6 * 10**9},
        },
    }
    row = {
        "flopwise": fw,
        "flop_counter": {
            **ok,
            "macs": 11_155_519_488,
            "breakdown": {"kind": "op", "items": {"aten.addmm": 11_155_519_488}},
        },
        "thop": {**ok, "macs": 17_563_828_224},
        "calflops": {"status": "error", "error": "StopIteration"},
        "deepspeed": {"status": "unavailable", "error": "ImportError: no CUDA"},
    }
    return {
        "meta": {"date": "2026-01-01 00:00 UTC", "versions": {"torch": "2.x"}, "command": "cmd"},
        "models": ["vit_b_16"],
        "tools": ["flopwise", "flop_counter", "thop", "calflops", "deepspeed"],
        "results": {"vit_b_16": row},
        "big": {
            "llama-2-7b": {
                "status": "ok",
                "macs": 13 * 10**12,
                "params": 6_738_415_616,
                "seconds": 4.2,
                "rss_peak_kib": 900_000,
                "rss_delta_kib": 200_000,
            }
        },
    }


def test_render_markdown(peers):
    data = _fake_results(peers)
    peers.attach_evidence(data)
    assert (
        "aten._native_multi_head_attention"
        in data["results"]["vit_b_16"]["flop_counter"]["evidence"]
    )
    assert data["results"]["vit_b_16"]["thop"]["evidence"] == ""
    md = peers.render_markdown(data)
    assert "| vit_b_16 | 1×3×224×224 | 17.56 | **11.16 (0.635×)** | 17.56 (1.000×) |" in md
    assert "error | n/a |" in md
    assert "not installable here: ImportError: no CUDA" in md
    assert "fails: `StopIteration`" in md
    assert "| llama-2-7b | 6.74 B |" in md and "| yes |" in md
    assert "real / fake / meta MACs differ" not in md


def test_run_without_the_bench_extra_says_what_to_install_and_writes_nothing(
    peers, tmp_path, monkeypatch, capsys
):
    committed = PEERS_PY.parent / "results" / "peers.json"
    out = tmp_path / "results"
    out.mkdir()
    (out / "peers.json").write_bytes(committed.read_bytes())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # a package that cannot be installed: the same path as running without [bench]
    monkeypatch.setitem(peers.TOOL_MODULES, "thop", "no_such_package_for_flopwise_tests")
    assert peers.missing_tools(["flopwise", "flop_counter", "thop"]) == {
        "thop": "no_such_package_for_flopwise_tests"
    }
    with pytest.raises(SystemExit) as exc:
        peers.main(["run", "--tools", "flopwise", "thop", "--out", str(out), "--no-big"])
    message = str(exc.value.code)
    assert "pip install -e '.[bench]'" in message and "no_such_package" in message
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_unavailable_results_keep_the_previous_count(peers):
    old = {"resnet18": {"thop": {"status": "ok", "macs": 1_820_000_000}}}
    new = {
        "resnet18": {
            "thop": {"status": "unavailable", "error": "No module named 'thop'"},
            "flopwise": {"status": "ok", "macs": 1_814_073_344},
        },
        "gpt2": {"thop": {"status": "unavailable", "error": "No module named 'thop'"}},
    }
    kept = peers.keep_old_where_unavailable(new, old)
    assert kept["resnet18"]["thop"] == {"status": "ok", "macs": 1_820_000_000}
    assert kept["resnet18"]["flopwise"]["macs"] == 1_814_073_344
    assert kept["gpt2"]["thop"]["status"] == "unavailable"  # nothing older to keep
    assert new["resnet18"]["thop"]["status"] == "unavailable"  # the input is not modified
