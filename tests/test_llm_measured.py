"""``flopwise llm NAME --measure``: the generation timing loop against a fake clock (exact
medians, spreads, TTFT/TPOT, gaps), the host/device split, and one smoke run of the real
path on tiny-llama on the CPU (structure and identities only, never timing values)."""

from __future__ import annotations

import json
import statistics
from types import SimpleNamespace

import pytest
import torch
from torch.autograd import DeviceType

from flopwise.cli import main
from flopwise.llm.measured import compare_to_roofline, kernel_seconds, measure_llm, time_generation
from flopwise.measure.hardware import HardwareProfile, host_profile_path

SYNTH_HOST = HardwareProfile(
    name="host",
    kind="cpu",
    peak_flops={"float32": 100e9, "bfloat16": 100e9},
    memory_bandwidth=20e9,
    launch_overhead_s=3e-6,
    source="synthetic test host",
    details={"measured": True, "device": "cpu"},
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    SYNTH_HOST.save(host_profile_path())  # nothing measures the machine's ceilings


class FakeClock:
    """Each timed region reads the clock twice (start, end): the n-th region lasts
    ``durations[n]`` seconds; between regions the clock jumps by 1000 s so a region that
    read the clock in the wrong order would show it."""

    def __init__(self, durations: list[float]) -> None:
        self.durations = list(durations)
        self.t = 0.0
        self.reads = 0

    def __call__(self) -> float:
        if self.reads % 2 == 0:
            self.t += 1000.0
            start = self.t
        else:
            start = self.t + self.durations.pop(0)
        self.reads += 1
        return start


# warm-up: prefill 100, steps 100, 100 (dropped); then three timed repeats
DURATIONS = [100, 100, 100, 10, 2, 4, 30, 6, 6, 20, 1, 2]
# the same regions as seen by the device's events (shorter: the host also waits on Python)
DEVICE_DURATIONS = [50, 50, 50, 8, 1, 3, 24, 5, 5, 16, 0.5, 1.5]


class FakeEvents:
    """A fake ``torch.cuda.Event`` class (the event factory): events are made in pairs
    (start, end); the n-th start records at 10000·n on a scripted device clock and its end
    ``durations[n]`` later; ``elapsed_time`` is in milliseconds as CUDA's is. ``log``
    receives "record" so the order against clock reads and syncs can be checked."""

    def __init__(self, durations: list[float], log: list[str] | None = None) -> None:
        self.durations = list(durations)
        self.made = 0
        self.log = log

    def __call__(self) -> FakeEvents._Event:
        self.made += 1
        return FakeEvents._Event(self, is_start=self.made % 2 == 1)

    class _Event:
        def __init__(self, owner: FakeEvents, is_start: bool) -> None:
            self.owner, self.is_start, self.t = owner, is_start, None

        def record(self) -> None:
            o = self.owner
            if o.log is not None:
                o.log.append("record")
            self.t = 10000.0 * o.made if self.is_start else o.last + o.durations.pop(0)
            o.last = self.t

        def elapsed_time(self, end: FakeEvents._Event) -> float:
            assert self.is_start and not end.is_start and end.t is not None
            return (end.t - self.t) * 1000.0


def test_fake_clock_gives_exact_ttft_and_tpot() -> None:
    clock = FakeClock(DURATIONS)
    syncs: list[int] = []
    seen: list[int] = []

    def decode(state: int) -> int:
        seen.append(state)
        return state + 1

    t = time_generation(
        lambda: 0,
        decode,
        decode_steps=2,
        warmup=1,
        repeats=3,
        clock=clock,
        sync=lambda: syncs.append(1),
    )
    assert clock.durations == [] and clock.reads == 24  # 12 regions, 2 reads each
    assert len(syncs) == 24  # a synchronisation before and after every region
    assert seen == [0, 1] * 4  # each decode step continues from the previous state
    assert t.prefill.samples == [10, 30, 20]
    assert t.prefill.median_s == 20
    assert (t.prefill.min_s, t.prefill.max_s) == (10, 30)
    assert t.prefill.iqr_s == pytest.approx(10.0)  # q1 15, q3 25 (linear interpolation)
    assert t.prefill.rel_iqr == pytest.approx(0.5)
    assert t.tpot is not None
    assert t.tpot.samples == [3, 6, 1.5]  # per repeat: (2+4)/2, (6+6)/2, (1+2)/2
    assert t.tpot.median_s == 3
    assert t.tpot.iqr_s == pytest.approx(4.5 - 2.25)
    # CV = sample std / mean: mean 3.5, squared deviations 0.25 + 6.25 + 4 over n-1 = 2
    assert t.tpot.cv == pytest.approx((10.5 / 2) ** 0.5 / 3.5)
    assert t.tpot.spread == pytest.approx(max(0.75, (10.5 / 2) ** 0.5 / 3.5))
    assert t.steps == [2, 4, 6, 6, 1, 2]
    assert t.decode_steps == 2 and t.prefill.warmup == 1


def test_no_decode_step_means_no_tpot() -> None:
    t = time_generation(lambda: 0, lambda s: s, decode_steps=0, repeats=2, warmup=0,
                        clock=FakeClock([5, 7]))  # fmt: skip
    assert t.prefill.samples == [5, 7] and t.tpot is None and t.steps == []
    with pytest.raises(ValueError):
        time_generation(lambda: 0, lambda s: s, decode_steps=1, repeats=0)


def test_gap_and_host_device_split() -> None:
    t = time_generation(lambda: 0, lambda s: s, decode_steps=2, warmup=1, repeats=3,
                        clock=FakeClock(DURATIONS))  # fmt: skip
    # CPU: no device time, all host
    ttft, tpot = compare_to_roofline(t, 4.0, 1.5)
    assert (ttft.measured_s, ttft.floor_s, ttft.gap) == (20, 4.0, 5.0)
    assert (tpot.measured_s, tpot.gap) == (3, 2.0)
    assert ttft.host_s == 20 and ttft.device_s is None and ttft.bound.startswith("host")
    assert ttft.to_dict()["floor_beaten"] is False
    # CUDA: kernels busy 8 s of the 20 s prefill (40%: host-bound), 2.25 s of the 3 s step
    ttft, tpot = compare_to_roofline(t, 4.0, 1.5, (8.0, 2.25))
    assert ttft.host_s == 12 and ttft.bound == "host/launch-bound"
    assert tpot.host_s == pytest.approx(0.75) and tpot.bound == "device-bound"
    # a floor above the measurement is reported as beaten (a profile error)
    (ttft,) = compare_to_roofline(
        time_generation(
            lambda: 0, lambda s: s, decode_steps=0, repeats=1, warmup=0, clock=FakeClock([2.0])
        ),  # fmt: skip
        4.0,
        None,
    )
    assert ttft.gap == 0.5 and ttft.to_dict()["floor_beaten"] is True
    assert compare_to_roofline(t, None, None)[0].gap is None


def test_kernel_seconds_sums_cuda_kernels_only() -> None:
    events = [
        SimpleNamespace(device_type=DeviceType.CUDA, device_time=1500.0),
        SimpleNamespace(device_type=DeviceType.CPU, device_time=0.0, cpu_time=9e6),
        SimpleNamespace(device_type=DeviceType.CUDA, device_time=250.0),
    ]
    assert kernel_seconds(events) == pytest.approx(1750e-6)
    assert kernel_seconds([]) == 0.0


@pytest.mark.measure
def test_measure_llm_real_path_with_a_fake_clock() -> None:
    """The real model runs on the CPU; the fake clock makes every figure exact."""
    from flopwise.llm import estimate

    est = estimate("tiny-llama", batch=2, prompt=8, gen=3, dtype="float32", hardware="host")
    clock = FakeClock([1.0, 0.5, 0.25, 3.0, 0.5, 1.5])  # warm-up 1, repeat 1
    m = measure_llm(
        "tiny-llama", batch=2, prompt=8, gen=3, device="cpu", dtype="float32",
        roofline=est.roofline, warmup=1, repeats=1, clock=clock,
    )  # fmt: skip
    assert clock.durations == []  # one prefill + 2 decode steps per generation
    ttft, tpot = m.phases
    assert ttft.measured_s == 3.0 and tpot.measured_s == 1.0
    assert ttft.gap == pytest.approx(3.0 / est.roofline.ttft)
    assert tpot.gap == pytest.approx(1.0 / est.roofline.tpot)
    assert m.device == {"name": "cpu", "model": "cpu", "peak_memory_bytes": None}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.measure
def test_llm_measure_smoke_on_cpu(capsys) -> None:
    code, out, err = run(
        capsys, "llm", "tiny-llama", "--measure", "--device", "cpu", "--batch", "1",
        "--prompt", "8", "--gen", "3", "--repeats", "2", "--warmup", "1", "--dtype", "float32",
        "-f", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    m = doc["measured"]
    assert m["device"]["name"] == "cpu" and m["roofline_hardware"] == "host"
    assert [p["name"] for p in m["phases"]] == ["TTFT", "TPOT"]
    assert m["timing"]["ttft"]["repeats"] == 2 and m["timing"]["decode_steps"] == 2
    ttft, tpot = m["phases"]
    assert ttft["roofline_floor_s"] == doc["roofline"]["ttft_s"]
    assert tpot["roofline_floor_s"] == doc["roofline"]["tpot_s"]
    assert ttft["gap"] == pytest.approx(ttft["measured_s"] / ttft["roofline_floor_s"])
    assert ttft["measured_s"] == statistics.median(m["timing"]["ttft"]["samples_s"])
    assert ttft["host_s"] == ttft["measured_s"] and ttft["device_s"] is None
    code, out, err = run(
        capsys, "llm", "tiny-llama", "--measure", "--prompt", "8", "--gen", "2",
        "--repeats", "1", "--warmup", "0", "--dtype", "float32", "--no-ops",
    )  # fmt: skip
    assert code == 0, err
    assert "Measured on cpu" in out and "TTFT" in out and "TPOT" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--measure", "--device", "cuda"], "is_available"),
        (["--measure", "--device", "meta"], "needs real tensors"),
        (["--device", "cpu"], "only used with --measure"),
        (["--threads", "2"], "only used with --measure"),
        (["--measure", "--rerank", "pointwise"], "--rerank is not measured"),
        (["--measure", "--kv-dtype", "int8"], "--kv-dtype is not measured"),
    ],
)
def test_llm_measure_refusals_are_one_line(capsys, monkeypatch, argv, message) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = run(capsys, "llm", "tiny-llama", *argv)
    assert code == 2 and err.strip().count("\n") == 0 and message in err


# -- training: MFU by PaLM's definition beside flopwise's count ------------------------------


def test_palm_flops_against_the_built_model() -> None:
    """(6N + 12·L·H·Q·T)·tokens with N counted on the torch model (non-embedding parameters,
    the head's matmul included) and L, H, Q read off the tiny-llama config by hand."""
    from flopwise.llm import training_cost
    from flopwise.sources.hf_configs import load_config_dict
    from flopwise.sources.models import build_hf_model

    config = load_config_dict("tiny-llama")
    model = build_hf_model(config, device="meta", causal_lm=True)
    total = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    head = model.get_output_embeddings().weight
    tied = head is model.get_input_embeddings().weight
    n = total - embedding + (head.numel() if tied else 0)
    batch, seq = 2, 16
    layers, heads, head_dim = 2, 4, 16  # tiny-llama: hidden 64 over 4 heads, 2 layers
    tc = training_cost("tiny-llama", batch, seq)
    assert tc.palm == (6 * n + 12 * layers * heads * head_dim * seq) * batch * seq
    assert tc.six_n == 6 * n * batch * seq


def test_training_mfu_by_hand() -> None:
    from flopwise.llm.measured import training_mfu

    m = training_mfu(2.0, 1e9, palm_flops=10**9, counted_flops=3 * 10**9 // 2)
    assert (m["mfu_palm"], m["mfu_counted"]) == (0.5, 0.75)
    with pytest.raises(ValueError):
        training_mfu(0.0, 1e9, 1, 1)


def test_time_steps_with_a_fake_clock() -> None:
    from flopwise.llm.measured import time_steps

    syncs: list[int] = []
    lat, dev = time_steps(lambda: None, warmup=1, repeats=3, clock=FakeClock([9, 1, 3, 2]),
                          sync=lambda: syncs.append(1))  # fmt: skip
    assert lat.samples == [1, 3, 2] and lat.median_s == 2 and len(syncs) == 8
    assert dev is None  # no event timer: the device time is the wall time
    events = FakeEvents([7, 0.5, 2.5, 1.5])
    lat, dev = time_steps(lambda: None, warmup=1, repeats=3, clock=FakeClock([9, 1, 3, 2]),
                          event=events)  # fmt: skip
    assert lat.samples == [1, 3, 2] and dev.samples == [0.5, 2.5, 1.5] and dev.median_s == 1.5
    assert events.durations == [] and dev.label == "step device"


@pytest.mark.measure
def test_measure_training_real_path_with_a_fake_clock() -> None:
    from flopwise.llm import training_cost
    from flopwise.llm.measured import measure_training

    tc = training_cost("tiny-llama", 2, 8)
    doc = measure_training(
        "tiny-llama", batch=2, seq=8, training=tc, peak_flops=1e9, device="cpu",
        dtype="float32", warmup=1, repeats=1, clock=FakeClock([5.0, 2.0]),
    )  # fmt: skip
    assert doc["step"]["median_s"] == 2.0 and doc["device"]["name"] == "cpu"
    assert doc["mfu"]["mfu_palm"] == pytest.approx(tc.palm / 2e9)
    assert doc["mfu"]["mfu_counted"] == pytest.approx((tc.forward + tc.backward) / 2e9)


@pytest.mark.measure
def test_llm_train_measure_smoke_on_cpu(capsys) -> None:
    code, out, err = run(
        capsys, "llm", "tiny-llama", "--train", "--measure", "--device", "cpu", "--batch", "1",
        "--prompt", "8", "--repeats", "1", "--warmup", "0", "--dtype", "float32", "-f", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    m = doc["measured_training"]
    assert m["mfu"]["palm_flops"] == doc["training"]["palm"]
    assert m["mfu"]["mfu_palm"] == pytest.approx(
        doc["training"]["palm"] / (m["step"]["median_s"] * m["mfu"]["peak_flops"])
    )
    # the roofline and the MFU use the synthetic host profile's float32 peak
    assert m["mfu"]["peak_flops"] == doc["roofline"]["peak_flops"] == 100e9
    code, out, err = run(capsys, "llm", "tiny-llama", "--train", "--measure", "--recompute")
    assert code == 2 and "--recompute is not measured" in err


def test_device_time_of_phases_with_a_fake_profiler(monkeypatch) -> None:
    """The CUDA branch's split: one profiled prefill, one profiled run of the decode steps
    (per step: their kernel time / steps), with torch.profiler replaced by a fake."""
    import torch.profiler

    from flopwise.llm import measured

    per_context = iter([[2000.0, 500.0], [1000.0, 1000.0, 1000.0]])  # µs of CUDA kernels

    class FakeProfile:
        def __init__(self, activities):
            self.kernels = next(per_context)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def events(self):
            cpu = SimpleNamespace(device_type=DeviceType.CPU, device_time=0.0)
            return [cpu] + [
                SimpleNamespace(device_type=DeviceType.CUDA, device_time=us) for us in self.kernels
            ]

    monkeypatch.setattr(torch.profiler, "profile", FakeProfile)
    calls: list[str] = []

    def decode(state):
        calls.append("decode")
        return state

    pre, step = measured._profile_device_time(
        lambda: calls.append("prefill"), decode, 3, lambda: calls.append("sync")
    )
    assert calls == ["prefill", "sync", "decode", "decode", "decode", "sync"]
    assert pre == pytest.approx(2500e-6) and step == pytest.approx(1000e-6)


# -- device time by CUDA events (a fake event class; exact figures) ----------------------


def test_fake_cuda_events_give_exact_device_ttft_and_tpot() -> None:
    log: list[str] = []
    events = FakeEvents(DEVICE_DURATIONS, log)
    clock = FakeClock(DURATIONS)

    def logged_clock() -> float:
        log.append("clock")
        return clock()

    def work(state: int) -> int:
        log.append("work")
        return state + 1

    t = time_generation(
        lambda: work(0), work, decode_steps=2, warmup=1, repeats=3, clock=logged_clock,
        sync=lambda: log.append("sync"), event=events,
    )  # fmt: skip
    # one region: sync, clock, start.record, work, end.record, sync, clock
    assert log[:7] == ["sync", "clock", "record", "work", "record", "sync", "clock"]
    assert events.durations == [] and events.made == 24  # 12 regions, one pair each
    # host times are the clock's, exactly as without events
    assert t.prefill.samples == [10, 30, 20] and t.tpot.samples == [3, 6, 1.5]
    # device times are the events': TTFT 8, 24, 16; TPOT (1+3)/2, (5+5)/2, (0.5+1.5)/2
    assert t.prefill_device.samples == [8, 24, 16] and t.prefill_device.median_s == 16
    assert t.tpot_device.samples == [2, 5, 1] and t.tpot_device.median_s == 2
    assert t.steps_device == [1, 3, 5, 5, 0.5, 1.5]
    assert t.prefill_device.warmup == 1 and t.timer == "cuda events"
    d = t.to_dict()
    assert d["device_timer"] == "cuda events"
    assert d["ttft_device"]["samples_s"] == [8, 24, 16] and d["tpot_device"]["median_s"] == 2
    assert (d["step_device_min_s"], d["step_device_max_s"]) == (0.5, 5)
    # per phase: host = wall median, device = events' median; kernels busy 8 of the 20 s
    ttft, tpot = compare_to_roofline(t, 4.0, 1.5, (8.0, 1.5))
    assert (ttft.measured_s, ttft.device_time_s, ttft.host_s) == (20, 16, 12)
    assert (tpot.measured_s, tpot.device_time_s) == (3, 2)
    doc = ttft.to_dict()
    assert (doc["host_time_s"], doc["device_time_s"]) == (20, 16)
    assert doc["device_time_method"] == "cuda events"
    assert doc["device_time_spread"] == t.prefill_device.spread  # rel IQR 8/16 = 0.5
    assert doc["device_time_spread"] == max(0.5, t.prefill_device.cv)


def test_without_events_the_device_time_is_the_wall_time() -> None:
    t = time_generation(lambda: 0, lambda s: s, decode_steps=2, warmup=1, repeats=3,
                        clock=FakeClock(DURATIONS))  # fmt: skip
    assert t.prefill_device is None and t.tpot_device is None and t.steps_device == []
    assert t.to_dict()["ttft_device"] is None and "wall time" in t.to_dict()["device_timer"]
    ttft, tpot = compare_to_roofline(t, 4.0, 1.5)
    assert (ttft.device_time_s, tpot.device_time_s) == (20, 3)
    assert ttft.to_dict()["device_time_method"].startswith("wall clock")


def test_make_timer_on_cuda_is_the_shared_event_region(monkeypatch) -> None:
    """flopwise.measure.timing's CUDA timer and the LLM timing share one region: with a
    fake event class and a fake synchronize its seconds per call are the events'."""
    from flopwise.measure import timing

    log: list[str] = []
    events = FakeEvents([0.25], log)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "Event", lambda enable_timing: events())
    monkeypatch.setattr(torch.cuda, "synchronize", lambda dev=None: log.append("sync"))
    timer = timing.make_timer("cuda:0")
    assert timer(lambda: log.append("work"), 5) == pytest.approx(0.05)  # 0.25 s / 5 calls
    assert log == ["sync", "record", *["work"] * 5, "record", "sync"]


@pytest.mark.measure
def test_measure_llm_real_path_with_fake_events() -> None:
    """The real model runs on the CPU; the injected fake clock and event class make every
    host and device figure exact, and the text report shows the device time."""
    from flopwise.llm import estimate
    from flopwise.report.llm import _captured, _measured

    est = estimate("tiny-llama", batch=1, prompt=8, gen=3, dtype="float32", hardware="host")
    m = measure_llm(
        "tiny-llama", batch=1, prompt=8, gen=3, device="cpu", dtype="float32",
        roofline=est.roofline, warmup=1, repeats=1,
        clock=FakeClock([1.0, 0.5, 0.25, 3.0, 0.5, 1.5]),
        event=FakeEvents([0.5, 0.25, 0.125, 2.0, 0.25, 0.75]),
    )  # fmt: skip
    ttft, tpot = m.phases
    assert (ttft.measured_s, ttft.device_time_s) == (3.0, 2.0)
    assert (tpot.measured_s, tpot.device_time_s) == (1.0, 0.5)
    doc = m.to_dict()
    assert doc["timing"]["device_timer"] == "cuda events"
    assert doc["phases"][0]["device_time_s"] == 2.0 and doc["phases"][0]["host_time_s"] == 3.0
    text = _captured(lambda console: _measured(console, doc))
    assert "device time" in text and "cuda events" in text
    assert "2.00 s" in text or "2 s" in text


@pytest.mark.measure
def test_measure_training_step_device_time_with_fake_events() -> None:
    from flopwise.llm import training_cost
    from flopwise.llm.measured import measure_training

    tc = training_cost("tiny-llama", 1, 8)
    doc = measure_training(
        "tiny-llama", batch=1, seq=8, training=tc, peak_flops=1e9, device="cpu",
        dtype="float32", warmup=1, repeats=1, clock=FakeClock([5.0, 2.0]),
        event=FakeEvents([4.0, 1.5]),
    )  # fmt: skip
    assert doc["step"]["median_s"] == 2.0 and doc["step_device"]["median_s"] == 1.5
    assert doc["device_timer"] == "cuda events"
    assert doc["mfu"]["mfu_palm"] == pytest.approx(tc.palm / 2e9)  # MFU on the host wall
