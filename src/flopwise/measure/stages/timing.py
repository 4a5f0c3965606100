"""Timing the stages of a deployed model: build the host copy, inference and
postprocessing around the preprocess stage, time them all interleaved in one run (A B C D,
B C D A, ...) so a burst of load hits every stage alike, and assemble the result (the
:class:`~flopwise.sections.Stages` section)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from flopwise.errors import FlopwiseError
from flopwise.measure.options import MeasureOptions, torch_threads
from flopwise.measure.stages.inputs import DEFAULT_IMAGE_SIZE
from flopwise.measure.stages.postprocess import choose_postprocess
from flopwise.measure.stages.preprocess import Preprocess, StageInputs, preprocess_stage
from flopwise.measure.stages.result import SCHEMA, STAGES, stage_entry, stage_shares, timed
from flopwise.measure.stages.slots import replace_inputs
from flopwise.measure.timing import Latency, check_device, measure_interleaved
from flopwise.sections import EndToEnd, LatencySummary, Stages, StageTiming

__all__ = ["DEFAULT_BUDGET_S", "DEFAULT_MEASURE", "measure_stages"]

#: Seconds of interleaved timing when no ``measure`` options are given.
DEFAULT_BUDGET_S = 5.0
#: The timing of :func:`measure_stages` when no ``measure`` options are given.
DEFAULT_MEASURE = MeasureOptions(budget_s=DEFAULT_BUDGET_S, warmup=3)

Inputs = tuple[tuple[Any, ...], dict[str, Any]]


def measure_stages(
    model: Any,
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
    *,
    source: str = "",
    preprocess: str = "auto",
    device: str | torch.device = "cpu",
    measure: MeasureOptions | None = None,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    image_format: str = "jpeg",
    image_backend: str = "auto",
    tokenizer: Any = None,
    preprocess_threads: int | None = None,
    end_to_end: bool = True,
) -> Stages:
    """Time preprocessing, host-to-device copy, inference and postprocessing of ``model``
    on inputs shaped like ``args``/``kwargs``, interleaved in one run; the ``stages``
    section of a profile.

    ``source`` is the model source (``LoadedModel.source``: torchvision, timm, hf, file,
    module, or a spec prefix); ``hf`` image models are resized straight to the input size
    with mean/std 0.5 like Hugging Face image processors, the others get the ImageNet
    evaluation transform (resize to cover size/0.875, center-crop, ImageNet mean/std).
    ``preprocess``: ``"auto"`` (image if there is a ``(N, 1|3, H, W)`` float input, else
    text if there is an integer ``(N, L)`` input), ``"image"``, ``"text"`` or ``"none"``.
    ``device``: where the model and its inputs live (``cuda`` fails with one line here).
    ``measure``: ``repeats`` counts interleaved rounds, else ``budget_s`` bounds the run,
    after ``warmup`` rounds; ``threads`` torch threads for the whole run; ``progress`` a
    bar on stderr (default :data:`DEFAULT_MEASURE`: a 5 s budget after 3 warm-up rounds).
    ``image_size`` is the camera image (width, height); ``tokenizer`` a local
    ``tokenizer.json`` path or a ``tokenizers.Tokenizer`` (default: an in-memory BPE).
    ``preprocess_threads``: run preprocessing with this many intra-op threads (1 mimics a
    DataLoader worker); None keeps the current setting. With ``end_to_end`` the whole
    chain is also timed as one callable in the same interleaving, as a check on the sum.

    The result (:class:`~flopwise.sections.Stages`, schema ``flopwise.stages/1``):
    ``device``, ``threads``, ``source``, ``kind`` (image / text / None), ``input`` (what
    was preprocessed), ``order`` (the stage names), ``stages`` (name →
    :class:`~flopwise.sections.StageTiming`: status measured / not_applicable / skipped,
    what, median_s, min_s, iqr_s, cv, spread, repeats, trustworthy, reason, share, note,
    plus the full ``latency`` summary), ``shares`` (of ``total_s``, the sum of stage
    medians), ``total_s``, ``end_to_end`` (median_s, trustworthy, reason, latency,
    ``over_sum``: end-to-end median / sum of medians), ``trustworthy``, ``reasons``,
    ``notes``.
    """
    dev = check_device(device)  # one line (DeviceUnavailable) for cuda without a GPU
    inputs = StageInputs(
        preprocess, image_size, image_format, image_backend, tokenizer, preprocess_threads
    )
    measure = measure or DEFAULT_MEASURE
    with torch_threads(measure.threads):
        run = _build(model, tuple(args), dict(kwargs or {}), source, inputs, dev, end_to_end)
        lats = measure_interleaved(
            run.fns,
            warmup=measure.warmup,
            repeats=measure.repeats,
            budget_s=measure.sample_budget_s,
            device=dev,
            progress=measure.progress,
        )
        return _result(run, lats, source, inputs)


@dataclass
class _StageRun:
    """The stages built for one model: the preprocess stage, each stage's result entry,
    and the callables to time (stage name → zero-argument callable)."""

    pre: Preprocess
    entries: dict[str, StageTiming]
    fns: dict[str, Callable[[], Any]]
    device: str

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda")


def _build(
    model: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    source: str,
    inputs: StageInputs,
    dev: str,
    end_to_end: bool,
) -> _StageRun:
    """Build every stage and run each once (a model that fails does so here, not while
    timing); with ``end_to_end`` the whole chain is one more callable."""
    pre = preprocess_stage(model, args, kwargs, source, inputs)
    run = _StageRun(pre, {"preprocess": pre.entry}, {}, dev)
    host_args, host_kwargs = _host_inputs(args, kwargs, pre, run.on_cuda)
    if pre.fn is not None:
        run.fns["preprocess"] = _with_threads(pre.fn, inputs.preprocess_threads)
    _copy_stage(run, host_args, host_kwargs)
    dev_args, dev_kwargs = _to_device(host_args, host_kwargs, dev)
    output = _first_forward(model, dev_args, dev_kwargs, preprocessed=pre.fn is not None)
    run.fns["inference"] = lambda: _infer(model, dev_args, dev_kwargs)
    run.entries["inference"] = stage_entry("measured", "model forward under torch.no_grad()")
    post = choose_postprocess(output, pre.tokenizer if pre.kind == "text" else None)
    if post is None:
        run.entries["postprocess"] = stage_entry(
            "skipped",
            "postprocessing",
            f"no postprocessing known for a {type(output).__name__} output",
        )
    else:
        post_fn, post_label = post
        post_fn(output)  # fail here, not mid-timing
        run.fns["postprocess"] = lambda: post_fn(output)
        run.entries["postprocess"] = stage_entry("measured", post_label + " (result on the host)")
    if end_to_end:
        pre_inner = run.fns.get("preprocess")
        post_inner = post[0] if post is not None else None

        def whole() -> Any:
            produced = pre_inner() if pre_inner is not None else {}
            h_args, h_kwargs = replace_inputs(host_args, host_kwargs, produced)
            out = _infer(model, *_to_device(h_args, h_kwargs, dev))
            return post_inner(out) if post_inner is not None else out

        run.fns["end_to_end"] = whole
    return run


def _host_inputs(
    args: tuple[Any, ...], kwargs: dict[str, Any], pre: Preprocess, on_cuda: bool
) -> Inputs:
    """The model inputs in host memory, the preprocess stage's output in place of the
    inputs it replaces (run once here, outside the timing)."""
    produced = pre.fn() if pre.fn is not None else {}
    new_args, new_kwargs = replace_inputs(args, kwargs, produced)
    if on_cuda:
        new_args = tuple(_to(v, "cpu") for v in new_args)
        new_kwargs = {k: _to(v, "cpu") for k, v in new_kwargs.items()}
    return new_args, new_kwargs


def _copy_stage(run: _StageRun, host_args: tuple[Any, ...], host_kwargs: dict[str, Any]) -> None:
    """The host-to-device copy: timed on CUDA, not applicable (0 s) on the CPU."""
    if run.on_cuda:  # pragma: no cover - needs a GPU
        tensors = [v for v in (*host_args, *host_kwargs.values()) if isinstance(v, torch.Tensor)]
        copy_bytes = _tensor_bytes(tensors)
        run.fns["host_to_device"] = lambda: _to_device(host_args, host_kwargs, run.device)
        run.entries["host_to_device"] = stage_entry(
            "measured",
            f"copy {copy_bytes} bytes of inputs to {run.device} (pageable memory)",
            bytes=copy_bytes,
        )
        return
    run.entries["host_to_device"] = stage_entry(
        "not_applicable",
        "copy of the inputs to the device",
        "not applicable on cpu: the inputs already live in host memory (0 s)",
        bytes=0,
    )
    run.entries["host_to_device"].median_s = 0.0


def _to_device(h_args: tuple[Any, ...], h_kwargs: dict[str, Any], dev: str) -> Inputs:
    if not dev.startswith("cuda"):
        return h_args, h_kwargs
    return tuple(_to(v, dev) for v in h_args), {k: _to(v, dev) for k, v in h_kwargs.items()}


def _to(value: Any, device: str) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _infer(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    with torch.no_grad():
        return model(*args, **kwargs)


def _first_forward(
    model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, preprocessed: bool
) -> Any:
    """One forward before timing; a model that fails says so in one line."""
    try:
        return _infer(model, args, kwargs)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        hint = "; retry with preprocess='none'" if preprocessed else ""
        what = "the preprocessed inputs" if preprocessed else "its inputs"
        raise FlopwiseError(
            f"the model failed on {what} ({type(exc).__name__}: {first}){hint}"
        ) from exc


def _tensor_bytes(values: Sequence[Any]) -> int:
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


def _with_threads(fn: Callable[[], Any], threads: int | None) -> Callable[[], Any]:
    """``fn`` run with ``threads`` intra-op threads (None: ``fn`` itself)."""
    if threads is None:
        return fn

    def run() -> Any:
        with torch_threads(threads):
            return fn()

    return run


def _result(
    run: _StageRun, lats: Mapping[str, Latency], source: str, inputs: StageInputs
) -> Stages:
    """The stages section (schema ``flopwise.stages/1``) from the timed stages."""
    stages = run.entries
    for name, lat in lats.items():
        if name in stages:
            timed(stages[name], lat)
    ordered_times = {
        name: float(stages[name].median_s)
        for name in STAGES
        if name in stages and stages[name].median_s is not None
    }
    shares = stage_shares(ordered_times)
    for name, share in shares.items():
        stages[name].share = share
    total = math.fsum(ordered_times.values())
    reasons = [
        f"{name}: {entry.reason}"
        for name, entry in stages.items()
        if entry.status == "measured" and entry.trustworthy is False
    ]
    return Stages(
        schema=SCHEMA,
        device=run.device,
        threads=torch.get_num_threads(),
        source=source or None,
        kind=run.pre.kind,
        input=run.pre.info,
        order=list(STAGES),
        stages={name: stages[name] for name in STAGES},
        shares=shares,
        total_s=total,
        end_to_end=_end_to_end(lats.get("end_to_end"), total),
        trustworthy=not reasons,
        reasons=reasons,
        notes=_notes(run, inputs),
    )


def _end_to_end(lat: Latency | None, total: float) -> EndToEnd | None:
    """The whole chain timed as one callable, beside the sum of the stage medians."""
    if lat is None:
        return None
    return EndToEnd(
        median_s=lat.median_s,
        trustworthy=lat.trustworthy,
        reason=lat.reason,
        over_sum=lat.median_s / total if total > 0 else None,
        latency=LatencySummary.from_dict(lat.to_dict()),
    )


def _notes(run: _StageRun, inputs: StageInputs) -> list[str]:
    notes = []
    if run.pre.kind == "text":
        notes.append(
            "tokenization uses " + run.pre.info["tokenizer"] + "; the Python wrapper of a "
            "transformers tokenizer adds its own overhead on top"
        )
    if inputs.preprocess_threads is not None:
        notes.append(f"preprocessing ran with {inputs.preprocess_threads} intra-op thread(s)")
    if run.pre.kind == "image" and run.on_cuda:  # pragma: no cover - needs a GPU
        notes.append("preprocessing runs on the host; its time is measured with CUDA events")
    return notes
