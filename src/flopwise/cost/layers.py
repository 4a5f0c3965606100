"""Fused layer kernels that reach the dispatcher whole: the CPU LSTM layer
(``mkldnn_rnn_layer`` and its backward), the GPU fused LSTM/GRU cells, and the bilinear
form behind ``nn.Bilinear`` (``_trilinear``).

Each costs what its unfused equivalent costs (the matmuls as contractions with MACs, the
gate arithmetic by the elementwise constants), so a model counts the same whichever
kernel PyTorch picks. Constants live in the rules table of elementwise.py.
"""

from __future__ import annotations

from flopwise.cost.contraction import COMPLEX_MACS
from flopwise.cost.elementwise import Rule, _tensor, _uses, broadcast_numel, rule
from flopwise.cost.types import OpCall, OpCost, TensorMeta, Uncountable

LSTM_MODE = 2  # ATen's RNN mode numbering: RNN_RELU 0, RNN_TANH 1, LSTM 2, GRU 3


def lstm_layer_cost(
    rows: int,
    hidden: int,
    gate_rows: int,
    w_ih: TensorMeta,
    w_hh: TensorMeta,
    biases: int,
    r: Rule,
) -> OpCost:
    """One LSTM layer and direction over ``rows`` (time step, batch) pairs: the two gate
    matmuls (``gate_rows`` = 4H outputs from I and H_r inputs) and the per-hidden-unit
    gate arithmetic of ``r``. The CPU kernel supports real dtypes only."""
    macs = rows * (w_ih.numel + w_hh.numel)
    per_unit = r.flops + r.extra("gate sum") + biases * r.extra("each bias tensor")
    return OpCost(
        flops=2 * macs + rows * hidden * per_unit,
        macs=macs,
        activations=2 * rows * gate_rows,  # the two gate matmuls' outputs, as unfused
        category="contraction",
    )


@_uses("lstm_layer")
def _mkldnn_rnn_layer(call: OpCall, r: Rule) -> OpCost:
    """mkldnn_rnn_layer(input, w_ih, w_hh, b_ih, b_hh, hx, cx, reverse, batch_sizes, mode,
    hidden_size, num_layers, has_biases, bidirectional, batch_first, train)."""
    x, w_ih, w_hh = call.args[0], call.args[1], call.args[2]
    if call.arg(9, "mode", LSTM_MODE) != LSTM_MODE:
        raise Uncountable("mkldnn_rnn_layer in a mode other than LSTM")
    hidden = call.arg(10, "hidden_size")
    rows = x.numel // x.shape[-1]
    biases = 2 if call.arg(12, "has_biases", True) else 0
    return lstm_layer_cost(rows, hidden, w_ih.shape[0], w_ih, w_hh, biases, r)


@_uses("lstm_layer_backward")
def _mkldnn_rnn_layer_backward(call: OpCall, r: Rule) -> OpCost:
    """mkldnn_rnn_layer_backward(input, w_ih, w_hh, b_ih, b_hh, hx, cx, output, hy, cy,
    grad_output, grad_hy, grad_cy, reverse, mode, hidden_size, num_layers, has_biases, ...)."""
    x, w_ih, w_hh = call.args[0], call.args[1], call.args[2]
    if call.arg(14, "mode", LSTM_MODE) != LSTM_MODE:
        raise Uncountable("mkldnn_rnn_layer_backward in a mode other than LSTM")
    hidden = call.arg(15, "hidden_size")
    rows = x.numel // x.shape[-1]
    macs = 2 * rows * (w_ih.numel + w_hh.numel)
    per_unit = r.flops + (r.extra("biases") if call.arg(17, "has_biases", True) else 0)
    return OpCost(flops=2 * macs + rows * hidden * per_unit, macs=macs, category="contraction")


@_uses("fused_lstm_cell", "fused_gru_cell")
def _fused_cell(call: OpCall, r: Rule) -> OpCost:
    """_thnn_fused_{lstm,gru}_cell(input_gates, hidden_gates, cx|hx, input_bias,
    hidden_bias): the gate arithmetic after the matmuls, per hidden unit of each row."""
    state = call.args[2]
    units = state.numel
    biases = int(_tensor(call.arg(3, "input_bias"))) + int(_tensor(call.arg(4, "hidden_bias")))
    per_unit = r.flops + biases * r.extra("each bias tensor")
    if r.key == "fused_lstm_cell":
        per_unit += r.extra("gate sum")
    return OpCost(flops=units * per_unit, category=r.category)


def trilinear_points(call: OpCall) -> int:
    """Points of the joint index space of ``_trilinear``'s three operands, each unsqueezed
    at its ``expand`` dims and broadcast together."""
    shapes = []
    for i in range(3):
        t, expand = call.args[i], sorted(call.args[3 + i])
        shape = list(t.shape)
        for d in expand:
            shape.insert(d, 1)
        shapes.append(tuple(shape))
    return broadcast_numel(shapes)


@_uses("trilinear")
def _trilinear(call: OpCall, r: Rule) -> OpCost:
    """_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim, unroll_dim): Σ over
    ``sumdim`` of i1·i2·i3; one MAC and one extra multiply per point. Complex data: the
    MAC is 4 real MACs and the multiply a complex one (6 real flops)."""
    points = trilinear_points(call)
    if any(t.dtype.is_complex for t in call.tensor_inputs()):
        macs = COMPLEX_MACS * points
        flops = 2 * macs + rule("mul").complex_flops * points
    else:
        macs, flops = points, r.flops * points
    return OpCost(flops=flops, macs=macs, activations=call.out.numel, category="contraction")
