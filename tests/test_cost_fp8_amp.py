"""FP8 matmul (``_scaled_mm``) and GradScaler's two kernels, each checked against a
hand-computed integer on a small shape, with the kernel's numerics checked against a
reference so the counted steps are the ones the kernel performs."""

from __future__ import annotations

import pytest
import torch

import flopwise
from flopwise.cost.registry import lookup
from flopwise.cost.types import OpCall
from test_cost_formulas_wave2 import T, cost

aten = torch.ops.aten
FP8 = torch.float8_e4m3fn
M, K, N = 16, 32, 64


def fp8_operands():
    torch.manual_seed(0)
    a = torch.randn(M, K).to(FP8)
    b = torch.randn(N, K).to(FP8).t()  # column-major, as the kernels require
    return a, b


def only_record(fn):
    with flopwise.count() as c:
        fn()
    (record,) = [r for r in c.profile.ops if r.op == "aten._scaled_mm"]
    assert c.profile.complete, [u.op for u in c.profile.uncounted]
    return record


def test_scaled_mm_tensorwise_with_bias_by_hand():
    """16×32 @ 32×64 in fp8, tensor-wise scales, a bf16 bias, bf16 result: macs
    16·64·32 = 32,768; flops 2·32,768 + 1,024 (scale) + 1,024 (bias) = 67,584. Bytes:
    a 512 and b 2,048 at 1 byte each, two fp32 scales 8, the bias 128 = 2,696 read; the
    16×64 bf16 result 2,048 written."""
    a, b = fp8_operands()
    sa, sb = torch.tensor(0.5), torch.tensor(3.0)
    bias = torch.randn(N, dtype=torch.bfloat16)
    out = torch._scaled_mm(a, b, sa, sb, bias=bias, out_dtype=torch.float32)
    reference = (a.float() @ b.float()) * 1.5 + bias.float()  # one scale per element, + bias
    assert torch.allclose(out, reference, rtol=1e-5, atol=1e-4)
    r = only_record(lambda: torch._scaled_mm(a, b, sa, sb, bias=bias, out_dtype=torch.bfloat16))
    assert (r.flops, r.macs, r.activations) == (67_584, 32_768, 1_024)
    assert (r.bytes_read, r.bytes_written, r.category) == (2_696, 2_048, "contraction")


def test_scaled_mm_rowwise_counts_two_scale_multiplies():
    """Row-wise scales (one per row of a, one per column of b): acc·s_a[i]·s_b[j], 2 per
    output element: 2·32,768 + 2·1,024 = 67,584 without a bias."""
    a, b = fp8_operands()
    sa, sb = torch.rand(M, 1) + 0.5, torch.rand(1, N) + 0.5
    out = torch._scaled_mm(a, b, sa, sb, out_dtype=torch.float32)
    assert torch.allclose(out, (a.float() @ b.float()) * sa * sb, rtol=1e-5, atol=1e-4)
    r = only_record(lambda: torch._scaled_mm(a, b, sa, sb, out_dtype=torch.float32))
    assert (r.flops, r.macs) == (2 * 32_768 + 2 * 1_024, 32_768)
    # bytes: a 512, b 2,048, the scales 16·4 + 64·4 = 320; result 1,024 fp32 = 4,096
    assert (r.bytes_read, r.bytes_written) == (2_880, 4_096)


def test_scaled_mm_result_scale_only_for_an_fp8_result():
    """scale_result divides an fp8 result (+1 per element: 65,536 + 1,024 + 1,024 =
    67,584) and is ignored for a wider one (66,560), as the kernel does."""
    a, b = fp8_operands()
    sa, sb, sr = torch.tensor(0.5), torch.tensor(3.0), torch.tensor(2.0)
    wide = torch._scaled_mm(a, b, sa, sb, scale_result=sr, out_dtype=torch.float32)
    assert torch.allclose(wide, (a.float() @ b.float()) * 1.5, rtol=1e-5, atol=1e-4)
    narrow = torch._scaled_mm(a, b, sa, sb, scale_result=sr, out_dtype=FP8)
    assert torch.equal(narrow.float(), ((a.float() @ b.float()) * 1.5 / 2).to(FP8).float())
    r = only_record(lambda: torch._scaled_mm(a, b, sa, sb, scale_result=sr, out_dtype=FP8))
    assert (r.flops, r.bytes_written) == (67_584, 1_024)  # fp8 result: 1 byte per element
    r = only_record(
        lambda: torch._scaled_mm(a, b, sa, sb, scale_result=sr, out_dtype=torch.float32)
    )
    assert r.flops == 66_560


class FP8Linear(torch.nn.Module):
    """y = fp8(x) @ fp8(Wᵀ), tensor-wise scales, bias, bf16 result."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weight", torch.randn(N, K).to(FP8))
        self.bias = torch.nn.Parameter(torch.randn(N, dtype=torch.bfloat16))
        self.register_buffer("scale_x", torch.tensor(1.0))
        self.register_buffer("scale_w", torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch._scaled_mm(
            x.to(FP8), self.weight.t(), self.scale_x, self.scale_w, bias=self.bias,
            out_dtype=torch.bfloat16,
        )  # fmt: skip


@pytest.mark.parametrize("tensors", ["real", "meta"])
def test_scaled_mm_counts_alike_on_real_and_meta_tensors(tensors):
    torch.manual_seed(0)
    p = flopwise.profile(FP8Linear(), torch.randn(M, K), tensors=tensors)
    assert p.complete, [u.op for u in p.uncounted]
    (r,) = [r for r in p.ops if r.op == "aten._scaled_mm"]
    assert (r.flops, r.macs, r.bytes_read, r.bytes_written) == (67_584, 32_768, 2_696, 2_048)


def test_scaled_mm_block_scales_are_uncounted_not_guessed():
    """MX-style block scales (one per 32 elements of K; K = 128 gives 4 per row) rescale
    partial sums inside the reduction: the formula declines rather than guess."""
    from flopwise.cost.types import Uncountable

    status, formula = lookup(aten._scaled_mm.default)
    call = OpCall(
        "aten._scaled_mm",
        (T(M, 128, dtype=FP8), T(128, N, dtype=FP8), T(M, 4), T(N, 4)),
        {"out_dtype": torch.bfloat16},
        (T(M, N, dtype=torch.bfloat16),),
    )
    with pytest.raises(Uncountable):
        formula(call)


# -- GradScaler ----------------------------------------------------------------------------


def test_grad_scaler_step_on_cpu_by_hand():
    """A real GradScaler('cpu') step on Linear(8, 4): unscale_ multiplies the 32 weight and
    4 bias gradient elements by inv_scale (36 flops) and writes them back with found_inf
    (144 + 4 bytes); update multiplies the one-element scale at most once (1 flop) and
    writes the scale and the growth tracker (8 bytes). Nothing is left uncounted."""
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0)
    with flopwise.count() as c:
        scaler.scale(model(torch.randn(3, 8)).sum()).backward()
        scaler.step(opt)
        scaler.update()
    assert c.profile.complete, [u.op for u in c.profile.uncounted]
    by_op = {r.op: r for r in c.profile.ops}
    unscale = by_op["aten._amp_foreach_non_finite_check_and_unscale_"]
    assert (unscale.flops, unscale.bytes_written) == (36, 148)
    assert unscale.bytes_read == 144 + 4 + 4  # the gradients, found_inf, inv_scale
    update = by_op["aten._amp_update_scale_"]
    assert (update.flops, update.bytes_written) == (1, 8)


def test_amp_unscale_counts_every_gradient_element():
    """Two gradients 3×5 and 7: 22 elements, 1 each; fp16 gradients write 44 bytes plus
    the 4-byte found_inf. The functional form counts the same."""
    grads = [T(3, 5, dtype=torch.float16), T(7, dtype=torch.float16)]
    c = cost(aten._amp_foreach_non_finite_check_and_unscale_.default, grads, T(1), T())
    assert (c.flops, c.bytes_written) == (22, 48)
    functional = cost(
        aten._amp_foreach_non_finite_check_and_unscale.default, grads, T(1), T(),
        outputs=[*grads, T(1)],
    )  # fmt: skip
    assert functional.flops == 22
