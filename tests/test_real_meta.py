"""Real, fake and meta tensors give one count (issue 10): input aliasing survives the
conversion to fake/meta twins, and device-dependent bookkeeping in MoE routing (int vs
float histograms) does not change the count."""

from __future__ import annotations

import json
import sys
import unittest.mock

import pytest
import torch
from torch import nn

import flopwise
from flopwise.cost.registry import lookup
from flopwise.cost.types import OpCall, TensorMeta

KINDS = ["real", "fake", "meta"]


class Add(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


def _mha() -> nn.MultiheadAttention:
    torch.manual_seed(0)
    return nn.MultiheadAttention(16, 2, batch_first=True).eval()


@pytest.mark.parametrize("kind", KINDS)
def test_mha_self_attention_takes_the_fast_path_on_every_kind(kind):
    # query is key is value: nn.MultiheadAttention's fused fast path needs that identity,
    # so the twin of x must be one tensor, not three.
    x = torch.randn(2, 5, 16)
    prof = flopwise.profile(_mha(), x, x, x, tensors=kind)
    assert [r.op for r in prof.ops] == ["aten._native_multi_head_attention"]


def test_mha_self_attention_same_flops_and_bytes_on_every_kind():
    x = torch.randn(2, 5, 16)
    mha = _mha()
    profs = {kind: flopwise.profile(mha, x, x, x, tensors=kind) for kind in KINDS}
    real = profs["real"].totals
    for kind in ("fake", "meta"):
        t = profs[kind].totals
        assert (t.flops, t.macs, t.bytes_read, t.bytes_written) == (
            real.flops,
            real.macs,
            real.bytes_read,
            real.bytes_written,
        ), kind
    # independent check of the MACs: the fused op does the q/k/v and output projections
    # (2*5 tokens x 16 -> 48, then 16 -> 16) and 2 heads of 5x5 attention over head dim 8
    # (QK^T and PV): 10*16*48 + 10*16*16 + 2*2*5*5*(8+8)
    assert real.macs == 10 * 16 * 48 + 10 * 16 * 16 + 2 * 2 * 5 * 5 * (8 + 8)


@pytest.mark.parametrize("kind", KINDS)
def test_same_tensor_twice_is_read_once(kind):
    y = torch.randn(10, 100)
    prof = flopwise.profile(Add(), y, y, tensors=kind)
    # 1,000 float32 elements of one storage read once, 1,000 written
    assert prof.totals.bytes_read == 1000 * 4 == 4000
    assert prof.totals.bytes_written == 4000
    assert prof.totals.flops == 1000


@pytest.mark.parametrize("kind", KINDS)
def test_views_of_one_storage_share_a_twin_storage(kind):
    y = torch.randn(20, 20)
    prof = flopwise.profile(Add(), y, y.t(), tensors=kind)
    # y and y.t() are one 400-element storage: read once, 1,600 bytes
    assert prof.totals.bytes_read == 400 * 4


def test_meta_inputs_keep_their_aliasing():
    y = torch.empty(10, 100, device="meta")
    prof = flopwise.profile(Add(), y, y)
    assert prof.mode["tensors"] == "meta"
    assert prof.totals.bytes_read == 4000


# -- MoE routing bookkeeping -------------------------------------------------------------


def _cost(op: str, inputs: list[TensorMeta], outputs: list[TensorMeta], **kwargs):
    _, formula = lookup(op)
    return formula(OpCall(op=op, args=tuple(inputs), kwargs=kwargs, outputs=tuple(outputs)))


def _t(shape, dtype) -> TensorMeta:
    return TensorMeta(tuple(shape), dtype)


def test_histc_counts_the_same_on_int_and_float_ids():
    # transformers bins 256 routing ids as int32 on CUDA and as float32 on CPU: 3 flops
    # (subtract, scale, increment) per input element either way
    for dtype in (torch.int32, torch.float32):
        cost = _cost("aten.histc.default", [_t((256,), dtype)], [_t((4,), dtype)])
        assert cost.flops == 3 * 256, dtype


def test_cumsum_computes_in_its_dtype_argument():
    # cumsum(x, dtype=int32) casts x first and adds integers: no floating-point work
    f32 = _cost(
        "aten.cumsum.default", [_t((4,), torch.float32)], [_t((4,), torch.int32)], dtype=torch.int32
    )
    assert f32.flops == 0
    plain = _cost("aten.cumsum.default", [_t((4,), torch.float32)], [_t((4,), torch.float32)])
    assert plain.flops == 4
    # and the other way round: an integer input summed as float32 is float work
    s = _cost(
        "aten.sum.dim_IntList",
        [_t((8,), torch.int64)],
        [_t((), torch.float32)],
        dtype=torch.float32,
    )
    assert s.flops == 8


def _tiny_mixtral(device: str):
    pytest.importorskip("transformers")
    from flopwise.pipeline import load

    return load("hf:tiny-mixtral", [], device, "bfloat16")


def test_tiny_mixtral_bf16_real_equals_meta():
    model, args, kwargs, _ = _tiny_mixtral("cpu")
    real = flopwise.profile(model, *args, kwargs=kwargs)
    meta_model, meta_args, meta_kwargs, _ = _tiny_mixtral("meta")
    meta = flopwise.profile(meta_model, *meta_args, kwargs=meta_kwargs)
    assert real.mode["tensors"] == "real" and meta.mode["tensors"] == "meta"
    key = ("flops", "macs", "bytes_read", "bytes_written", "activations")
    assert [getattr(real.totals, k) for k in key] == [getattr(meta.totals, k) for k in key]
    assert real.complete and meta.complete


def test_tiny_mixtral_moe_cuda_branch_counts_like_cpu():
    """The MoE block runs device-dependent code: on CUDA it bins the routing ids as int32,
    on CPU as float32 (and takes the grouped-mm path only on capable GPUs). A fake tensor
    that says it lives on CUDA runs the CUDA branch here without a GPU; it must count as
    the real CPU run does."""
    model, _, _, _ = _tiny_mixtral("cpu")
    x = torch.randn(1, 128, 64, dtype=torch.bfloat16)
    cpu = flopwise.profile(model.model.layers[0].mlp, x)

    meta_model, _, _, _ = _tiny_mixtral("meta")
    profile_module = sys.modules["flopwise.profile"]
    with (
        unittest.mock.patch.object(torch.cuda, "get_device_capability", lambda *a, **k: (9, 0)),
        unittest.mock.patch.object(profile_module, "_device_of", lambda *a: torch.device("cuda")),
    ):
        cuda = flopwise.profile(meta_model.model.layers[0].mlp, x.to("meta"), tensors="meta")
    histc = [r for r in cuda.ops if r.op == "aten.histc"]
    assert histc and histc[0].inputs[0].dtype == torch.int32  # the CUDA branch really ran
    assert [r.inputs[0].dtype for r in cpu.ops if r.op == "aten.histc"] == [torch.float32]
    key = ("flops", "macs", "bytes_read", "bytes_written")
    assert [getattr(cuda.totals, k) for k in key] == [getattr(cpu.totals, k) for k in key]


def _gpu_checks():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_checks_real.py"
    spec = importlib.util.spec_from_file_location("gpu_checks_real", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_moe_skips_cleanly_without_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the check would run")
    doc = _gpu_checks().check_moe_bf16(tmp_path)
    assert doc == {
        "check": "moe_bf16",
        "model": "hf:tiny-mixtral",
        "dtype": "bfloat16",
        "skipped": "no CUDA device",
    }
    assert json.loads((tmp_path / "moe_bf16.json").read_text()) == doc


def test_gpu_check_moe_logic_on_cpu(tmp_path):
    pytest.importorskip("transformers")
    doc = _gpu_checks().check_moe_bf16(tmp_path, device="cpu")
    assert doc["all_equal"] and doc["only_real"] == [] and doc["only_meta"] == []
    assert doc["real"]["tensors"] == "real" and doc["meta"]["tensors"] == "meta"
    assert sum(r["flops"] for r in doc["real_trace"]) == doc["real"]["flops"]


class CheckedScale(nn.Module):
    """Asserts on its input's values before computing, the way transformers'
    ``torch_compilable_check`` does (Llava: image tokens vs image features), with the
    message formatted eagerly from a 0-dim tensor (``item()`` on real tensors only)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count = (x == x).sum()
        torch._check_tensor_all_with(ValueError, count == x.numel(), f"got {count}")
        return x * 2


@pytest.mark.parametrize("kind", KINDS)
def test_value_check_is_taken_as_passed_without_data(kind):
    # A fake/meta tensor has no value for the check to read: it is taken as passed (the
    # real run checks). The check's _is_all_true has a formula (like `all`; on bool data it
    # is 0 flops, as the integer sum is), and reading a scalar back moves no bytes, so real
    # and meta agree to the byte: flops are the mul's 4; bytes eq 16+4, sum 4+8, eq 8+1,
    # _is_all_true 1+1, mul 16+16 (the real run's extra item() for the message: 0).
    prof = flopwise.profile(CheckedScale(), torch.randn(2, 2), tensors=kind)
    assert prof.complete, prof.uncounted
    assert "aten._is_all_true" in [r.op for r in prof.ops]
    assert prof.totals.flops == 4
    assert (prof.totals.bytes_read, prof.totals.bytes_written) == (
        16 + 4 + 8 + 1 + 16,
        4 + 8 + 1 + 1 + 16,
    )


def test_value_check_still_fails_on_real_tensors():
    class Failing(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            torch._check_tensor_all_with(ValueError, x > 1e9, "too small")
            return x

    with pytest.raises(Exception, match="too small"):
        flopwise.profile(Failing(), torch.zeros(3), tensors="real")
    # Only an assertion's read-back is assumed true: other value reads stay refused.

    class Branches(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2 if bool((x > 0).any()) else x

    with pytest.raises(flopwise.errors.DataDependentOp):
        flopwise.profile(Branches(), torch.zeros(3), tensors="meta")
