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
    from flopwise.analysis.roofline import roofline_document
    from flopwise.measure.hardware import get_profile, resolve_hardware
    from flopwise.measure.layer_times import _infer, measure_model

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
    measured: dict[str, Any] = {**run.to_dict(), **roofline_document(prof, run, hw)}
    measured["phase"] = "training step (zero-grad, forward, backward)" if train else "forward"
    measured["modules"] = {
        path: {"time_s": mt.total_s, "self_s": mt.self_s, "calls": mt.calls}
        for path, mt in run.modules.items()
    }
    prof.measured = measured
    if energy_doc is not None:
        prof.extra["energy"] = energy_doc


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
