"""torchvision's custom detection ops are counted: nms, roi_align, roi_pool, the
position-sensitive variants, deform_conv2d and the roi backward ops."""

from __future__ import annotations

import math

import pytest
import torch

import flopwise
from flopwise.cost.registry import lookup

tv = pytest.importorskip("torchvision")
ops = tv.ops


def counted(fn, *args, **kwargs):
    with flopwise.count() as c:
        fn(*args, **kwargs)
    return c.profile


def records(profile, name: str):
    return [r for r in profile.ops if r.op == name]


# -- nms ------------------------------------------------------------------------------------


class Counter:
    """Python floats that count every arithmetic step and comparison they take part in."""

    def __init__(self) -> None:
        self.n = 0

    def op(self, value):
        self.n += 1
        return value


def brute_force_nms(boxes: list[list[float]], scores: list[float], threshold: float):
    """Greedy NMS as torchvision's CPU kernel runs it, counting each step: returns the kept
    indices and the number of steps."""
    c = Counter()
    n = len(boxes)
    areas = [c.op(c.op(b[2] - b[0]) * c.op(b[3] - b[1])) for b in boxes]
    order = sorted(range(n), key=lambda i: -scores[i])
    c.n += n * math.ceil(math.log2(n)) if n > 1 else 0  # the sort's nominal comparisons
    suppressed = [False] * n
    kept = []
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        kept.append(i)
        for j in order[a + 1 :]:
            if suppressed[j]:
                continue
            xx1 = c.op(max(boxes[i][0], boxes[j][0]))
            yy1 = c.op(max(boxes[i][1], boxes[j][1]))
            xx2 = c.op(min(boxes[i][2], boxes[j][2]))
            yy2 = c.op(min(boxes[i][3], boxes[j][3]))
            w = c.op(max(0.0, c.op(xx2 - xx1)))
            h = c.op(max(0.0, c.op(yy2 - yy1)))
            inter = c.op(w * h)
            iou = c.op(inter / c.op(c.op(areas[i] + areas[j]) - inter))
            if c.op(iou > threshold):
                suppressed[j] = True
    return kept, c.n


def test_nms_counts_every_pair_like_a_brute_force_loop():
    # five disjoint boxes: nothing is suppressed, so every pair is compared (the worst case)
    boxes = [[3.0 * k, 0.0, 3.0 * k + 2.0, 2.0 + k] for k in range(5)]
    scores = [0.1, 0.9, 0.4, 0.7, 0.3]
    kept, steps = brute_force_nms(boxes, scores, 0.5)
    assert len(kept) == 5
    p = counted(ops.nms, torch.tensor(boxes), torch.tensor(scores), 0.5)
    assert sorted(p_kept := ops.nms(torch.tensor(boxes), torch.tensor(scores), 0.5).tolist()) == (
        sorted(kept)
    ), p_kept
    # by hand: 10 pairs × 13 + 5 areas × 3 + 5·⌈log2 5⌉ = 130 + 15 + 15
    assert steps == 160
    assert p.totals.flops == 160
    assert records(p, "torchvision.nms")[0].category == "reduction"


def test_nms_count_does_not_depend_on_which_boxes_are_suppressed():
    # the same five boxes piled on top of each other: four are suppressed, the loop does less,
    # but flopwise's count is the data-independent worst case
    boxes = [[0.0, 0.0, 2.0, 2.0 + 0.01 * k] for k in range(5)]
    scores = [0.1, 0.9, 0.4, 0.7, 0.3]
    kept, steps = brute_force_nms(boxes, scores, 0.5)
    assert kept == [1] and steps < 160
    assert counted(ops.nms, torch.tensor(boxes), torch.tensor(scores), 0.5).totals.flops == 160


@pytest.mark.parametrize("n", [0, 1, 2, 64])
def test_nms_closed_form(n):
    boxes = torch.rand(n, 4) * 10
    boxes[:, 2:] += boxes[:, :2]
    p = counted(ops.nms, boxes, torch.rand(n), 0.5)
    log2 = (n - 1).bit_length() if n > 1 else 0
    assert p.totals.flops == 13 * n * (n - 1) // 2 + 3 * n + n * log2


def test_batched_nms_counts_its_nms_calls():
    boxes = torch.tensor([[0.0, 0, 1, 1], [5, 5, 6, 6], [0, 0, 1, 1.1], [7, 7, 9, 9]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    idxs = torch.tensor([0, 0, 1, 1])
    p = counted(ops.batched_nms, boxes, scores, idxs, 0.5)
    calls = records(p, "torchvision.nms")
    assert calls and not p.uncounted
    # the small-input path offsets the boxes per class and runs one nms over all four
    for r in calls:
        n = r.inputs[0].shape[0]
        assert r.flops == 13 * n * (n - 1) // 2 + 3 * n + n * (n - 1).bit_length()


# -- roi_align / ps_roi_align -------------------------------------------------------------

ROIS = [[0, 0.0, 0.0, 4.0, 4.0], [0, 1.0, 1.5, 7.0, 6.0], [1, 2.0, 0.0, 5.0, 3.0]]


@pytest.mark.parametrize(("ratio", "grid"), [(1, 1), (3, 3), (2, 2), (0, 2), (-1, 2)])
def test_roi_align_per_sample_and_average(ratio, grid):
    x, rois = torch.rand(2, 3, 8, 8), torch.tensor(ROIS)
    p = counted(ops.roi_align, x, rois, (2, 3), 0.5, ratio, True)
    # 3 rois × 3 channels × 2×3 bins; each: grid² samples × 8 flops + 1 divide
    assert p.totals.flops == 3 * 3 * 6 * (8 * grid * grid + 1)
    assert p.totals.activations == 3 * 3 * 6


def test_ps_roi_align_counts_per_output_element():
    x, rois = torch.rand(2, 2 * 2 * 3, 8, 8), torch.tensor(ROIS)
    p = counted(ops.ps_roi_align, x, rois, (2, 3), 1.0, 2)
    # output [3 rois, 12 / (2·3) = 2 channels, 2, 3]: 36 elements × (8·4 + 1)
    assert p.totals.flops == 36 * 33


def test_roi_align_backward():
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    rois = torch.tensor(ROIS)

    def step():
        ops.roi_align(x, rois, 2, 1.0, 3).sum().backward()

    p = counted(step)
    back = records(p, "torchvision._roi_align_backward")
    assert len(back) == 1
    assert back[0].flops == 3 * 3 * 4 * (8 * 9 + 1)


def test_ps_roi_align_backward():
    x = torch.rand(2, 8, 8, 8, requires_grad=True)

    def step():
        ops.ps_roi_align(x, torch.tensor(ROIS), 2, 1.0, -1)[0].sum().backward()

    back = records(counted(step), "torchvision._ps_roi_align_backward")
    assert len(back) == 1 and back[0].flops == 3 * 2 * 4 * 33


# -- roi_pool / ps_roi_pool -----------------------------------------------------------------


def test_roi_pool_nominal_window_is_the_whole_map():
    x, rois = torch.rand(2, 3, 10, 7), torch.tensor(ROIS)
    p = counted(ops.roi_pool, x, rois, (3, 2), 1.0)
    # window ⌈10/3⌉·⌈7/2⌉ = 4·4 = 16 compares per output; 3 rois × 3 channels × 6 bins
    assert p.totals.flops == 54 * 16
    assert p.totals.activations == 54


def test_ps_roi_pool_and_backward():
    x = torch.rand(2, 12, 10, 7, requires_grad=True)

    def step():
        ops.ps_roi_pool(x, torch.tensor(ROIS), (3, 2), 1.0).sum().backward()

    p = counted(step)
    # output [3, 12 / 6 = 2, 3, 2] = 36 elements, window 16
    assert records(p, "torchvision.ps_roi_pool")[0].flops == 36 * 16
    assert records(p, "torchvision._ps_roi_pool_backward")[0].flops == 36 * 16


def test_roi_pool_backward_one_add_per_grad_element():
    x = torch.rand(2, 3, 10, 7, requires_grad=True)

    def step():
        ops.roi_pool(x, torch.tensor(ROIS), (3, 2), 1.0).sum().backward()

    back = records(counted(step), "torchvision._roi_pool_backward")
    assert len(back) == 1 and back[0].flops == 54


# -- deform_conv2d --------------------------------------------------------------------------


@pytest.mark.parametrize("use_mask", [False, True])
def test_deform_conv2d_macs_equal_the_convolution(use_mask):
    x = torch.rand(2, 4, 7, 6)
    weight = torch.rand(6, 2, 3, 3)  # groups = 2
    offset = torch.rand(2, 2 * 2 * 9, 3, 2)  # offset_groups = 2; stride 2, no padding
    mask = torch.rand(2, 2 * 9, 3, 2) if use_mask else None
    p = counted(ops.deform_conv2d, x, offset, weight, stride=2, mask=mask)
    # the plain convolution of the same shapes, counted by the conv formula and by torch's
    conv = counted(torch.nn.functional.conv2d, x, weight, stride=2, groups=2)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        torch.nn.functional.conv2d(x, weight, stride=2, groups=2)
    assert p.totals.macs == conv.totals.macs == fc.get_total_flops() // 2
    assert p.totals.macs == 2 * 6 * 3 * 2 * 2 * 9  # N·C_out·H_out·W_out·(C_in/g)·k²
    out = 2 * 6 * 3 * 2
    samples = 2 * 4 * 9 * 3 * 2  # N·C_in·k²·H_out·W_out
    assert p.totals.flops == 2 * p.totals.macs + out + samples * (8 if use_mask else 7)
    assert p.totals.activations == out


@pytest.mark.parametrize("use_mask", [False, True])
def test_deform_conv2d_backward_macs_equal_the_convolution_backward(use_mask):
    x = torch.rand(2, 4, 7, 6, requires_grad=True)
    weight = torch.rand(6, 2, 3, 3, requires_grad=True)
    offset = torch.rand(2, 2 * 2 * 9, 3, 2, requires_grad=True)
    mask = torch.rand(2, 2 * 9, 3, 2, requires_grad=True) if use_mask else None

    def deform():
        ops.deform_conv2d(x, offset, weight, stride=2, mask=mask).sum().backward()

    def conv():
        torch.nn.functional.conv2d(x, weight, stride=2, groups=2).sum().backward()

    back = records(counted(deform), "torchvision._deform_conv2d_backward")
    conv_back = [r for r in counted(conv).ops if r.op.startswith("aten.convolution_backward")]
    assert len(back) == 1 and len(conv_back) == 1
    # grad_input and grad_weight: twice the forward's N·C_out·H_out·W_out·(C_in/g)·k² macs
    assert back[0].macs == conv_back[0].macs == 2 * (2 * 6 * 3 * 2 * 2 * 9)
    samples = 2 * 4 * 9 * 3 * 2
    grad_out = 2 * 6 * 3 * 2
    assert back[0].flops == 2 * back[0].macs + grad_out + samples * (27 if use_mask else 23)


# -- registration, meta -------------------------------------------------------------------


def test_registered_by_key_without_the_op_object():
    for name in ("nms", "roi_align", "roi_pool", "ps_roi_align", "ps_roi_pool", "deform_conv2d"):
        assert lookup(f"torchvision.{name}")[0] == "counted"
        assert lookup(getattr(torch.ops.torchvision, name).default)[0] == "counted"


def test_torchvision_imported_after_flopwise_is_counted():
    import subprocess
    import sys

    code = (
        "import flopwise, torch\n"
        "import torchvision\n"
        "b = torch.tensor([[0., 0, 1, 1], [2, 2, 3, 3]])\n"
        "with flopwise.count() as c:\n"
        "    torchvision.ops.nms(b, torch.tensor([0.5, 0.4]), 0.5)\n"
        "print(c.profile.totals.flops, c.profile.totals.uncounted_calls)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(13 + 6 + 2), "0"]


def test_roi_ops_real_equals_meta():
    def run(device):
        x = torch.rand(2, 12, 10, 7, device=device)
        rois = torch.tensor(ROIS, device=device)
        w = torch.rand(6, 6, 3, 3, device=device)
        off = torch.rand(2, 18, 8, 5, device=device)

        def body():
            ops.roi_align(x, rois, (2, 3), 0.5, 2, True)
            ops.ps_roi_align(x, rois, (2, 3), 0.5, 0)
            ops.roi_pool(x, rois, (3, 2), 1.0)
            ops.ps_roi_pool(x, rois, (3, 2), 1.0)
            ops.deform_conv2d(x, off, w)  # groups = 12 // 6 = 2

        return counted(body).totals

    real, meta = run("cpu"), run("meta")
    assert real.flops == meta.flops > 0
    assert real.macs == meta.macs > 0
    assert real.uncounted_calls == meta.uncounted_calls == 0


# -- a detection model ---------------------------------------------------------------------


@pytest.mark.slow
def test_retinanet_is_complete_and_counts_nms():
    torch.manual_seed(0)
    # score_thresh=0 so that boxes reach nms (an untrained head scores every box ≈ 0.01)
    model = tv.models.detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, score_thresh=0.0, topk_candidates=50
    ).eval()
    p = flopwise.profile(model, [torch.rand(3, 320, 320)])
    assert p.complete and not p.uncounted
    nms = records(p, "torchvision.nms")
    assert nms
    for r in nms:
        n = r.inputs[0].shape[0]
        assert r.flops == 13 * n * (n - 1) // 2 + 3 * n + n * (n - 1).bit_length()
