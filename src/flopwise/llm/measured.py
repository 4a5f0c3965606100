"""Measured LLM serving: time prefill and decode of a real (random-weight) model and set the
figures beside the roofline.

``flopwise llm NAME --measure`` builds the model from its config with random weights on the
device (as ``hf:`` sources do), runs ``warmup`` untimed generations and then ``repeats``
timed ones of ``batch`` sequences: a prefill of ``prompt`` tokens (its time, with picking
the first token, is the TTFT) followed by ``gen - 1`` decode steps of one token each on the
KV cache (the roofline counts the same steps; TPOT is their mean). Every timed region is
:func:`~flopwise.measure.timing.timed_region`: it starts and ends with a device
synchronisation, so asynchronous CUDA launches are charged to the step that issued them.

Two times per region. Host time: the wall clock (:func:`time.perf_counter` unless one is
injected) between the two synchronisations, what a caller waits. Device time: on CUDA, a
pair of ``torch.cuda.Event`` recorded around the work (``elapsed_time``), the span the GPU's
stream took from the first launch to the last kernel's end; on the CPU there is no separate
device and the device time is the wall time. Both are summarised per phase (TTFT, TPOT) with
their warm-up, repeats and spread.

Where the time goes: on CUDA one extra profiled generation sums the kernels' busy time per
phase (``torch.profiler``); the rest of the wall time is the device waiting for the host
(Python, launches, cache and mask handling), and the share decides the bound.

The timing loop (:func:`time_generation`) takes the prefill and decode callables, the
clock, the event factory and the synchronisation as arguments, so its arithmetic is tested
with a fake clock and a fake CUDA event class.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flopwise.errors import FlopwiseError
from flopwise.measure.timing import Latency, timed_region

__all__ = [
    "GenerationTiming",
    "time_generation",
    "kernel_seconds",
    "LLMMeasurement",
    "GenerationEnergy",
    "generation_energy",
    "measure_llm",
]

#: Below this share of the wall time spent in kernels a phase is called host/launch-bound.
DEVICE_BOUND_SHARE = 0.5

#: Seconds of work wanted in an energy window (the NVML counter updates every ~0.1 s).
ENERGY_WINDOW_S = 1.0


@dataclass
class GenerationTiming:
    """The timed repeats of one generation setup, in seconds.

    ``prefill``: one sample per repeat (prefill and picking the first token: the TTFT).
    ``tpot``: one sample per repeat, the mean of that repeat's decode steps.
    ``steps``: every decode step of every repeat (their spread shows growth with context).
    ``tpot`` is None when ``gen < 2`` (no decode step).
    These are host times (wall clock between synchronisations). ``prefill_device``,
    ``tpot_device`` and ``steps_device`` are the same regions timed by device events (CUDA);
    None / empty when no event timer ran (the CPU: the device time is the wall time).
    """

    prefill: Latency
    tpot: Latency | None
    steps: list[float]
    decode_steps: int
    device: str
    prefill_device: Latency | None = None
    tpot_device: Latency | None = None
    steps_device: list[float] = field(default_factory=list)

    @property
    def timer(self) -> str:
        """How the device time was taken, in words."""
        if self.prefill_device is not None:
            return "cuda events"
        return "wall clock (no separate device: the device time is the wall time)"

    def to_dict(self) -> dict[str, Any]:
        pre_dev, tpot_dev, steps_dev = self.prefill_device, self.tpot_device, self.steps_device
        return {
            "device": self.device,
            "decode_steps": self.decode_steps,
            "ttft": self.prefill.to_dict(),
            "tpot": None if self.tpot is None else self.tpot.to_dict(),
            "step_min_s": min(self.steps) if self.steps else None,
            "step_max_s": max(self.steps) if self.steps else None,
            "device_timer": self.timer,
            "ttft_device": None if pre_dev is None else pre_dev.to_dict(),
            "tpot_device": None if tpot_dev is None else tpot_dev.to_dict(),
            "step_device_min_s": min(steps_dev) if steps_dev else None,
            "step_device_max_s": max(steps_dev) if steps_dev else None,
        }


def time_generation(
    prefill: Callable[[], Any],
    decode: Callable[[Any], Any],
    *,
    decode_steps: int,
    warmup: int = 1,
    repeats: int = 5,
    clock: Callable[[], float] = time.perf_counter,
    sync: Callable[[], None] = lambda: None,
    device: str = "cpu",
    event: Callable[[], Any] | None = None,
) -> GenerationTiming:
    """Run ``warmup`` untimed then ``repeats`` timed generations: ``state = prefill()`` then
    ``decode_steps`` times ``state = decode(state)``.

    Each region is :func:`~flopwise.measure.timing.timed_region` (the clock is read twice
    per region, in that order; with ``event``, two events per region are recorded around
    the work), so with a fake ``clock`` and a fake ``event`` class every figure is exact:
    TTFT samples are the prefill regions, each TPOT sample is the mean of one repeat's
    decode regions, for host (clock) and device (events) time alike. Summaries (median,
    IQR, CV ...) are :class:`Latency`'s.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    if decode_steps < 0 or warmup < 0:
        raise ValueError("decode_steps and warmup must be >= 0")

    def region(work: Callable[[], Any]) -> tuple[Any, float, float | None]:
        return timed_region(work, sync=sync, clock=clock, event=event)

    host = _PhaseSamples()
    dev = _PhaseSamples()
    for r in range(warmup + repeats):
        state, pre_host, pre_dev = region(prefill)
        these: list[tuple[float, float | None]] = []
        for _ in range(decode_steps):
            state, t_host, t_dev = region(lambda state=state: decode(state))
            these.append((t_host, t_dev))
        if r < warmup:
            continue
        host.add(pre_host, [h for h, _ in these])
        if event is not None:
            dev.add(pre_dev, [d for _, d in these])

    def lat(samples: list[float], label: str) -> Latency | None:
        if not samples:
            return None
        return Latency(samples=samples, warmup=warmup, device=device, label=label)

    return GenerationTiming(
        prefill=lat(host.ttft, "TTFT"),
        tpot=lat(host.tpot, "TPOT"),
        steps=host.steps,
        decode_steps=decode_steps,
        device=device,
        prefill_device=lat(dev.ttft, "TTFT device"),
        tpot_device=lat(dev.tpot, "TPOT device"),
        steps_device=dev.steps,
    )


@dataclass
class _PhaseSamples:
    """One clock's samples: a TTFT per repeat, a TPOT (mean step) per repeat, every step."""

    ttft: list[float] = field(default_factory=list)
    tpot: list[float] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)

    def add(self, prefill: float, steps: list[float]) -> None:
        self.ttft.append(prefill)
        self.steps.extend(steps)
        if steps:
            self.tpot.append(sum(steps) / len(steps))


def time_steps(
    step: Callable[[], Any],
    *,
    warmup: int = 1,
    repeats: int = 5,
    clock: Callable[[], float] = time.perf_counter,
    sync: Callable[[], None] = lambda: None,
    device: str = "cpu",
    label: str = "step",
    event: Callable[[], Any] | None = None,
) -> tuple[Latency, Latency | None]:
    """``warmup`` untimed then ``repeats`` timed calls of ``step``, each a
    :func:`~flopwise.measure.timing.timed_region` (two clock reads per call, as in
    :func:`time_generation`): the host (wall) latency and, with ``event``, the device
    latency by events (else None)."""
    if repeats < 1 or warmup < 0:
        raise ValueError("repeats must be >= 1 and warmup >= 0")
    regions = [
        timed_region(step, sync=sync, clock=clock, event=event) for _ in range(warmup + repeats)
    ][warmup:]
    host = Latency(samples=[r[1] for r in regions], warmup=warmup, device=device, label=label)
    if event is None:
        return host, None
    dev = [r[2] for r in regions]
    return host, Latency(samples=dev, warmup=warmup, device=device, label=f"{label} device")


def training_mfu(step_s: float, peak_flops: float, palm_flops: int, counted_flops: int) -> dict:
    """MFU of a training step of ``step_s`` seconds on a device of ``peak_flops``, by PaLM's
    definition (``palm_flops``: (6N + 12·L·H·Q·T)·tokens, matmuls only) and by flopwise's
    own count (``counted_flops``: forward + backward of every op, no recomputation)."""
    if step_s <= 0 or peak_flops <= 0:
        raise ValueError("step time and peak must be positive")
    return {
        "step_s": step_s,
        "peak_flops": peak_flops,
        "palm_flops": palm_flops,
        "counted_flops": counted_flops,
        "mfu_palm": palm_flops / (step_s * peak_flops),
        "mfu_counted": counted_flops / (step_s * peak_flops),
    }


def kernel_seconds(events: Any) -> float:
    """Seconds of device (CUDA) kernels among profiler ``events`` (``torch.profiler``'s
    ``prof.events()``): the sum of their ``device_time`` (µs). Kernels on several streams
    that overlap are summed, so this is busy time only for one stream (eager inference)."""
    from torch.autograd import DeviceType

    total_us = 0.0
    for ev in events:
        if getattr(ev, "device_type", None) == DeviceType.CUDA:
            total_us += float(getattr(ev, "device_time", 0.0) or 0.0)
    return total_us / 1e6


def _profile_device_time(
    prefill: Callable[[], Any], decode: Callable[[Any], Any], decode_steps: int, sync
) -> tuple[float, float | None]:
    """Kernel seconds of one prefill and of the mean decode step, from one profiled run."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU, ProfilerActivity.CUDA]
    with profile(activities=acts) as p_pre:
        state = prefill()
        sync()
    pre = kernel_seconds(p_pre.events())
    if decode_steps < 1:
        return pre, None
    with profile(activities=acts) as p_dec:
        for _ in range(decode_steps):
            state = decode(state)
        sync()
    return pre, kernel_seconds(p_dec.events()) / decode_steps


@dataclass
class PhaseSplit:
    """One phase's measured median beside its roofline floor, and its host/device split."""

    name: str
    measured_s: float
    floor_s: float | None
    device_s: float | None  # kernel busy time (CUDA profiler); None on the CPU
    spread: float
    # median device time by CUDA events around the same regions; None on the CPU
    event_s: float | None = None
    event_spread: float | None = None

    @property
    def device_time_s(self) -> float:
        """Device time: CUDA events' median, or on the CPU the wall time (no other device)."""
        return self.measured_s if self.event_s is None else self.event_s

    @property
    def gap(self) -> float | None:
        """measured / floor: how many times the floor the real run takes."""
        if self.floor_s is None or self.floor_s <= 0:
            return None
        return self.measured_s / self.floor_s

    @property
    def host_s(self) -> float:
        """Wall time not spent in kernels: all of it on the CPU."""
        if self.device_s is None:
            return self.measured_s
        return max(0.0, self.measured_s - self.device_s)

    @property
    def bound(self) -> str:
        if self.device_s is None:
            return "host (cpu: all time is host time)"
        share = self.device_s / self.measured_s if self.measured_s > 0 else 0.0
        return "device-bound" if share >= DEVICE_BOUND_SHARE else "host/launch-bound"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured_s": self.measured_s,
            "roofline_floor_s": self.floor_s,
            "gap": self.gap,
            "device_s": self.device_s,
            "host_s": self.host_s,
            "bound": self.bound,
            "spread": self.spread,
            "floor_beaten": self.gap is not None and self.gap < 1.0,
            # host = wall between synchronisations (measured_s); device = CUDA events
            "host_time_s": self.measured_s,
            "device_time_s": self.device_time_s,
            "device_time_spread": self.spread if self.event_s is None else self.event_spread,
            "device_time_method": "wall clock (cpu: the device time is the wall time)"
            if self.event_s is None
            else "cuda events",
        }


@dataclass
class LLMMeasurement:
    """A measured generation beside the roofline of the same setup."""

    model: str
    device: dict[str, Any]
    dtype: str
    batch: int
    prompt: int
    gen: int
    hardware: str | None
    timing: GenerationTiming
    phases: list[PhaseSplit]
    notes: list[str] = field(default_factory=list)
    energy: GenerationEnergy | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "dtype": self.dtype,
            "batch": self.batch,
            "prompt": self.prompt,
            "gen": self.gen,
            "roofline_hardware": self.hardware,
            "timing": self.timing.to_dict(),
            "phases": [p.to_dict() for p in self.phases],
            "method": (
                "wall clock (time.perf_counter) between device synchronisations; median of "
                "repeats; device time from torch.profiler kernel times (CUDA only); "
                "device_time_s: CUDA events around the same regions (CPU: the wall time)"
            ),
            "notes": self.notes,
            "energy": None if self.energy is None else self.energy.to_dict(),
        }


def compare_to_roofline(
    timing: GenerationTiming,
    ttft_floor_s: float | None,
    tpot_floor_s: float | None,
    device_s: tuple[float, float | None] | None = None,
) -> list[PhaseSplit]:
    """TTFT and TPOT: measured median, roofline floor, gap, host/device split."""
    pre_dev, dec_dev = device_s if device_s is not None else (None, None)
    phases = [_split("TTFT", timing.prefill, timing.prefill_device, ttft_floor_s, pre_dev)]
    if timing.tpot is not None:
        phases.append(_split("TPOT", timing.tpot, timing.tpot_device, tpot_floor_s, dec_dev))
    return phases


def _split(
    name: str, host: Latency, events: Latency | None, floor_s: float | None, kernel_s: float | None
) -> PhaseSplit:
    """One phase's split: host (wall) median and spread, event median and spread if any."""
    return PhaseSplit(
        name,
        host.median_s,
        floor_s,
        kernel_s,
        host.spread,
        event_s=None if events is None else events.median_s,
        event_spread=None if events is None else events.spread,
    )


@dataclass
class GenerationEnergy:
    """Energy of the two phases of generation, each from its own windows.

    ``prefill``: one window of ``prefill.repeats`` prefills (``tokens`` = batch x prompt).
    ``decode``: one window per generation over its ``decode_steps`` steps, the prefill that
    built the cache outside it (``tokens`` = batch); None when ``gen < 2``.
    """

    prefill: Any  # EnergyResult
    decode: Any  # EnergyResult | None
    batch: int
    prompt: int
    decode_steps: int

    @property
    def joules_per_prefill(self) -> float:
        return self.prefill.joules_per_run

    @property
    def joules_per_decode_step(self) -> float | None:
        return None if self.decode is None else self.decode.joules_per_run

    @property
    def joules_per_generated_token(self) -> float:
        """One generation's energy (a prefill, which yields the first token, and the decode
        steps) over the ``batch x (decode_steps + 1)`` tokens it generates."""
        total = self.joules_per_prefill + self.decode_steps * (self.joules_per_decode_step or 0.0)
        return total / (self.batch * (self.decode_steps + 1))

    @property
    def uncertainty(self) -> str:
        """The weaker of the two phases' (counter < sampled < estimated)."""
        rank = {"counter": 0, "sampled": 1, "estimated": 2}
        phases = [r for r in (self.prefill, self.decode) if r is not None]
        return max((r.uncertainty for r in phases), key=rank.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        pre, dec = self.prefill, self.decode
        method = pre.method
        label = (
            f"{method} (power model) - not measured"
            if self.uncertainty == "estimated"
            else f"{method} ({self.uncertainty})"
        )
        notes = [n for r in (pre, dec) if r is not None for n in r.notes]
        return {
            "method": method,
            "uncertainty": self.uncertainty,
            "measured": self.uncertainty != "estimated",
            "label": label,
            "reader": pre.reader,
            "model": pre.model,
            "joules_per_prefill": self.joules_per_prefill,
            "joules_per_prompt_token": pre.joules_per_token,
            "joules_per_decode_step": self.joules_per_decode_step,
            "joules_per_decode_token": None if dec is None else dec.joules_per_token,
            "joules_per_generated_token": self.joules_per_generated_token,
            "prefill_power_w": pre.average_power_w,
            "decode_power_w": None if dec is None else dec.average_power_w,
            "prefills_per_window": pre.repeats,
            "prefill_window_s": pre.window_s,
            "decode_windows": 0 if dec is None else len(dec.readings),
            "decode_steps_per_window": self.decode_steps,
            "decode_window_s": None if dec is None else dec.window_s,
            "flags": sorted({f for r in (pre, dec) if r is not None for f in r.flags}),
            "notes": list(dict.fromkeys(notes)),
            "unavailable": list(pre.unavailable),
        }


def generation_energy(
    prefill: Callable[[], Any],
    decode: Callable[[Any], Any],
    *,
    decode_steps: int,
    reader: Any,
    prefills: int,
    generations: int,
    batch: int,
    prompt: int,
    sync: Callable[[], None] = lambda: None,
    unavailable: tuple[str, ...] = (),
) -> GenerationEnergy:
    """Energy of prefill and of decode, read by ``reader`` (an
    :class:`~flopwise.measure.energy.EnergyReader`: NVML, RAPL or the labelled estimate).

    Prefill: one window of ``prefills`` prefills. Decode: ``generations`` windows, each
    over the ``decode_steps`` steps of one generation whose prefill ran (and was
    synchronised) before the window opened. Every window opens and closes after ``sync()``.
    ``unavailable`` lists the better readers that could not be used (one line each).
    """
    from flopwise.measure.energy import EnergyResult
    from flopwise.measure.energy.base import energy_window, poll

    if prefills < 1 or generations < 1 or decode_steps < 0:
        raise ValueError("prefills and generations must be >= 1, decode_steps >= 0")
    sync()
    with energy_window(reader) as w:
        for _ in range(prefills):
            prefill()
            poll(reader)
        sync()
    pre = EnergyResult(
        readings=(w.reading,),
        repeats=prefills,
        items=batch,
        tokens=batch * prompt,
        unavailable=unavailable,
        reader=getattr(reader, "name", type(reader).__name__),
    )
    dec = None
    if decode_steps:
        readings = []
        for _ in range(generations):
            state = prefill()
            sync()
            with energy_window(reader) as w:
                for _ in range(decode_steps):
                    state = decode(state)
                    poll(reader)
                sync()
            readings.append(w.reading)
        dec = EnergyResult(
            readings=tuple(readings),
            repeats=decode_steps,
            items=batch,
            tokens=batch,
            reader=pre.reader,
        )
    return GenerationEnergy(pre, dec, batch, prompt, decode_steps)


def _energy_counts(timing: GenerationTiming) -> tuple[int, int]:
    """Prefills per window and decode windows so that each window holds about
    :data:`ENERGY_WINDOW_S` of work (3-50 prefills, 1-20 generations)."""
    import math

    ttft = max(timing.prefill.median_s, 1e-9)
    prefills = max(3, min(50, math.ceil(ENERGY_WINDOW_S / ttft)))
    gen_s = timing.tpot.median_s * timing.decode_steps if timing.tpot is not None else 0.0
    generations = max(1, min(20, math.ceil(ENERGY_WINDOW_S / max(gen_s, 1e-9))))
    return prefills, generations


def measure_llm(
    name: str,
    *,
    batch: int = 1,
    prompt: int = 512,
    gen: int = 32,
    device: str = "auto",
    dtype: str = "bfloat16",
    roofline: Any = None,
    hardware: str | None = None,
    warmup: int = 1,
    repeats: int = 5,
    seed: int = 0,
    clock: Callable[[], float] = time.perf_counter,
    energy: bool = False,
    energy_reader: Any = None,
    event: Callable[[], Any] | None = None,
) -> LLMMeasurement:
    """Build ``name`` (a built-in config or config.json) with random weights on ``device``,
    time its generation (:func:`time_generation`) and compare it with ``roofline`` (the
    :class:`~flopwise.llm.estimate.Roofline` of the same batch/prompt/gen, or None).

    With ``energy``, also :func:`generation_energy`: read by ``energy_reader`` when given
    (tests inject one), else by the reader ``profile --measure --energy`` would pick for
    the device (NVML on CUDA, RAPL on the CPU, else the labelled power-model estimate).
    ``clock`` is the host timer and ``event`` the device event factory (default: CUDA events
    on CUDA, none on the CPU; tests inject fakes of both). Raises :class:`FlopwiseError` for a
    device that cannot time and for a config transformers cannot build."""
    from flopwise.measure.devices import device_summary, reset_peak_memory

    model, ids, dev, sync = _random_model(
        name, device=device, dtype=dtype, seed=seed, batch=batch, tokens=prompt
    )
    model.eval()
    prefill, decode = _generation(model, ids)
    steps = max(gen - 1, 0)
    reset_peak_memory(dev)
    timing = time_generation(
        prefill,
        decode,
        decode_steps=steps,
        warmup=warmup,
        repeats=repeats,
        sync=sync,
        device=dev,
        clock=clock,
        event=_event_factory(event, dev),
    )
    notes = []
    split = None
    if dev.startswith("cuda"):
        split = _profile_device_time(prefill, decode, steps, sync)
    else:
        notes.append(
            "cpu: no separate device; all measured time is host time (the device time is "
            "the wall time)"
        )
    phases = compare_to_roofline(
        timing,
        None if roofline is None else roofline.ttft,
        None if roofline is None else roofline.tpot,
        split,
    )
    gen_energy = None
    if energy:
        gen_energy = _measure_energy(
            prefill, decode, timing, energy_reader, dev, sync, roofline, batch, prompt
        )
    return LLMMeasurement(
        model=name,
        device=device_summary(dev),
        dtype=dtype,
        batch=batch,
        prompt=prompt,
        gen=gen,
        hardware=None if roofline is None else roofline.hardware,
        timing=timing,
        phases=phases,
        notes=notes + _timing_notes(timing, phases),
        energy=gen_energy,
    )


def _event_factory(event: Callable[[], Any] | None, dev: str) -> Callable[[], Any] | None:
    """The device event factory: ``event`` when given, CUDA events on CUDA, else None."""
    if event is not None or not dev.startswith("cuda"):
        return event
    from flopwise.measure.timing import cuda_events

    return cuda_events()


def _random_model(
    name: str, *, device: str, dtype: str, seed: int, batch: int, tokens: int
) -> tuple[Any, Any, str, Callable[[], None]]:
    """``(model, token ids, device, sync)``: ``name`` built with random weights (seeded) on
    ``device`` (resolved for timing), random ``batch × tokens`` ids below its vocabulary,
    and the synchronisation that closes a timed region on that device."""
    import torch

    from flopwise.measure.devices import resolve_device
    from flopwise.sources.hf_configs import load_config_dict
    from flopwise.sources.models import build_hf_model
    from flopwise.sources.specs import parse_dtype

    dev = resolve_device(device, timing=True)
    torch_dtype = parse_dtype(dtype)
    config = load_config_dict(name.removeprefix("hf:"))
    vocab = int(config.get("vocab_size") or 0)
    if vocab < 1:
        raise FlopwiseError(f"{name}: the config has no vocab_size; cannot make token ids")
    torch.manual_seed(seed)
    model = build_hf_model(config, device=dev, dtype=torch_dtype, causal_lm=True, label=name)
    ids = torch.randint(0, vocab, (batch, tokens), device=dev)
    cuda = dev.startswith("cuda")
    sync = (lambda: torch.cuda.synchronize(torch.device(dev))) if cuda else (lambda: None)
    return model, ids, dev, sync


def _generation(model: Any, ids: Any) -> tuple[Callable[[], Any], Callable[[Any], Any]]:
    """``(prefill, decode)`` of greedy generation from ``ids``: the prefill returns the KV
    cache and the first token, each decode step the grown cache and the next token."""
    import torch

    # transformers renamed past_key_values to cache (5.x); speak whichever this one knows
    params = inspect.signature(model.forward).parameters
    cache_arg = "cache" if "cache" in params else "past_key_values"
    # logits of the last position only, as the roofline counts them (prefill_logits="last")
    extra = {"logits_to_keep": 1} if "logits_to_keep" in params else {}

    def cache_of(out: Any) -> Any:
        cache = getattr(out, "cache", None)
        return cache if cache is not None else out.past_key_values

    def prefill() -> Any:
        with torch.inference_mode():
            out = model(input_ids=ids, use_cache=True, **extra)
            return cache_of(out), out.logits[:, -1:].argmax(-1)

    def decode(state: Any) -> Any:
        past, token = state
        with torch.inference_mode():
            out = model(input_ids=token, use_cache=True, **{cache_arg: past}, **extra)
            return cache_of(out), out.logits[:, -1:].argmax(-1)

    return prefill, decode


def _timing_notes(timing: GenerationTiming, phases: list[PhaseSplit]) -> list[str]:
    """Notes on figures below the roofline floor and on untrustworthy timings."""
    notes = []
    beaten = [p.name for p in phases if p.gap is not None and p.gap < 1.0]
    if beaten:
        notes.append(
            f"measured {', '.join(beaten)} below the roofline floor: the hardware profile's "
            "ceilings are too low (a profile error, not efficiency above 100%); re-measure it"
        )
    for lat in (timing.prefill, timing.tpot):
        if lat is not None and not lat.trustworthy:
            notes.append(f"{lat.label}: {lat.reason}")
    return notes


def _measure_energy(
    prefill, decode, timing, reader, dev, sync, roofline, batch, prompt
) -> GenerationEnergy:
    """Pick the reader as ``profile --energy`` does (the device's counter, else the
    estimate with the roofline's hardware profile as power model) and measure."""
    unavailable: list[str] = []
    if reader is None:
        from flopwise.measure.energy import select_reader

        hw = None
        if roofline is not None:
            from flopwise.measure.hardware import get_profile

            # the roofline's profile is resolved already: loading it measures nothing. A
            # profile given as a file is known by its name only; the estimate then uses the
            # default power model, which says so in its label.
            try:
                hw = get_profile(roofline.hardware, measure_if_missing=False, progress=False)
            except FlopwiseError:
                hw = None
        reader, unavailable = select_reader(device=dev, hardware=hw, synchronize=sync)
    prefills, generations = _energy_counts(timing)
    return generation_energy(
        prefill,
        decode,
        decode_steps=timing.decode_steps,
        reader=reader,
        prefills=prefills,
        generations=generations,
        batch=batch,
        prompt=prompt,
        sync=sync,
        unavailable=tuple(unavailable),
    )


def _with_spread(latency: Latency) -> dict[str, Any]:
    """A latency's JSON summary plus ``spread``: the larger of its CV and IQR/median (a
    fraction), the figure its trust flag is judged on."""
    return {**latency.to_dict(), "spread": latency.spread}


def measure_training(
    name: str,
    *,
    batch: int,
    seq: int,
    training: Any,
    peak_flops: float | None,
    device: str = "auto",
    dtype: str = "bfloat16",
    warmup: int = 1,
    repeats: int = 5,
    seed: int = 0,
    clock: Callable[[], float] = time.perf_counter,
    event: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Time training steps (forward with the LM loss at every position, backward; no
    optimizer step) of ``name`` built with random weights on ``device``, and give MFU by
    PaLM's definition and by flopwise's count (``training``: the
    :class:`~flopwise.llm.training.TrainingCost` of the same batch and sequence) against
    ``peak_flops`` (None: no MFU; computed on the host wall time). ``event``: the device
    event factory (default CUDA events on CUDA; the step's device time). JSON-ready."""
    from flopwise.measure.devices import device_summary, reset_peak_memory

    model, ids, dev, sync = _random_model(
        name, device=device, dtype=dtype, seed=seed, batch=batch, tokens=seq
    )
    model.train()

    def step() -> None:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    reset_peak_memory(dev)
    lat, dev_lat = time_steps(
        step,
        warmup=warmup,
        repeats=repeats,
        clock=clock,
        sync=sync,
        device=dev,
        label="step",
        event=_event_factory(event, dev),
    )
    out: dict[str, Any] = {
        "model": name,
        "device": device_summary(dev),
        "dtype": dtype,
        "batch": batch,
        "seq": seq,
        "step": _with_spread(lat),
        "step_device": None if dev_lat is None else _with_spread(dev_lat),
        "device_timer": "wall clock (cpu: the device time is the wall time)"
        if dev_lat is None
        else "cuda events",
        "what": "forward with the LM loss at every position + backward; no optimizer step",
        "mfu": None,
        "definitions": {
            "mfu_palm": "PaLM (Chowdhery et al. 2022): (6N + 12·L·H·Q·T) per token, matmuls "
            "only, N = active non-embedding parameters with the head",
            "mfu_counted": "flopwise: forward + backward of every op (no recomputation)",
        },
    }
    if peak_flops:
        out["mfu"] = training_mfu(lat.median_s, peak_flops, training.palm, training.model_flops)
    return out
