"""The pipeline behind ``flopwise hardware``: list the known hardware profiles, show one, or
measure this machine's ceilings and cache them as the ``host`` profile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flopwise.measure import hardware as hw
from flopwise.measure.hardware import HardwareProfile
from flopwise.measure.options import MeasureOptions, torch_threads

__all__ = [
    "HARDWARE_BUDGET_S",
    "HostMeasurement",
    "list_hardware",
    "measure_hardware",
    "show_hardware",
]

#: Seconds ``measure_hardware`` spends when not told otherwise (the measurement fits in it).
HARDWARE_BUDGET_S = 45.0


@dataclass(frozen=True, slots=True)
class HostMeasurement:
    """One measurement of this machine's ceilings.

    ``profile`` is what was measured now; ``path`` where it was saved (None: not saved).
    ``measurements`` counts the measurements the saved profile merges (each ceiling the best
    of them; 1 when it replaced or started the cache). ``name`` is the profile name
    ``--hardware`` uses for it (``host``, or ``host:cuda:0`` for a GPU) on ``device``.
    """

    profile: HardwareProfile
    path: Path | None
    measurements: int
    name: str
    device: str

    @property
    def warnings(self) -> list[str]:
        """What the measurement noticed (e.g. a busy machine: ceilings may be low)."""
        return list(self.profile.details.get("warnings", []))


def list_hardware() -> list[HardwareProfile]:
    """Every profile ``--hardware`` can name: the user's, the built-in datasheets, and this
    host's cached measured profiles (CPU and each GPU)."""
    return hw.list_profiles()


def show_hardware(name_or_path: str) -> HardwareProfile:
    """One profile by name, alias or JSON path; ``host`` only when already measured (raises
    :class:`~flopwise.measure.hardware.UnknownHardware` otherwise, never measures)."""
    return hw.get_profile(name_or_path, measure_if_missing=False)


def measure_hardware(
    *,
    device: str = "cpu",
    measure: MeasureOptions | None = None,
    save: bool = True,
    replace: bool = False,
) -> HostMeasurement:
    """Measure ``device``'s ceilings (GEMM FLOP/s per dtype, copy bandwidth, dispatch
    overhead) within ``measure.budget_s`` seconds (default :data:`HARDWARE_BUDGET_S`) on
    ``measure.threads`` torch threads (None: torch's current count).

    With ``save`` the profile is cached where ``host`` finds it, merged with the one already
    there (best of each ceiling) unless ``replace``.
    """
    measure = measure or MeasureOptions(budget_s=HARDWARE_BUDGET_S)
    with torch_threads(measure.threads):
        # Through the package, so a replaced measure_host_profile (tests) is the one used.
        prof = hw.measure_host_profile(measure.budget_s, device=device, progress=measure.progress)
    if not save:
        return HostMeasurement(prof, None, 1, hw.host_profile_name(device), device)
    path = hw.save_profile(prof, merge=not replace)
    saved = HardwareProfile.load(path)
    dev = saved.details.get("device", "cpu")
    return HostMeasurement(
        profile=prof,
        path=path,
        measurements=int(saved.details.get("measurements", 1)),
        name=hw.host_profile_name(dev),  # host:cuda:0 for a GPU, what host means there
        device=dev,
    )
