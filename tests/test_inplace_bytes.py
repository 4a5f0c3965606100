"""Bytes written by ops that update their arguments in place and return nothing (the
``_foreach_*_`` family foreach optimizers run): the mutated tensors are written."""

from __future__ import annotations

import torch

import flopwise


def _ops(fn):
    with flopwise.count() as c:
        fn()
    return [op for op in c.profile.ops if op.op.startswith("aten.")]


def test_foreach_mul_writes_its_list():
    a, b = torch.randn(3, 4), torch.randn(5)
    (op,) = _ops(lambda: torch._foreach_mul_([a, b], 2.0))
    assert op.op == "aten._foreach_mul_.Scalar"
    assert op.bytes_written == (12 + 5) * 4  # returns nothing; writes a and b in place
    assert op.bytes_read == (12 + 5) * 4


def test_foreach_mul_on_meta_tensors_too():
    a, b = torch.empty(3, 4, device="meta"), torch.empty(5, device="meta")
    (op,) = _ops(lambda: torch._foreach_mul_([a, b], 2.0))
    assert op.bytes_written == (12 + 5) * 4


def test_in_place_and_out_variants_not_double_counted():
    a = torch.randn(3)
    (add_,) = _ops(lambda: a.add_(1))  # returns self: written once
    assert (add_.bytes_read, add_.bytes_written) == (12, 12)
    (view_add_,) = [op for op in _ops(lambda: a[1:].add_(1)) if op.op == "aten.add_.Tensor"]
    assert view_add_.bytes_written == 8  # the 2-element view, once
    dest = torch.empty(3)
    (out,) = [op for op in _ops(lambda: torch.add(a, 1, out=dest)) if op.op == "aten.add.out"]
    assert out.bytes_written == 12  # out= is returned too: written once


def test_adam_foreach_step_writes_its_state():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)  # weight 3x4 + bias 3: 15 float32 elements, 2 tensors
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()  # create the state
    ops = [op for op in _ops(opt.step) if "_foreach_" in op.op]
    # torch 2.14.1's Adam (foreach, CPU, no weight decay, no amsgrad) runs, in order:
    #   _foreach_add_(steps, 1)                   writes 2 step scalars:  2 * 1 * 4 =  8
    #   _foreach_lerp_(exp_avg, grad, 1-b1)       writes exp_avg:        15 * 4     = 60
    #   _foreach_mul_(exp_avg_sq, b2)             writes exp_avg_sq:                  60
    #   _foreach_addcmul_(exp_avg_sq, g, g, 1-b2) writes exp_avg_sq:                  60
    #   _foreach_sqrt(exp_avg_sq)                 writes a new list (its output):     60
    #   _foreach_div_(denom, bc2_sqrt)            writes denom:                       60
    #   _foreach_add_(denom, eps)                 writes denom:                       60
    #   _foreach_addcdiv_(params, exp_avg, denom) writes the params:                  60
    names = [op.op.removeprefix("aten.").split(".")[0] for op in ops]
    assert names == [
        "_foreach_add_",
        "_foreach_lerp_",
        "_foreach_mul_",
        "_foreach_addcmul_",
        "_foreach_sqrt",
        "_foreach_div_",
        "_foreach_add_",
        "_foreach_addcdiv_",
    ]
    assert [op.bytes_written for op in ops] == [8, 60, 60, 60, 60, 60, 60, 60]
    assert sum(op.bytes_written for op in ops) == 2 * 4 + 7 * 15 * 4  # 428 bytes


def test_batch_norm_training_writes_its_running_statistics():
    # native_batch_norm's schema does not mark running_mean/var as written, yet in training
    # it updates both in place. BatchNorm2d(4) on 2x4x3x3 float32: the output 72 elements,
    # save_mean and save_invstd 4 each, plus the two running statistics 4 each.
    x = torch.randn(2, 4, 3, 3)
    for device in ("cpu", "meta"):
        bn, x_d = torch.nn.BatchNorm2d(4, device=device).train(), x.to(device)
        (op,) = [op for op in _ops(lambda bn=bn, x_d=x_d: bn(x_d)) if "batch_norm" in op.op]
        assert op.op == "aten.native_batch_norm"
        assert op.bytes_written == (72 + 4 + 4 + 4 + 4) * 4, device
    # In eval the statistics are only read, and save_mean/save_invstd come back empty: the
    # output alone is written.
    bn = torch.nn.BatchNorm2d(4).eval()
    (op,) = [op for op in _ops(lambda: bn(x)) if "batch_norm" in op.op]
    assert op.bytes_written == 72 * 4
