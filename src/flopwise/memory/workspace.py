"""Scratch memory kernels take inside one call, invisible in the op stream (no tensor
carries it out) but real in the allocator. Modelled only where measured, for CPU float32
2-D convolution in inference (training steps measured within 1% without it):

- PyTorch picks oneDNN (mkldnn) or its own im2col kernel by ``ConvParams::use_mkldnn``
  (aten/src/ATen/native/Convolution.cpp): oneDNN for float32 on CPU when (the conv is
  strided or dilated, or batch ≥ 16, or the kernel is not 1×1, or more than one thread)
  and (groups > 1, or the kernel is larger than 3×3 in both dims, or batch > 1, or the
  input has more than 20480 elements).
- oneDNN reorders the weight into its blocked layout in a temporary the size of the weight
  (profiler: 9,437,184 bytes = 512·512·3·3·4 under ``aten::mkldnn_convolution`` for
  resnet18's layer4 at batch 2).
- The im2col kernel (``_slow_conv2d_forward``) builds ``finput`` of
  batch × (C_in/groups·kh·kw) × (H_out·W_out) elements, except for 1×1 stride-1 unpadded
  kernels, which use the input as is.
"""

from __future__ import annotations

import math

import torch

from flopwise.capture.records import OpRecord

_CONV = {"aten.convolution", "aten._convolution"}


def workspace_bytes(device: str, record: OpRecord, args: tuple, grad_enabled: bool) -> int:
    """Requested bytes of scratch ``record``'s kernel holds during the call on ``device``
    (allocator device type: "cpu", "cuda", ...); 0 where none is modelled."""
    if device != "cpu" or record.op not in _CONV or grad_enabled or len(args) < 9:
        return 0
    x, w = record.inputs[0], record.inputs[1]
    if x.dtype != torch.float32 or len(x.shape) != 4 or len(w.shape) != 4 or args[6]:
        return 0  # transposed or not 2-D float32: not modelled
    stride, padding, dilation, groups = args[3], args[4], args[5], int(args[8])
    batch, kh, kw = x.shape[0], w.shape[2], w.shape[3]
    strided = any(s != 1 for s in stride)
    one_by_one = kh == 1 and kw == 1
    mkldnn = torch.backends.mkldnn.is_available() and (
        (
            strided
            or any(d != 1 for d in dilation)
            or batch >= 16
            or not one_by_one
            or torch.get_num_threads() > 1
        )
        and (groups > 1 or (kh > 3 and kw > 3) or batch > 1 or math.prod(x.shape) > 20480)
    )
    if mkldnn:
        return math.prod(w.shape) * w.itemsize
    if one_by_one and not strided and not any(p != 0 for p in padding):
        return 0
    out = record.outputs[0]
    return batch * (x.shape[1] // groups) * kh * kw * out.shape[2] * out.shape[3] * x.itemsize
