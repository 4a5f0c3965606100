"""benchmarks/gpu_check.py runs where it matters (a CUDA machine) rarely; its logic is
dry-run here on CPU so the script cannot rot unnoticed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sdpa_section_dry_run_on_cpu(tmp_path):
    doc = _script().check_sdpa_backends(tmp_path, device="cpu", shapes=[(1, 4, 6, 5, 8)])
    assert set(doc["summary"]) <= {"ok", "unsupported"}, doc["summary"]
    assert doc["summary"]["ok"] >= 20  # math and the CPU flash kernel, every grad mode
    saved = json.loads((tmp_path / "sdpa_backends.json").read_text())
    ok = [c for c in saved["cases"] if c["status"] == "ok"]
    assert all(c["counted"] == c["expected"] for c in ok)
    # Lk=5 < Lq=6 causal: pairs 1+2+3+4+5+5 = 20 per head, 4 heads, macs 20·4·16
    causal = [c for c in ok if c["causal"]]
    assert causal and all(c["expected"]["macs"] == 20 * 4 * 16 for c in causal)


def test_skips_cleanly_without_cuda(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is here: the script runs its checks instead")
    assert _script().main([]) == 0
    assert "skipped" in capsys.readouterr().out


def test_main_runs_every_section_on_cpu_and_reports_each(tmp_path, capsys):
    code = _script().main(
        ["--device", "cpu", "--only", "moe_bf16", "gpu_roofline", "--out", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "moe_bf16: ok: real" in out  # real CPU bf16 = meta, the section's own comparison
    assert "gpu_roofline: ok: skipped" in out
    assert json.loads((tmp_path / "moe_bf16.json").read_text())["all_equal"] is True


# -- the sections added for issue 11's acceptance (predict, memory) and the results file ----


@pytest.fixture
def synthetic_host(tmp_path, monkeypatch):
    """A synthetic host profile in a private cache: nothing measures this machine."""
    from flopwise.measure.hardware import HardwareProfile, host_profile_path

    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    HardwareProfile(
        name="host",
        kind="cpu",
        peak_flops={"float32": 100e9, "bfloat16": 100e9},
        memory_bandwidth=20e9,
        launch_overhead_s=3e-6,
        source="synthetic test host",
        details={"measured": True, "device": "cpu"},
    ).save(host_profile_path())


def _sections_path(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))


def test_predict_section_dry_run_on_cpu(tmp_path, monkeypatch, synthetic_host):
    """The CLI part (predict --calibrate) and the zoo part run on the CPU; the CLI's zoo is
    swapped for the dry zoo so the test stays small (the path is the same)."""
    _sections_path(monkeypatch)
    import gpu_checks_predict as gp

    from flopwise.pipeline import predict as predict_api

    real = predict_api.run_calibration
    monkeypatch.setattr(
        predict_api, "run_calibration", lambda **kw: real(**{"zoo": gp.DRY_ZOO, **kw})
    )
    doc = gp.check_predict(tmp_path, device="cpu")
    assert doc["problems"] == [], doc["problems"]
    assert doc["cli"]["calibrated_on"]["name"] == "cpu"
    assert doc["cli"]["method"] == "calibrated cost model"
    # the zoo is calibrated once per dtype of the issue, each saying what it timed
    assert list(doc["gpu_zoo"]) == ["float32", "bfloat16"] == list(gp.ZOO_DTYPES)
    text = "\n".join(gp.markdown(doc))
    for dtype, zoo in doc["gpu_zoo"].items():
        assert (
            zoo["dtype"] == dtype and zoo["budget_s"] == 1.0 and "cudnn_allow_tf32" in zoo["tf32"]
        )
        names = [s["name"] for s in zoo["samples"]]
        assert names == [f"{g} {' '.join(i)}" for _, g, i in gp.DRY_ZOO]
        assert doc["lomo_mape"][dtype] == zoo["cross_validation"]["mape"]
        assert f"GPU zoo in {dtype}" in text and f"MAPE {doc['lomo_mape'][dtype]:.1%}" in text
    assert json.loads((tmp_path / "predict.json").read_text())["lomo_mape"] == doc["lomo_mape"]
    assert "resnet18 1x3x64x64" in text


def test_gpu_zoo_is_the_issue_s_zoo(monkeypatch):
    """Issue 11 fixed the GPU zoo before fitting: seven torchvision models at batch 1 and
    32, bert-base and gpt2 at 128 and 512 tokens; grouped by model for leave-one-out."""
    _sections_path(monkeypatch)
    import gpu_checks_predict as gp

    groups = {}
    for _, group, inputs in gp.GPU_ZOO:
        groups.setdefault(group, []).append(inputs[0])
    assert len(gp.GPU_ZOO) == 18 and len(groups) == 9
    assert groups["vit_b_16"] == ["1x3x224x224", "32x3x224x224"]
    assert groups["gpt2"] == ["input_ids=1x128:int64", "input_ids=1x512:int64"]


def test_memory_section_dry_run_on_cpu(tmp_path, monkeypatch):
    _sections_path(monkeypatch)
    import gpu_checks_memory as gm

    doc = gm.check_memory(tmp_path, device="cpu")
    assert doc["problems"] == [], doc["problems"]
    assert [(c["model"], c["train"], c["input"]) for c in doc["cases"]] == [
        ("torchvision:resnet18", False, "1x3x64x64"), ("torchvision:resnet18", True, "1x3x64x64"),
        ("hf:tiny-bert", False, "input_ids=1x32:int64"), ("hf:tiny-bert", True, "input_ids=1x32:int64"),
        ("torchvision:resnet18", False, "2x3x64x64"), ("torchvision:resnet18", True, "2x3x64x64"),
        ("hf:tiny-bert", False, "input_ids=2x32:int64"), ("hf:tiny-bert", True, "input_ids=2x32:int64"),
    ]  # fmt: skip
    for c in doc["cases"]:
        pred, meas = c["predicted"]["step_peak_bytes"], c["measured"]["step_peak_bytes"]
        assert c["predicted_over_measured"] == pred / meas
        assert c["within_5pct_or_8mib"] == (abs(pred - meas) <= max(0.05 * meas, 8 * 2**20))
        # MemTracker works on CPU tensors: a real peak, its categories summing to it
        tracked = c["memtracker"]
        assert tracked["peak_total_bytes"] > 0
        parts = {k: v for k, v in tracked["peak_breakdown"].items() if k != "Total"}
        assert sum(parts.values()) == tracked["peak_total_bytes"]
        assert all(type(k) is str for k in parts)  # plain names, not enum reprs
        assert parts["Parameter"] > 0 and (parts["Gradient"] > 0) == c["train"]
    settings = doc["workspace_settings"]
    assert settings["cudnn_benchmark"] is False and "CUBLAS_WORKSPACE_CONFIG" in settings
    text = "\n".join(gm.markdown(doc))
    assert "workspace settings: cudnn_benchmark False" in text
    assert text.count("| torchvision:") == 4 and text.count("| hf:tiny-bert") == 4
    results = (tmp_path / "memory_cpu.md").read_text()
    assert results.startswith("# Memory: predicted vs measured peak, cpu (dry run)")
    assert text in results and "MemTracker on a separate step" in results


def test_memory_cases_past_the_budget_are_skipped_not_invented(tmp_path, monkeypatch):
    _sections_path(monkeypatch)
    import gpu_checks_memory as gm

    doc = gm.check_memory(tmp_path, device="cpu", budget_s=-1.0)
    assert len(doc["cases"]) == 8 and all("skipped" in c for c in doc["cases"])
    assert not any("predicted" in c or "measured" in c for c in doc["cases"])
    assert "skipped: not started" in (tmp_path / "memory_cpu.md").read_text()


def test_memory_models_are_the_issue_s(monkeypatch):
    """Issue 14's GPU acceptance list, batch 1 before 32, inference and training each."""
    _sections_path(monkeypatch)
    import gpu_checks_memory as gm

    cases = gm._cases(gpu=True)
    assert [spec.split(":")[1] for spec, _ in gm.MODELS] == [
        "resnet18", "resnet50", "mobilenet_v2", "vit_b_16", "bert-base-uncased", "gpt2",
    ]  # fmt: skip
    assert len(cases) == 24 and all(
        shape.startswith(("1x", "input_ids=1x")) for _, shape, _ in cases[:12]
    )
    assert ("hf:gpt2", "input_ids=32x128:int64", True) in cases


def test_devices_markdown_takes_figures_from_the_document(monkeypatch):
    _sections_path(monkeypatch)
    import gpu_checks_devices as gd

    phase = {
        "name": "TTFT", "measured_s": 0.025, "device_time_s": 0.02, "device_s": 0.015,
        "roofline_floor_s": 0.005, "gap": 5.0, "bound": "device-bound",
    }  # fmt: skip
    doc = {
        "problems": [],
        "runs": {
            "llm_x": {
                "argv": ["llm", "x"], "device": {"name": "cuda:0"}, "roofline_hardware": "h",
                "device_timer": "cuda events", "phases": [phase],
            },
            "llm_train": {"argv": ["llm", "y"], "step": 0.5, "step_device": 0.25,
                          "mfu": {"mfu_palm": 0.4, "mfu_counted": 0.5}},
        },
    }  # fmt: skip
    text = "\n".join(gd.markdown(doc))
    assert "| TTFT | 25.000 ms | 20.000 ms | 15.000 ms | 5.000 ms | 5.00x | device-bound |" in text
    assert "step 500.000 ms (device 250.000 ms); MFU PaLM 40.0%, flopwise count 50.0%" in text


def test_a_failed_section_writes_its_error_not_figures(tmp_path, capsys, monkeypatch):
    script = _script()

    def broken(out_dir, device):
        raise RuntimeError("no figures from me")

    monkeypatch.setitem(script.SECTIONS, "memory", broken)
    results = tmp_path / "results"
    code = script.main(
        ["--device", "cpu", "--only", "memory", "gpu_roofline", "--out", str(tmp_path),
         "--results", str(results)]
    )  # fmt: skip
    assert code == 1
    text = (tmp_path / "gpu_cpu.md").read_text()
    assert "## memory: FAILED" in text and "RuntimeError: no figures from me" in text
    assert "## gpu_roofline: ok" in text and "skipped: needs CUDA" in text
    assert not results.exists()  # the repository's results file is written on CUDA only


def test_cuda_step_peak_reads_the_allocator_around_one_step(monkeypatch):
    """The CUDA measurement's arithmetic with torch.cuda's allocator calls faked: the step
    runs between reading memory_allocated and max_memory_allocated, after a reset."""
    import torch

    _sections_path(monkeypatch)
    import gpu_checks_memory as gm

    log: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: log.append("sync"))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: log.append("before") or 1000)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *a: log.append("reset"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: log.append("peak") or 4096)
    model = torch.nn.Linear(4, 2)
    model.register_forward_hook(lambda *a: log.append("forward"))
    out, tracked = gm.cuda_step_peak(model, (torch.ones(3, 4),), {}, train=False)
    assert out == {"peak_bytes": 4096, "before_bytes": 1000, "step_peak_bytes": 3096}
    # a warm-up step first; then the measured step, with MemTracker around it
    assert log == ["forward", "sync", "before", "reset", "forward", "sync", "peak"]
    assert tracked == {"error": "MemTracker saw no cuda memory"}  # CPU tensors here


def test_a_split_run_keeps_the_sections_an_earlier_call_recorded():
    """``--only`` over two calls: the second file holds both calls' sections, the newer
    outcome of a section run twice, in the order of SECTIONS."""
    gpu_check = _script()
    names = list(gpu_check.SECTIONS)
    first = [{"name": names[0], "ok": True, "when": "t1"}, {"name": names[1], "ok": False}]
    second = [{"name": names[1], "ok": True, "when": "t2"}, {"name": names[2], "ok": True}]
    merged = gpu_check.merged_outcomes(first, second)
    assert [o["name"] for o in merged] == names[:3]
    assert merged[1] == second[0] and merged[0] == first[0]
