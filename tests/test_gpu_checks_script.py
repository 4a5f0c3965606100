"""benchmarks/gpu_checks_hw.py on a machine without a GPU: it skips cleanly, and its pass/fail
rules are right on hand-made documents (the GPU run itself happens in a later session)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location(
        "gpu_checks_hw", ROOT / "benchmarks" / "gpu_checks_hw.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_skips_cleanly_without_cuda(script, tmp_path):
    doc = script.check_gpu_roofline(tmp_path)
    assert doc["status"] == "skipped"
    saved = json.loads((tmp_path / "gpu_roofline_none.json").read_text())
    assert saved["status"] == "skipped" and "cuda" in saved["reason"]
    assert "skipped" in (tmp_path / "gpu_roofline_none.md").read_text()
    assert script.main(["--out", str(tmp_path)]) == 0


def _doc(model_time, model_floor, modules, coverage, errors=()):
    return {
        "device_coverage": coverage,
        "roofline": {
            "summary": {
                "waterline_s": model_floor,
                "measured_s": model_time,
                "efficiency": model_floor / model_time if model_floor <= model_time else None,
            },
            "modules": [
                {
                    "path": p,
                    "time_s": t,
                    "floor_s": f,
                    "efficiency": f / t if t and f <= t else None,
                }
                for p, t, f in modules
            ],
            "ops": [],
            "profile_errors": list(errors),
        },
    }


def test_roofline_checks_pass_and_fail_on_the_stated_rules(script):
    ok = {
        c["check"]: c["ok"]
        for c in script.roofline_checks(
            _doc(5e-3, 2.5e-3, [("", 5e-3, 2.5e-3), ("layer1", 1e-3, 0.6e-3)], 0.97)
        )
    }
    assert all(ok.values()), ok
    # a module under its floor, a floor at 30% of the time, coverage 70%: three failures
    bad = script.roofline_checks(
        _doc(
            10e-3,
            3e-3,
            [("", 10e-3, 3e-3), ("layer1", 0.5e-3, 0.6e-3)],
            0.70,
            errors=[{"level": "module", "path": "layer1"}],
        )
    )
    failed = {c["check"] for c in bad if not c["ok"]}
    assert failed == {
        "every module floor <= measured",
        "no profile errors",
        "floor >= 40% of measured",
        "per-module device time coverage",
    }
    llm = script.llm_checks({"verdict": {"bound": "host/launch-bound"}, "host_wall_coverage": 0.91})
    assert all(c["ok"] for c in llm)
    assert not script.llm_checks({"verdict": {"bound": "device-bound"}, "host_wall_coverage": 0.5})[
        0
    ]["ok"]
