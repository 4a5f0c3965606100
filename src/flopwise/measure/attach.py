"""Join measurements onto a counted Profile: end-to-end and per-layer time, the roofline
against a hardware profile, and (optionally) energy. The CLI's ``--measure`` path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flopwise.profile import Profile


def attach_measurements(
    prof: Profile,
    model: Any,
    args: tuple,
    kwargs: dict,
    *,
    repeats: int = 0,
    budget: float = 10.0,
    energy: bool = False,
    grid: str = "world",
    pue: float = 1.0,
    hardware: str = "host",
    progress: bool = False,
    train: bool = False,
    device: str | None = None,
) -> None:
    """Time ``model`` on its real tensors and store the results in ``prof.measured``
    (and ``prof.extra["energy"]``). Inference is timed in eval mode under no_grad; with
    ``train`` a whole training step (zero-grad, forward, backward) in train mode.

    ``hardware="host"`` means the profile of the device being measured (``device``, by
    default where the model's parameters live): ``host:cuda:0`` for a GPU run, measured on
    first use and cached per GPU model."""
    from flopwise.measure.hardware import get_profile, resolve_hardware
    from flopwise.measure.per_layer import measure_model
    from flopwise.measure.per_layer.run import _infer

    device = device or _infer(model, args, kwargs)[0]
    hw = get_profile(resolve_hardware(hardware, device), progress=progress)
    was_training = model.training
    model.train(train)
    try:
        run = measure_model(
            model,
            args,
            kwargs,
            repeats=repeats or None,
            budget_s=None if repeats else budget,
            per_layer=True,
            progress=progress,
            train=train,
            device=device,
        )
        energy_doc = None
        if energy:
            model.eval()
            energy_doc = _energy(prof, model, args, kwargs, run, hw, grid, pue)
    finally:
        model.train(was_training)
    measured: dict[str, Any] = {
        **run.to_dict(),
        **roofline_with_remeasure(
            prof, run, hw, resolve_hardware(hardware, device), device, progress=progress
        ),
    }
    measured["phase"] = "training step (zero-grad, forward, backward)" if train else "forward"
    gpu = str(run.device).startswith("cuda")
    measured["modules"] = {
        path: {
            "time_s": mt.total_s,
            "self_s": mt.self_s,
            "calls": mt.calls,
            "host_s": mt.host_total_s,
            "device_s": mt.device_total_s if gpu else None,
        }
        for path, mt in run.modules.items()
    }
    prof.measured = measured
    if energy_doc is not None:
        prof.extra["energy"] = energy_doc


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


def _energy(prof, model, args, kwargs, run, hw, grid, pue) -> dict[str, Any]:
    import torch

    from flopwise.measure.energy import energy_report

    def call() -> None:
        with torch.no_grad():
            model(*args, **kwargs)

    tokens = None
    ids = kwargs.get("input_ids")
    if isinstance(ids, torch.Tensor):
        tokens = int(ids.numel())
    items = next(
        (
            int(t.shape[0])
            for t in [*args, *kwargs.values()]
            if isinstance(t, torch.Tensor) and t.ndim
        ),
        None,
    )
    repeats = max(3, min(50, int(2.0 / max(run.latency.median_s, 1e-6))))
    return energy_report(
        call,
        repeats=repeats,
        flops=prof.totals.flops,
        items=items,
        tokens=tokens,
        grid=grid,
        pue=pue,
        hardware=hw,
        device=str(run.device),
        module_times={path: mt.total_s for path, mt in run.modules.items()},
    )
