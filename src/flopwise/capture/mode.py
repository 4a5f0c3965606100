"""The capture engine: one ATen-level TorchDispatchMode that turns every call into an
:class:`OpRecord` with its module path and cost.

Only a dispatch mode is installed: a TorchFunctionMode would make ``has_torch_function``
true and switch off fused fast paths (nn.MultiheadAttention's), changing what runs."""

from __future__ import annotations

import math
import threading
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

from flopwise.capture.records import OpRecord
from flopwise.capture.threads import ThreadRelay
from flopwise.capture.tracker import ModuleTracker
from flopwise.cost.contraction import grouped_mm_output_shape
from flopwise.cost.registry import lookup, op_key, packet_of
from flopwise.cost.types import OpCall, OpCost, TensorMeta, Uncountable

# Gathers read the rows they fetch (plus indices), not the whole table they index.
_GATHERS = {"aten.embedding", "aten.index_select", "aten.gather", "aten.index", "aten.take"}
# Ops that allocate without writing: no traffic.
_NO_TRAFFIC = {
    "aten.empty",
    "aten.empty_like",
    "aten.empty_strided",
    "aten.new_empty",
    "aten.new_empty_strided",
}


def tensor_meta(t: torch.Tensor) -> TensorMeta:
    """Describe ``t`` by shape, dtype and storage, without touching its data."""
    shape = tuple(int(s) for s in t.shape)
    numel = math.prod(shape)
    try:
        storage = t.untyped_storage()
        key, storage_bytes = int(storage._cdata), int(storage.nbytes())
        span = (
            1
            + sum((size - 1) * abs(stride) for size, stride in zip(shape, t.stride(), strict=True))
            if numel
            else 0
        )
        touched = min(numel, span)
    except (RuntimeError, NotImplementedError, AttributeError, TypeError):
        key, storage_bytes, touched = id(t), -1, numel  # sparse, nested or opaque tensors
    return TensorMeta(shape, t.dtype, key, touched, storage_bytes)


def traffic(tensors: list[TensorMeta]) -> int:
    """Bytes to move ``tensors`` once: each distinct storage once, views of one storage
    summed but never past the storage's size, expanded dims counted once."""
    per_storage: dict[int, int] = {}
    caps: dict[int, int] = {}
    for t in tensors:
        elements = t.elements_touched if t.elements_touched >= 0 else t.numel
        per_storage[t.storage] = per_storage.get(t.storage, 0) + elements * t.itemsize
        caps[t.storage] = t.storage_bytes
    return sum(min(n, caps[s]) if caps[s] >= 0 else n for s, n in per_storage.items())


def _to_meta(value: Any) -> Any:
    return tensor_meta(value) if isinstance(value, torch.Tensor) else value


class CaptureMode(TorchDispatchMode):
    """Records every ATen op run inside it, with its module path and cost.

    Use :func:`capture` rather than this class: it also installs the module tracker and
    guarantees everything is removed, even if the model raises.
    """

    def __init__(self, tracker: ModuleTracker) -> None:
        super().__init__()
        self.tracker = tracker
        self.records: list[OpRecord] = []
        self.paused = False

    # -- dispatch -----------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = _shape_only_result(func, args)
        if out is None:
            out = func(*args, **kwargs)
        # prim ops (prim.device, ...) are metadata queries fake tensors make; not work.
        if not self.paused and func.namespace != "prim":
            self._record(
                op_key(func), args, kwargs, out, is_view=bool(getattr(func, "is_view", False))
            )
        return out

    # -- recording ----------------------------------------------------------------
    def _record(self, op: str, args: tuple, kwargs: dict, out: Any, is_view: bool) -> None:
        call = OpCall(
            op=op,
            args=tuple(tree_map(_to_meta, list(args))),
            kwargs=tree_map(_to_meta, dict(kwargs)),
            outputs=tuple(tensor_meta(t) for t in tree_leaves(out) if isinstance(t, torch.Tensor)),
        )
        status, formula = lookup(op)
        cost = OpCost(category="memory")
        if formula is not None:
            try:
                cost = formula(call)
            except Uncountable:
                status = "uncounted"
            except Exception as exc:  # a formula bug must not be a silent zero
                raise RuntimeError(
                    f"flopwise: cost formula for {op} failed on {_describe(call)}: {exc}"
                ) from exc
        inputs = tuple(call.tensor_inputs())
        packet = packet_of(op)
        if is_view or packet in _NO_TRAFFIC:
            read = written = 0
        elif packet in _GATHERS:
            indices = [t for t in inputs if not (t.dtype.is_floating_point or t.dtype.is_complex)]
            read = traffic(list(call.outputs)) + traffic(indices)
            written = traffic(list(call.outputs))
        else:
            read = cost.bytes_read if cost.bytes_read >= 0 else traffic(list(inputs))
            written = cost.bytes_written if cost.bytes_written >= 0 else traffic(list(call.outputs))
        path = self.tracker.path
        backward = torch._C._current_autograd_node() is not None
        self.records.append(
            OpRecord(
                index=len(self.records),
                op=op,
                module_path=path,
                module_type=self.tracker.type_of(path),
                phase="backward" if backward else "forward",
                inputs=inputs,
                outputs=call.outputs,
                status=status,
                category=cost.category if status == "counted" else "memory",
                flops=cost.flops,
                macs=cost.macs,
                activations=0 if backward else cost.activations,  # pycls: forward outputs only
                bytes_read=read,
                bytes_written=written,
            )
        )


def _shape_only_result(func, args: tuple) -> torch.Tensor | None:
    """Stand-in result for an op whose fake/meta kernel is stricter than its CPU kernel
    (``_grouped_mm``'s meta kernel rejects float32 that the CPU kernel accepts), so the same
    model counts on every tensor kind. Real tensors never take this path."""
    if op_key(func) not in ("aten._grouped_mm", "aten.grouped_mm"):
        return None
    from torch._subclasses.fake_tensor import FakeTensor

    a, b = args[0], args[1]
    if not isinstance(a, FakeTensor) or a.dtype in (torch.bfloat16, torch.float16):
        return None
    offs = args[2] if len(args) > 2 else None
    groups = int(offs.shape[0]) if isinstance(offs, torch.Tensor) else 1
    shape = grouped_mm_output_shape(tuple(a.shape), tuple(b.shape), groups)
    return torch.empty(shape, dtype=a.dtype, device=a.device)


def _describe(call: OpCall) -> str:
    return ", ".join(t.describe() for t in call.tensor_inputs()) or "no tensors"


class _SerialMode(CaptureMode):
    """A :class:`CaptureMode` that handles one op at a time: ops relayed from worker threads
    (capture.threads) would otherwise race on the record list and on the fake-tensor mode,
    which is not thread-safe."""

    def __init__(self, tracker: ModuleTracker) -> None:
        super().__init__(tracker)
        self.lock = threading.RLock()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        with self.lock:
            return super().__torch_dispatch__(func, types, args, kwargs)


class capture:  # noqa: N801  (used like a function / context manager)
    """Context manager that records every op run inside it.

    >>> with capture(model) as cap:
    ...     model(x)
    >>> cap.records  # list[OpRecord]

    Threads started inside the block (a pool in ``forward``) are recorded too; work of
    threads that existed before shows up in :attr:`missed_threads`.

    On exit (normal or by exception) the dispatch mode, the function mode, the module
    hooks, the thread hook and any tensor hooks are all removed.
    """

    def __init__(self, root: torch.nn.Module | None = None) -> None:
        self.tracker = ModuleTracker(root)
        self.mode = _SerialMode(self.tracker)
        self.threads = ThreadRelay(self.mode, on_thread=self.tracker.relayed.add)

    @property
    def missed_threads(self) -> list[str]:
        """Names of threads that ran modules or started unrelayable during the capture:
        their ops are not in :attr:`records`."""
        return sorted({*self.tracker.foreign, *self.threads.missed})

    @property
    def records(self) -> list[OpRecord]:
        return self.mode.records

    def pause(self) -> _Paused:
        """Context manager: run code (e.g. building a loss) without recording it."""
        return _Paused(self.mode)

    def __enter__(self) -> capture:
        self.tracker.__enter__()
        try:
            self.mode.__enter__()
        except BaseException:
            self.tracker.__exit__(None, None, None)
            raise
        self.threads.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.threads.__exit__(*exc)
            self.mode.__exit__(*exc)
        finally:
            self.tracker.__exit__(*exc)


class _Paused:
    def __init__(self, mode: CaptureMode) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        self.mode.paused = True

    def __exit__(self, *exc: object) -> None:
        self.mode.paused = False
