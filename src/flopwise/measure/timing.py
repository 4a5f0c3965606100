"""Wall-clock timing that is honest about noise.

The machines flopwise runs on are often shared: the same op can take 2 ms and then 14 ms a
few seconds later. So every figure here comes from repeated samples after a warm-up, is
summarised by its median with its spread (min, max, IQR, coefficient of variation), and is
flagged ``trustworthy=False`` with a reason when the spread is too large to take the median
at face value. Anything that is compared should be measured in the same run, interleaved
(:func:`measure_interleaved`), so a burst of load from a neighbour hits both sides.

CPU samples use :func:`time.perf_counter_ns`; CUDA samples use ``torch.cuda.Event`` pairs
with a synchronisation, so asynchronous kernel launches are not mistaken for work done.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from flopwise.errors import FlopwiseError

__all__ = [
    "SPREAD_THRESHOLD",
    "MIN_TRUSTED_SAMPLES",
    "DeviceUnavailable",
    "Latency",
    "measure_latency",
    "measure_interleaved",
    "measure_pipeline",
    "PipelineTiming",
    "make_timer",
    "cuda_events",
    "timed_region",
    "progress_bar",
]

#: Spread (CV or IQR/median) above which a latency is flagged as not trustworthy.
SPREAD_THRESHOLD = 0.10
#: At most this many raw samples go into ``Latency.to_dict()`` (the summary uses all).
MAX_SAMPLES_IN_JSON = 1000
#: Fewer samples than this and the spread itself cannot be trusted.
MIN_TRUSTED_SAMPLES = 5
#: With a budget and no repeat count, at least this many samples are taken.
DEFAULT_MIN_REPEATS = 5
#: Neither repeats nor budget given: time for this long.
DEFAULT_BUDGET_S = 2.0
#: A sample shorter than this is too close to the timer's resolution and overhead; fast
#: callables are run several times per sample instead.
MIN_SAMPLE_S = 1e-3


class DeviceUnavailable(FlopwiseError):
    """Timing was requested on a device this machine does not have (e.g. CUDA without a GPU)."""


@dataclass
class Latency:
    """Repeated wall-clock samples of one callable and their summary, all in seconds.

    ``samples`` are per call (when a sample batched ``number`` calls, it is divided by
    ``number``). ``throughput`` is ``items / median_s`` when ``items`` (e.g. the batch size)
    is known. ``trustworthy`` is False when the spread is above ``threshold`` or there are
    too few samples; ``reason`` then says why.
    """

    samples: list[float]
    warmup: int = 0
    number: int = 1
    items: int | None = None
    device: str = "cpu"
    threads: int = field(default_factory=torch.get_num_threads)
    dtype: str | None = None
    label: str | None = None
    threshold: float = SPREAD_THRESHOLD

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("Latency needs at least one sample")

    # -- summary ---------------------------------------------------------------------
    @property
    def repeats(self) -> int:
        return len(self.samples)

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples)

    @property
    def mean_s(self) -> float:
        return statistics.fmean(self.samples)

    @property
    def min_s(self) -> float:
        return min(self.samples)

    @property
    def max_s(self) -> float:
        return max(self.samples)

    @property
    def std_s(self) -> float:
        return statistics.stdev(self.samples) if len(self.samples) > 1 else 0.0

    @property
    def q1_s(self) -> float:
        return _quantile(self.samples, 0.25)

    @property
    def q3_s(self) -> float:
        return _quantile(self.samples, 0.75)

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    @property
    def cv(self) -> float:
        """Coefficient of variation, std / mean."""
        mean = self.mean_s
        return self.std_s / mean if mean > 0 else 0.0

    @property
    def rel_iqr(self) -> float:
        """IQR / median."""
        med = self.median_s
        return self.iqr_s / med if med > 0 else 0.0

    @property
    def spread(self) -> float:
        """The spread the trust flag is judged on: the larger of CV and IQR/median."""
        return max(self.cv, self.rel_iqr)

    @property
    def throughput(self) -> float | None:
        """Items per second at the median (None when ``items`` is unknown)."""
        if self.items is None or self.median_s <= 0:
            return None
        return self.items / self.median_s

    @property
    def trustworthy(self) -> bool:
        return self.reason is None

    @property
    def reason(self) -> str | None:
        """Why the figure is not trustworthy, or None when it is."""
        problems = []
        if self.repeats < MIN_TRUSTED_SAMPLES:
            problems.append(f"only {self.repeats} samples (< {MIN_TRUSTED_SAMPLES})")
        if self.cv > self.threshold:
            problems.append(f"CV {self.cv:.0%} > {self.threshold:.0%}")
        if self.rel_iqr > self.threshold:
            problems.append(f"IQR/median {self.rel_iqr:.0%} > {self.threshold:.0%}")
        if not problems:
            return None
        return "noisy: " + ", ".join(problems) + " (busy machine? re-run or raise the budget)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary; times in seconds, units in key names."""
        return {
            "label": self.label,
            "device": self.device,
            "threads": self.threads,
            "dtype": self.dtype,
            "warmup": self.warmup,
            "repeats": self.repeats,
            "calls_per_sample": self.number,
            "median_s": self.median_s,
            "mean_s": self.mean_s,
            "min_s": self.min_s,
            "max_s": self.max_s,
            "q1_s": self.q1_s,
            "q3_s": self.q3_s,
            "iqr_s": self.iqr_s,
            "std_s": self.std_s,
            "cv": self.cv,
            "rel_iqr": self.rel_iqr,
            "items": self.items,
            "throughput_items_per_s": self.throughput,
            "trustworthy": self.trustworthy,
            "reason": self.reason,
            "spread_threshold": self.threshold,
            "samples_s": list(self.samples[:MAX_SAMPLES_IN_JSON]),
            "samples_truncated": len(self.samples) > MAX_SAMPLES_IN_JSON,
        }


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default), without numpy."""
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = q * (len(data) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


# -- timers -------------------------------------------------------------------------------


def _is_cuda(device: str | torch.device) -> bool:
    return str(device).startswith("cuda")


def check_device(device: str | torch.device) -> str:
    """Normalise ``device`` and fail in one line when it cannot be timed here."""
    name = str(device)
    if _is_cuda(name):
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"cannot time on {name}: torch.cuda.is_available() is False on this machine "
                "(no GPU or no CUDA driver); use --device cpu"
            )
        return name
    if name in ("cpu", "meta") or name.startswith("cpu"):
        if name == "meta":
            raise DeviceUnavailable("cannot time on the meta device: meta tensors do no work")
        return "cpu"
    raise DeviceUnavailable(f"timing on device {name!r} is not supported (use cpu or cuda)")


def cuda_events() -> Callable[[], Any]:
    """The event factory of :func:`timed_region` on CUDA: ``torch.cuda.Event`` with timing."""
    return lambda: torch.cuda.Event(enable_timing=True)


def timed_region(
    work: Callable[[], Any],
    *,
    sync: Callable[[], None],
    clock: Callable[[], float] = time.perf_counter,
    event: Callable[[], Any] | None = None,
) -> tuple[Any, float, float | None]:
    """``(work(), host seconds, device seconds)`` of one region between synchronisations.

    The region is ``sync(); t0 = clock(); start.record(); work(); end.record(); sync();
    t1 = clock()``: host seconds are ``t1 - t0`` (the wall time between the two
    synchronisations, so asynchronous launches are charged to the region that issued them);
    device seconds are ``start.elapsed_time(end) / 1e3`` of the two events ``event()``
    makes (CUDA events: :func:`cuda_events`; elapsed in ms), or None without ``event``.
    Both events are made before the clock starts; with a fake clock and a fake event class
    every figure is exact."""
    start, end = (event(), event()) if event is not None else (None, None)
    sync()
    t0 = clock()
    if start is not None:
        start.record()
    out = work()
    if end is not None:
        end.record()
    sync()
    host_s = clock() - t0
    device_s = start.elapsed_time(end) / 1e3 if start is not None else None
    return out, host_s, device_s


def make_timer(device: str | torch.device = "cpu") -> Callable[[Callable[[], Any], int], float]:
    """Return ``timer(fn, number) -> seconds per call`` for ``device``.

    On CUDA the timer is :func:`timed_region` with ``torch.cuda.Event`` pairs around the
    calls and a synchronisation, so the time is the device's; on CPU it is
    :func:`time.perf_counter_ns`.
    """
    name = check_device(device)
    if _is_cuda(name):
        dev = torch.device(name)
        event = cuda_events()

        def cuda_timer(fn: Callable[[], Any], number: int = 1) -> float:
            def calls() -> None:
                for _ in range(number):
                    fn()

            _, _, device_s = timed_region(
                calls, sync=lambda: torch.cuda.synchronize(dev), event=event
            )
            return device_s / number

        return cuda_timer

    def cpu_timer(fn: Callable[[], Any], number: int = 1) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(number):
            fn()
        return (time.perf_counter_ns() - t0) / 1e9 / number

    return cpu_timer


# -- progress -----------------------------------------------------------------------------


@contextmanager
def progress_bar(description: str, total: float | None, enabled: bool = True):
    """A transient rich progress bar on stderr; yields ``advance(amount)``.

    Disabled (a no-op) when ``enabled`` is False. ``total`` may be a sample count or a time
    budget in seconds; the caller advances it in the same unit.
    """
    if not enabled:
        yield lambda amount=1.0, **kw: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task(description, total=total)

        def advance(amount: float = 1.0, **kw: Any) -> None:
            progress.update(task, advance=amount, **kw)

        yield advance


# -- measuring ----------------------------------------------------------------------------


def _calibrate_number(seconds_per_call: float, min_sample_s: float) -> int:
    if seconds_per_call <= 0:
        return 1000
    return max(1, math.ceil(min_sample_s / seconds_per_call))


def _plan(repeats: int | None, budget_s: float | None) -> tuple[int | None, float | None]:
    if repeats is not None and repeats < 1:
        raise ValueError("repeats must be >= 1")
    if budget_s is not None and budget_s <= 0:
        raise ValueError("budget_s must be > 0")
    if repeats is None and budget_s is None:
        return None, DEFAULT_BUDGET_S
    return repeats, budget_s


def measure_latency(
    fn: Callable[[], Any],
    *,
    warmup: int = 3,
    repeats: int | None = None,
    budget_s: float | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    items: int | None = None,
    dtype: str | torch.dtype | None = None,
    label: str | None = None,
    min_repeats: int = DEFAULT_MIN_REPEATS,
    max_repeats: int = 100_000,
    min_sample_s: float = MIN_SAMPLE_S,
    threshold: float = SPREAD_THRESHOLD,
) -> Latency:
    """Time ``fn()`` after ``warmup`` calls and summarise the samples.

    Stops after ``repeats`` samples, or when ``budget_s`` seconds of sampling have passed
    (and at least ``min_repeats`` samples exist); with both, whichever comes first. With
    neither, the budget is :data:`DEFAULT_BUDGET_S`. Callables faster than
    ``min_sample_s`` run several times per sample (``Latency.number``) so the timer's
    own cost does not dominate. ``device="cuda..."`` times with CUDA events and fails with
    :class:`DeviceUnavailable` (one line) when there is no GPU.
    """
    timer = make_timer(device)
    repeats, budget_s = _plan(repeats, budget_s)
    warm_times = [timer(fn, 1) for _ in range(max(0, warmup))]
    number = 1
    if min_sample_s > 0:
        per_call = min(warm_times) if warm_times else timer(fn, 1)
        number = _calibrate_number(per_call, min_sample_s)

    samples: list[float] = []
    total = float(repeats) if repeats is not None else budget_s
    desc = f"timing {label}" if label else "timing"
    start = time.perf_counter()
    with progress_bar(desc, total, progress) as advance:
        while True:
            samples.append(timer(fn, number))
            elapsed = time.perf_counter() - start
            if repeats is not None:
                advance(1)
                if len(samples) >= repeats:
                    break
            else:
                advance(0, completed=min(elapsed, budget_s))
            if (
                budget_s is not None
                and elapsed >= budget_s
                and len(samples) >= min(min_repeats, repeats or min_repeats)
            ):
                break
            if len(samples) >= max_repeats:
                break
    return Latency(
        samples=samples,
        warmup=warmup,
        number=number,
        items=items,
        device=str(device),
        dtype=_dtype_name(dtype),
        label=label,
        threshold=threshold,
    )


def measure_interleaved(
    fns: Mapping[str, Callable[[], Any]],
    *,
    warmup: int = 3,
    repeats: int | None = None,
    budget_s: float | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    items: int | Mapping[str, int] | None = None,
    dtype: str | torch.dtype | None = None,
    min_repeats: int = DEFAULT_MIN_REPEATS,
    min_sample_s: float = MIN_SAMPLE_S,
    threshold: float = SPREAD_THRESHOLD,
) -> dict[str, Latency]:
    """Time several callables in the same run, one sample of each per round.

    Rounds go A B C, B C A, C A B, ... (the start rotates so no callable always runs right
    after a given other), so load from a neighbour hits every callable alike and ratios
    between them are far steadier than figures taken minutes apart. ``repeats`` counts
    rounds; ``budget_s`` bounds the whole run. Returns one :class:`Latency` per name.
    """
    if not fns:
        return {}
    names = list(fns)
    timer = make_timer(device)
    repeats, budget_s = _plan(repeats, budget_s)
    numbers: dict[str, int] = {}
    for name in names:
        warm = [timer(fns[name], 1) for _ in range(max(0, warmup))]
        per_call = min(warm) if warm else timer(fns[name], 1)
        numbers[name] = _calibrate_number(per_call, min_sample_s) if min_sample_s > 0 else 1

    samples: dict[str, list[float]] = {name: [] for name in names}
    total = float(repeats) if repeats is not None else budget_s
    start = time.perf_counter()
    rounds = 0
    with progress_bar(f"timing {len(names)} interleaved", total, progress) as advance:
        while True:
            k = rounds % len(names)
            for name in names[k:] + names[:k]:
                samples[name].append(timer(fns[name], numbers[name]))
            rounds += 1
            elapsed = time.perf_counter() - start
            if repeats is not None:
                advance(1)
                if rounds >= repeats:
                    break
            else:
                advance(0, completed=min(elapsed, budget_s))
            if budget_s is not None and elapsed >= budget_s and rounds >= min_repeats:
                break
    out = {}
    for name in names:
        n_items = items.get(name) if isinstance(items, Mapping) else items
        out[name] = Latency(
            samples=samples[name],
            warmup=warmup,
            number=numbers[name],
            items=n_items,
            device=str(device),
            dtype=_dtype_name(dtype),
            label=name,
            threshold=threshold,
        )
    return out


def _dtype_name(dtype: str | torch.dtype | None) -> str | None:
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    return str(dtype)


# -- pipeline stages ----------------------------------------------------------------------


@dataclass
class PipelineTiming:
    """Per-stage latencies of a pipeline run stage after stage (e.g. decode → resize →
    normalise → host-to-device copy → model), the per-run total, and each stage's share."""

    stages: dict[str, Latency]
    total: Latency

    @property
    def shares(self) -> dict[str, float]:
        """Each stage's median over the sum of stage medians."""
        medians = {k: v.median_s for k, v in self.stages.items()}
        whole = sum(medians.values())
        return {k: (m / whole if whole > 0 else 0.0) for k, m in medians.items()}

    def to_dict(self) -> dict[str, Any]:
        shares = self.shares
        return {
            "total": self.total.to_dict(),
            "stages": [
                {"name": k, "share": shares[k], **v.to_dict()} for k, v in self.stages.items()
            ],
        }


def measure_pipeline(
    stages: Sequence[tuple[str, Callable[[Any], Any]]],
    source: Callable[[], Any] | None = None,
    *,
    warmup: int = 2,
    repeats: int | None = None,
    budget_s: float | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    items: int | None = None,
    threshold: float = SPREAD_THRESHOLD,
) -> PipelineTiming:
    """Time a pipeline stage by stage ("Beyond Inference": preprocessing and host-device
    copies often cost as much as the model).

    Each run starts from ``source()`` (or None) and feeds every stage's output to the next;
    each stage is timed separately (on CUDA, with a synchronisation after each stage so
    asynchronous work is charged to the stage that launched it). ``repeats`` counts runs;
    ``budget_s`` bounds the time.
    """
    if not stages:
        raise ValueError("measure_pipeline needs at least one stage")
    name = check_device(device)
    sync = (lambda: torch.cuda.synchronize(torch.device(name))) if _is_cuda(name) else None
    repeats, budget_s = _plan(repeats, budget_s)

    def one_run() -> list[float]:
        value = source() if source is not None else None
        times = []
        for _, fn in stages:
            if sync:
                sync()
            t0 = time.perf_counter_ns()
            value = fn(value)
            if sync:
                sync()
            times.append((time.perf_counter_ns() - t0) / 1e9)
        return times

    for _ in range(max(0, warmup)):
        one_run()
    per_stage: list[list[float]] = [[] for _ in stages]
    totals: list[float] = []
    start = time.perf_counter()
    total = float(repeats) if repeats is not None else budget_s
    with progress_bar("timing pipeline", total, progress) as advance:
        while True:
            times = one_run()
            for bucket, t in zip(per_stage, times, strict=True):
                bucket.append(t)
            totals.append(sum(times))
            elapsed = time.perf_counter() - start
            if repeats is not None:
                advance(1)
                if len(totals) >= repeats:
                    break
            else:
                advance(0, completed=min(elapsed, budget_s))
                if elapsed >= budget_s and len(totals) >= DEFAULT_MIN_REPEATS:
                    break

    def lat(samples: list[float], label: str) -> Latency:
        return Latency(
            samples=samples,
            warmup=warmup,
            items=items,
            device=name,
            label=label,
            threshold=threshold,
        )

    return PipelineTiming(
        stages={s: lat(b, s) for (s, _), b in zip(stages, per_stage, strict=True)},
        total=lat(totals, "total"),
    )
