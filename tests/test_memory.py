"""Memory predicted from the op stream, held to byte counts computed by hand.

Every expected number below is derived in the comments from shapes alone (fp32 = 4 bytes
per element), not read back from flopwise."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from flopwise.memory import memory_profile, rule_for
from flopwise.memory.allocator import AllocatorRule
from flopwise.report.json import memory_document


def _linear() -> tuple[nn.Linear, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Linear(4, 8), torch.randn(2, 4)


def test_allocator_rounding_rules() -> None:
    assert rule_for("cuda:0").granularity == 512  # CUDA caching allocator block
    assert rule_for("cpu").granularity == 64  # c10 CPU allocator alignment
    assert AllocatorRule("cuda", 512).round(1) == 512
    assert AllocatorRule("cuda", 512).round(513) == 1024
    assert AllocatorRule("cpu", 64).round(0) == 0
    assert rule_for("cpu", 1).round(37) == 37
    with pytest.raises(ValueError):
        rule_for("cpu", 0)


@pytest.mark.parametrize("tensors", ["auto", "meta"])
@pytest.mark.parametrize(
    ("granularity", "expected"),
    [
        # weight 8·4·4 = 128, bias 8·4 = 32, input 2·4·4 = 32, output 2·8·4 = 64
        (1, 128 + 32 + 32 + 64),
        # each rounded up to 64: 128, 64, 64, 64
        (64, 128 + 64 + 64 + 64),
        # CUDA: each of the four allocations is one 512-byte block
        (512, 4 * 512),
    ],
)
def test_linear_inference_peak(tensors: str, granularity: int, expected: int) -> None:
    lin, x = _linear()
    mp = memory_profile(lin, x, granularity=granularity, tensors=tensors)
    assert mp.peak_bytes == expected
    assert mp.peak.op == "aten.addmm"
    assert mp.peak.phase == "forward"
    cats = mp.peak.by_category
    # weight and bias rounded: 128 + 32, 128 + 64, 512 + 512
    assert cats["parameters"] == {1: 160, 64: 192, 512: 1024}[granularity]
    assert cats["temporaries"] == max(64, granularity)
    assert cats["saved"] == 0  # inference keeps nothing for backward


def test_linear_training_sgd_peak() -> None:
    lin, x = _linear()
    mp = memory_profile(lin, x, train=True, optimizer="sgd", granularity=1)
    # Before the step: params 160 + input 32. Forward: output 2×8 (64). Backward: seed
    # ones 2×8 (64), weight grad mm 8×4 (128), bias grad sum 8 (32); the input needs no
    # grad. Peak at the bias grad: 192 + 64 + 64 + 128 + 32 = 480.
    assert mp.baseline_bytes == 192
    assert mp.peak_bytes == 480
    assert mp.peak.phase == "backward"
    assert mp.peak.by_category["gradients"] == 160
    assert mp.peak.by_category["temporaries"] == 128
    # Plain SGD updates in place: the optimizer phase allocates nothing; output and seed
    # are gone by then: 192 + 160 grads = 352.
    assert mp.phase_peaks["optimizer"] == 352


def test_saved_for_backward_and_gradients_of_an_mlp() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(2, 4)
    mp = memory_profile(model, x, train=True, granularity=1)
    # params: 8·4·4 + 8·4 + 2·8·4 + 2·4 = 128 + 32 + 64 + 8 = 232; input 32.
    assert mp.baseline_bytes == 232 + 32
    # ReLU keeps its 2×8 output (64 B) for backward; the first Linear's output is freed
    # once ReLU has run; the second Linear saves that same ReLU output (no new bytes).
    saved = [b for b in mp.blocks if b.category == "saved"]
    assert [(b.op, b.bytes, b.module_path) for b in saved] == [("aten.relu", 64, "1")]
    assert mp.modules[0].saved_bytes == 64
    # Peak at the first layer's bias grad: params 232 + input 32 + grads (64 + 8 + 128
    # + 32 = 232) + output 16 + seed 16 + ReLU's input grad 64 = 592.
    assert mp.peak_bytes == 592
    assert mp.peak.by_category["gradients"] == 232
    assert mp.peak.by_category["saved"] == 0  # freed when ReLU's backward ran
    assert mp.peak.module_path == "0"


@pytest.mark.parametrize(
    ("optimizer", "state"),
    [
        ("sgd", 0),
        ("sgd-momentum", 160),  # one momentum buffer per parameter: 128 + 32
        ("adam", 2 * 160 + 2 * 4),  # exp_avg and exp_avg_sq, plus a 4-byte step per param
        ("adamw", 2 * 160 + 2 * 4),
    ],
)
def test_optimizer_state_in_the_steady_state(optimizer: str, state: int) -> None:
    lin, x = _linear()
    mp = memory_profile(lin, x, train=True, optimizer=optimizer, granularity=1)
    assert mp.baseline_by_category["optimizer_state"] == state
    assert mp.peak.by_category["optimizer_state"] == state
    assert list(mp.phases) == ["forward", "backward", "optimizer"]


def test_views_and_in_place_ops_share_storage() -> None:
    class Views(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x * 2).t().add_(1).unsqueeze(0)[0]

    x = torch.randn(2, 4)
    mp = memory_profile(Views(), x, granularity=1)
    born = [b for b in mp.blocks if b.birth >= 0]
    assert [(b.op, b.bytes) for b in born] == [("aten.mul.Tensor", 32)]  # one 2×4 fp32
    assert mp.peak_bytes == 32 + 32


def test_temporaries_freed_and_live_curve() -> None:
    class Chain(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return ((x + 1) * 2) - 3

    x = torch.randn(256)  # 1024 bytes
    mp = memory_profile(Chain(), x, granularity=1)
    # x + 1 is alive while * 2 runs (2048 + input 1024), then freed; the same for the next.
    assert mp.curve == [2048, 3072, 3072]
    assert mp.peak_bytes == 3072
    assert mp.final_bytes == 2048  # input and the output


def test_model_left_as_found_and_json_integers() -> None:
    lin, x = _linear()
    before = {k: v.clone() for k, v in lin.state_dict().items()}
    mp = memory_profile(lin, x, train=True, optimizer="adam")
    for k, v in lin.state_dict().items():
        assert torch.equal(v, before[k])
    assert lin.weight.grad is None
    doc = json.loads(json.dumps(memory_document(mp)))
    assert doc["schema"] == "flopwise.memory/1"
    assert isinstance(doc["peak_bytes"], int) and doc["peak_bytes"] == mp.peak_bytes
    assert all(isinstance(v, int) for v in doc["curve_bytes"])
    assert "activations" not in doc  # the pycls count keeps its own name elsewhere


def test_real_and_meta_agree_on_a_convnet() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 64, 10),
    )
    x = torch.randn(2, 3, 8, 8)
    for opt in (None, "adam"):
        real = memory_profile(model, x, train=opt is not None, optimizer=opt)
        meta = memory_profile(model, x, train=opt is not None, optimizer=opt, tensors="meta")
        assert real.peak_bytes == meta.peak_bytes
        assert real.curve == meta.curve
        # Rows name the model's own modules, also when a private copy ran (optimizer)
        assert [m.path for m in real.modules] == ["", "0", "1", "2", "3", "4"]
        assert [m.path for m in meta.modules] == ["", "0", "1", "2", "3", "4"]


@pytest.mark.parametrize("tensors", ["auto", "meta"])
def test_activation_checkpointing_saving_and_recompute_flops(tensors: str) -> None:
    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(64, 256, bias=False), nn.ReLU(), nn.Linear(256, 64, bias=False))
    model = nn.Sequential(nn.Linear(64, 64), block, nn.Linear(64, 10))
    x = torch.randn(32, 64)
    plain = memory_profile(model, x, train=True, granularity=1, tensors=tensors)
    ckpt = memory_profile(model, x, train=True, granularity=1, tensors=tensors, checkpoint=["1"])

    def saved(mp) -> int:
        return sum(b.bytes for b in mp.blocks if b.category == "saved")

    # Without checkpointing the block keeps ReLU's 32×256 output (32768 B) for backward;
    # with it only the block's input is kept (the first Linear's 32×64 output, kept
    # either way), so the saving is exactly 32768 bytes.
    assert saved(plain) - saved(ckpt) == 32 * 256 * 4
    assert next(m for m in ckpt.modules if m.path == "1.1").saved_bytes == 0
    # Non-reentrant checkpointing recomputes only what backward needs (it stops early):
    # the first Linear, 2·32·64·256 FLOPs, and the ReLU, 1 FLOP per element (32·256);
    # the last Linear's output is not needed, only its input.
    recompute = ckpt.step_flops - plain.step_flops
    assert recompute == 2 * 32 * 64 * 256 + 32 * 256
    with pytest.raises(Exception, match="no such module"):
        memory_profile(model, x, train=True, checkpoint=["nope"])


@pytest.mark.parametrize("tensors", ["auto", "meta"])
def test_gradient_accumulation_last_micro_batch(tensors: str) -> None:
    lin, x = _linear()
    mp = memory_profile(
        lin, x, train=True, optimizer="sgd", granularity=1, accumulate=2, tensors=tensors
    )
    # Gradients of the earlier micro-batch exist from the start: 192 + 160 = 352. The
    # backward node computes the weight grad (128) and the bias grad (32) before
    # AccumulateGrad adds them into .grad in place: 352 + output 64 + seed 64 + 160 = 640.
    assert mp.baseline_by_category["gradients"] == 160
    assert mp.baseline_bytes == 352
    assert mp.peak_bytes == 640
    assert mp.phase_peaks["optimizer"] == 352  # the new grads were added in and freed


def test_mixed_precision_casts_are_allocations() -> None:
    lin, x = _linear()
    mp = memory_profile(lin, x, granularity=1, amp="bfloat16")
    # autocast casts input (2·4·2 = 16 B), weight (8·4·2 = 64) and bias (8·2 = 16) to
    # bfloat16 before addmm writes a 2×8 bfloat16 output (32): 192 + 16 + 64 + 16 + 32.
    assert mp.peak_bytes == 192 + 16 + 64 + 16 + 32
    assert mp.peak.op == "aten.addmm"


def test_tied_weights_counted_once_on_meta_as_on_real() -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=1, n_embd=64, n_head=2, vocab_size=300)
    model = transformers.GPT2LMHeadModel(config)  # lm_head.weight is wte.weight
    ids = torch.randint(0, 300, (2, 32), generator=torch.Generator().manual_seed(0))
    unique = sum(p.numel() * 4 for p in model.parameters())  # parameters() dedups ties
    for train, opt in [(False, None), (True, "adam")]:
        real = memory_profile(model, kwargs={"input_ids": ids}, train=train, optimizer=opt)
        meta = memory_profile(
            model, kwargs={"input_ids": ids}, train=train, optimizer=opt, tensors="meta"
        )
        assert meta.peak_bytes == real.peak_bytes
        params = [b for b in meta.blocks if b.category == "parameters"]
        assert sum(b.requested_bytes for b in params) == unique
