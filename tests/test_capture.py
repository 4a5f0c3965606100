"""The capture engine: module paths, inputs of every form, cleanup, model left unchanged."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

import flopwise
from flopwise.errors import ShapeMismatch


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 8)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(8, 2)

    def forward(self, x, scale=None):
        y = self.block(x)
        if scale is not None:
            y = y * scale["s"]
        return self.head(y) @ torch.ones(2, 3)  # functional @ in the root


def test_module_paths_and_tree_sums():
    p = flopwise.profile(Net(), torch.randn(4, 8))
    fc1 = p.module("block.fc1")
    assert fc1.macs == 4 * 8 * 16 and fc1.type == "Linear" and fc1.depth == 2
    block = p.module("block")
    assert block.macs == fc1.macs + p.module("block.fc2").macs
    root = p.module("")
    assert root.macs == p.totals.macs == 4 * 8 * 16 + 4 * 16 * 8 + 4 * 8 * 2 + 4 * 2 * 3
    mm_in_root = [r for r in p.ops if r.op == "aten.mm" and r.module_path == ""]
    assert mm_in_root and mm_in_root[0].macs == 24  # the functional @ is seen
    assert [m.path for m in p.modules][:3] == ["", "block", "block.fc1"]


def test_keyword_and_dict_inputs():
    p = flopwise.profile(Net(), torch.randn(4, 8), scale={"s": torch.tensor(2.0)})
    assert any(r.op.startswith("aten.mul") for r in p.ops)
    assert p.inputs[0]["shape"] == [4, 8] and p.inputs[1]["name"] == "scale.s"


def test_shared_module_params_counted_once():
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    p = flopwise.profile(model, torch.randn(2, 4))
    assert p.totals.params == 20
    assert p.totals.macs == 2 * 2 * 16  # but it runs twice


def test_tied_weights_counted_once():
    emb = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = nn.Sequential(emb, head)
    p = flopwise.profile(model, torch.tensor([[1, 2, 3]]))
    assert p.totals.params == 40


@pytest.mark.parametrize("context", ["no_grad", "inference_mode", "none"])
def test_grad_contexts(context):
    model = Net()
    ctx = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode}.get(context)
    if ctx:
        with ctx():
            p = flopwise.profile(model, torch.randn(4, 8))
    else:
        p = flopwise.profile(model, torch.randn(4, 8))
    assert p.totals.macs == 4 * 8 * 16 + 4 * 16 * 8 + 4 * 8 * 2 + 4 * 2 * 3


class Exploding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x)


def test_shape_mismatch_names_the_module_and_leaves_nothing_behind():
    model = Exploding()
    model.train()
    model.fc.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hooks_before = (
        dict(torch.nn.modules.module._global_forward_hooks),
        dict(torch.nn.modules.module._global_forward_pre_hooks),
    )
    with pytest.raises(ShapeMismatch, match="module 'fc'"):
        flopwise.profile(model, torch.randn(2, 5))
    assert _get_current_dispatch_mode_stack() == []
    assert (
        dict(torch.nn.modules.module._global_forward_hooks),
        dict(torch.nn.modules.module._global_forward_pre_hooks),
    ) == hooks_before
    assert model.training is True and model.fc.weight.requires_grad is False
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_training_counts_backward_ops_and_restores_grads():
    model = Net()
    p = flopwise.profile(model, torch.randn(4, 8), train=True)
    assert p.totals.backward_flops > p.totals.forward_flops  # weight + input grads
    assert any(r.phase == "backward" for r in p.ops)
    assert all(prm.grad is None for prm in model.parameters())
    assert model.training is True  # nn.Module default, restored
    fwd = flopwise.profile(model, torch.randn(4, 8))
    assert p.totals.forward_flops == fwd.totals.flops


def test_backward_ops_attributed_to_modules():
    model = Net()
    p = flopwise.profile(model, torch.randn(4, 8), train=True)
    back = {r.module_path for r in p.ops if r.phase == "backward" and r.macs}
    assert {"block.fc1", "block.fc2", "head"} <= back
    fc2_back = sum(r.macs for r in p.ops if r.phase == "backward" and r.module_path == "block.fc2")
    assert fc2_back == 2 * 4 * 16 * 8  # grad input + grad weight of one Linear


def test_count_context_manager_any_block():
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    with flopwise.count() as c:
        _ = a @ b
    assert c.totals.macs == 60
    assert _get_current_dispatch_mode_stack() == []


@pytest.mark.parametrize("tensors", ["real", "fake", "meta"])
def test_same_count_on_every_tensor_kind(tensors):
    model = Net()
    ref = flopwise.profile(model, torch.randn(4, 8))
    p = flopwise.profile(model, torch.randn(4, 8), tensors=tensors)
    assert p.mode["tensors"] == tensors
    assert p.totals.as_dict() == ref.totals.as_dict()


def test_meta_model_counts_without_data():
    with torch.device("meta"):
        model = Net()
    p = flopwise.profile(model, torch.randn(4, 8))
    assert p.mode["tensors"] == "meta"
    assert p.totals.macs == 4 * 8 * 16 + 4 * 16 * 8 + 4 * 8 * 2 + 4 * 2 * 3


def test_views_move_no_bytes_and_copies_do():
    x = torch.randn(64, 64)
    with flopwise.count() as c:
        x.view(-1)
        x.t().contiguous()
    view, copy = [r for r in c.profile.ops if r.op in ("aten.view", "aten.clone")]
    assert view.bytes_read == view.bytes_written == 0
    assert copy.bytes_read == copy.bytes_written == 64 * 64 * 4


def test_same_storage_read_once():
    x = torch.randn(100)
    with flopwise.count() as c:
        torch.mm(x.view(10, 10), x.view(10, 10))
    (mm,) = [r for r in c.profile.ops if r.op == "aten.mm"]
    assert mm.bytes_read == 400 and mm.bytes_written == 400


def test_expanded_input_counts_distinct_elements():
    x = torch.randn(1, 8).expand(1000, 8)
    y = torch.randn(8, 8)
    with flopwise.count() as c:
        torch.mm(x, y)
    (mm,) = [r for r in c.profile.ops if r.op == "aten.mm"]
    assert mm.bytes_read == 8 * 4 + 64 * 4


def test_gather_reads_the_rows_it_fetches_not_the_table():
    table = torch.nn.Embedding(10_000, 16)
    p = flopwise.profile(table, torch.tensor([[1, 2, 3]]))
    (emb,) = [r for r in p.ops if r.op == "aten.embedding"]
    assert emb.bytes_written == 3 * 16 * 4
    assert emb.bytes_read == 3 * 16 * 4 + 3 * 8  # rows + int64 indices
