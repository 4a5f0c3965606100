"""The fused CPU LSTM layer (``mkldnn_rnn_layer``) counts what its unfused arithmetic costs.

The reference is nn.LSTM's arithmetic written out with unfused ops (linear, sigmoid, tanh,
multiply, add) and counted op by op, so the fused kernel is held to an independent figure.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import flopwise


class ManualLSTMLayer(nn.Module):
    """One layer, one direction of ``lstm`` with unfused ops; input ``[T, B, I]``."""

    def __init__(self, lstm: nn.LSTM, layer: int, suffix: str = "") -> None:
        super().__init__()
        name = f"l{layer}{suffix}"
        self.w_ih, self.w_hh = (
            getattr(lstm, f"weight_ih_{name}"),
            getattr(lstm, f"weight_hh_{name}"),
        )
        self.b_ih = getattr(lstm, f"bias_ih_{name}", None)
        self.b_hh = getattr(lstm, f"bias_hh_{name}", None)

    def forward(self, x, h, c):
        steps, batch, width = x.shape
        gi = F.linear(x.reshape(steps * batch, width), self.w_ih, self.b_ih).view(steps, batch, -1)
        outs = []
        for s in range(steps):
            gates = gi[s] + F.linear(h, self.w_hh, self.b_hh)
            i, f, g, o = gates.chunk(4, 1)
            i, f, o = torch.sigmoid(torch.cat([i, f, o], 1)).chunk(3, 1)
            c = f * c + i * torch.tanh(g)
            h = o * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_lstm_equals_unfused_arithmetic(bias, bidirectional):
    steps, batch, width, hidden = 7, 2, 6, 5
    lstm = nn.LSTM(width, hidden, num_layers=2, bias=bias, bidirectional=bidirectional)
    x = torch.randn(steps, batch, width)
    with torch.no_grad():
        fused = flopwise.profile(lstm, x)
    assert fused.complete, [u.op for u in fused.uncounted]
    if torch.backends.mkldnn.is_available():
        assert any(r.op == "aten.mkldnn_rnn_layer" for r in fused.ops)
    directions = ["", "_reverse"] if bidirectional else [""]
    h0 = torch.zeros(batch, hidden)
    reference_flops = reference_macs = 0
    for layer in range(2):
        layer_width = width if layer == 0 else hidden * len(directions)
        for suffix in directions:
            manual = ManualLSTMLayer(lstm, layer, suffix)
            with torch.no_grad():
                p = flopwise.profile(manual, torch.randn(steps, batch, layer_width), h0, h0)
            reference_flops += p.totals.flops
            reference_macs += p.totals.macs
    assert (fused.totals.macs, fused.totals.flops) == (reference_macs, reference_flops)
    # and the MACs by hand: every step meets W_ih [4H, I] and W_hh [4H, H]
    per_layer = [width, hidden * len(directions)]
    hand = sum(steps * batch * 4 * hidden * (i + hidden) for i in per_layer) * len(directions)
    assert fused.totals.macs == hand


def test_fused_lstm_backward_macs_by_hand():
    steps, batch, width, hidden = 7, 2, 6, 5
    lstm = nn.LSTM(width, hidden, num_layers=1)
    p = flopwise.profile(lstm, torch.randn(steps, batch, width), train=True)
    assert p.complete, [u.op for u in p.uncounted]
    back = [r for r in p.ops if r.op == "aten.mkldnn_rnn_layer_backward"]
    if not back:
        pytest.skip("this build does not run the oneDNN LSTM kernel")
    # dX = dG·W_ih, dW_ih = dGᵀ·X, dH = dG·W_hh, dW_hh = dGᵀ·H
    assert back[0].macs == 2 * steps * batch * 4 * hidden * (width + hidden)
    assert p.totals.backward_flops > 2 * back[0].macs
