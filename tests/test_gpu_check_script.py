"""benchmarks/gpu_check.py runs where it matters (a CUDA machine) rarely; its logic is
dry-run here on CPU so the script cannot rot unnoticed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

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
    import pytest
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
