"""Time a counted model and fill the measure layer's sections of its Profile: end-to-end
and per-layer time (``prof.measured``) and, optionally, energy (``prof.energy``). The
roofline join against the hardware profile is analysis: the API adds it
(``flopwise.pipeline.measured``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flopwise.measure.options import MeasureOptions
from flopwise.sections import Energy, Measured, ModuleTiming

if TYPE_CHECKING:
    from flopwise.measure.hardware import HardwareProfile
    from flopwise.measure.per_layer.results import MeasuredRun
    from flopwise.profile import Profile


@dataclass
class TimedRun:
    """What :func:`attach_measurements` timed, for the roofline join: the run, the hardware
    profile it is judged against (``hw_name`` as resolved) and the device it ran on."""

    run: MeasuredRun
    hw: HardwareProfile
    hw_name: str
    device: str


def attach_measurements(
    prof: Profile,
    model: Any,
    args: tuple,
    kwargs: dict,
    options: MeasureOptions | None = None,
    *,
    train: bool = False,
    device: str | None = None,
) -> TimedRun:
    """Time ``model`` on its real tensors and store the results in ``prof.measured``
    (latency, coverage, per-module times; no roofline) and, with ``options.energy``,
    ``prof.energy``. Inference is timed in eval mode under no_grad; with ``train`` a whole
    training step (zero-grad, forward, backward) in train mode. ``options.stages`` is not
    read here (the API times stages after this).

    ``options.hardware="host"`` means the profile of the device being measured
    (``device``, by default where the model's parameters live): ``host:cuda:0`` for a GPU
    run, measured on first use and cached per GPU model."""
    from flopwise.measure.hardware import get_profile, resolve_hardware
    from flopwise.measure.per_layer import measure_model
    from flopwise.measure.per_layer.run import _infer

    device = device or _infer(model, args, kwargs)[0]
    options = options or MeasureOptions()
    hw_name = resolve_hardware(options.hardware, device)
    hw = get_profile(hw_name, progress=options.progress)
    was_training = model.training
    model.train(train)
    try:
        run = measure_model(
            model,
            args,
            kwargs,
            repeats=options.repeats,
            budget_s=options.sample_budget_s,
            per_layer=True,
            progress=options.progress,
            train=train,
            device=device,
            threads=options.threads,
        )
        energy = None
        if options.energy:
            model.eval()
            energy = _energy(prof, model, args, kwargs, run, hw, options.grid, options.pue)
    finally:
        model.train(was_training)
    measured = Measured.from_dict(run.to_dict())
    measured.phase = "training step (zero-grad, forward, backward)" if train else "forward"
    gpu = str(run.device).startswith("cuda")
    measured.modules = {
        path: ModuleTiming(
            time_s=mt.total_s,
            self_s=mt.self_s,
            calls=mt.calls,
            host_s=mt.host_total_s,
            device_s=mt.device_total_s if gpu else None,
        )
        for path, mt in run.modules.items()
    }
    prof.measured = measured
    if energy is not None:
        prof.energy = energy
    return TimedRun(run, hw, hw_name, device)


def _energy(prof, model, args, kwargs, run, hw, grid, pue) -> Energy:
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
