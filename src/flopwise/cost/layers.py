"""Fused layer kernels and composite layers that reach the dispatcher whole: recurrent
layers (the CPU LSTM kernel ``mkldnn_rnn_layer`` and its backward; ``lstm``, ``gru``,
``rnn_*`` and their cells, seen whole under ``inference_mode``; the GPU fused LSTM/GRU
cells and their backward; cuDNN's LSTM stack backward) and the bilinear form behind
``nn.Bilinear`` (``_trilinear``, ``bilinear``).

Each costs exactly what its unfused equivalent costs (the matmuls as contractions with
MACs, the gate arithmetic by the elementwise constants), so a model counts the same
whichever kernel PyTorch picks and whether or not autograd is on. Constants live in the
rules table (rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from flopwise.cost.contraction import COMPLEX_MACS
from flopwise.cost.elementwise import _tensor, broadcast_numel
from flopwise.cost.rules import Rule, counter, rule
from flopwise.cost.types import OpCall, OpCost, TensorMeta, Uncountable

# ATen's RNN mode numbering: RNN_RELU 0, RNN_TANH 1, LSTM 2, GRU 3
RNN_TANH_MODE, LSTM_MODE, GRU_MODE = 1, 2, 3
GATES = {"lstm_layer": 4, "gru_layer": 3, "rnn_layer": 1}


@dataclass(frozen=True)
class RecurrentWeights:
    """The weights of one layer and direction: ``w_ih`` [G·H, I], ``w_hh`` [G·H, H_r],
    ``biases`` (0, 1 or 2 tensors), ``w_hr`` [H_r, H] for a projected LSTM."""

    w_ih: TensorMeta
    w_hh: TensorMeta
    biases: int
    w_hr: TensorMeta | None = None


def recurrent_cost(r: Rule, rows: int, w: RecurrentWeights) -> OpCost:
    """One recurrent layer and direction over ``rows`` (time step, batch) pairs: the gate
    matmuls (and the projection) as contractions, then ``r``'s per-hidden-unit arithmetic.
    Activations are the matmul outputs, as the unfused cell reports them."""
    gate_rows = w.w_ih.shape[0]
    hidden = gate_rows // GATES[r.key]
    projection = w.w_hr.numel if w.w_hr is not None else 0
    macs = rows * (w.w_ih.numel + w.w_hh.numel + projection)
    per_unit = r.flops + w.biases * r.extra("each bias tensor")
    if r.key == "lstm_layer":
        per_unit += r.extra("gate sum")
    activations = rows * (2 * gate_rows + (w.w_hr.shape[0] if w.w_hr is not None else 0))
    return OpCost(
        flops=2 * macs + rows * hidden * per_unit,
        macs=macs,
        activations=activations,
        category="contraction",
    )


def _rows(x: TensorMeta) -> int:
    """(time step, batch) pairs of a sequence or packed-data tensor [.., features]."""
    return x.numel // x.shape[-1] if x.shape and x.shape[-1] else 0


def stack_cost(
    r: Rule,
    x: TensorMeta,
    params: list,
    stride: int,
    biases: int,
    layers: int,
    directions: int,
    dropout_elements: int = 0,
) -> OpCost:
    """Every layer and direction of a recurrent stack whose flat ``params`` hold ``stride``
    tensors per layer and direction (w_ih, w_hh, ``biases`` bias tensors, then w_hr for a
    projected LSTM), plus ``dropout_elements`` elements of inter-layer dropout."""
    rows = _rows(x)
    total = OpCost(category="contraction")
    for k in range(layers * directions):
        group = params[k * stride : (k + 1) * stride]
        w_hr = group[2 + biases] if len(group) > 2 + biases else None
        total += recurrent_cost(r, rows, RecurrentWeights(group[0], group[1], biases, w_hr))
    return OpCost(
        flops=total.flops + rule("dropout").flops * dropout_elements,
        macs=total.macs,
        activations=total.activations,
        category="contraction",
    )


def _dropout_elements(
    train: bool, dropout: float, layers: int, x: TensorMeta, out: TensorMeta
) -> int:
    """Inter-layer dropout of a training run: every layer's output but the last."""
    if not train or dropout <= 0 or layers < 2:
        return 0
    return (layers - 1) * _rows(x) * out.shape[-1]


def _stack_call(call: OpCall, r: Rule) -> OpCost:
    """lstm/gru/rnn_*.input(input, hx, params, has_biases, num_layers, dropout, train,
    bidirectional, batch_first) and .data(data, batch_sizes, hx, params, ...)."""
    offset = 1 if call.op.endswith(".data") else 0
    x = call.args[0]
    params = list(call.args[2 + offset])
    biases = 2 if call.args[3 + offset] else 0
    layers = int(call.args[4 + offset])
    directions = 2 if call.args[7 + offset] else 1
    dropout = _dropout_elements(
        bool(call.args[6 + offset]), float(call.args[5 + offset]), layers, x, call.outputs[0]
    )
    stride = len(params) // (layers * directions)
    return stack_cost(r, x, params, stride, biases, layers, directions, dropout)


# cuDNN/MIOpen mode numbering → the row that prices the cell
_MODES = {0: "rnn_layer", 1: "rnn_layer", 2: "lstm_layer", 3: "gru_layer"}


def _vendor_rnn(call: OpCall) -> OpCost:
    """_cudnn_rnn(input, weight[], weight_stride0, weight_buf, hx, cx, mode, hidden_size,
    proj_size, num_layers, batch_first, dropout, train, bidirectional, ...) and
    miopen_rnn(input, weight[], weight_stride0, hx, cx, mode, hidden_size, num_layers,
    batch_first, dropout, train, bidirectional, ...): the whole stack, priced by the row
    of its mode."""
    cudnn = call.op.startswith("aten._cudnn_rnn")
    x, params, stride = call.args[0], list(call.args[1]), int(call.args[2])
    mode = int(call.args[6 if cudnn else 5])
    layers = int(call.args[9 if cudnn else 7])
    dropout, train = float(call.args[11 if cudnn else 9]), bool(call.args[12 if cudnn else 10])
    directions = 2 if call.args[13 if cudnn else 11] else 1
    biases = 2 if stride in (4, 5) else 0  # w_ih, w_hh[, b_ih, b_hh][, w_hr]
    r = rule(_MODES[mode])
    drop = _dropout_elements(train, dropout, layers, x, call.outputs[0])
    return stack_cost(r, x, params, stride, biases, layers, directions, drop)


@counter("recurrent")
def _recurrent(call: OpCall, r: Rule) -> OpCost:
    name = call.op.split(".")[1]
    if name == "mkldnn_rnn_layer":
        # (input, w_ih, w_hh, b_ih, b_hh, hx, cx, reverse, batch_sizes, mode, hidden_size,
        #  num_layers, has_biases, bidirectional, batch_first, train)
        if call.arg(9, "mode", LSTM_MODE) != LSTM_MODE:
            raise Uncountable("mkldnn_rnn_layer in a mode other than LSTM")
        biases = 2 if call.arg(12, "has_biases", True) else 0
        weights = RecurrentWeights(call.args[1], call.args[2], biases)
        return recurrent_cost(r, _rows(call.args[0]), weights)
    if name in ("_cudnn_rnn", "miopen_rnn"):
        return _vendor_rnn(call)
    if name.endswith("_cell"):
        # (input, hx, w_ih, w_hh, b_ih, b_hh): one step over the batch rows
        biases = int(_tensor(call.arg(4, "b_ih"))) + int(_tensor(call.arg(5, "b_hh")))
        weights = RecurrentWeights(call.args[2], call.args[3], biases)
        return recurrent_cost(r, _rows(call.args[0]), weights)
    return _stack_call(call, r)


@counter("mkldnn_rnn_layer_backward")
def _mkldnn_rnn_layer_backward(call: OpCall, r: Rule) -> OpCost:
    """mkldnn_rnn_layer_backward(input, w_ih, w_hh, b_ih, b_hh, hx, cx, output, hy, cy,
    grad_output, grad_hy, grad_cy, reverse, mode, hidden_size, num_layers, has_biases, ...)."""
    x, w_ih, w_hh = call.args[0], call.args[1], call.args[2]
    if call.arg(14, "mode", LSTM_MODE) != LSTM_MODE:
        raise Uncountable("mkldnn_rnn_layer_backward in a mode other than LSTM")
    hidden = call.arg(15, "hidden_size")
    rows = _rows(x)
    macs = 2 * rows * (w_ih.numel + w_hh.numel)
    per_unit = r.flops + (r.extra("biases") if call.arg(17, "has_biases", True) else 0)
    return OpCost(flops=2 * macs + rows * hidden * per_unit, macs=macs, category="contraction")


def _step_backward_per_unit(mode: int) -> int:
    """Flops per hidden unit of every row of a GRU or RNN layer's backward, as the CPU stack
    runs it step by step (its ops priced by their own rows): GRU: from h' = (h − n)·z + n,
    dz = dh'·(h − n) and d(h − n) = dh'·z, and from n = tanh(i_n + r·h_n), d(h_n) = dn·r
    and dr = dn·h_n (4 multiplies); dn = dh' − d(h − n) (a negate and an add); one tanh
    and two sigmoid backward; dh = d(h − n) + W_hhᵀ·dgates (an add). Both modes then add
    the step's output gradient to the recurrent one (an add). RNN: tanh (or relu) backward."""
    add = rule("add").flops
    if mode == GRU_MODE:
        cell = 4 * rule("mul").flops + rule("neg").flops + 2 * add
        cell += 2 * rule("sigmoid_backward").flops + rule("tanh_backward").flops
    else:
        cell = rule("tanh_backward" if mode == RNN_TANH_MODE else "threshold_backward").flops
    return cell + add


@counter("cudnn_rnn_backward")
def _cudnn_rnn_backward(call: OpCall, r: Rule) -> OpCost:
    """_cudnn_rnn_backward(input, weight[], weight_stride0, weight_buf, hx, cx, output,
    grad_output, grad_hy, grad_cy, mode, hidden_size, proj_size, num_layers, batch_first,
    dropout, train, bidirectional, batch_sizes, dropout_state, reserve, output_mask)."""
    x, params, stride = call.args[0], list(call.args[1]), int(call.args[2])
    mode = int(call.args[10])
    if mode != LSTM_MODE and (call.args[18] or x.ndim != 3):
        raise Uncountable("_cudnn_rnn_backward in GRU or RNN mode on packed sequences")
    layers, directions = int(call.args[13]), 2 if call.args[17] else 1
    mask = [bool(m) for m in call.arg(21, "output_mask", [True] * 4)]
    biases = 2 if stride in (4, 5) else 0
    rows = _rows(x)
    macs, units, summed, steps = 0, 0, 0, 0
    for k in range(layers * directions):
        group = params[k * stride : (k + 1) * stride]
        w_hr = group[2 + biases] if len(group) > 2 + biases else None
        macs += rows * (group[0].numel + group[1].numel + (w_hr.numel if w_hr else 0))
        units += rows * (group[0].shape[0] // GATES[_MODES[mode]])
        if directions == 2 and k % 2 == 0 and (k > 0 or mask[0]):
            summed += rows * group[0].shape[1]  # this layer's input gradient, two summed
        if mode != LSTM_MODE:
            steps += _steps_extra(call, group, biases, mask[3])
    macs *= 2 if mask[3] else 1
    drop = _dropout_elements(bool(call.args[16]), float(call.args[15]), layers, x, call.args[6])
    flops = 2 * macs + r.extra("inter-layer dropout element, training") * drop
    flops += r.extra("input-gradient element, bidirectional") * summed
    if mode == LSTM_MODE:
        flops += units * (r.flops + (r.extra("biases") if biases else 0))
    else:
        flops += units * _step_backward_per_unit(mode) + steps
    return OpCost(flops=flops, macs=macs, category="contraction")


def _steps_extra(call: OpCall, group: list, biases: int, weights: bool) -> int:
    """The terms of one GRU or RNN layer and direction that are not per unit of every row:
    the last step's hidden state has no later step, so its output gradient is added only
    to grad_hy's, when hy has a gradient (−batch·H without); with the weight gradient
    (output_mask[3]) each bias tensor's gate gradients summed over the rows (the sum rule),
    and W_hh's and b_hh's per-step gradients summed over the T steps, (T − 1) adds each."""
    x, w_hh = call.args[0], group[1]
    time, batch = (x.shape[1], x.shape[0]) if call.args[14] else (x.shape[0], x.shape[1])
    hidden = w_hh.shape[1]
    extra = -batch * hidden if not isinstance(call.args[8], TensorMeta) else 0
    if weights:
        add = rule("add").flops
        extra += (time - 1) * w_hh.numel * add
        if biases:
            extra += rule("sum").flops * biases * _rows(x) * w_hh.shape[0]
            extra += (time - 1) * w_hh.shape[0] * add
    return extra


@counter("fused_cell")
def _fused_cell(call: OpCall, r: Rule) -> OpCost:
    """_thnn_fused_{lstm,gru}_cell(input_gates, hidden_gates, cx|hx, input_bias,
    hidden_bias): the gate arithmetic after the matmuls, per hidden unit of each row."""
    units = call.args[2].numel
    biases = int(_tensor(call.arg(3, "input_bias"))) + int(_tensor(call.arg(4, "hidden_bias")))
    per_unit = r.flops + biases * r.extra("each bias tensor")
    if r.key == "fused_lstm_cell":
        per_unit += r.extra("gate sum")
    return OpCost(flops=units * per_unit, category=r.category)


@counter("fused_cell_backward")
def _fused_cell_backward(call: OpCall, r: Rule) -> OpCost:
    """_thnn_fused_lstm_cell_backward_impl(grad_hy, grad_cy, cx, cy, workspace, has_bias)
    and _thnn_fused_gru_cell_backward(grad_hy, workspace, has_bias): per hidden unit of
    each batch row (the elements of cx, or of grad_hy)."""
    lstm = r.key == "fused_lstm_cell_backward"
    units = call.args[2].numel if lstm else call.args[0].numel
    has_bias = bool(call.arg(5 if lstm else 2, "has_bias", False))
    per_unit = r.flops + (r.extra("has_bias") if has_bias else 0)
    return OpCost(flops=units * per_unit, category=r.category)


def trilinear_points(shapes: list[tuple[int, ...]], expands: list[list[int]]) -> int:
    """Points of the joint index space of ``_trilinear``'s three operands, each unsqueezed
    at its ``expand`` dims and broadcast together."""
    expanded = []
    for shape, expand in zip(shapes, expands, strict=True):
        dims = list(shape)
        for d in sorted(expand):
            dims.insert(d, 1)
        expanded.append(tuple(dims))
    return broadcast_numel(expanded)


def _bilinear_cost(call: OpCall, r: Rule, points: int) -> OpCost:
    """One MAC and one extra multiply per point; complex data: the MAC is 4 real MACs and
    the multiply a complex one (6 real flops)."""
    if any(t.dtype.is_complex for t in call.tensor_inputs()):
        macs = COMPLEX_MACS * points
        flops = 2 * macs + rule("mul").complex_flops * points
    else:
        macs, flops = points, r.flops * points
    return OpCost(flops=flops, macs=macs, activations=call.out.numel, category="contraction")


@counter("trilinear")
def _trilinear(call: OpCall, r: Rule) -> OpCost:
    """_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim, unroll_dim): Σ over
    ``sumdim`` of i1·i2·i3; bilinear(x1, x2, weight, bias) seen whole is the same form
    over N·O·I1·I2 points plus the bias add."""
    if call.op.startswith("aten._trilinear"):
        shapes = [t.shape for t in call.args[:3]]
        return _bilinear_cost(call, r, trilinear_points(shapes, list(call.args[3:6])))
    x1, weight, bias = call.args[0], call.args[2], call.arg(3, "bias")
    points = (x1.numel // x1.shape[-1]) * weight.numel
    cost = _bilinear_cost(call, r, points)
    if _tensor(bias):
        add = rule("add")
        per = add.complex_flops if call.out.dtype.is_complex else add.flops
        cost = OpCost(
            flops=cost.flops + per * call.out.numel,
            macs=cost.macs,
            activations=cost.activations,
            category=cost.category,
        )
    return cost
