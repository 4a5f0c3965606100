"""The capture engine: one ATen-level TorchDispatchMode that turns every call into an
:class:`OpRecord` with its module path and cost.

Only a dispatch mode is installed: a TorchFunctionMode would make ``has_torch_function``
true and switch off fused fast paths (nn.MultiheadAttention's), changing what runs.

Two things keep one count per call, whichever grad mode or kernel runs:

- ``scaled_dot_product_attention`` is counted at the call. It is CompositeImplicitAutograd,
  so under autograd and ``no_grad`` it decomposes above the Python dispatch key into
  whichever backend PyTorch picks (fused kernels, or the math fallback's dense matmuls and
  softmax). While a capture is active, a Python kernel registered on the op's Autograd
  keys (:class:`_AttentionHook`) sees the call itself: it records one attention op, runs
  the unchanged decomposition with recording suppressed, and marks the autograd nodes the
  decomposition created so their backward ops count as one attention backward.
- Under ``inference_mode`` the autograd keys are skipped and composite ops reach the mode
  whole; the mode runs their decomposition (``func.decompose``), so what is counted is
  exactly what ``no_grad`` counts.
"""

from __future__ import annotations

import functools
import math
import sys
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack
from torch.utils._pytree import tree_leaves, tree_map

from flopwise.capture.records import OpRecord
from flopwise.capture.threads import ThreadRelay
from flopwise.capture.tracker import ModuleTracker
from flopwise.cost.contraction import grouped_mm_output_shape, schema_arg, sdpa_backward_cost
from flopwise.cost.registry import lookup, op_key, packet_of
from flopwise.cost.types import OpCall, OpCost, TensorMeta, Uncountable

# Gathers read the rows they fetch (plus indices), not the whole table they index.
_GATHERS = {"aten.embedding", "aten.index_select", "aten.gather", "aten.index", "aten.take"}
# Ops that allocate without writing, and _unsafe_view (a view its schema does not mark as
# one; matmul's decomposition uses view or _unsafe_view depending on the grad mode): no traffic.
_NO_TRAFFIC = {
    "aten._unsafe_view",
    "aten.empty",
    "aten.empty_like",
    "aten.empty_strided",
    "aten.new_empty",
    "aten.new_empty_strided",
}
# Reading one scalar back to the host (``item()``, ``bool(t)``, formatting a 0-dim tensor)
# moves no tensor traffic: libraries do it on real tensors only (a fake tensor has no value
# to read; transformers formats tensors into error messages it never raises), so counting
# it would make a real count differ from a meta one by a few bytes.
_NO_TRAFFIC |= {"aten._local_scalar_dense", "aten.item"}


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


def mutated_not_returned(func: Any, args: tuple, kwargs: dict, out: Any) -> list[TensorMeta]:
    """The tensors ``func``'s schema marks as written (``Tensor(a!)``: in-place ``self``,
    ``out=``, the lists ``_foreach_*_`` ops update) that it does not also return, each
    once, plus those :data:`_UNDECLARED_WRITES` names. Returned tensors are already counted
    as outputs; these are the writes an op that returns nothing (``_foreach_mul_``,
    ``_fused_adam_``) or does not declare (a batch norm's running statistics) would
    otherwise hide."""
    declared = _written_arguments(func)
    undeclared = _UNDECLARED_WRITES.get(op_key(func))
    if not declared and undeclared is None:  # most ops: nothing to look at
        return []
    written = [
        args[i] if not kwarg_only and i < len(args) else kwargs.get(name)
        for i, name, kwarg_only in declared
    ]
    if undeclared is not None and len(args) > undeclared[0] and args[undeclared[0]] is True:
        written.extend(args[i] for i in undeclared[1])
    seen = {id(t) for t in tree_leaves(out) if isinstance(t, torch.Tensor)}
    found: list[TensorMeta] = []
    for t in tree_leaves(written):
        if isinstance(t, torch.Tensor) and id(t) not in seen:
            seen.add(id(t))
            found.append(tensor_meta(t))
    return found


@functools.cache
def _written_arguments(func: Any) -> tuple[tuple[int, str, bool], ...]:
    """(position, name, keyword-only) of each argument ``func``'s schema marks as written,
    read once per op: this runs for every op a capture sees."""
    schema = getattr(func, "_schema", None)
    if schema is None:
        return ()
    return tuple(
        (i, arg.name, arg.kwarg_only)
        for i, arg in enumerate(schema.arguments)
        if arg.alias_info is not None and arg.alias_info.is_write
    )


#: Ops that update tensors in place without their schema saying so: the batch norms take
#: ``Tensor? running_mean, Tensor? running_var`` (no ``(a!)``) and, when training, write
#: the updated statistics into them. Op key -> (index of the training flag, indices of the
#: tensors written).
_UNDECLARED_WRITES: dict[str, tuple[int, tuple[int, ...]]] = {
    "aten.native_batch_norm": (5, (3, 4)),
    "aten.cudnn_batch_norm": (5, (3, 4)),
    "aten.miopen_batch_norm": (5, (3, 4)),
}


_SDPA = torch.ops.aten.scaled_dot_product_attention.default
_SDPA_KEY = op_key(_SDPA)
# The attention backward record's name: not an ATen op, the backward of one SDPA call.
SDPA_BACKWARD = "flopwise.scaled_dot_product_attention_backward"
# Autograd dispatch keys the attention kernel is registered on. Direct registrations win
# over the CompositeImplicitAutograd kernel (the ``Autograd`` alias does not).
_AUTOGRAD_KEYS = (
    "AutogradCPU",
    "AutogradCUDA",
    "AutogradMeta",
    "AutogradXPU",
    "AutogradMPS",
    "AutogradHPU",
    "AutogradPrivateUse1",
)
_composite: dict[Any, bool] = {}
_decomposes: dict[tuple[Any, str], bool] = {}


def _is_composite(func: Any) -> bool:
    known = _composite.get(func)
    if known is None:
        try:
            known = torch._C._dispatch_has_kernel_for_dispatch_key(
                func.name(), "CompositeImplicitAutograd"
            )
        except RuntimeError:  # not a dispatcher op (prim::device)
            known = False
        _composite[func] = known
    return known


def decomposes_above_python(func: Any, args: tuple, kwargs: dict) -> bool:
    """True when, outside inference_mode, ``func`` on these tensors' device would run its
    CompositeImplicitAutograd kernel at the autograd key (so a dispatch mode sees only the
    ops it lowers to); under ``inference_mode`` such an op arrives whole."""
    if not _is_composite(func):  # the common case, decided without looking at arguments
        return False
    device = next(
        (t.device.type for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)),
        "cpu",
    )
    known = _decomposes.get((func, device))
    if known is None:
        known = False
        try:
            key = "Autograd" + torch._C._dispatch_key_for_device(device)
            # The computed dispatch table says which kernel that key runs.
            for line in torch._C._dispatch_dump_table(func.name()).splitlines():
                if line.startswith(key + ":"):
                    known = line.rstrip().endswith("[math kernel]")
                    break
        except RuntimeError:  # a device without its own autograd key
            known = False
        _decomposes[(func, device)] = known
    return known


def _view_tracking() -> Any:
    """Re-enable the ADInplaceOrView key that dispatch-mode handlers run without: some
    composites (matmul's folding) branch on what view tracking records, so without it they
    lower differently from a plain no_grad call."""
    include = torch._C._dispatch_tls_local_include_set()
    exclude = torch._C._dispatch_tls_local_exclude_set()
    key = torch._C.DispatchKey.ADInplaceOrView
    return torch._C._ForceDispatchKeyGuard(include.add(key), exclude.remove(key))


def _refused_outside_inference(exc: RuntimeError) -> bool:
    """The error PyTorch raises when inference tensors meet in-place updates or view
    tracking outside inference mode (then a plainer way to run the op is tried)."""
    message = str(exc)
    return "nference tensor" in message or "differentiable view" in message


@dataclass
class _AttentionRegion:
    """The autograd nodes one SDPA call created, and the cost of their backward."""

    call: OpCall
    recorded: bool = False


def _capture_modes() -> list[CaptureMode]:
    """The capture modes active on this thread (innermost first), not paused."""
    stack = _get_current_dispatch_mode_stack()
    return [m for m in reversed(stack) if isinstance(m, CaptureMode) and not m.paused]


def records_so_far() -> int:
    """How many ops the innermost active capture on this thread has recorded (0 if none):
    a caller running inside a profile marks where its own steps begin in the records."""
    modes = _capture_modes()
    return len(modes[0].records) if modes else 0


def _sdpa_kernel(*args: Any, **kwargs: Any) -> Any:
    """Autograd-key kernel of ``aten::scaled_dot_product_attention`` while a capture is
    active: the call is recorded once, then the unchanged composite kernel runs (same
    backend choice, same autograd graph) with its inner ops unrecorded."""
    modes = _capture_modes()
    if not modes:  # another thread, or a paused capture: behave exactly as PyTorch does
        return _SDPA.decompose(*args, **kwargs)
    track = torch.is_grad_enabled() and any(
        isinstance(t, torch.Tensor) and t.requires_grad for t in tree_leaves((args, kwargs))
    )
    for mode in modes:
        mode.suppressed += 1
    try:
        fence = _sequence_fence(args[0]) if track else -1
        out = _SDPA.decompose(*args, **kwargs)
    finally:
        for mode in modes:
            mode.suppressed -= 1
    for mode in modes:
        call = mode._record(_SDPA_KEY, args, kwargs, out, is_view=False)
        if track and isinstance(out, torch.Tensor) and out.grad_fn is not None:
            mode.mark_attention_nodes(out.grad_fn, fence, call)
    return out


def _sequence_fence(like: torch.Tensor) -> int:
    """A sequence number below every autograd node created after this call on this thread
    (node numbers are per-thread and increasing), from a throwaway node."""
    probe = torch.empty(0, dtype=like.dtype, device=like.device, requires_grad=True)
    return probe.view(0).grad_fn._sequence_nr()


class _AttentionHook:
    """Process-wide, reference-counted registration of :func:`_sdpa_kernel`; the last
    capture to exit removes it, so nothing stays registered after a profile."""

    _lock = threading.Lock()
    _users = 0
    _library: Any = None

    @classmethod
    def acquire(cls) -> None:
        with cls._lock:
            if cls._users == 0:
                library = torch.library.Library("aten", "IMPL")  # noqa: TOR901
                try:
                    for key in _AUTOGRAD_KEYS:
                        try:
                            library.impl("scaled_dot_product_attention", _sdpa_kernel, key)
                        except (RuntimeError, ValueError):
                            continue  # a dispatch key this build does not know
                except BaseException:
                    library._destroy()
                    raise
                cls._library = library
            cls._users += 1

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users == 0 and cls._library is not None:
                library, cls._library = cls._library, None
                library._destroy()


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
        self.suppressed = 0  # > 0 while an attention call's own decomposition runs
        # sequence number of an autograd node → the attention call that created it
        self._attention_nodes: dict[int, tuple[str, _AttentionRegion]] = {}
        self._node_hooks: list[Any] = []
        self._last_check: Any = None  # weak reference to the last fake _is_all_true result

    # -- dispatch -----------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.suppressed:  # inside an attention call already recorded whole
            return func(*args, **kwargs)
        if func is not _SDPA and decomposes_above_python(func, args, kwargs):
            # A composite arrived whole (inference_mode, or tensors made there that lack
            # autograd keys): count what no_grad counts, the ops it lowers to.
            if torch.is_inference_mode_enabled():
                return self._as_under_no_grad(func, args, kwargs)
            return self._decomposed(func, args, kwargs)
        out = _shape_only_result(func, args)
        if out is None:
            out = self._passed_check(func, args)
        if out is None:
            out = func(*args, **kwargs)
        if func is _IS_ALL_TRUE and _is_fake_tensor(out):
            self._last_check = weakref.ref(out)
        # prim ops (prim.device, ...) are metadata queries fake tensors make; not work.
        if self.paused or func.namespace == "prim":
            return out
        if self._attention_nodes and self._in_attention_backward():
            return out
        written = mutated_not_returned(func, args, kwargs, out)
        is_view = bool(getattr(func, "is_view", False))
        self._record(op_key(func), args, kwargs, out, is_view=is_view, mutated=written)
        return out

    def _passed_check(self, func: Any, args: tuple) -> bool | None:
        """True for reading back a fake ``_is_all_true`` result, else None.

        ``torch._check_tensor_all`` (transformers' ``torch_compilable_check``: Llava checks
        that ``input_ids`` holds as many image tokens as the vision tower gives features)
        reads ``cond._is_all_true().item()``, a value a fake tensor does not have. The
        check asserts and computes nothing, so on fake/meta tensors it is taken as passed,
        as it passes on real tensors for a valid input (the real run still checks)."""
        if func is not _LOCAL_SCALAR_DENSE or self._last_check is None:
            return None
        return True if args and args[0] is self._last_check() else None

    def _as_under_no_grad(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """Run a composite op that reached the mode whole under inference_mode the way
        no_grad runs it: re-dispatched outside inference mode with grad off, so its
        CompositeImplicitAutograd kernel takes the same branches (several test
        ``is_inference``) and each op it lowers to reaches this mode. Where that is
        refused (an in-place step on an inference tensor), its decomposition runs inside
        inference mode instead."""
        mark = len(self.records)
        try:
            with self, torch.inference_mode(False), torch.no_grad(), _view_tracking():
                return func(*args, **kwargs)
        except RuntimeError as exc:
            if not _refused_outside_inference(exc):
                raise
            del self.records[mark:]
        return self._decomposed(func, args, kwargs)

    def _decomposed(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """Run ``func``'s CompositeImplicitAutograd kernel with each op it lowers to seen by
        this mode; with view tracking on where the tensors allow it (as under no_grad)."""
        mark = len(self.records)
        try:
            with self, _view_tracking():
                return func.decompose(*args, **kwargs)
        except RuntimeError as exc:
            if not _refused_outside_inference(exc):  # e.g. fake inference tensors
                raise
            del self.records[mark:]
        with self:
            return func.decompose(*args, **kwargs)

    # -- attention backward -------------------------------------------------------
    def mark_attention_nodes(self, root: Any, fence: int, call: OpCall) -> None:
        """File every autograd node reachable from ``root`` and created after ``fence``
        (the decomposition of one attention call) under that call."""
        region = _AttentionRegion(call)

        def entering(*_grads: Any) -> None:  # each backward pass through the call counts
            region.recorded = False

        self._node_hooks.append(root.register_prehook(entering))
        todo = [root]
        while todo:
            node = todo.pop()
            if node is None:
                continue
            seq = node._sequence_nr()
            # AccumulateGrad nodes carry the largest number; leaves end the region.
            if seq <= fence or seq in self._attention_nodes or "AccumulateGrad" in node.name():
                continue
            self._attention_nodes[seq] = (node.name(), region)
            todo.extend(fn for fn, _ in node.next_functions)

    def forget_attention_nodes(self) -> None:
        """Drop the node marks and hooks (the capture is over; later backward passes are
        not ours)."""
        self._attention_nodes.clear()
        for handle in self._node_hooks:
            handle.remove()
        self._node_hooks.clear()

    def _in_attention_backward(self) -> bool:
        """When the running autograd node belongs to an attention call, record that call's
        backward once (whatever kernel computes it) and report the op as covered."""
        node = torch._C._current_autograd_node()
        if node is None:
            return False
        entry = self._attention_nodes.get(node._sequence_nr())
        if entry is None or entry[0] != node.name():
            return False
        region = entry[1]
        if not region.recorded:
            region.recorded = True
            self._record_attention_backward(region.call)
        return True

    def _record_attention_backward(self, fwd: OpCall) -> None:
        q, k, v = fwd.args[:3]
        causal = bool(schema_arg(fwd, "is_causal", False))
        cost = sdpa_backward_cost(q, k, v, causal, schema_arg(fwd, "dropout_p", 0.0))
        out = fwd.out
        grad_out = TensorMeta(out.shape, out.dtype, storage=-1)
        # Reads dO, Q, K, V and O; writes dQ, dK, dV (what the fused backward kernels do).
        grads = [TensorMeta(t.shape, t.dtype, storage=-2 - i) for i, t in enumerate((q, k, v))]
        path = self.tracker.path
        self.records.append(
            OpRecord(
                index=len(self.records),
                op=SDPA_BACKWARD,
                module_path=path,
                module_type=self.tracker.type_of(path),
                phase="backward",
                inputs=(grad_out, q, k, v, out),
                outputs=tuple(grads),
                status="counted",
                category=cost.category,
                flops=cost.flops,
                macs=cost.macs,
                activations=0,
                bytes_read=traffic([grad_out, q, k, v, out]),
                bytes_written=traffic(grads),
            )
        )

    # -- recording ----------------------------------------------------------------
    def _record(
        self,
        op: str,
        args: tuple,
        kwargs: dict,
        out: Any,
        is_view: bool,
        mutated: tuple | list = (),
    ) -> OpCall:
        """Record one call. ``mutated``: tensors it writes in place but does not return
        (see :func:`mutated_not_returned`); written once each, like its outputs."""
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
            written = (
                cost.bytes_written
                if cost.bytes_written >= 0
                else traffic([*call.outputs, *mutated])
            )
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
        return call


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


_IS_ALL_TRUE = torch.ops.aten._is_all_true.default
_LOCAL_SCALAR_DENSE = torch.ops.aten._local_scalar_dense.default


def _is_fake_tensor(t: Any) -> bool:
    module = sys.modules.get("torch._subclasses.fake_tensor")  # not imported: nothing is fake
    return module is not None and isinstance(t, module.FakeTensor)


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
            _AttentionHook.acquire()
            try:
                self.mode.__enter__()
            except BaseException:
                _AttentionHook.release()
                raise
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
            self.mode.forget_attention_nodes()
            try:
                _AttentionHook.release()
            finally:
                self.tracker.__exit__(*exc)


class _Paused:
    def __init__(self, mode: CaptureMode) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        self.mode.paused = True

    def __exit__(self, *exc: object) -> None:
        self.mode.paused = False
