"""Reader selection, measure_energy, apportionment, the report dict and its rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from flopwise.measure.energy import (
    APPORTIONED,
    SCHEMA,
    Availability,
    CodeCarbonReader,
    EnergyReader,
    EnergyReading,
    EstimatedReader,
    RaplReader,
    ZeusReader,
    apportion,
    energy_report,
    energy_window,
    measure_energy,
    report_from_result,
    select_reader,
)
from flopwise.measure.energy.backends import MISSING_CODECARBON, MISSING_ZEUS
from flopwise.report.energy import energy_rows
from flopwise.sections import Energy


class Work:
    """A function whose 'energy' a FakeReader knows: 2 J and 0.5 s per call."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1


class FakeReader:
    name = "fake"
    method = "rapl"

    def __init__(self, work: Work, *, ok=True, per_call_j=2.0, per_call_s=0.5):
        self.work, self.ok = work, ok
        self.per_call_j, self.per_call_s = per_call_j, per_call_s
        self.polls = 0

    def available(self):
        return Availability(self.ok, "" if self.ok else "FAKE: switched off; flip the switch")

    def start(self):
        self.c0 = self.work.calls

    def poll(self):
        self.polls += 1

    def stop(self):
        n = self.work.calls - self.c0
        return EnergyReading(
            joules=n * self.per_call_j,
            seconds=n * self.per_call_s,
            method="rapl",
            uncertainty="counter",
            domains={"package-0": n * self.per_call_j},
        )


def fake_powercap(root: Path, joules_per_read: int = 0) -> Path:
    pkg = root / "intel-rapl:0"
    pkg.mkdir(parents=True)
    (pkg / "name").write_text("package-0\n")
    (pkg / "energy_uj").write_text("1000\n")
    (pkg / "max_energy_range_uj").write_text("262143328850\n")
    return pkg


def test_readers_satisfy_the_protocol():
    assert isinstance(RaplReader("/nonexistent"), EnergyReader)
    assert isinstance(EstimatedReader(cpus=1), EnergyReader)
    assert isinstance(ZeusReader(), EnergyReader)
    assert isinstance(CodeCarbonReader(), EnergyReader)


def test_reading_rejects_unknown_labels():
    with pytest.raises(ValueError):
        EnergyReading(1.0, 1.0, "guess", "counter")
    with pytest.raises(ValueError):
        EnergyReading(1.0, 1.0, "rapl", "exact")


def test_select_falls_back_to_estimate_with_reasons(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    reader, reasons = select_reader(powercap_root=tmp_path / "missing")
    assert reader.method == "estimated"
    assert len(reasons) == 2
    assert reasons[0].startswith("RAPL: ") and reasons[1].startswith("NVML: ")
    assert "flopwise[nvidia]" in reasons[1]
    # cpu only tries RAPL; a GPU device only NVML
    _, reasons = select_reader(device="cpu", powercap_root=tmp_path / "missing")
    assert [r.split(":")[0] for r in reasons] == ["RAPL"]
    _, reasons = select_reader(device="cuda:0", powercap_root=tmp_path / "missing")
    assert [r.split(":")[0] for r in reasons] == ["NVML"]


def test_select_picks_readable_rapl(tmp_path):
    fake_powercap(tmp_path)
    reader, reasons = select_reader(device="cpu", powercap_root=tmp_path)
    assert reader.method == "rapl" and reasons == []


def test_select_prefer_and_unknown_name(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zeus", None)
    monkeypatch.setitem(sys.modules, "zeus.monitor", None)
    fake_powercap(tmp_path)
    reader, reasons = select_reader("zeus", device="cpu", powercap_root=tmp_path)
    assert reader.method == "rapl"
    assert reasons == [MISSING_ZEUS]
    reader, reasons = select_reader("estimated", powercap_root=tmp_path)
    assert reader.method == "estimated" and reasons == []
    with pytest.raises(ValueError, match="unknown energy reader"):
        select_reader("wattmeter")


def test_optional_backends_not_installed(monkeypatch):
    for mod in ("zeus", "zeus.monitor", "codecarbon"):
        monkeypatch.setitem(sys.modules, mod, None)
    ok = ZeusReader().available()
    assert not ok and ok.reason == MISSING_ZEUS and "pip install" in ok.reason
    ok = CodeCarbonReader().available()
    assert not ok and ok.reason == MISSING_CODECARBON and "pip install" in ok.reason


def test_energy_window_closes_on_error():
    work = Work()
    reader = FakeReader(work)
    with pytest.raises(RuntimeError), energy_window(reader) as w:
        work()
        raise RuntimeError("boom")
    assert w.reading is not None and w.reading.joules == pytest.approx(2.0)


def test_measure_energy_per_run_item_token():
    work = Work()
    reader = FakeReader(work)
    res = measure_energy(work, repeats=5, reader=reader, items=4, tokens=100, warmup=2)
    assert work.calls == 7  # 2 warm-up + 5 measured
    assert reader.polls == 5
    assert res.runs == 5
    assert res.joules_per_run == pytest.approx(2.0)
    assert res.joules_per_item == pytest.approx(0.5)
    assert res.joules_per_token == pytest.approx(0.02)
    assert res.average_power_w == pytest.approx(4.0)
    assert res.window_s == pytest.approx(2.5)
    assert (res.method, res.uncertainty, res.measured) == ("rapl", "counter", True)
    assert res.domains_per_run == {"package-0": pytest.approx(2.0)}


def test_measure_energy_several_windows_and_sync():
    work = Work()
    syncs = []
    res = measure_energy(
        work, repeats=3, windows=4, reader=FakeReader(work), synchronize=lambda: syncs.append(1)
    )
    assert len(res.readings) == 4 and res.runs == 12
    assert res.per_run_spread == (pytest.approx(2.0), pytest.approx(2.0))
    assert len(syncs) == 1 + 4  # after warm-up, then once per window
    with pytest.raises(ValueError):
        measure_energy(work, repeats=0, reader=FakeReader(work))


def test_unavailable_reader_falls_back_to_estimate():
    work = Work()
    res = measure_energy(work, repeats=2, reader=FakeReader(work, ok=False), warmup=0)
    assert res.method == "estimated" and res.uncertainty == "estimated" and not res.measured
    assert res.unavailable == ("FAKE: switched off; flip the switch",)
    assert res.model and "idle" in res.model


def test_apportion_by_time_share():
    shares = apportion(10.0, {"conv1": 1.0, "fc": 3.0})
    assert shares == {"conv1": pytest.approx(2.5), "fc": pytest.approx(7.5)}
    assert sum(shares.values()) == pytest.approx(10.0)
    nested = apportion(10.0, {"": 4.0, "layer1": 1.0}, total_time=4.0)
    assert nested == {"": pytest.approx(10.0), "layer1": pytest.approx(2.5)}
    assert apportion(5.0, {"a": 0.0}) == {"a": 0.0}
    with pytest.raises(ValueError):
        apportion(1.0, {"a": -1.0})


def _known_result():
    work = Work()
    return measure_energy(work, repeats=4, reader=FakeReader(work), items=2, tokens=50)


#: Every key of an energy document with items, tokens, FLOPs and per-module times, in order.
ENERGY_KEYS = [
    "schema", "method", "uncertainty", "measured", "reader", "model", "utilisation", "runs",
    "windows", "repeats_per_window", "window_s", "seconds_per_run", "joules_total",
    "joules_per_run", "joules_per_run_min", "joules_per_run_max", "joules_per_item",
    "joules_per_token", "kwh_per_run", "average_power_w", "items_per_run", "tokens_per_run",
    "flops_per_run", "domains_joules_per_run", "grid_region", "grid_name",
    "grid_gco2e_per_kwh", "grid_source", "grid_year", "grid_is_default", "pue",
    "gco2e_per_run", "gco2e_per_item", "gco2e_per_token", "flops_per_joule",
    "items_per_joule", "items_per_kwh", "items_per_pflop", "items_per_gco2e",
    "tokens_per_joule", "tokens_per_kwh", "tokens_per_pflop", "tokens_per_gco2e",
    "per_module_joules_per_run", "per_module_basis", "flags", "notes", "unavailable",
]  # fmt: skip


def test_report_is_json_ready_with_units_in_keys():
    d = report_from_result(
        _known_result(), flops=10**12, grid="FR", pue=1.5, module_times={"a": 1.0, "b": 3.0}
    )
    assert isinstance(d, Energy)
    doc = d.to_dict()
    assert json.loads(json.dumps(doc)) == doc
    assert list(doc) == ENERGY_KEYS  # the flopwise.energy/1 contract, in order
    assert json.dumps(Energy.from_dict(doc).to_dict()) == json.dumps(doc)
    assert d.schema == SCHEMA
    assert d.joules_per_run == pytest.approx(2.0)
    assert d.joules_per_item == pytest.approx(1.0)
    assert d.joules_per_token == pytest.approx(0.04)
    assert d.average_power_w == pytest.approx(4.0)
    assert d.flops_per_run == 10**12 and isinstance(d.flops_per_run, int)
    assert d.items_per_run == 2 and isinstance(d.items_per_run, int)
    # 2 J = 2/3.6e6 kWh on 56 g/kWh at PUE 1.5
    assert d.gco2e_per_run == pytest.approx(2 / 3.6e6 * 56 * 1.5)
    assert d.gco2e_per_item == pytest.approx(d.gco2e_per_run / 2)
    assert d.flops_per_joule == pytest.approx(5e11)
    assert d.items_per_pflop == pytest.approx(2 / 1e-3)
    assert d.tokens_per_joule == pytest.approx(25.0)
    assert d.per_module_joules_per_run == {"a": pytest.approx(0.5), "b": pytest.approx(1.5)}
    assert d.per_module_basis == APPORTIONED
    assert (d.grid_region, d.grid_is_default, d.pue) == ("FR", False, 1.5)


def test_report_default_grid_and_rows():
    d = report_from_result(_known_result())
    assert d.grid_region == "WORLD" and d.grid_is_default
    doc = d.to_dict()  # no FLOPs, no module times: those keys are left out, not null
    assert not {"flops_per_joule", "items_per_pflop", "per_module_basis"} & set(doc)
    assert doc["flops_per_run"] is None and "items_per_gco2e" in doc
    newer = Energy.from_dict({**doc, "from_a_newer_writer": 1}).to_dict()
    assert list(newer) == [*doc, "from_a_newer_writer"]
    assert d.gco2e_per_token == pytest.approx(d.gco2e_per_run / 50)
    rows = energy_rows(d)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in rows)
    table = dict(rows)
    assert table["energy method"] == "rapl (counter)"
    assert table["energy / run"] == "2 J"
    assert table["average power"] == "4 W"
    assert "default" in table["grid"] and "Ember" in table["grid"]


def test_unreadable_reader_in_report_gives_estimate_and_reason(tmp_path):
    """No readable counter: the run goes on with the estimate, labelled, with the model."""
    work = Work()
    d = energy_report(
        work, repeats=3, items=1, reader=RaplReader(tmp_path / "missing"), grid=100, pue=1.0
    )
    assert d.method == "estimated" and d.uncertainty == "estimated"
    assert d.measured is False
    assert "P = idle + (peak - idle)" in d.model
    assert d.joules_per_run >= 0
    assert len(d.unavailable) == 1 and d.unavailable[0].startswith("RAPL: ")
    rows = dict(energy_rows(d))
    assert "not measured" in rows["energy method"]
    assert rows["power model"] == d.model
    assert rows["not used"].startswith("RAPL: ")


def test_this_machine_without_counters_says_estimated():
    """The default path, unpatched: where no counter is readable it must say 'estimated'."""
    if RaplReader().available() or "pynvml" in sys.modules:
        pytest.skip("this machine has a readable energy counter")
    work = Work()
    d = energy_report(work, repeats=2)
    assert d.method == "estimated" and d.measured is False and d.model
    assert any(r.startswith("RAPL: ") for r in d.unavailable)


def test_energy_report_end_to_end_with_hardware_profile():
    work = Work()
    d = energy_report(
        work,
        repeats=2,
        prefer="estimated",
        hardware={"idle_power_w": 1.0, "peak_power_w": 3.0, "name": "toy"},
        tokens=10,
    )
    assert d.method == "estimated" and "toy" in d.model
    assert d.unavailable == []
    assert work.calls == 3


def test_estimated_windows_share_one_model_and_weight_utilisation():
    from flopwise.measure.energy import EnergyResult

    def est(u, t):
        return EnergyReading(
            joules=u * t,
            seconds=t,
            method="estimated",
            uncertainty="estimated",
            model="P = idle + (peak - idle) x u; ...",
            utilisation=u,
        )

    res = EnergyResult(readings=(est(0.2, 1.0), est(0.8, 3.0)), repeats=1)
    assert res.utilisation == pytest.approx((0.2 * 1 + 0.8 * 3) / 4)
    d = report_from_result(res)
    assert d.utilisation == pytest.approx(0.65)
    rows = dict(energy_rows(d))
    assert rows["utilisation (u)"] == "0.65"
    assert rows["energy method"] == "estimated (power model) - not measured"
    assert sum(1 for k, _ in energy_rows(d) if k == "power model") == 1
    assert _known_result().utilisation is None
