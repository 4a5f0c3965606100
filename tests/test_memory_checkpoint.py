"""Issue 14 acceptance: activation checkpointing on a transformer, predicted saving and
recomputed FLOPs held to a measured run.

``flopwise memory FILE:build --train --checkpoint encoder.layers`` predicts what
checkpointing each encoder layer saves; ``--measure --device cpu`` measures the same
step's allocator peak. The recomputed FLOPs are checked against two independent counts:
``flopwise.profile`` of the training step with ``torch.utils.checkpoint`` applied by hand
minus the plain step, and a closed form of one layer's forward × the number of layers."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
import torch

import flopwise
from flopwise.cli import main

# fp32, dropout 0 (no mask draws), batch·seq large enough that activations dominate.
D, HEADS, FF, LAYERS, BATCH, SEQ = 64, 4, 256, 3, 8, 128

FACTORY = f"""
import torch
from torch import nn

class Encoder(nn.Module):
    def __init__(self, checkpointed=False):
        super().__init__()
        layer = nn.TransformerEncoderLayer({D}, {HEADS}, {FF}, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, {LAYERS}, enable_nested_tensor=False)
        self.head = nn.Linear({D}, 1)
        self.checkpointed = checkpointed

    def forward(self, x):
        if not self.checkpointed:
            return self.head(self.encoder(x))
        # checkpointing applied by hand, not by flopwise's --checkpoint
        for layer in self.encoder.layers:
            x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
        return self.head(x)

def build():
    torch.manual_seed(0)
    return Encoder(), torch.randn({BATCH}, {SEQ}, {D})
"""


def _memory(spec: str, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    args = ["memory", spec, "--train", "--optimizer", "sgd", "--device", "cpu"]
    assert main([*args, "--granularity", "1", "--measure", "-f", "json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _layer_forward_flops() -> int:
    """One post-norm TransformerEncoderLayer's forward, by hand (docs/conventions.md):
    N = batch·seq tokens; matmuls 2·N·d·(3d + d + 2·ff) (QKV, output projection, the two
    feed-forward Linears); attention over P = batch·heads·seq² pairs, 2·P·(2·head_dim) +
    6·P (scale and softmax); per token 21·d + 2·ff elementwise flops: biases 3d + d + ff +
    d, two residual adds 2d, ReLU ff, two LayerNorms 2·7d (5 per element + weight + bias)."""
    n, pairs, head_dim = BATCH * SEQ, BATCH * HEADS * SEQ * SEQ, D // HEADS
    matmuls = 2 * n * D * (3 * D + D + 2 * FF)
    attention = 2 * pairs * 2 * head_dim + 6 * pairs
    return matmuls + attention + n * (21 * D + 2 * FF)


@pytest.mark.slow  # about 15 s: four predicted steps, two measured, two counted
def test_checkpointing_encoder_layers_saving_and_recompute_are_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "enc.py").write_text(FACTORY)
    spec = f"{tmp_path / 'enc.py'}:build"
    plain = _memory(spec, capsys)
    ckpt = _memory(spec, capsys, "--checkpoint", "encoder.layers")
    saving = ckpt["checkpoint"]
    assert saving["peak_bytes_without"] == plain["peak_bytes"]
    assert saving["peak_bytes_with"] == ckpt["peak_bytes"]
    predicted = saving["peak_saving_bytes"]
    measured = plain["measured"]["step_peak_bytes"] - ckpt["measured"]["step_peak_bytes"]
    # Activations dominate: checkpointing halves the step peak (about 5.6 MiB saved).
    assert predicted > 0.4 * plain["measured"]["step_peak_bytes"]
    # Memory is deterministic byte accounting. Each checkpointed block also stashes the
    # CPU RNG state (torch.get_rng_state(), 5056 B, made outside the op stream, so not
    # predicted): the measured saving is smaller by at most that per layer, far inside the
    # 5%-or-1-MiB bound asked (tighter than the peak tolerance of 5% or 8 MiB, as a saving
    # is a difference of two peaks that share every other error).
    rng_state = torch.get_rng_state().numel()
    assert 0 <= predicted - measured <= LAYERS * rng_state, (predicted, measured)
    assert abs(predicted - measured) <= max(0.05 * measured, 1024 * 1024)

    # Recomputed FLOPs: flopwise.profile of the step checkpointed by hand minus the plain one
    namespace = runpy.run_path(str(tmp_path / "enc.py"))
    model, x = namespace["build"]()
    by_hand = namespace["Encoder"](checkpointed=True)
    by_hand.load_state_dict(model.state_dict())
    counted = (
        flopwise.profile(by_hand, x, train=True).totals.flops
        - flopwise.profile(model, x, train=True).totals.flops
    )
    assert saving["recompute_flops"] == counted
    # ... and one layer's forward by hand × the layers: the whole forward runs again (each
    # layer ends in a LayerNorm whose mean and rstd backward needs, so none stops early).
    assert saving["recompute_flops"] == LAYERS * _layer_forward_flops() == 417_792_000
