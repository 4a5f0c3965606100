"""Per-module / per-op profiler times on real runs: module paths, attribution identities
within one event tree, cleanup after errors. Nothing here depends on how busy the machine
is: coverage and overhead arithmetic is tested on a fake clock and a recorded trace
(test_timing_logic.py); the acceptance figures (module times covering the end-to-end time
of resnet50 and bert) are measured by benchmarks/timing_acceptance.py."""

from __future__ import annotations

import contextlib
import json
import math

import pytest
import torch
import torch.nn.modules.module as module_mod
from torch import nn

from flopwise.measure.per_layer import (
    MODULE_RANGE_PREFIX,
    measure_model,
    module_ranges,
    op_base_name,
    profile_layers,
)


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


def _global_hook_counts() -> tuple[int, ...]:
    return (
        len(module_mod._global_forward_pre_hooks),
        len(module_mod._global_forward_hooks),
        len(module_mod._global_forward_hooks_always_called),
    )


def test_op_base_name():
    assert op_base_name("aten::addmm") == "aten.addmm"
    assert op_base_name("aten.add.Tensor") == "aten.add"
    assert op_base_name("aten.mm.default") == "aten.mm"


@pytest.fixture
def one_thread():
    """Two shared cores: multi-threaded kernels wait for their slowest thread, which a
    neighbour's load can hold off for a whole time slice. Run single-threaded."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.measure
def test_per_layer_paths_and_attribution_are_consistent(one_thread):
    torch.manual_seed(0)
    model = SmallCNN().eval()
    x = torch.randn(2, 3, 48, 48)
    # One profiled call: medians are that call's figures, so the identities below are
    # exact arithmetic on one event tree (medians of several calls need not add up).
    layers = profile_layers(model, (x,), iterations=1, warmup=1)
    paths = dict(model.named_modules())
    # Every module that ran is reported under its named_modules path, the root as "".
    assert set(layers.modules) == set(paths)
    assert layers.modules[""].type == "SmallCNN"
    assert layers.modules["features.0"].type == "Conv2d"
    assert all(m.calls == 1 for m in layers.modules.values())
    # Inclusive >= self, parent inclusive >= child inclusive (medians of per-call sums).
    for m in layers.modules.values():
        assert m.total_s >= m.self_s - 1e-12
        assert m.wall_s > 0
    root = layers.modules[""]
    assert root.total_s >= layers.modules["features"].total_s
    # Self times partition the attributed time; nothing ran outside the root range.
    assert layers.outside_s == 0
    assert sum(m.self_s for m in layers.modules.values()) == pytest.approx(
        layers.attributed_s, rel=1e-6
    )
    assert root.total_s == pytest.approx(layers.attributed_s, rel=1e-6)
    # The conv ops are attributed to the conv modules, the linear's addmm to the head.
    by_module = {(o.module_path, o.op) for o in layers.ops}
    assert ("features.0", "aten.conv2d") in by_module
    assert ("head", "aten.addmm") in by_module
    addmm = next(o for o in layers.ops if o.module_path == "head" and o.op == "aten.addmm")
    assert addmm.parents == ("aten.linear",)
    # Top-level op totals add up to each module's self time.
    for path, m in layers.modules.items():
        top = sum(o.total_s for o in layers.ops if o.module_path == path and not o.parents)
        assert top == pytest.approx(m.self_s, rel=1e-3, abs=1e-6)
    # Several calls: medians per module, same paths.
    again = profile_layers(model, (x,), iterations=3, warmup=0)
    assert again.iterations == 3 and set(again.modules) == set(paths)
    assert again.instrumented is not None and again.instrumented.repeats == 3


@pytest.mark.measure
def test_measure_model_coverage_overhead_and_json():
    torch.manual_seed(0)
    threads_before = torch.get_num_threads()
    model = SmallCNN().eval()
    x = torch.randn(4, 3, 64, 64)
    run = measure_model(model, (x,), repeats=8, profile_iterations=4, progress=False, threads=1)
    assert run.threads == 1 and run.latency.threads == 1
    assert run.latency.repeats >= 8
    assert run.latency.items == 4 and run.dtype == "float32" and run.device == "cpu"
    assert run.layers is not None and run.layers.iterations == 4
    assert len(run.layers.per_iteration) == 4
    # Coverage and overhead exist and are finite; their values depend on how busy the
    # machine is, so their arithmetic is tested on a fake clock (test_timing_logic.py) and
    # their real values in benchmarks/timing_acceptance.py.
    assert math.isfinite(run.coverage) and math.isfinite(run.overhead)
    assert torch.get_num_threads() == threads_before  # restored
    doc = json.loads(json.dumps(run.to_dict()))
    assert doc["schema"] == "flopwise.measured/1"
    assert doc["latency"]["median_s"] > 0
    assert {m["path"] for m in doc["layers"]["modules"]} == {p for p, _ in model.named_modules()}
    assert doc["coverage"] == pytest.approx(run.coverage)
    assert isinstance(doc["warnings"], list)


@pytest.mark.measure
def test_measure_model_without_layers():
    model = nn.Linear(32, 32)
    run = measure_model(model, (torch.randn(8, 32),), repeats=5, per_layer=False, progress=False)
    assert run.layers is None and run.coverage is None and run.overhead is None
    assert run.to_dict()["per_layer"] is False


class Boom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ok = nn.Linear(4, 4)
        self.inner = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

    def forward(self, x):
        x = self.inner(self.ok(x))
        raise RuntimeError("boom inside the model")


def test_hooks_removed_and_ranges_closed_after_exception():
    before = _global_hook_counts()
    model = Boom()
    with pytest.raises(RuntimeError, match="boom"):
        profile_layers(model, (torch.randn(2, 4),), iterations=1, warmup=0)
    assert _global_hook_counts() == before
    with pytest.raises(RuntimeError, match="boom"), module_ranges(model):
        model(torch.randn(2, 4))
    assert _global_hook_counts() == before
    # A later, healthy profile still works and sees balanced ranges.
    ok = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    layers = profile_layers(ok, (torch.randn(2, 4),), iterations=1, warmup=0)
    assert set(layers.modules) == {"", "0", "1"}
    assert _global_hook_counts() == before


def test_swallowed_exception_in_child_keeps_ranges_balanced():
    class Flaky(nn.Module):
        def forward(self, x):
            raise ValueError("flaky")

    class Parent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.flaky = Flaky()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            with contextlib.suppress(ValueError):
                self.flaky(x)
            return self.lin(x)

    before = _global_hook_counts()
    layers = profile_layers(Parent(), (torch.randn(2, 4),), iterations=2, warmup=0)
    assert layers.modules["lin"].calls == 1
    assert ("lin", "aten.addmm") in {(o.module_path, o.op) for o in layers.ops}
    assert _global_hook_counts() == before


def test_range_prefix_is_stable():
    # The lead's joins and external trace viewers rely on this name.
    assert MODULE_RANGE_PREFIX == "flopwise.module::"


def test_cuda_measure_fails_cleanly_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from flopwise.measure.timing import DeviceUnavailable

    with pytest.raises(DeviceUnavailable):
        measure_model(nn.Linear(2, 2), (torch.randn(1, 2),), device="cuda", progress=False)


@pytest.mark.measure
def test_training_step_attributes_backward_ops_to_their_modules():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 8))
    x = torch.randn(32, 64)
    run = measure_model(
        model, (x,), repeats=4, profile_iterations=2, train=True, progress=False, threads=1
    )
    assert run.train and run.to_dict()["phase"] == "training"
    mods = run.modules
    # weight and input gradients of each Linear run as backward ops of that Linear
    assert mods["0"].backward_self_s > 0 and mods["2"].backward_self_s > 0
    assert mods[""].backward_total_s >= mods["0"].backward_total_s + mods["2"].backward_total_s
    bwd = {(o.module_path, o.op) for o in run.ops if o.phase == "backward"}
    assert ("2", "aten.mm") in bwd
    fwd = {(o.module_path, o.op) for o in run.ops if o.phase == "forward"}
    assert ("2", "aten.addmm") in fwd
    assert all(p.grad is not None for p in model.parameters())
