"""CPU and DRAM energy from RAPL counters exposed by the Linux powercap driver.

Layout read (``/sys/class/powercap`` by default; the root is configurable so tests can
build the same tree in a temporary directory)::

    intel-rapl:0/            name = "package-0", energy_uj, max_energy_range_uj
        intel-rapl:0:0/      name = "core"     (part of the package)
        intel-rapl:0:1/      name = "uncore"   (part of the package)
        intel-rapl:0:2/      name = "dram"     (separate from the package)
    intel-rapl:1/            name = "package-1" ...

The same driver serves AMD Zen CPUs under the same names. The total of a window is
``Σ packages + Σ dram``: core and uncore are already inside their package and are
reported as informational domains only; a platform-wide ``psys`` zone covers the packages
too and is counted only when it is the only zone present. ``intel-rapl-mmio`` zones
duplicate the package counter and are ignored.

Counters are in microjoules and wrap around to 0 after ``max_energy_range_uj``; a window
(or the gap between two :meth:`RaplReader.poll` calls) survives one wrap per domain.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from flopwise.measure.energy.base import Availability, EnergyReading

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")

_TOP = re.compile(r"^intel-rapl:(\d+)$")
_SUB = re.compile(r"^intel-rapl:(\d+):(\d+)$")

#: Powers above this between two polls could wrap a counter more than once unseen.
_WRAP_WARN_POWER_W = 1000.0

Opener = Callable[[Path], str]


def _read_text(path: Path) -> str:
    return path.read_text()


def counter_delta(before: int, after: int, max_range: int | None) -> int:
    """Energy between two counter values in µJ, allowing one wrap-around.

    The counter counts up to ``max_range`` and restarts from 0, so a smaller ``after``
    means it wrapped once: ``after + max_range - before``. Without a known range a
    decrease cannot be interpreted and raises ``ValueError``.
    """
    if after >= before:
        return after - before
    if not max_range or max_range <= 0:
        raise ValueError(
            f"RAPL counter went backwards ({before} -> {after}) and its range is unknown"
        )
    return after + max_range - before


@dataclass(frozen=True)
class RaplDomain:
    """One powercap zone: where it lives, what it is, and whether it counts in totals."""

    path: Path
    name: str  # the zone's own name: package-0, core, uncore, dram, psys
    key: str  # unique label used in readings: package-0, package-0/core, ...
    max_range_uj: int | None
    counted: bool

    @property
    def energy_file(self) -> Path:
        return self.path / "energy_uj"


def _zone_name(path: Path, opener: Opener) -> str:
    try:
        return opener(path / "name").strip()
    except OSError:
        return path.name


def _max_range(path: Path, opener: Opener) -> int | None:
    try:
        return int(opener(path / "max_energy_range_uj").strip())
    except (OSError, ValueError):
        return None


def discover_domains(
    root: Path | str = DEFAULT_POWERCAP_ROOT, opener: Opener = _read_text
) -> list[RaplDomain]:
    """List the RAPL domains under ``root`` (pure directory walk, reads only names/ranges).

    Returns a list of :class:`RaplDomain`, packages first, each followed by its
    sub-domains. Raises ``FileNotFoundError`` when ``root`` does not exist.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(str(root))
    tops = sorted(
        (p for p in root.iterdir() if _TOP.match(p.name)), key=lambda p: int(p.name.split(":")[1])
    )
    flat_subs = [p for p in root.iterdir() if _SUB.match(p.name)]
    domains: list[RaplDomain] = []
    top_named: list[tuple[Path, str]] = [(p, _zone_name(p, opener)) for p in tops]
    has_package = any(name.startswith("package") for _, name in top_named)
    for path, name in top_named:
        if name.startswith("package") or name == "dram":
            counted = True
        elif name == "psys":
            counted = not has_package
        else:
            counted = False
        domains.append(RaplDomain(path, name, name, _max_range(path, opener), counted))
        n = path.name.split(":")[1]
        subs = [p for p in path.iterdir() if _SUB.match(p.name)] if path.is_dir() else []
        if not subs:  # some layouts only have the flat symlinks at the root
            subs = [p for p in flat_subs if p.name.split(":")[1] == n]
        for sub in sorted(subs, key=lambda p: int(p.name.split(":")[2])):
            sub_name = _zone_name(sub, opener)
            # DRAM is outside the package; core/uncore (and anything under psys) are
            # inside their parent and only informational.
            sub_counted = sub_name == "dram" and name.startswith("package")
            domains.append(
                RaplDomain(
                    sub, sub_name, f"{name}/{sub_name}", _max_range(sub, opener), sub_counted
                )
            )
    return _unique_keys(domains)


def _unique_keys(domains: list[RaplDomain]) -> list[RaplDomain]:
    """Zones with the same name (seen on some multi-die parts) get their directory appended."""
    seen: dict[str, int] = {}
    for d in domains:
        seen[d.key] = seen.get(d.key, 0) + 1
    return [replace(d, key=f"{d.key} ({d.path.name})") if seen[d.key] > 1 else d for d in domains]


class RaplReader:
    """Energy of CPU packages (and DRAM) from RAPL counters; ``uncertainty="counter"``.

    Args:
        root: the powercap directory (``/sys/class/powercap``).
        opener: reads a file and returns its text; injectable so tests can simulate a
            permission error even when they run as root.
        clock: monotonic clock for the window length.
        poll_interval_s: :meth:`poll` reads the counters only when this long has passed
            since the last read, so polling after every short run costs next to nothing.
    """

    name = "RAPL"
    method = "rapl"

    def __init__(
        self,
        root: Path | str = DEFAULT_POWERCAP_ROOT,
        *,
        opener: Opener = _read_text,
        clock: Callable[[], float] = time.perf_counter,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.root = Path(root)
        self.poll_interval_s = poll_interval_s
        self._open = opener
        self._clock = clock
        self._domains: list[RaplDomain] | None = None
        self._last: dict[str, int] = {}
        self._acc: dict[str, int] = {}
        self._wraps = 0
        self._t0 = 0.0
        self._t_last = 0.0
        self._longest_gap = 0.0

    # -- discovery -----------------------------------------------------------------
    def domains(self) -> list[RaplDomain]:
        """The domains found under the root (cached)."""
        if self._domains is None:
            self._domains = discover_domains(self.root, self._open)
        return self._domains

    def available(self) -> Availability:
        """Check the tree exists, has RAPL zones, and every counted counter is readable."""
        if not self.root.is_dir():
            return Availability(
                False,
                f"RAPL: {self.root} not present (no powercap driver, or a container/VM "
                "that hides it); run on bare metal or expose /sys/class/powercap",
            )
        try:
            domains = self.domains()
        except OSError as exc:
            return Availability(False, f"RAPL: cannot list {self.root}: {exc}")
        if not domains:
            return Availability(
                False,
                f"RAPL: no intel-rapl zones under {self.root} (CPU or kernel without "
                "RAPL support; try `modprobe intel_rapl_msr` as root)",
            )
        for d in domains:
            if not d.counted:
                continue
            try:
                int(self._open(d.energy_file).strip())
            except PermissionError:
                return Availability(
                    False,
                    f"RAPL: {d.energy_file} is not readable (root-only since "
                    "CVE-2020-8694); run as root or `sudo chmod a+r "
                    f"{self.root}/intel-rapl:*/energy_uj {self.root}/intel-rapl:*/*/energy_uj`",
                )
            except (OSError, ValueError) as exc:
                return Availability(False, f"RAPL: cannot read {d.energy_file}: {exc}")
        return Availability(True)

    # -- window --------------------------------------------------------------------
    def _read_all(self) -> dict[str, int]:
        values: dict[str, int] = {}
        for d in self.domains():
            try:
                values[d.key] = int(self._open(d.energy_file).strip())
            except (OSError, ValueError):
                if d.counted:
                    raise
        return values

    def start(self) -> None:
        """Open a window: snapshot every counter."""
        self._last = self._read_all()
        self._acc = dict.fromkeys(self._last, 0)
        self._wraps = 0
        self._t0 = self._t_last = self._clock()
        self._longest_gap = 0.0

    def poll(self, *, force: bool = False) -> None:
        """Fold the counter deltas since the last read into the window (handles one wrap).

        Without ``force`` the counters are read only if ``poll_interval_s`` has passed.
        """
        t = self._clock()
        if not force and t - self._t_last < self.poll_interval_s:
            return
        now = self._read_all()
        self._longest_gap = max(self._longest_gap, t - self._t_last)
        self._t_last = t
        ranges = {d.key: d.max_range_uj for d in self.domains()}
        for key, after in now.items():
            if key not in self._last:
                continue
            before = self._last[key]
            if after < before:
                self._wraps += 1
            self._acc[key] = self._acc.get(key, 0) + counter_delta(before, after, ranges[key])
        self._last = now

    def stop(self) -> EnergyReading:
        """Close the window and return the reading."""
        self.poll(force=True)
        seconds = self._t_last - self._t0
        counted = {d.key for d in self.domains() if d.counted}
        domains = {k: v / 1e6 for k, v in self._acc.items()}
        joules = sum(v for k, v in domains.items() if k in counted)
        notes = [
            "total = "
            + " + ".join(sorted(counted))
            + "; core/uncore are inside their package and not added"
        ]
        if self._wraps:
            notes.append(f"{self._wraps} counter wrap-around(s) corrected")
        ranges = [d.max_range_uj for d in self.domains() if d.counted and d.max_range_uj]
        if ranges and self._longest_gap > 0:
            safe_w = min(ranges) / 1e6 / self._longest_gap
            if safe_w < _WRAP_WARN_POWER_W:
                notes.append(
                    f"counters read {self._longest_gap:.0f} s apart: a domain drawing more "
                    f"than {safe_w:.0f} W could wrap twice unseen; poll more often"
                )
        return EnergyReading(
            joules=joules,
            seconds=seconds,
            method="rapl",
            uncertainty="counter",
            domains=domains,
            notes=tuple(notes),
        )
