"""The ``--measure`` step of ``flopwise profile``: time the counted model (measure), then
join the times with the counts against a hardware profile (analysis: the roofline),
re-measuring this host's ceilings once when a measured time beats its floor."""

from __future__ import annotations

from typing import Any

from flopwise.measure.attach import attach_measurements
from flopwise.measure.options import MeasureOptions
from flopwise.profile import Profile
from flopwise.sections import HardwareRef, Roofline


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
    doc = roofline_with_remeasure(
        prof, timed.run, timed.hw, timed.hw_name, timed.device, progress=options.progress
    )
    assert prof.measured is not None  # filled by attach_measurements
    prof.measured.hardware = HardwareRef.from_dict(doc["hardware"])
    prof.measured.roofline = Roofline.from_dict(doc["roofline"])


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
) -> dict[str, Any]:
    """The roofline document of ``run`` against ``hw`` under the math modes in force now.

    A time under its floor means the ceilings are too low. When ``hw`` is this machine's
    measured profile (``hw_name`` ``host...``), the device's ceilings are measured once more
    and merged into the cached profile (each ceiling the best of all measurements), and the
    roofline is redone; ``roofline["remeasured"]`` records it. Floors still beaten after
    that (or on a datasheet profile) stay listed in ``roofline["profile_errors"]``, and
    their efficiency is None.
    """
    from flopwise.analysis.roofline import MathModes, roofline_document
    from flopwise.measure import hardware as hwmod

    modes = MathModes.from_torch()
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
