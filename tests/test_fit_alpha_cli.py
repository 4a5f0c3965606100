"""``flopwise fit-alpha`` and the layer timer behind it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from flopwise.analysis.alpha import AlphaConstants, alpha_array
from flopwise.analysis.fit import LayerSpec, LayerTable, generate_grid, write_layers_csv
from flopwise.cli import main

TRUE = AlphaConstants(0.035, 0.9, 0.004, 0.65, seconds_per_mac=2e-11)


@pytest.fixture
def synthetic_csv(tmp_path: Path) -> Path:
    specs = generate_grid("small")
    rows = [(s.plot, s.line, s.h, s.w, s.cin, s.cout, s.k1, s.k2, 1.0) for s in specs]
    shapes = LayerTable.from_rows(rows)
    t = TRUE.seconds_per_mac * alpha_array(shapes.spatial, shapes.kernel, TRUE) * shapes.macs
    table = LayerTable.from_rows([(*r[:8], float(ti)) for r, ti in zip(rows, t, strict=True)])
    path = tmp_path / "layers.csv"
    write_layers_csv(table, path)
    return path


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(cache))
    return cache


def test_fit_alpha_csv_json(synthetic_csv: Path, capsys, isolated_cache: Path) -> None:
    assert main(["fit-alpha", "--csv", str(synthetic_csv), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "flopwise.fit_alpha/1"
    assert doc["origin"] == "csv" and doc["layers"] == len(generate_grid("small"))
    c = AlphaConstants.from_dict(doc["constants"])
    assert c.beta_kn == pytest.approx(TRUE.beta_kn, rel=1e-3)
    assert c.gamma_k1 == pytest.approx(TRUE.gamma_k1, abs=1e-3)
    assert doc["quality"]["alpha_macs"]["pearson"] == pytest.approx(1.0, abs=1e-9)
    assert "saved_to" not in doc  # a CSV fit is not saved as this host's by default
    assert not isolated_cache.exists()


def test_fit_alpha_table_and_output(
    synthetic_csv: Path, tmp_path: Path, capsys, isolated_cache
) -> None:
    out = tmp_path / "alpha.json"
    assert main(["fit-alpha", "--csv", str(synthetic_csv), "-o", str(out)]) == 0
    text = capsys.readouterr()
    assert "α-MACs, fitted constants" in text.out and "Pearson" in text.out
    assert f"wrote {out}" in text.err
    assert json.loads(out.read_text())["constants"]["schema"] == "flopwise.alpha/1"


def test_save_without_host_profile_says_so(synthetic_csv: Path, capsys, isolated_cache) -> None:
    assert main(["fit-alpha", "--csv", str(synthetic_csv), "--save", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "flopwise hardware" in captured.err
    assert json.loads(captured.out)["saved_to"] is None


def test_save_into_host_profile(synthetic_csv: Path, capsys, isolated_cache) -> None:
    from flopwise.measure.hardware import HardwareProfile, host_profile_path

    path = host_profile_path()
    path.parent.mkdir(parents=True)
    HardwareProfile(
        name="host", kind="cpu", peak_flops={"float32": 1e11}, memory_bandwidth=2e10
    ).save(path)
    assert main(["fit-alpha", "--csv", str(synthetic_csv), "--save", "-f", "json"]) == 0
    assert "saved α constants" in capsys.readouterr().err
    saved = HardwareProfile.load(path)
    assert saved.peak_flops == {"float32": 1e11}
    c = AlphaConstants.from_dict(saved.alpha)
    assert c.beta_k1 == pytest.approx(TRUE.beta_k1, rel=1e-3)


def test_bad_csv_is_one_line_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("H,W\n1,1\n")
    assert main(["fit-alpha", "--csv", str(bad)]) != 0
    assert "missing column" in capsys.readouterr().err
    assert main(["fit-alpha", "--csv", str(tmp_path / "none.csv")]) != 0


@pytest.mark.measure
def test_time_layers_small() -> None:
    from flopwise.measure.alpha_grid import build_layer
    from flopwise.pipeline import MeasureOptions
    from flopwise.pipeline.fit_alpha import time_layers

    specs = [
        LayerSpec("conv_K_vs_S", 0, 6, 5, 3, 4, 3, 3),
        LayerSpec("conv_K_vs_S", 0, 6, 5, 3, 4, 2, 1),
        LayerSpec("increasing_batch", 0, 3, 1, 8, 5, 1, 1),
    ]
    assert tuple(build_layer(specs[0])().shape) == (1, 4, 6, 5)
    assert tuple(build_layer(specs[1])().shape) == (1, 4, 6, 5)
    assert tuple(build_layer(specs[2])().shape) == (3, 5)
    table = time_layers(specs, MeasureOptions(budget_s=0.05))
    assert len(table) == 3 and np.all(table.seconds > 0)
    assert list(table.macs) == [s.macs for s in specs]


def test_python_api_is_what_the_cli_prints(synthetic_csv: Path, capsys, isolated_cache) -> None:
    from flopwise.pipeline import AlphaFitResult, run_fit_alpha

    fit = run_fit_alpha(synthetic_csv)
    assert isinstance(fit, AlphaFitResult) and fit.origin == "csv" and not fit.save_tried
    assert main(["fit-alpha", "--csv", str(synthetic_csv), "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(fit.to_dict()))
    saved = run_fit_alpha(synthetic_csv, save=True)  # no host profile: tried, nothing written
    assert saved.to_dict()["saved_to"] is None and "flopwise hardware" in saved.messages[-1]
