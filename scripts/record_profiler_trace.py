"""Record the torch.profiler traces that tests/test_timing_logic.py replays.

    PYTHONPATH=src python scripts/record_profiler_trace.py      # rewrites tests/data/profiler_trace.json

Each case profiles one call of a small model with flopwise's module ranges
(:func:`flopwise.measure.per_layer.trace._profiled_call`) and keeps, per profiler event, exactly
the fields :func:`flopwise.measure.per_layer.trace._attribute` reads: name, self and total CPU
and device time (µs, as torch reports them), the parent event and the autograd sequence
number. The tests rebuild the event tree from the file, so they check the attribution and
the coverage/overhead arithmetic on a real trace without timing anything. Record again only
when torch changes the shape of its traces (new op names, different nesting).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "profiler_trace.json"


class SmallCNN(nn.Module):
    """Conv, ReLU, conv, ReLU, pool, then a linear head: nested ranges, several op kinds."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


def cases() -> dict[str, tuple[nn.Module, tuple, bool]]:
    """name -> (model, inputs, train). Seeded: the models are rebuilt by the tests."""
    torch.manual_seed(0)
    return {
        "forward_cnn": (SmallCNN().eval(), (torch.randn(2, 3, 16, 16),), False),
        "training_mlp": (
            nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)),
            (torch.randn(8, 16),),
            True,
        ),
    }


def record(model: nn.Module, args: tuple, train: bool) -> dict:
    from flopwise.measure.per_layer.run import _make_call
    from flopwise.measure.per_layer.trace import _profiled_call

    call = _make_call(model, args, {}, train, train)
    call()  # warm-up, and the profiler's one-time start-up below
    _profiled_call(call, model, "cpu")
    events, wall = _profiled_call(call, model, "cpu")
    index = {id(ev): i for i, ev in enumerate(events)}
    rows = []
    for ev in events:
        parent = ev.cpu_parent
        rows.append(
            {
                "name": ev.name,
                "self_cpu_time_total": ev.self_cpu_time_total,
                "cpu_time_total": ev.cpu_time_total,
                "self_device_time_total": ev.self_device_time_total,
                "device_time_total": ev.device_time_total,
                "parent": None if parent is None else index.get(id(parent)),
                "sequence_nr": getattr(ev, "sequence_nr", -1),
            }
        )
    return {
        "train": train,
        "wall_s": wall,
        "modules": {path: type(m).__name__ for path, m in model.named_modules()},
        "events": rows,
    }


def main() -> None:
    torch.set_num_threads(1)
    doc = {
        "recorded_with": {"torch": torch.__version__},
        "units": "event times in microseconds (torch.profiler); wall_s in seconds",
        "cases": {name: record(*case) for name, case in cases().items()},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    n = sum(len(c["events"]) for c in doc["cases"].values())
    print(f"wrote {OUT} ({n} events)")


if __name__ == "__main__":
    main()
