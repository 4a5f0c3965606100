"""torchvision's custom detection ops: ``nms``, ``roi_align``, ``roi_pool``, their
position-sensitive variants, ``deform_conv2d``, and the backward ops autograd runs for them.

The formulas are filed under string keys (``torchvision.nms``), so this module never imports
torchvision: the key matches the op whenever torchvision's kernels run, whether torchvision
was imported before or after flopwise, and is inert when torchvision is absent. Constants
live in the rules table (rules.py) (docs/conventions.md prints them).

Three of these ops do work that depends on the data, not the shapes; each counts a stated,
data-independent figure instead:

* ``nms``: which box pairs are compared depends on which boxes get suppressed; counted is the
  worst case, every one of the N·(N−1)/2 pairs.
* ``roi_align`` with ``sampling_ratio <= 0``: the samples per bin axis come from each box's
  size; counted as 2, what torchvision's detection models use.
* ``roi_pool`` / ``ps_roi_pool``: a bin's size comes from the box's size; counted for a box
  spanning the whole feature map.
"""

from __future__ import annotations

import math

from flopwise.cost.contraction import contraction
from flopwise.cost.elementwise import _cost, is_floating, sort_comparisons
from flopwise.cost.rules import Rule, counter
from flopwise.cost.types import OpCall, OpCost, TensorMeta

# Samples per bin axis counted when sampling_ratio <= 0 asks for a data-dependent number:
# torchvision's Faster/Mask/Keypoint R-CNN build MultiScaleRoIAlign(sampling_ratio=2).
ADAPTIVE_SAMPLING = 2


def nms_flops(boxes: int, r: Rule) -> int:
    """Worst-case flops of greedy NMS over ``boxes`` boxes: areas, the score sort, and the
    IoU test of every pair (none suppressed)."""
    pairs = boxes * (boxes - 1) // 2
    return (
        r.flops * pairs
        + r.extra("box (area)") * boxes
        + r.extra("sort comparison (N·⌈log2 N⌉)") * sort_comparisons((boxes,), 0)
    )


def sampling_grid(sampling_ratio: int) -> int:
    """Bilinear samples per bin axis: ``sampling_ratio``, or :data:`ADAPTIVE_SAMPLING` when
    torchvision would derive it from each box's size (``sampling_ratio <= 0``)."""
    return sampling_ratio if sampling_ratio > 0 else ADAPTIVE_SAMPLING


def roi_window(height: int, width: int, pooled_height: int, pooled_width: int) -> int:
    """Bin elements of a roi spanning the whole ``height``×``width`` feature map."""
    return math.ceil(height / pooled_height) * math.ceil(width / pooled_width)


@counter("nms")
def _nms(call: OpCall, r: Rule) -> OpCost:
    """nms(dets [N, 4], scores [N], iou_threshold) -> kept indices."""
    if not is_floating(call):
        return _cost(0, r.category)
    return _cost(nms_flops(call.args[0].shape[0], r), r.category)


@counter("roi_align")
def _roi_align(call: OpCall, r: Rule) -> OpCost:
    """roi_align(input, rois, spatial_scale, PH, PW, sampling_ratio, aligned) -> [K, C, PH, PW];
    ps_roi_align(input, rois, spatial_scale, PH, PW, sampling_ratio) -> (out, channel_mapping)."""
    out = call.outputs[0]
    g = sampling_grid(call.arg(5, "sampling_ratio"))
    per_output = r.flops * g * g + r.extra("output element (the average)")
    if not is_floating(call):
        return _cost(0, r.category, out.numel)
    return _cost(out.numel * per_output, r.category, out.numel)


@counter("roi_align_backward")
def _roi_align_backward(call: OpCall, r: Rule) -> OpCost:
    """_roi_align_backward(grad, rois, spatial_scale, PH, PW, N, C, H, W, sampling_ratio,
    aligned); _ps_roi_align_backward(grad, rois, channel_mapping, spatial_scale, PH, PW,
    sampling_ratio, N, C, H, W)."""
    if call.op.startswith("torchvision._ps_"):
        ratio = call.arg(6, "sampling_ratio")
    else:
        ratio = call.arg(9, "sampling_ratio")
    g = sampling_grid(ratio)
    per_grad = r.flops * g * g + r.extra("grad_output element (÷ count)")
    if not is_floating(call):
        return _cost(0, r.category)
    return _cost(call.args[0].numel * per_grad, r.category)


@counter("roi_pool")
def _roi_pool(call: OpCall, r: Rule) -> OpCost:
    """roi_pool / ps_roi_pool(input [N, C, H, W], rois, spatial_scale, PH, PW) -> (out, aux)."""
    x, out = call.args[0], call.outputs[0]
    window = roi_window(
        x.shape[-2], x.shape[-1], call.arg(3, "pooled_height"), call.arg(4, "pooled_width")
    )
    if not is_floating(call):
        return _cost(0, r.category, out.numel)
    return _cost(out.numel * window * r.flops, r.category, out.numel)


@counter("roi_pool_backward")
def _roi_pool_backward(call: OpCall, r: Rule) -> OpCost:
    """_roi_pool_backward(grad, rois, argmax, spatial_scale, PH, PW, N, C, H, W)."""
    if not is_floating(call):
        return _cost(0, r.category)
    return _cost(call.args[0].numel * r.flops, r.category)


@counter("ps_roi_pool_backward")
def _ps_roi_pool_backward(call: OpCall, r: Rule) -> OpCost:
    """_ps_roi_pool_backward(grad, rois, channel_mapping, spatial_scale, PH, PW, N, C, H, W)."""
    window = roi_window(call.args[8], call.args[9], call.args[4], call.args[5])
    if not is_floating(call):
        return _cost(0, r.category)
    return _cost(call.args[0].numel * window * r.flops, r.category)


@counter("deform_conv2d")
def _deform_conv2d(call: OpCall, r: Rule) -> OpCost:
    """deform_conv2d(input [N, C_in, H, W], weight [C_out, C_in/groups, kh, kw], offset, mask,
    bias, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups, offset_groups,
    use_mask) -> [N, C_out, H_out, W_out]."""
    x, w, bias, out = call.args[0], call.args[1], call.args[4], call.out
    kernel_points = w.shape[2] * w.shape[3]
    macs = out.numel * w.shape[1] * kernel_points
    has_bias = isinstance(bias, TensorMeta) and bias.numel > 0
    conv = contraction(macs, out, out.numel if has_bias else 0)
    samples = x.shape[0] * x.shape[1] * kernel_points * out.shape[2] * out.shape[3]
    per_sample = r.flops + (r.extra("use_mask (the mask multiply)") if call.args[13] else 0)
    return OpCost(
        flops=conv.flops + samples * per_sample,
        macs=conv.macs,
        activations=conv.activations,
        category=r.category,
    )


@counter("deform_conv2d_backward")
def _deform_conv2d_backward(call: OpCall, r: Rule) -> OpCost:
    """_deform_conv2d_backward(grad [N, C_out, H_out, W_out], input, weight, offset, mask,
    bias, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups, offset_groups,
    use_mask) -> (grad_input, grad_weight, grad_offset, grad_mask, grad_bias)."""
    grad, x, w = call.args[0], call.args[1], call.args[2]
    kernel_points = w.shape[2] * w.shape[3]
    macs = 2 * grad.numel * w.shape[1] * kernel_points  # grad_input and grad_weight
    samples = x.shape[0] * x.shape[1] * kernel_points * grad.shape[2] * grad.shape[3]
    mask = r.extra("use_mask (mask multiplies and the mask gradient)") if call.args[14] else 0
    return OpCost(
        flops=2 * macs + grad.numel + samples * (r.flops + mask),
        macs=macs,
        category=r.category,
    )
