"""``torch.export`` programs (``model.pt2``): counted by running the saved program's module,
with the same count as the eager model it was exported from."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from flopwise.errors import BadModelFile, ShapeMismatch
from flopwise.profile import profile
from flopwise.sources import load_model, parse_model_spec


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def _export(tmp_path, model: nn.Module, *args: torch.Tensor) -> str:
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(model.eval(), args), str(path))
    return str(path)


def _totals(prof) -> tuple[int, ...]:
    t = prof.totals
    return (t.flops, t.macs, t.params, t.activations, t.bytes_read, t.bytes_written)


def test_pt2_counts_as_the_eager_model(tmp_path):
    torch.manual_seed(0)
    model = SmallCNN()
    x = torch.randn(2, 3, 16, 16)
    path = _export(tmp_path, model, x)
    assert parse_model_spec(path) == ("export", path, None)
    eager = profile(model.eval(), x)
    for device in ("cpu", "meta"):
        loaded = load_model(path, device=device)
        assert loaded.source == "export"
        assert [str(s) for s in loaded.default_inputs] == ["2x3x16x16:float32"]
        args, kwargs = loaded.inputs()
        exported = profile(loaded.model, *args, kwargs=kwargs)
        assert _totals(exported) == _totals(eager)
        # Costs land on the exported submodules; the conv's MACs by hand:
        # 2 images x 16x16 outputs x 8 channels x 3x3x3 kernel.
        assert exported.module("program.conv").macs == 2 * 16 * 16 * 8 * 27
        assert eager.module("conv").macs == 2 * 16 * 16 * 8 * 27


def test_pt2_through_the_profile_pipeline(tmp_path):
    from flopwise.pipeline import run_profile

    model = SmallCNN()
    x = torch.randn(1, 3, 8, 8)
    path = _export(tmp_path, model, x)
    prof = run_profile(path, [], device="meta")
    assert _totals(prof) == _totals(profile(model.eval(), x))
    assert prof.source.resolved == f"torch.export program {path}"
    # Inputs of another shape than the example fail the program's own shape guard.
    with pytest.raises(ShapeMismatch, match=r"'program' rejected .*shape\[2\] to be equal to 8"):
        run_profile(path, ["1x3x9x9"], device="meta")


def test_pt2_errors(tmp_path):
    with pytest.raises(BadModelFile, match="not found"):
        load_model(str(tmp_path / "missing.pt2"))
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a zip")
    with pytest.raises(BadModelFile, match="cannot load .*torch.export"):
        load_model(str(bad))


@pytest.mark.slow
def test_resnet50_pt2_macs(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet50(weights=None)
    path = _export(tmp_path, model, torch.randn(1, 3, 224, 224))
    loaded = load_model(path, device="meta")
    args, kwargs = loaded.inputs()
    # The figure resnet50 is known by (4.09 GMACs at 224x224), the same as flopwise's
    # eager count of torchvision's resnet50.
    assert profile(loaded.model, *args, kwargs=kwargs).totals.macs == 4_089_184_256
