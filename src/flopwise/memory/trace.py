"""Storage lifetimes from the captured op stream, and the step runner behind
:func:`memory_profile`.

The capture engine's dispatch mode is reused as is (a subclass adds bookkeeping after each
call): every output storage not seen before is an allocation born at that op; outputs that
share a known storage (views, in-place ops, ``out=``) allocate nothing. A weak reference on
each storage says when the last tensor using it went away (what frees it in the allocator),
so frees of temporaries, of tensors saved for backward and of gradients are the real ones,
on real, fake and meta tensors alike."""

from __future__ import annotations

import contextlib
import copy
import itertools
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_leaves, tree_map

from flopwise.capture.mode import _SerialMode, capture
from flopwise.capture.records import ancestors
from flopwise.capture.threads import ThreadRelay
from flopwise.errors import FlopwiseError
from flopwise.memory.allocator import AllocatorRule, rule_for
from flopwise.memory.result import (
    CATEGORIES,
    Block,
    MemoryMode,
    MemoryModuleRow,
    MemoryPeak,
    MemoryProfile,
)
from flopwise.memory.workspace import workspace_bytes

OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw")
WORKSPACE = -1  # block id of kernel scratch events


def storage_key(t: torch.Tensor) -> tuple[int, Any] | None:
    """``(key, storage)`` of a dense tensor's storage, or None for tensors without one."""
    try:
        st = t.untyped_storage()
    except (RuntimeError, NotImplementedError, AttributeError, TypeError):
        return None
    return int(st._cdata), st


class Lifetimes:
    """Allocation and free events of every storage, positioned on the op sequence."""

    def __init__(self, rule: AllocatorRule) -> None:
        self.rule = rule
        self.blocks: list[Block] = []
        self.live: dict[int, int] = {}  # storage key -> block id
        self.refs: dict[int, weakref.ref] = {}
        self.events: list[
            tuple[int, int, int]
        ] = []  # (position, +/- bytes, block id), in time order
        self.position = -1
        self.phase = "setup"
        self.path = ""
        self.closed = False  # after the step: frees of the runner's own objects don't count

    def adopt(self, t: torch.Tensor, category: str) -> None:
        """Register a tensor that existed before the step (parameter, buffer, input, ...)."""
        self._track(t, category, birth=-1, op="(before step)", path="")

    def _track(self, t: torch.Tensor, category: str, birth: int, op: str, path: str) -> None:
        found = storage_key(t)
        if found is None:
            return
        key, st = found
        if key in self.live:
            block = self.blocks[self.live[key]]
            block.last_use = max(block.last_use, self.position)
            grown = self.rule.round(int(st.nbytes())) - block.bytes
            if grown > 0:  # resize_ / out= growing an existing storage
                block.bytes += grown
                block.requested_bytes = int(st.nbytes())
                self.events.append((self.position, grown, block.id))
            return
        requested = int(st.nbytes())
        block = Block(
            id=len(self.blocks),
            bytes=self.rule.round(requested),
            requested_bytes=requested,
            category=category,
            birth=birth,
            death=None,
            last_use=birth,
            op=op,
            module_path=path,
            phase=self.phase,
        )
        self.blocks.append(block)
        self.live[key] = block.id
        self.refs[block.id] = weakref.ref(st, lambda _r, k=key, b=block.id: self._freed(k, b))
        self.events.append((birth, block.bytes, block.id))

    def _freed(self, key: int, block_id: int) -> None:
        if self.closed:
            return
        if self.live.get(key) == block_id:
            del self.live[key]
        block = self.blocks[block_id]
        if block.death is None:
            block.death = self.position
            self.events.append((self.position, -block.bytes, block_id))

    def after_op(
        self, op: str, path: str, args: Any, out: Any, recorded: bool, workspace: int = 0
    ) -> None:
        """Account one dispatched call: its kernel's scratch (held while its outputs are
        allocated), inputs used, outputs born (or aliased)."""
        scratch = self.rule.round(workspace)
        if scratch:
            self.events.append((self.position, scratch, WORKSPACE))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self._track(
                    t, "temporaries", self.position, op if recorded else f"{op} (unrecorded)", path
                )
        if scratch:
            self.events.append((self.position, -scratch, WORKSPACE))
        for t in tree_leaves(args):
            if isinstance(t, torch.Tensor):
                self._track(
                    t, "temporaries", self.position, op if recorded else f"{op} (unrecorded)", path
                )

    def block_of(self, t: torch.Tensor) -> Block | None:
        found = storage_key(t)
        if found is None or found[0] not in self.live:
            return None
        return self.blocks[self.live[found[0]]]

    def live_blocks(self) -> list[Block]:
        return [self.blocks[b] for b in self.live.values()]


class _MemoryMode(_SerialMode):
    """The capture mode plus storage bookkeeping after each call (one op at a time, as
    worker threads relayed to the capture may call in)."""

    def __init__(self, tracker: Any, lifetimes: Lifetimes) -> None:
        super().__init__(tracker)
        self.lifetimes = lifetimes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        with self.lock:
            return self._dispatch(func, types, args, kwargs)

    def _dispatch(self, func, types, args, kwargs):
        before = len(self.records)
        out = super().__torch_dispatch__(func, types, args, kwargs)
        recorded = len(self.records) > before
        lt = self.lifetimes
        lt.position = len(self.records) - 1
        if func.namespace != "prim":
            if recorded:
                rec = self.records[-1]
                scratch = workspace_bytes(lt.rule.device, rec, args, torch.is_grad_enabled())
                lt.after_op(rec.op, rec.module_path, (args, kwargs or {}), out, True, scratch)
            else:
                lt.after_op(str(func), self.tracker.path, (args, kwargs or {}), out, False)
        return out


class _MemoryCapture(capture):
    def __init__(self, root: nn.Module | None, lifetimes: Lifetimes) -> None:
        super().__init__(root)
        self.mode = _MemoryMode(self.tracker, lifetimes)
        # Worker threads relay their ops to the mode in use, this one.
        self.threads = ThreadRelay(self.mode, on_thread=self.tracker.relayed.add)


def make_optimizer(name: str | None, params: list[nn.Parameter]) -> torch.optim.Optimizer | None:
    """The optimizer ``name`` (sgd, sgd-momentum, adam, adamw) over ``params``, with
    PyTorch's defaults for everything that changes its state (none, one momentum buffer,
    two moments plus a step counter per parameter)."""
    if name is None:
        return None
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-3)
    if name == "sgd-momentum":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3)
    raise FlopwiseError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def _roots(out: Any) -> list[torch.Tensor]:
    return [
        t
        for t in tree_leaves(out)
        if isinstance(t, torch.Tensor) and t.requires_grad and t.is_floating_point()
    ]


def run_step(
    call: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    *,
    train: bool,
    optimizer: torch.optim.Optimizer | None,
    mark: Callable[[str, Any], None] = lambda phase, out: None,
    amp: tuple[str, torch.dtype] | None = None,
) -> None:
    """One step as flopwise accounts it, shared by prediction and measurement: forward
    (under ``torch.autocast(*amp)`` when given: mixed precision, fp32 weights as masters);
    with ``train``: backward from ones on every floating output that requires grad, the
    outputs released, then ``optimizer.step()``. Inference runs under ``no_grad`` and keeps
    its output to the end."""
    autocast = torch.autocast(amp[0], dtype=amp[1]) if amp is not None else contextlib.nullcontext()
    mark("forward", None)
    if not train:
        with torch.no_grad(), autocast:
            out = call(*args, **kwargs)
        mark("end", out)
        return
    with autocast:
        out = call(*args, **kwargs)
    roots = _roots(out)
    if not roots:
        raise FlopwiseError("train=True but no model output requires grad")
    mark("backward", out)
    seeds = [torch.ones_like(t) for t in roots]
    torch.autograd.backward(roots, seeds)
    del out, roots, seeds
    mark("optimizer", None)
    if optimizer is not None:
        optimizer.step()
    mark("end", None)


@contextlib.contextmanager
def prepared(
    model: nn.Module,
    args: tuple,
    kwargs: dict,
    *,
    train: bool,
    optimizer: str | None,
    tensors: str = "auto",
    warmup: bool = True,
    checkpoint: Sequence[str] = (),
    accumulate: int = 1,
) -> Iterator[dict[str, Any]]:
    """Set up a step to run: fake twins for meta/fake tensors, a private copy of a real
    model when an optimizer would change its weights, the optimizer and (``warmup``) one
    untraced step so its state exists, as in a training loop's steady state; the modules
    named in ``checkpoint`` run under activation checkpointing; with ``accumulate`` > 1 an
    earlier micro-batch's forward + backward has run, so gradients already exist and the
    step is the last micro-batch of an accumulation window. Yields
    ``call, args, kwargs, params, buffers, optimizer``; leaves ``model`` as it was found."""
    from flopwise.profile import _device_of, _is_fake, _tensor_kind

    if optimizer is not None and not train:
        raise FlopwiseError("an optimizer needs train=True")
    leaves = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    kind = (
        _tensor_kind(leaves + ([first] if first is not None else []))
        if tensors == "auto"
        else tensors
    )
    device = _device_of(model, args, kwargs)
    with contextlib.ExitStack() as stack:
        if kind in ("fake", "meta") and not any(_is_fake(t) for t in leaves):
            setup = _fake_setup(stack, model, args, kwargs, kind, device, train, checkpoint)
        else:
            setup = _real_setup(stack, model, args, kwargs, optimizer, train, checkpoint)
        run_model, run_args, run_kwargs, params, buffers = setup
        call = run_model
        opt = make_optimizer(optimizer, [p for p in params if p.requires_grad]) if train else None
        if opt is not None and warmup:
            run_step(call, run_args, run_kwargs, train=True, optimizer=opt)
            opt.zero_grad(set_to_none=True)
        elif train:
            for p in params:
                p.grad = None
        if train and accumulate > 1:
            run_step(call, run_args, run_kwargs, train=True, optimizer=None)
        yield {
            "call": call,
            "args": run_args,
            "kwargs": run_kwargs,
            "params": params,
            "buffers": buffers,
            "optimizer": opt,
            "module": run_model,
            "kind": kind,
            "device": str(device),
        }


#: What a step runs on: the module called, its args and kwargs, its parameters and buffers.
_Setup = tuple[nn.Module, Any, Any, list[torch.Tensor], list[torch.Tensor]]


def _fake_setup(
    stack: contextlib.ExitStack,
    model: nn.Module,
    args: tuple,
    kwargs: dict,
    kind: str,
    device: Any,
    train: bool,
    checkpoint: Sequence[str],
) -> _Setup:
    """``model`` itself, its parameters, buffers and inputs swapped for fake twins (meta
    or fake tensors) until ``stack`` closes; the model's own state is restored then."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.nn.utils.stateless import _reparametrize_module

    from flopwise.profile import _fake_state, _fake_twin, _preserved, _quiet_fake_kernel_log

    fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
    state = _fake_state(model, kind, fake_mode, device)
    run_args, run_kwargs = tree_map(
        lambda v: _fake_twin(v, kind, fake_mode, device) if isinstance(v, torch.Tensor) else v,
        (args, kwargs),
    )
    stack.enter_context(_preserved(model))
    model.train(train)
    stack.enter_context(_quiet_fake_kernel_log())  # the error is reported in one line
    stack.enter_context(fake_mode)
    # The twins stay in place for the whole step, not just the forward call:
    # checkpointed modules recompute in backward and must see them too.
    names = dict(model.named_parameters())  # before: tied weights listed once
    stack.enter_context(_reparametrize_module(model, state, tie_weights=True, strict=False))
    stack.enter_context(checkpointed(model, checkpoint))
    params = [state[n] for n in names]
    buffers = [state[n] for n, _ in model.named_buffers()]
    return model, run_args, run_kwargs, params, buffers


def _real_setup(
    stack: contextlib.ExitStack,
    model: nn.Module,
    args: tuple,
    kwargs: dict,
    optimizer: str | None,
    train: bool,
    checkpoint: Sequence[str],
) -> _Setup:
    """The model on its real tensors: a private copy when an optimizer would change its
    weights, else the model itself, restored when ``stack`` closes; inputs detached."""
    from flopwise.profile import _detached_inputs, _preserved

    run_model = model
    if optimizer is not None:
        run_model = copy.deepcopy(model)  # the step must not change the caller's weights
    else:
        stack.enter_context(_preserved(model))
    run_model.train(train)
    stack.enter_context(checkpointed(run_model, checkpoint))
    run_args, run_kwargs = _detached_inputs((args, kwargs))
    return run_model, run_args, run_kwargs, list(run_model.parameters()), list(run_model.buffers())


def autocast_of(amp: str | None, device: str) -> tuple[str, torch.dtype] | None:
    """``(device type, dtype)`` for ``torch.autocast``, or None without ``amp``."""
    if amp is None:
        return None
    if amp not in ("bfloat16", "float16"):
        raise FlopwiseError(f"mixed precision dtype must be bfloat16 or float16 (got {amp!r})")
    return device.split(":")[0], getattr(torch, amp)


@contextlib.contextmanager
def checkpointed(model: nn.Module, paths: Sequence[str]) -> Iterator[None]:
    """Run the modules at ``paths`` under non-reentrant activation checkpointing
    (``torch.utils.checkpoint``: only their inputs are kept, their forward runs again in
    backward). A container that is never called itself (a ModuleList such as
    ``encoder.layers``) has each of its children checkpointed. Restored on exit."""
    from torch.utils.checkpoint import checkpoint

    modules = dict(model.named_modules())
    targets: list[nn.Module] = []
    for path in paths:
        if path not in modules:
            close = [p for p in modules if p.endswith(path.rsplit(".", 1)[-1])][:5]
            raise FlopwiseError(
                f"--checkpoint {path!r}: no such module"
                + (f" (close: {', '.join(close)})" if close else "")
            )
        m = modules[path]
        targets.extend(m.children() if isinstance(m, (nn.ModuleList, nn.ModuleDict)) else [m])
    patched: list[nn.Module] = []
    try:
        for m in targets:
            original = m.forward

            def forward(*a: Any, _f: Callable = original, **k: Any) -> Any:
                return checkpoint(_f, *a, use_reentrant=False, **k)

            m.forward = forward  # instance attribute: __call__ (and its hooks) still run
            patched.append(m)
        yield
    finally:
        for m in patched:
            del m.forward


def memory_profile(
    model: nn.Module,
    *args: Any,
    kwargs: dict[str, Any] | None = None,
    train: bool = False,
    optimizer: str | None = None,
    tensors: str = "auto",
    device: str | None = None,
    granularity: int | None = None,
    name: str | None = None,
    checkpoint: Sequence[str] = (),
    accumulate: int = 1,
    amp: str | None = None,
) -> MemoryProfile:
    """Predict the memory of one step of ``model`` (inference, or with ``train`` forward +
    backward + ``optimizer`` step in its steady state) from the op stream.

    ``device`` picks the allocator rounding (default: the device the tensors are on; meta
    tensors round as on CPU); ``granularity`` overrides it. Runs on real, fake or meta
    tensors; the model is left as found. ``checkpoint`` names modules to run under
    activation checkpointing (training only); ``accumulate`` > 1 predicts the last
    micro-batch of a gradient-accumulation window (gradients live from the start);
    ``amp`` ("bfloat16", "float16") runs the forward under autocast."""
    kwargs = dict(kwargs or {})
    if checkpoint and not train:
        raise FlopwiseError("activation checkpointing needs train=True")
    with prepared(
        model,
        args,
        kwargs,
        train=train,
        optimizer=optimizer,
        tensors=tensors,
        checkpoint=checkpoint,
        accumulate=accumulate,
    ) as run:
        target = device or ("cpu" if run["kind"] in ("fake", "meta") else run["device"])
        lt = Lifetimes(rule_for(target, granularity))
        _adopt_state(lt, run)
        opt = run["optimizer"]
        cap = _MemoryCapture(run["module"], lt)  # the module that runs (a private copy?)
        marks = _PhaseMarks(lt, cap)
        with cap:
            try:
                run_step(
                    run["call"],
                    run["args"],
                    run["kwargs"],
                    train=train,
                    optimizer=opt,
                    mark=marks,
                    amp=autocast_of(amp, run["device"]),
                )
            except FlopwiseError:
                raise
            except Exception as exc:  # the model rejected its inputs: say which module
                from flopwise.profile import _run_error

                error = _run_error(exc, cap, run["module"], run["kind"])
                if error is None:
                    raise
                raise error from exc
        _classify(lt, run, marks, train)
        records = cap.records
        mode = MemoryMode(
            phase="training" if train else "inference",
            optimizer=optimizer,
            tensors=run["kind"],
            device=run["device"],
            allocator_device=lt.rule.device,
            checkpoint=list(checkpoint),
            accumulate=accumulate,
            amp=amp,
        )
        label = name or type(model).__name__
        mp = _assemble(lt, records, cap.tracker, model, label, mode, marks.phases)
        mp.step_flops = sum(r.flops for r in records)
        return mp


def _optimizer_tensors(opt: torch.optim.Optimizer | None) -> Iterator[torch.Tensor]:
    """Every tensor of ``opt``'s state (momentum buffers, moments, step counters)."""
    if opt is None:
        return
    for state in opt.state.values():
        for t in tree_leaves(state):
            if isinstance(t, torch.Tensor):
                yield t


def _adopt_state(lt: Lifetimes, run: dict[str, Any]) -> None:
    """Record what exists before the step: parameters, buffers, inputs, gradients left by
    an earlier micro-batch, and the optimizer's state (each storage once)."""
    seen: set[int] = set()
    for category, group in (
        ("parameters", run["params"]),
        ("buffers", run["buffers"]),
        ("inputs", [t for t in tree_leaves((run["args"], run["kwargs"]))]),
    ):
        for t in group:
            if isinstance(t, torch.Tensor) and id(t) not in seen:
                seen.add(id(t))
                lt.adopt(t, category)
    for p in run["params"]:
        if p.grad is not None:
            lt.adopt(p.grad, "gradients")
    for t in _optimizer_tensors(run["optimizer"]):
        lt.adopt(t, "optimizer_state")


class _PhaseMarks:
    """The ``mark`` callback of :func:`run_step`: records where each phase starts and ends
    in the op records (``phases``: name → [first, last]), the blocks alive at the end of
    the forward pass and those of its outputs, and closes the lifetimes at the end."""

    def __init__(self, lt: Lifetimes, cap: _MemoryCapture) -> None:
        self.lt = lt
        self.cap = cap
        self.phases: dict[str, list[int]] = {}
        self.forward_live: list[Block] = []
        self.output_blocks: set[int] = set()

    def __call__(self, phase: str, out: Any) -> None:
        lt = self.lt
        pos = len(self.cap.records)
        if lt.phase in self.phases:
            self.phases[lt.phase][1] = pos - 1
        if phase == "backward" or (phase == "end" and lt.phase == "forward"):
            self.forward_live.extend(b for b in lt.live_blocks() if b.phase == "forward")
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor) and (b := lt.block_of(t)) is not None:
                    self.output_blocks.add(b.id)
        if phase != "end":
            self.phases[phase] = [pos, pos - 1]
        else:
            lt.closed = True
        lt.phase = phase


def _classify(lt: Lifetimes, run: dict[str, Any], marks: _PhaseMarks, train: bool) -> None:
    """Name what the step created, most specific first: forward temporaries still alive
    for backward are ``saved``; new gradients and optimizer state are theirs."""
    for b in marks.forward_live:
        if b.category == "temporaries" and b.id not in marks.output_blocks and train:
            b.category = "saved"
    for p in run["params"]:
        if p.grad is not None and (b := lt.block_of(p.grad)) is not None and b.birth >= 0:
            b.category = "gradients"
    for t in _optimizer_tensors(run["optimizer"]):
        b = lt.block_of(t)
        if b is not None and b.birth >= 0:
            b.category = "optimizer_state"


def _assemble(
    lt: Lifetimes,
    records: list,
    tracker: Any,
    model: nn.Module,
    name: str,
    mode: MemoryMode,
    phases: dict[str, list[int]],
) -> MemoryProfile:
    """Events → curve, peak and its breakdown, per-module rows."""
    n = len(records)
    baseline = sum(d for pos, d, _ in lt.events if pos < 0 and d > 0)
    live = 0
    curve = [0] * n
    peak_bytes, peak_event = -1, -1
    for i, (pos, delta, _) in enumerate(lt.events):
        live += delta
        if 0 <= pos < n:
            curve[pos] = max(curve[pos], live)
        if live > peak_bytes:
            peak_bytes, peak_event = live, i
    # Fill positions with no birth (only frees or pure views) with the live total then.
    live, ev = 0, 0
    events = lt.events
    for pos in range(n):
        while ev < len(events) and events[ev][0] < pos:
            live += events[ev][1]
            ev += 1
        curve[pos] = max(curve[pos], live)
    peak_pos = lt.events[peak_event][0] if peak_event >= 0 else -1
    # Breakdown at the peak: blocks born at or before the peak event and not yet freed.
    born_order = _event_order(lt)
    by_category = dict.fromkeys(CATEGORIES, 0)
    for b in lt.blocks:
        born, died = born_order[b.id]
        if born <= peak_event and (died is None or died > peak_event):
            by_category[b.category] += b.bytes
    by_category["workspace"] = sum(d for _, d, b in lt.events[: peak_event + 1] if b == WORKSPACE)
    rec = records[peak_pos] if 0 <= peak_pos < n else None
    peak = MemoryPeak(
        bytes=max(peak_bytes, 0),
        position=peak_pos,
        op=rec.op if rec else "(before step)",
        module_path=rec.module_path if rec else "",
        phase=next((ph for ph, (s, e) in phases.items() if s <= peak_pos <= e), ""),
        by_category=by_category,
    )
    baseline_by = dict.fromkeys(CATEGORIES, 0)
    for b in lt.blocks:
        if b.birth < 0:
            baseline_by[b.category] += b.bytes
    phase_peaks = {ph: max(curve[s : e + 1], default=0) for ph, (s, e) in phases.items()}
    return MemoryProfile(
        model=name,
        mode=mode,
        granularity=lt.rule.granularity,
        baseline_bytes=baseline,
        baseline_by_category=baseline_by,
        peak=peak,
        final_bytes=sum(d for _, d, _ in lt.events),
        curve=curve,
        ops=[r.op for r in records],
        phases=phases,
        phase_peaks=phase_peaks,
        blocks=lt.blocks,
        modules=_module_rows(lt, records, tracker, model, curve),
    )


def _event_order(lt: Lifetimes) -> dict[int, tuple[int, int | None]]:
    """Block id → (index of its birth event, index of its free event or None)."""
    order: dict[int, list] = {}
    for i, (_, delta, bid) in enumerate(lt.events):
        if bid == WORKSPACE:
            continue
        entry = order.setdefault(bid, [i, None])
        if delta < 0:
            entry[1] = i
    return {b: (v[0], v[1]) for b, v in order.items()}


def _module_rows(
    lt: Lifetimes, records: list, tracker: Any, model: nn.Module, curve: list[int]
) -> list[MemoryModuleRow]:
    allocated: dict[str, int] = {}
    saved: dict[str, int] = {}
    peak: dict[str, int] = {}
    for b in lt.blocks:
        if b.birth < 0:
            continue
        for path in ancestors(b.module_path):
            allocated[path] = allocated.get(path, 0) + b.bytes
            if b.category == "saved":
                saved[path] = saved.get(path, 0) + b.bytes
    for r in records:
        for path in ancestors(r.module_path):
            peak[path] = max(peak.get(path, 0), curve[r.index])
    types = {p: type(m).__name__ for p, m in model.named_modules()}
    types.update(getattr(tracker, "module_types", {}))
    order = {p: i for i, (p, _) in enumerate(model.named_modules())}
    paths = sorted(peak, key=lambda p: (order.get(p, len(order)), p))
    return [
        MemoryModuleRow(
            path=p,
            type=types.get(p, ""),
            depth=0 if not p else p.count(".") + 1,
            allocated_bytes=allocated.get(p, 0),
            saved_bytes=saved.get(p, 0),
            peak_bytes=peak[p],
        )
        for p in paths
    ]
