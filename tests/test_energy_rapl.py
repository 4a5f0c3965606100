"""RAPL reader over a real directory tree in the powercap sysfs format."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from flopwise.measure.energy.rapl import RaplReader, counter_delta, discover_domains

MAX = 262_143_328_850  # a typical max_energy_range_uj


def make_zone(parent: Path, dirname: str, name: str, energy: int, max_range: int = MAX) -> Path:
    """Create one powercap zone directory with name/energy_uj/max_energy_range_uj."""
    z = parent / dirname
    z.mkdir(parents=True, exist_ok=True)
    (z / "name").write_text(name + "\n")
    (z / "energy_uj").write_text(f"{energy}\n")
    (z / "max_energy_range_uj").write_text(f"{max_range}\n")
    return z


def set_energy(zone: Path, energy: int) -> None:
    (zone / "energy_uj").write_text(f"{energy}\n")


def make_package(root: Path, n: int, energy: int, *, core=0, uncore=0, dram=None, max_range=MAX):
    """A package zone with core, uncore and (optionally) dram sub-zones, nested like
    /sys/devices/virtual/powercap/intel-rapl/intel-rapl:N."""
    pkg = make_zone(root, f"intel-rapl:{n}", f"package-{n}", energy, max_range)
    subs = {
        "core": make_zone(pkg, f"intel-rapl:{n}:0", "core", core, max_range),
        "uncore": make_zone(pkg, f"intel-rapl:{n}:1", "uncore", uncore, max_range),
    }
    if dram is not None:
        subs["dram"] = make_zone(pkg, f"intel-rapl:{n}:2", "dram", dram, max_range)
    return pkg, subs


class Clock:
    def __init__(self, times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def test_counter_delta_plain_and_wrapped():
    assert counter_delta(100, 350, 1000) == 250
    assert counter_delta(900, 100, 1000) == 200  # wrapped once at 1000
    assert counter_delta(5, 5, None) == 0
    with pytest.raises(ValueError):
        counter_delta(10, 5, None)


def test_one_package_no_double_counting(tmp_path):
    pkg, subs = make_package(tmp_path, 0, 1_000_000, core=500_000, uncore=100_000, dram=0)
    r = RaplReader(tmp_path, clock=Clock([10.0, 12.0]))
    assert r.available().ok
    r.start()
    set_energy(pkg, 1_000_000 + 20_000_000)  # +20 J package
    set_energy(subs["core"], 500_000 + 15_000_000)  # +15 J core (inside package)
    set_energy(subs["uncore"], 100_000 + 2_000_000)  # +2 J uncore (inside package)
    set_energy(subs["dram"], 3_000_000)  # +3 J dram (outside package)
    reading = r.stop()
    assert reading.method == "rapl"
    assert reading.uncertainty == "counter"
    assert reading.measured
    assert reading.joules == pytest.approx(23.0)  # package + dram, not core/uncore
    assert reading.seconds == pytest.approx(2.0)
    assert reading.domains["package-0"] == pytest.approx(20.0)
    assert reading.domains["package-0/core"] == pytest.approx(15.0)
    assert reading.domains["package-0/uncore"] == pytest.approx(2.0)
    assert reading.domains["package-0/dram"] == pytest.approx(3.0)
    assert reading.average_power_w == pytest.approx(11.5)


def test_several_packages_summed(tmp_path):
    p0, s0 = make_package(tmp_path, 0, 0, dram=0)
    p1, s1 = make_package(tmp_path, 1, 0, dram=0)
    r = RaplReader(tmp_path)
    r.start()
    set_energy(p0, 10_000_000)
    set_energy(p1, 30_000_000)
    set_energy(s0["dram"], 1_000_000)
    set_energy(s1["dram"], 2_000_000)
    reading = r.stop()
    assert reading.joules == pytest.approx(43.0)
    assert {k for k in reading.domains if "/" not in k} == {"package-0", "package-1"}


def test_wrap_around_in_one_window(tmp_path):
    small = 1_000_000_000  # 1 kJ range
    pkg, subs = make_package(tmp_path, 0, small - 2_000_000, dram=small - 500_000, max_range=small)
    r = RaplReader(tmp_path)
    r.start()
    set_energy(pkg, 3_000_000)  # 2 J to the wrap + 3 J after = 5 J
    set_energy(subs["dram"], 500_000)  # 0.5 + 0.5 = 1 J
    reading = r.stop()
    assert reading.joules == pytest.approx(6.0)
    assert any("wrap" in n for n in reading.notes)


def test_wraps_across_polls_accumulate(tmp_path):
    small = 10_000_000  # 10 J range: a long window wraps several times
    pkg, _ = make_package(tmp_path, 0, 0, max_range=small)
    r = RaplReader(tmp_path, poll_interval_s=0.0)
    r.start()
    total = 0
    value = 0
    for step in (6_000_000, 7_000_000, 8_000_000):  # each poll sees at most one wrap
        value = (value + step) % small
        total += step
        set_energy(pkg, value)
        r.poll()
    reading = r.stop()
    assert reading.joules == pytest.approx(total / 1e6)


def test_poll_is_throttled(tmp_path):
    small = 10_000_000
    pkg, _ = make_package(tmp_path, 0, 0, max_range=small)
    r = RaplReader(tmp_path, clock=Clock([0.0, 0.1, 2.0, 2.5]), poll_interval_s=1.0)
    r.start()  # t = 0
    set_energy(pkg, 6_000_000)
    r.poll()  # t = 0.1: too soon, not read
    set_energy(pkg, 9_000_000)
    r.poll()  # t = 2.0: read, 9 J
    set_energy(pkg, 4_000_000)  # wrapped: +5 J
    reading = r.stop()  # t = 2.5, always read
    assert reading.joules == pytest.approx(14.0)
    assert reading.seconds == pytest.approx(2.5)


def test_psys_not_added_when_packages_present_and_mmio_ignored(tmp_path):
    pkg, _ = make_package(tmp_path, 0, 0)
    psys = make_zone(tmp_path, "intel-rapl:1", "psys", 0)
    mmio = make_zone(tmp_path, "intel-rapl-mmio:0", "package-0", 0)
    r = RaplReader(tmp_path)
    r.start()
    set_energy(pkg, 5_000_000)
    set_energy(psys, 9_000_000)
    set_energy(mmio, 5_000_000)
    reading = r.stop()
    assert reading.joules == pytest.approx(5.0)
    assert reading.domains["psys"] == pytest.approx(9.0)
    assert not any("mmio" in k for k in reading.domains)


def test_duplicate_zone_names_are_kept_apart(tmp_path):
    a = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    b = make_zone(tmp_path, "intel-rapl:1", "package-0", 0)
    r = RaplReader(tmp_path)
    r.start()
    set_energy(a, 1_000_000)
    set_energy(b, 2_000_000)
    reading = r.stop()
    assert reading.joules == pytest.approx(3.0)
    assert len([k for k in reading.domains if k.startswith("package-0")]) == 2


def test_flat_layout_with_subzones_at_root(tmp_path):
    # /sys/class/powercap itself lists every zone flat (symlinks); sub-zones are found
    # at the root when the package directory has none.
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    dram = make_zone(tmp_path, "intel-rapl:0:2", "dram", 0)
    names = [d.key for d in discover_domains(tmp_path)]
    assert names == ["package-0", "package-0/dram"]
    r = RaplReader(tmp_path)
    r.start()
    set_energy(pkg, 2_000_000)
    set_energy(dram, 1_000_000)
    assert r.stop().joules == pytest.approx(3.0)


def test_missing_tree_one_line(tmp_path):
    ok = RaplReader(tmp_path / "nope").available()
    assert not ok
    assert ok.reason.startswith("RAPL: ")
    assert "not present" in ok.reason
    assert "\n" not in ok.reason


def test_tree_without_rapl_zones(tmp_path):
    (tmp_path / "other:0").mkdir()
    ok = RaplReader(tmp_path).available()
    assert not ok and "no intel-rapl zones" in ok.reason


def test_unreadable_counter_via_opener(tmp_path):
    make_package(tmp_path, 0, 123, dram=0)

    def opener(path: Path) -> str:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return path.read_text()

    ok = RaplReader(tmp_path, opener=opener).available()
    assert not ok
    assert "not readable" in ok.reason
    assert "CVE-2020-8694" in ok.reason
    assert "chmod a+r" in ok.reason
    assert "\n" not in ok.reason


def _available_as_nobody(root: Path):
    """Run RaplReader(root).available() in a forked child that dropped root."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(rfd)
            os.setgid(65534)
            os.setuid(65534)
            ok = RaplReader(root).available()
            os.write(wfd, f"{int(ok.ok)}|{ok.reason}".encode())
        finally:
            os._exit(0)
    os.close(wfd)
    data = b""
    while chunk := os.read(rfd, 4096):
        data += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    flag, reason = data.decode().split("|", 1)
    return flag == "1", reason


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to drop privileges")
def test_unreadable_counter_via_chmod_000():
    root = Path(tempfile.mkdtemp(prefix="flopwise-rapl-"))
    try:
        root.chmod(0o755)
        pkg, _ = make_package(root, 0, 123)
        for p in root.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o444)
        (pkg / "energy_uj").chmod(0o000)
        if os.geteuid() == 0:  # root reads anything: check as an unprivileged user
            ok, reason = _available_as_nobody(root)
        else:
            a = RaplReader(root).available()
            ok, reason = a.ok, a.reason
        assert not ok
        assert "not readable" in reason and "CVE-2020-8694" in reason
        # the readable twin works
        (pkg / "energy_uj").chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        assert RaplReader(root).available().ok
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_garbage_counter_is_unavailable(tmp_path):
    pkg, _ = make_package(tmp_path, 0, 0)
    (pkg / "energy_uj").write_text("n/a\n")
    ok = RaplReader(tmp_path).available()
    assert not ok and "cannot read" in ok.reason
