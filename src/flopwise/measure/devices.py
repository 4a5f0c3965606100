"""Which device a command runs its model on, and what the output says about it.

Every command that runs a model takes the same ``--device`` (``auto``, ``cpu``, ``cuda``,
``cuda:N``, ``meta``, ``fake``). :func:`resolve_device` turns it into the device the model
is built and timed on, refusing in one line what cannot work (timing on meta tensors, CUDA
on a machine without it); :func:`device_summary` is the block every output carries, naming
the device and, on CUDA, the peak memory the allocator saw.
"""

from __future__ import annotations

from typing import Any

import torch

from flopwise.errors import FlopwiseError
from flopwise.measure.timing import DeviceUnavailable

__all__ = [
    "DEVICE_CHOICES",
    "valid_device_name",
    "resolve_device",
    "reset_peak_memory",
    "device_summary",
]

#: The spellings ``--device`` accepts (``cuda:N`` besides these).
DEVICE_CHOICES = ("auto", "cpu", "cuda", "meta", "fake")


def valid_device_name(name: str) -> bool:
    """True for one of :data:`DEVICE_CHOICES` or ``cuda:N``."""
    if name in DEVICE_CHOICES:
        return True
    head, sep, index = name.partition(":")
    return head == "cuda" and bool(sep) and index.isdigit()


def resolve_device(device: str, *, timing: bool) -> str:
    """The device a run builds its model on: ``auto`` is ``cpu`` when the run times the
    model and ``meta`` when it only counts. Raises :class:`FlopwiseError` (one line) for an
    unknown name or a timing run on ``meta``/``fake`` tensors (they do no work), and
    :class:`DeviceUnavailable` for CUDA on a machine where ``torch.cuda.is_available()`` is
    False."""
    if not valid_device_name(device):
        raise FlopwiseError(
            f"--device must be one of {', '.join(DEVICE_CHOICES)} or cuda:N (got {device!r})"
        )
    if device == "auto":
        return "cpu" if timing else "meta"
    if timing and device in ("meta", "fake"):
        raise FlopwiseError(
            f"--device {device}: timing needs real tensors ({device} tensors do no work); "
            "use --device cpu or cuda"
        )
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailable(
            f"--device {device}: torch.cuda.is_available() is False on this machine "
            "(no GPU or no CUDA driver); use --device cpu"
        )
    return device


def _is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def reset_peak_memory(device: str) -> None:
    """Start a fresh peak-memory count on a CUDA device (nothing to do elsewhere)."""
    if _is_cuda(device):
        torch.cuda.reset_peak_memory_stats(torch.device(device))


def device_summary(device: str) -> dict[str, Any]:
    """``{"name", "model", "peak_memory_bytes"}`` of ``device``: its name as run, the
    hardware's name (the GPU's, or ``cpu``), and on CUDA the peak bytes
    ``torch.cuda.max_memory_allocated`` saw since :func:`reset_peak_memory` (None on CPU,
    where no allocator keeps such a count)."""
    if not _is_cuda(device):
        return {"name": device, "model": device, "peak_memory_bytes": None}
    dev = torch.device(device)
    return {
        "name": device,
        "model": torch.cuda.get_device_name(dev),
        "peak_memory_bytes": int(torch.cuda.max_memory_allocated(dev)),
    }
