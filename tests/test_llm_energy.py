"""``flopwise llm NAME --measure --energy``: joules per prefill, per decode token and per
generated token. The arithmetic is checked by hand against a fake NVML counter (advanced by
fake prefill/decode calls) and against the power-model estimate on a fake clock; one smoke
run of the real path on tiny-llama on the CPU checks the labels and identities."""

from __future__ import annotations

import json

import pytest

from flopwise.cli import main
from flopwise.llm.measured import generation_energy, measure_llm
from flopwise.measure.energy import EstimatedReader, NvmlReader
from test_llm_measured import (  # noqa: F401  (_isolated: the same synthetic host, private store)
    FakeClock,
    _isolated,
)


class FakeNvml:
    """Stands in for pynvml: one GPU whose energy counter (mJ) the fake work advances."""

    def __init__(self) -> None:
        self.energy_mj = 5_000_000

    def nvmlInit(self):
        pass

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, h):
        return 300_000.0


class StepClock:
    """Advances ``step`` seconds on every read: every window (two reads) lasts ``step``."""

    def __init__(self, step: float) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def test_nvml_counter_joules_per_token_by_hand() -> None:
    nv = FakeNvml()
    syncs: list[int] = []
    reader = NvmlReader(nvml=nv, clock=StepClock(0.5))
    assert reader.available() and reader.mode == "counter"

    def prefill():
        nv.energy_mj += 6_000  # 6 J per prefill of the whole batch
        return 0

    def decode(state):
        nv.energy_mj += 800  # 0.8 J per decode step of the whole batch
        return state + 1

    e = generation_energy(
        prefill, decode, decode_steps=3, reader=reader, prefills=4, generations=2,
        batch=2, prompt=10, sync=lambda: syncs.append(1),
    )  # fmt: skip
    # prefill window: 4 x 6 J = 24 J -> 6 J per prefill, 6 / (2 x 10) J per prompt token;
    # decode windows: the prefill before each one is outside it: 3 x 0.8 J = 2.4 J each
    assert e.joules_per_prefill == pytest.approx(6.0)
    assert e.prefill.joules_per_token == pytest.approx(0.3)
    assert e.joules_per_decode_step == pytest.approx(0.8)
    assert e.decode.joules_per_token == pytest.approx(0.4)
    assert len(e.decode.readings) == 2
    # one generation: 6 J + 3 x 0.8 J = 8.4 J for 2 x 4 tokens
    assert e.joules_per_generated_token == pytest.approx(8.4 / 8)
    d = e.to_dict()
    assert d["method"] == "nvml" and d["uncertainty"] == "counter" and d["measured"]
    assert d["label"] == "nvml (counter)"
    assert d["prefill_window_s"] == pytest.approx(0.5)
    assert d["prefill_power_w"] == pytest.approx(24.0 / 0.5)
    assert d["decode_power_w"] == pytest.approx(2.4 / 0.5)
    assert d["joules_per_decode_token"] == pytest.approx(0.4)
    # a sync opens and closes each window (the one after a decode window's prefill opens it)
    assert len(syncs) == 2 + 2 * 2


def test_estimate_is_power_times_window_and_labelled() -> None:
    # 40 W whatever the utilisation; each window lasts 2 s on the fake clock -> 80 J
    reader = EstimatedReader(idle_w=40, peak_w=40, utilisation=1.0, clock=StepClock(2.0))
    e = generation_energy(
        lambda: None, lambda s: s, decode_steps=5, reader=reader, prefills=10,
        generations=3, batch=1, prompt=4,
    )  # fmt: skip
    assert e.joules_per_prefill == pytest.approx(8.0)
    assert e.joules_per_decode_step == pytest.approx(16.0)
    assert e.joules_per_generated_token == pytest.approx((8.0 + 5 * 16.0) / 6)
    d = e.to_dict()
    assert d["uncertainty"] == "estimated" and not d["measured"]
    assert d["label"] == "estimated (power model) - not measured"
    assert any("not measured" in n for n in d["notes"])


def test_no_decode_step_gives_prefill_only() -> None:
    reader = EstimatedReader(idle_w=10, peak_w=10, utilisation=1.0, clock=StepClock(1.0))
    e = generation_energy(
        lambda: None, lambda s: s, decode_steps=0, reader=reader, prefills=5,
        generations=1, batch=2, prompt=3,
    )  # fmt: skip
    assert e.decode is None and e.joules_per_decode_step is None
    assert e.joules_per_generated_token == pytest.approx(2.0 / 2)  # 10 J / 5 prefills / 2 tokens


@pytest.mark.measure
def test_measure_llm_energy_with_injected_reader() -> None:
    """Real tiny-llama on the CPU; the timing clock fixes the window counts (TTFT 3 s: 3
    prefills; TPOT 1 s x 2 steps: 1 generation) and the reader's clock the joules."""
    reader = EstimatedReader(idle_w=6, peak_w=6, utilisation=1.0, clock=StepClock(1.0))
    m = measure_llm(
        "tiny-llama", batch=2, prompt=8, gen=3, device="cpu", dtype="float32",
        warmup=1, repeats=1, clock=FakeClock([1.0, 0.5, 0.25, 3.0, 0.5, 1.5]),
        energy=True, energy_reader=reader,
    )  # fmt: skip
    e = m.to_dict()["energy"]
    assert e["prefills_per_window"] == 3 and e["decode_windows"] == 1
    assert e["joules_per_prefill"] == pytest.approx(6.0 / 3)
    assert e["joules_per_prompt_token"] == pytest.approx(2.0 / 16)
    assert e["joules_per_decode_step"] == pytest.approx(6.0 / 2)
    assert e["joules_per_decode_token"] == pytest.approx(3.0 / 2)
    assert e["joules_per_generated_token"] == pytest.approx((2.0 + 2 * 3.0) / (2 * 3))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.measure
def test_llm_measure_energy_smoke_on_cpu(capsys) -> None:
    code, out, err = run(
        capsys, "llm", "tiny-llama", "--measure", "--energy", "--device", "cpu", "--prompt",
        "8", "--gen", "3", "--repeats", "1", "--warmup", "0", "--dtype", "float32", "-f", "json",
    )  # fmt: skip
    assert code == 0, err
    e = json.loads(out)["measured"]["energy"]
    assert e["method"] in ("rapl", "estimated")  # the CPU readers profile --energy uses
    assert (e["method"] == "rapl") == e["measured"]
    steps = e["decode_steps_per_window"]
    assert steps == 2
    whole = e["joules_per_prefill"] + steps * e["joules_per_decode_step"]
    assert e["joules_per_generated_token"] == pytest.approx(whole / (1 * (steps + 1)))
    code, out, err = run(
        capsys, "llm", "tiny-llama", "--measure", "--energy", "--prompt", "8", "--gen", "2",
        "--repeats", "1", "--warmup", "0", "--dtype", "float32", "--no-ops",
    )  # fmt: skip
    assert code == 0, err
    assert "Energy: " in out and "per generated token" in out and "per decode token" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--energy"], "only used with --measure"),
        (["--measure", "--train", "--energy"], "--energy measures generation"),
    ],
)
def test_energy_refusals_are_one_line(capsys, argv, message) -> None:
    code, out, err = run(capsys, "llm", "tiny-llama", *argv)
    assert code == 2 and err.strip().count("\n") == 0 and message in err


def test_si_fine_prefixes_below_one() -> None:
    from flopwise.units import si_fine

    assert si_fine(0.0349, "J") == "34.9 mJ"
    assert si_fine(4.2e-7, "J") == "420 nJ"
    assert si_fine(2.5e-5, "J") == "25 µJ"
    assert si_fine(5.15, "W") == "5.15 W" and si_fine(0, "J") == "0 J"
