"""The ``--measure`` step of ``flopwise profile``: time the counted model (measure), then
join the times with the counts against a hardware profile (analysis: the roofline),
re-measuring this host's ceilings once when a measured time beats its floor."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flopwise.measure.attach import attach_measurements
from flopwise.measure.options import MeasureOptions
from flopwise.profile import Profile
from flopwise.sections import HardwareRef, LatencySummary, Measured, Roofline


def measure_profile(
    prof: Profile,
    model: Any,
    args: tuple,
    kwargs: dict,
    options: MeasureOptions | None = None,
    *,
    train: bool = False,
    device: str | None = None,
) -> None:
    """Time ``model`` and fill ``prof.measured`` (timing, the hardware profile used and
    the roofline join) and, with ``options.energy``, ``prof.energy``.
    ``options.hardware="host"`` means the profile of the device being measured
    (``host:cuda:0`` for a GPU run)."""
    options = options or MeasureOptions()
    timed = attach_measurements(prof, model, args, kwargs, options, train=train, device=device)
    attach_roofline(
        prof, timed.run, timed.hw, timed.hw_name, timed.device, progress=options.progress
    )


def attach_roofline(
    prof: Profile,
    run: Any,
    hw: Any,
    hw_name: str,
    device: str,
    *,
    progress: bool = False,
    modes: Any = None,
) -> None:
    """Fill ``prof.measured.hardware`` and ``prof.measured.roofline``: the roofline join of
    ``prof``'s counts and ``run``'s times (a MeasuredRun, or a :class:`SectionRun`) against
    ``hw`` (see :func:`roofline_with_remeasure`). ``prof.measured`` must be filled already.
    The one join every measured run uses (PyTorch and ONNX files alike)."""
    if prof.measured is None:
        raise ValueError("attach_roofline needs prof.measured (time the model first)")
    doc = roofline_with_remeasure(prof, run, hw, hw_name, device, progress=progress, modes=modes)
    prof.measured.hardware = HardwareRef.from_dict(doc["hardware"])
    prof.measured.roofline = Roofline.from_dict(doc["roofline"])


@dataclass
class ModuleTime:
    """One module's inclusive time per model call (seconds), as the roofline join reads it."""

    total_s: float


@dataclass
class SectionRun:
    """A ``Measured`` section's times in the shape the roofline join reads from a
    MeasuredRun: the end-to-end latency (its median is the model's measured time), the
    inclusive time of each module, and per-op times (none: a runtime that times its own
    nodes, not torch ops, leaves op rows with floors only)."""

    latency: LatencySummary
    modules: dict[str, ModuleTime]
    ops: list[Any] = field(default_factory=list)

    @classmethod
    def from_section(cls, measured: Measured, *, without: Iterable[str] = ()) -> SectionRun:
        """The times of ``measured``; the modules in ``without`` get no time (their time in
        the section is an attribution, not a measurement, and is left out of the join)."""
        skip = set(without)
        modules = {
            path: ModuleTime(mt.time_s)
            for path, mt in (measured.modules or {}).items()
            if path not in skip and mt.time_s is not None
        }
        return cls(latency=measured.latency, modules=modules)


#: Seconds spent re-measuring a host profile whose floor a measurement beat.
REMEASURE_BUDGET_S = 30.0


def roofline_with_remeasure(
    prof: Any,
    run: Any,
    hw: Any,
    hw_name: str,
    device: str,
    *,
    progress: bool = False,
    budget_s: float = REMEASURE_BUDGET_S,
    modes: Any = None,
) -> dict[str, Any]:
    """The roofline document of ``run`` against ``hw`` under ``modes`` (a
    :class:`~flopwise.analysis.roofline.MathModes`; default: torch's, in force now).

    A time under its floor means the ceilings are too low. When ``hw`` is this machine's
    measured profile (``hw_name`` ``host...``), the device's ceilings are measured once more
    and merged into the cached profile (each ceiling the best of all measurements), and the
    roofline is redone; ``roofline["remeasured"]`` records it. Floors still beaten after
    that (or on a datasheet profile) stay listed in ``roofline["profile_errors"]``, and
    their efficiency is None.
    """
    from flopwise.analysis.roofline import MathModes, roofline_document
    from flopwise.measure import hardware as hwmod

    modes = modes if modes is not None else MathModes.from_torch()
    doc = roofline_document(prof, run, hw, modes=modes)
    before = doc["roofline"]["profile_errors"]
    if not before or not hw_name.startswith("host") or not hw.details.get("measured"):
        return doc
    fresh = hwmod.measure_host_profile(budget_s, device=device, progress=progress)
    path = hwmod.save_profile(fresh)  # merged with the cached one: best of each ceiling
    hw = hwmod.HardwareProfile.load(path)
    doc = roofline_document(prof, run, hw, modes=modes)
    doc["roofline"]["remeasured"] = {
        "reason": f"{len(before)} measured time(s) under their floor",
        "errors_before": len(before),
        "errors_after": len(doc["roofline"]["profile_errors"]),
        "profile": str(path),
    }
    return doc
