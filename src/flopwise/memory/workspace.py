"""Scratch memory kernels take inside one call, invisible in the op stream (no tensor
carries it out) but real in the allocator. Modelled only where measured:

- CPU float32 2-D convolution through oneDNN (mkldnn): the weight is reordered into
  oneDNN's blocked layout in a temporary the size of the weight, freed when the call
  returns (seen in the profiler's allocation events under ``aten::mkldnn_convolution``:
  e.g. 9,437,184 bytes = 512·512·3·3·4 for resnet18's layer4 convolutions).
"""

from __future__ import annotations

import torch

from flopwise.capture.records import OpRecord
from flopwise.cost.types import TensorMeta

_CONV = {"aten.convolution", "aten._convolution"}


def workspace_bytes(device: str, record: OpRecord) -> int:
    """Requested bytes of scratch ``record``'s kernel holds during the call on ``device``
    (allocator device type: "cpu", "cuda", ...); 0 where none is modelled."""
    if device != "cpu" or record.op not in _CONV or record.phase != "forward":
        return 0
    if len(record.inputs) < 2 or not torch.backends.mkldnn.is_available():
        return 0
    x, w = record.inputs[0], record.inputs[1]
    if x.dtype != torch.float32 or len(x.shape) != 4 or len(w.shape) != 4:
        return 0
    return _nbytes(w)


def _nbytes(t: TensorMeta) -> int:
    return t.numel * t.itemsize
