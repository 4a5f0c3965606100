"""Profiles: run a model under the capture engine and aggregate its records into a module
tree and totals. ``profile()`` is the one entry point the CLI and the API share."""

from __future__ import annotations

import contextlib
import dis
import itertools
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_leaves, tree_map

from flopwise.capture.mode import capture
from flopwise.capture.records import OpRecord, Traffic, ancestors
from flopwise.errors import DataDependentOp, FlopwiseError, ShapeMismatch
from flopwise.sections import Alpha, Energy, Measured, Source, Stages, TrainingClosedForms

TENSOR_KINDS = ("real", "fake", "meta")

CONVENTION = {
    "version": "1",
    "flops": "floating-point operations; a multiply-add is 2 flops",
    "macs": "multiply-accumulates of contraction ops only (matmul, conv, attention, grouped mm)",
    "attention": "causal pairs use top-left alignment (query i sees keys 0..i); explicit masks count dense",
    "activations": "output elements of contraction and pooling ops (pycls)",
    "bytes": "unfused lower bound per op: each distinct input storage read once, each output written once; views move 0 bytes",
    "elementwise": "small integer per output element, see docs/conventions.md",
    "params": "unique parameter elements (shared tensors counted once)",
}


@dataclass(slots=True)
class Totals(Traffic):
    """Whole-model sums. Integers throughout; ``params`` counts unique tensors once."""

    flops: int = 0
    macs: int = 0
    params: int = 0
    activations: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    forward_flops: int = 0
    backward_flops: int = 0
    ops: int = 0
    uncounted_calls: int = 0


@dataclass(slots=True)
class ModuleStats(Traffic):
    """Costs of one module, its submodules included (``params``: unique, own subtree)."""

    path: str
    type: str
    depth: int
    calls: int = 0
    flops: int = 0
    macs: int = 0
    params: int = 0
    activations: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    uncounted_calls: int = 0

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1] if self.path else "(model)"


@dataclass(slots=True)
class UncountedOp:
    """An op with no formula and not in the zero set: reported, never a silent zero."""

    op: str
    calls: int
    output_elements: int
    module_paths: list[str]


@dataclass
class Profile:
    """The result of counting one run of a model (see docs/architecture.md)."""

    model: str
    inputs: list[dict[str, Any]]
    mode: dict[str, Any]
    ops: list[OpRecord]
    modules: list[ModuleStats]
    totals: Totals
    uncounted: list[UncountedOp]
    convention: dict[str, str] = field(default_factory=lambda: dict(CONVENTION))
    # Why the count may miss work beyond the uncounted ops (e.g. ops run by a thread the
    # capture could not reach); each entry is one sentence for a reader.
    incomplete_reasons: list[str] = field(default_factory=list)
    # Caveats a reader of this count should know about (one sentence each).
    notes: list[str] = field(default_factory=list)
    # Sections filled by the layer that produces each (see flopwise.sections); None when
    # that step did not run.
    source: Source | None = None
    alpha: Alpha | None = None
    training_closed_forms: TrainingClosedForms | None = None
    measured: Measured | None = None
    energy: Energy | None = None
    stages: Stages | None = None

    @property
    def complete(self) -> bool:
        """True when every op run was seen and had a formula or was in the zero set."""
        return not self.uncounted and not self.incomplete_reasons

    @property
    def module_flops_percent(self) -> dict[str, float]:
        """Each module's FLOPs as a percent (0..100) of the model's total, by module path
        (all 0 when the model counted no FLOPs)."""
        total = self.totals.flops or 1
        return {m.path: 100 * m.flops / total for m in self.modules}

    @property
    def flops_over_six_n(self) -> float | None:
        """The counted FLOPs over the 6·N·tokens closed form of :attr:`training_closed_forms`
        (a unitless ratio: 1.17 means the count is 17% above 6·N), None without closed forms
        or when 6·N is 0."""
        closed = self.training_closed_forms
        if closed is None or not closed.six_n:
            return None
        return self.totals.flops / closed.six_n

    def module(self, path: str) -> ModuleStats:
        for m in self.modules:
            if m.path == path:
                return m
        raise KeyError(path)

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON document (schema ``flopwise.profile/1``)."""
        from flopwise.report.json import profile_document

        return profile_document(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Profile:
        """The Profile a ``flopwise.profile/1`` document describes (no op records), with
        the same typed sections: ``Profile.from_dict(p.to_dict()).to_dict() == p.to_dict()``."""
        from flopwise.report.json import profile_from_document

        return profile_from_document(doc)

    def to_json(self, indent: int | None = 2) -> str:
        from flopwise.jsonout import dumps

        return dumps(self.to_dict(), indent=indent)

    def to_dataframe(self, level: str = "modules"):
        """A pandas DataFrame of ``modules`` (default) or ``ops``."""
        from flopwise.report.frames import to_dataframe

        return to_dataframe(self, level)

    def table(self, depth: int | None = 3) -> str:
        """The module tree as text (what ``flopwise profile`` prints)."""
        from flopwise.report.table import render_text

        return render_text(self, depth=depth)

    def __rich__(self):
        from flopwise.report.table import build_table

        return build_table(self, depth=3)


# ---------------------------------------------------------------------------------------
# aggregation (pure)


def aggregate(
    records: list[OpRecord],
    module_types: dict[str, str],
    module_order: list[str],
    module_params: dict[str, int],
    calls: dict[str, int],
) -> tuple[list[ModuleStats], Totals, list[UncountedOp]]:
    """Fold op records into per-module stats (each op counts in its module and every
    ancestor), totals and the uncounted list."""
    stats: dict[str, ModuleStats] = {}

    def get(path: str) -> ModuleStats:
        if path not in stats:
            stats[path] = ModuleStats(
                path=path,
                type=module_types.get(path, ""),
                depth=0 if not path else path.count(".") + 1,
                calls=calls.get(path, 0),
                params=module_params.get(path, 0),
            )
        return stats[path]

    totals = Totals()
    uncounted: dict[str, UncountedOp] = {}
    for path in module_order:
        if calls.get(path, 0) or module_params.get(path, 0) or not path:
            get(path)
    for rec in records:
        totals.ops += 1
        totals.flops += rec.flops
        totals.macs += rec.macs
        totals.activations += rec.activations
        totals.bytes_read += rec.bytes_read
        totals.bytes_written += rec.bytes_written
        if rec.phase == "backward":
            totals.backward_flops += rec.flops
        else:
            totals.forward_flops += rec.flops
        if rec.status == "uncounted":
            totals.uncounted_calls += 1
            entry = uncounted.setdefault(rec.op, UncountedOp(rec.op, 0, 0, []))
            entry.calls += 1
            entry.output_elements += rec.output_elements
            if rec.module_path not in entry.module_paths:
                entry.module_paths.append(rec.module_path)
        for path in ancestors(rec.module_path):
            m = get(path)
            m.flops += rec.flops
            m.macs += rec.macs
            m.activations += rec.activations
            m.bytes_read += rec.bytes_read
            m.bytes_written += rec.bytes_written
            m.uncounted_calls += rec.status == "uncounted"
    order = {path: i for i, path in enumerate(module_order)}
    first_seen = {}
    for rec in records:
        first_seen.setdefault(rec.module_path, rec.index)
    modules = sorted(stats.values(), key=lambda m: _tree_key(m.path, order, first_seen))
    totals.params = module_params.get("", 0)
    return modules, totals, sorted(uncounted.values(), key=lambda u: -u.calls)


def _tree_key(path: str, order: dict[str, int], first_seen: dict[str, int]) -> tuple:
    # Pre-order of the model tree; modules created during forward sort after their
    # nearest known ancestor's subtree position, by first appearance.
    key = []
    for p in ancestors(path)[1:] if path else []:
        key.append((order.get(p, len(order) + first_seen.get(p, 0)),))
    return tuple(key)


def unique_params(module: nn.Module) -> int:
    """Unique parameter elements under ``module`` (a tensor shared twice counts once)."""
    return sum(p.numel() for p in module.parameters())


def _module_params(model: nn.Module | None) -> tuple[dict[str, int], list[str], dict[str, str]]:
    if model is None:
        return {"": 0}, [""], {"": ""}
    params, order, types = {}, [], {}
    for path, module in model.named_modules():
        params[path] = unique_params(module)
        order.append(path)
        types[path] = type(module).__name__
    return params, order, types


# ---------------------------------------------------------------------------------------
# running a model


def _describe_inputs(args: tuple, kwargs: dict) -> list[dict[str, Any]]:
    described = []
    for i, value in enumerate(args):
        described.extend(_describe_value(f"arg{i}", value))
    for name, value in kwargs.items():
        described.extend(_describe_value(name, value))
    return described


def _describe_value(name: str, value: Any) -> list[dict[str, Any]]:
    if isinstance(value, torch.Tensor):
        return [
            {
                "name": name,
                "shape": list(value.shape),
                "dtype": str(value.dtype).removeprefix("torch."),
            }
        ]
    if isinstance(value, dict):
        return [d for k, v in value.items() for d in _describe_value(f"{name}.{k}", v)]
    if isinstance(value, (list, tuple)):
        return [d for i, v in enumerate(value) for d in _describe_value(f"{name}[{i}]", v)]
    return []


def _tensor_kind(tensors: list[torch.Tensor]) -> str:
    if any(_is_fake(t) for t in tensors):
        return "fake"
    if any(t.device.type == "meta" for t in tensors):
        return "meta"
    return "real"


@contextlib.contextmanager
def _preserved(model: nn.Module | None) -> Iterator[None]:
    """Leave ``model`` exactly as found, even if the run raises: training flags,
    requires_grad, each parameter's ``.grad`` (the same object, never accumulated into) and
    every buffer (running statistics of train-mode norms) by identity and value."""
    if model is None:
        yield
        return
    flags = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    # Meta and fake buffers hold no values to restore; snapshot only those with data.
    buffers = [
        (m, name, b, b.detach().clone() if _holds_data(b) else None)
        for m in model.modules()
        for name, b in m._buffers.items()
        if b is not None
    ]
    try:
        for p, _, _ in params:
            # Backward then writes fresh gradients (as on meta twins) instead of adding to
            # the caller's: no in-place accumulation to count, nothing of theirs to change.
            p.grad = None
        yield
    finally:
        for m, training in flags:
            m.training = training
        for p, requires_grad, grad in params:
            p.requires_grad_(requires_grad)
            p.grad = grad
        with torch.no_grad():
            for m, name, b, saved in buffers:
                m._buffers[name] = b
                # Write back only what moved (an inference tensor refuses the write).
                if saved is not None and not torch.equal(b, saved):
                    if b.shape != saved.shape:  # resized by the run (a QAT observer's first min)
                        b.resize_(saved.shape)
                    b.copy_(saved)


def _holds_data(t: torch.Tensor) -> bool:
    return t.device.type != "meta" and not _is_fake(t)


def _detached_inputs(value: Any) -> Any:
    """Tensors that require grad replaced by detached aliases (same data, same flag), as
    the fake/meta path presents its twins: backward stops there and leaves the caller's
    tensors, their ``.grad`` and any graph that produced them untouched."""
    if not any(isinstance(v, torch.Tensor) and v.requires_grad for v in tree_leaves(value)):
        return value
    aliases: dict[int, torch.Tensor] = {}  # the same tensor twice stays one tensor

    def alias(v: Any) -> Any:
        if not (isinstance(v, torch.Tensor) and v.requires_grad):
            return v
        if id(v) not in aliases:
            aliases[id(v)] = v.detach().requires_grad_(True)
        return aliases[id(v)]

    return tree_map(alias, value)


def _fake_twin(
    t: torch.Tensor,
    kind: str,
    fake_mode: Any,
    device: torch.device,
    memo: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> torch.Tensor:
    """A data-free stand-in for ``t``. Meta tensors are presented as living on ``device``
    (a FakeTensor over meta storage) so every kernel choice (fused attention, fast paths)
    is the one a real run on that device makes, and the count is identical.

    Aliasing survives: with one ``memo`` per run, the same tensor always gets the same twin
    (``mha(x, x, x)`` keeps ``query is key``), and views of one storage get views of one
    twin storage (``add(y, y[:])`` reads that storage once), as on real tensors."""
    from torch._subclasses.fake_tensor import FakeTensor

    if memo is not None and id(t) in memo:
        return memo[id(t)][1]
    # An inference tensor lacks the autograd dispatch keys; the twin is one iff ``t`` is,
    # so a profile under inference_mode dispatches (and counts) as on the real tensors.
    with torch.inference_mode(t.is_inference()):
        if t.device.type != "meta":
            # from_tensor memoizes storages, so views of one real storage share a fake one.
            twin = fake_mode.from_tensor(t.detach())
        else:
            # detach() of a meta tensor shares its meta storage, so aliasing is kept too.
            twin = FakeTensor(fake_mode, t.detach(), device)
    if isinstance(t, nn.Parameter):
        twin = nn.Parameter(twin, requires_grad=t.requires_grad)
    elif t.requires_grad:
        twin.requires_grad_(True)
    if memo is not None:
        memo[id(t)] = (t, twin)  # t kept alive so its id is not reused during the run
    return twin


def _fake_state(
    model: nn.Module,
    kind: str,
    fake_mode: Any,
    device: torch.device,
    memo: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict[str, torch.Tensor]:
    return {
        name: _fake_twin(t, kind, fake_mode, device, memo)
        for name, t in [*model.named_parameters(), *model.named_buffers()]
    }


def profile(
    model: nn.Module,
    *args: Any,
    kwargs: dict[str, Any] | None = None,
    train: bool = False,
    tensors: str = "auto",
    name: str | None = None,
    **model_kwargs: Any,
) -> Profile:
    """Count one forward pass (``train=True``: forward + backward) of ``model``.

    ``tensors`` chooses what the run executes on: ``"auto"`` (the tensors as given),
    ``"meta"`` or ``"fake"`` (no data, no FLOPs executed; the count is the same). The model
    is put in eval mode for inference counts (train mode with ``train=True``) and left
    exactly as it was found, even if it raises.
    """
    if tensors not in ("auto", *TENSOR_KINDS):
        raise FlopwiseError(f"tensors must be one of auto, real, fake, meta (got {tensors!r})")
    call_kwargs = {**(kwargs or {}), **model_kwargs}
    leaves = [t for t in tree_leaves((args, call_kwargs)) if isinstance(t, torch.Tensor)]
    first_state = next(itertools.chain(model.parameters(), model.buffers()), None)
    leaves += [first_state] if first_state is not None else []
    kind = _tensor_kind(leaves) if tensors == "auto" else tensors
    device = _device_of(model, args, call_kwargs)
    run_model: Any = model
    run_args, run_kwargs = _detached_inputs((args, call_kwargs))
    memo: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # one fake twin per tensor
    with contextlib.ExitStack() as stack:
        stack.enter_context(_preserved(model))
        model.train(train)
        padded = stack.enter_context(_dense_encoders(model))
        if kind in ("fake", "meta") and not any(_is_fake(t) for t in leaves):
            run_model, run_args, run_kwargs = _on_fake_twins(
                stack, model, kind, device, (args, call_kwargs), memo
            )
        if not train:
            stack.enter_context(torch.no_grad())
        cap = stack.enter_context(capture(model))
        try:
            out = run_model(*run_args, **run_kwargs)
            if train:
                _backward(out, cap)
        except FlopwiseError:
            raise
        except Exception as exc:
            error = _run_error(exc, cap, model, kind)
            if error is None:
                raise
            raise error from exc
    prof = _assemble(
        cap,
        model,
        name=name or type(model).__name__,
        inputs=_describe_inputs(args, call_kwargs),
        mode={
            "phase": "training" if train else "forward",
            "tensors": kind,
            "device": str(device),
            "grad": train,
        },
    )
    _note_run(prof, cap, model, [*leaves, *(twin for _, twin in memo.values())], out, padded)
    return prof


def _on_fake_twins(
    stack: contextlib.ExitStack,
    model: nn.Module,
    kind: str,
    device: torch.device,
    call: tuple[tuple, dict],
    memo: dict[int, tuple[torch.Tensor, torch.Tensor]],
) -> tuple[Any, tuple, dict]:
    """``(run_model, args, kwargs)`` that run ``model`` on data-free twins of its state and
    of ``call``'s tensors, under a fake mode entered on ``stack``."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    _refuse_torchscript(model, kind)

    fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
    state = _fake_state(model, kind, fake_mode, device, memo)
    run_args, run_kwargs = tree_map(
        lambda v: (
            _fake_twin(v, kind, fake_mode, device, memo) if isinstance(v, torch.Tensor) else v
        ),
        call,
    )

    def run_model(*a: Any, **k: Any) -> Any:
        return torch.func.functional_call(model, state, a, k, strict=False)

    stack.enter_context(_quiet_fake_kernel_log())
    _check_position_tables(stack, model)
    stack.enter_context(fake_mode)
    return run_model, run_args, run_kwargs


#: Names of learned position tables (GPT-2 ``wpe``, BERT, OPT/BART, ViT-style ``pos_embed``).
_POSITION_TABLES = frozenset(
    {"wpe", "position_embeddings", "position_embedding", "embed_positions", "pos_embed"}
)


def _check_position_tables(stack: contextlib.ExitStack, model: nn.Module) -> None:
    """Refuse more positions than a learned position table has rows. Real tensors fail
    the lookup ("index out of range"); meta and fake ones hold no index values, so without
    this the run would be counted as if the model could run it. Positions are assumed to
    count from 0 along the index tensor's last axis, as these tables are used."""
    for path, module in model.named_modules():
        if isinstance(module, nn.Embedding) and path.rpartition(".")[2] in _POSITION_TABLES:
            handle = module.register_forward_pre_hook(_position_check(path))
            stack.callback(handle.remove)


def _position_check(path: str):
    def check(module: nn.Embedding, args: tuple[Any, ...]) -> None:
        index = args[0] if args else None
        positions = index.shape[-1] if isinstance(index, torch.Tensor) and index.dim() else 0
        if positions > module.num_embeddings:
            raise ShapeMismatch(
                f"module '{path}' rejected the input: {positions} positions, but its learned "
                f"position table has {module.num_embeddings} rows (real tensors fail with "
                "'index out of range'); use at most that many tokens"
            )

    return check


@contextlib.contextmanager
def _quiet_fake_kernel_log() -> Iterator[None]:
    """Drop torch's log record of a meta kernel that raised ("failed while attempting to run
    meta for ...", a traceback on stderr): the exception itself reaches the caller, who
    reports it in one line naming the module."""
    import logging

    logger = logging.getLogger("torch._subclasses.fake_tensor")

    def drop(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("failed while attempting to run meta")

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _run_error(exc: Exception, cap: capture, model: nn.Module, kind: str) -> Exception | None:
    """The error to raise for ``exc`` raised by the model's run, naming the module that
    raised it; None to re-raise ``exc`` as it is (not a shape or input problem)."""
    where = cap.tracker.raised_in(exc) or ""
    if _data_dependent(exc):
        return DataDependentOp(
            f"module '{where or type(model).__name__}' runs {exc}, whose "
            f"output size depends on tensor values, so it cannot run on {kind} tensors; "
            "count it with real tensors (--device cpu / tensors='real')"
        )
    if not isinstance(exc, (RuntimeError, ValueError, TypeError, IndexError, AssertionError)):
        return None
    return ShapeMismatch(_reject_message(where, model, exc))


def _note_run(
    prof: Profile,
    cap: capture,
    model: nn.Module,
    given: list[torch.Tensor],
    out: Any,
    padded: list[str],
) -> None:
    """Record what the run may have missed (work of threads older than the capture: tensors
    it used that neither ``given`` (inputs, twins) nor the model's state account for) and
    the nested-tensor fast paths switched off while counting."""
    busy = cap.threads.busy_earlier_threads()
    if busy and not cap.missed_threads:
        made_elsewhere = _made_outside(cap, [*given, *_module_tensors(model)], out)
        if made_elsewhere:
            prof.incomplete_reasons.append(
                f"{made_elsewhere} tensor(s) the model used were made outside the capture while "
                f"thread(s) {', '.join(busy)} ran: work of threads that existed before the "
                "profile (a thread pool built outside the model call) is not counted"
            )
    if padded:
        prof.notes.append(
            f"{', '.join(padded)}: nn.TransformerEncoder got a src_key_padding_mask; its "
            "nested-tensor fast path was switched off while counting, so padded positions are "
            "counted at their dense cost (the count does not depend on the mask's values and "
            "is the same on real, fake and meta tensors)"
        )


def _module_tensors(model: nn.Module) -> list[torch.Tensor]:
    """Parameters, buffers, their gradients and plain tensor attributes of every module
    (one level into lists, tuples and dicts): tensors a forward may use without making."""
    found = [*model.parameters(), *model.buffers()]
    found += [p.grad for p in model.parameters() if p.grad is not None]
    for module in model.modules():
        for value in vars(module).values():
            items = value.values() if isinstance(value, dict) else value
            if isinstance(value, torch.Tensor):
                found.append(value)
            elif isinstance(value, (list, tuple, dict)):
                found += [v for v in items if isinstance(v, torch.Tensor)]
    return found


def _made_outside(cap: capture, known: list[torch.Tensor], out: Any) -> int:
    """Distinct storages that forward ops read, or the model returned, which no recorded op
    made and which are none of ``known`` (inputs, state, module attributes): work done out
    of the capture's sight, e.g. by a thread that existed before it."""
    from flopwise.capture.mode import tensor_meta

    seen = {tensor_meta(t).storage for t in known if isinstance(t, torch.Tensor)}
    unseen: set[int] = set()
    for rec in cap.records:
        if rec.phase != "forward":
            continue
        if rec.op.startswith("aten.lift_fresh"):  # torch.tensor(...) literals
            seen.update(t.storage for t in rec.inputs)
        unseen.update(t.storage for t in rec.inputs if t.storage not in seen)
        seen.update(t.storage for t in rec.outputs)
    for t in tree_leaves(out):
        if isinstance(t, torch.Tensor) and tensor_meta(t).storage not in seen:
            unseen.add(tensor_meta(t).storage)
    return len(unseen)


@contextlib.contextmanager
def _dense_encoders(model: nn.Module) -> Iterator[list[str]]:
    """Run every ``nn.TransformerEncoder`` on its dense path: with a padding mask in eval it
    would pack the batch into a nested tensor, whose size depends on the mask's values (no
    fake/meta kernel, no shapes to count). Yields the paths of encoders that got a padding
    mask (filled in as the model runs); restores ``use_nested_tensor`` and removes the
    hooks on exit."""
    switched, padded, handles = [], [], []
    for path, module in model.named_modules():
        if isinstance(module, nn.TransformerEncoder) and getattr(module, "use_nested_tensor", 0):

            def saw_mask(mod: nn.Module, args: tuple, kwargs: dict, path: str = path) -> None:
                mask = kwargs.get("src_key_padding_mask", args[2] if len(args) > 2 else None)
                if mask is not None and (path or type(mod).__name__) not in padded:
                    padded.append(path or type(mod).__name__)

            switched.append(module)
            module.use_nested_tensor = False
            handles.append(module.register_forward_pre_hook(saw_mask, with_kwargs=True))
    try:
        yield padded
    finally:
        for module in switched:
            module.use_nested_tensor = True
        for handle in handles:
            handle.remove()


def _refuse_torchscript(model: nn.Module, kind: str) -> None:
    """TorchScript modules keep their weights inside the compiled graph, so they cannot be
    re-run on fake/meta stand-ins: say so instead of a confusing downstream error."""
    for path, module in model.named_modules():
        if isinstance(module, torch.jit.ScriptModule):
            where = f" (module '{path}')" if path else ""
            raise FlopwiseError(
                f"TorchScript model{where} cannot run on {kind} tensors; count it with real "
                "tensors (--device cpu / tensors='real')"
            )


def _assemble(
    cap: capture, model: nn.Module | None, name: str, inputs: list, mode: dict
) -> Profile:
    """Records of a finished capture → module tree, totals, uncounted list, notes."""
    params, order, types = _module_params(model)
    types.update({k: v for k, v in cap.tracker.module_types.items() if k not in types})
    modules, totals, uncounted = aggregate(
        cap.records, types, order, params, dict(cap.tracker.calls)
    )
    prof = Profile(
        model=name,
        inputs=inputs,
        mode=mode,
        ops=cap.records,
        modules=modules,
        totals=totals,
        uncounted=uncounted,
    )
    prof.notes = _notes(prof)
    if cap.missed_threads:
        prof.incomplete_reasons.append(
            f"ops run by thread(s) {', '.join(cap.missed_threads)} are not counted: the "
            "capture sees the calling thread and threads started during the profile, not "
            "threads that existed before it (a thread pool built outside the model call)"
        )
    return prof


def _notes(prof: Profile) -> list[str]:
    """Caveats a reader of this count should know about."""
    notes = []
    if prof.mode["tensors"] in ("fake", "meta"):
        masked = [
            r
            for r in prof.ops
            if "attention" in r.op
            and len(r.inputs) > 3
            and r.inputs[3].ndim >= 2
            and r.inputs[3].shape[-1] == r.inputs[3].shape[-2] > 1
        ]
        if masked:
            notes.append(
                f"{len(masked)} attention call(s) got an explicit square mask, counted dense; some "
                "libraries (transformers with use_cache=False) build such masks only for fake/meta "
                "tensors and pass is_causal=True on real ones: count with real tensors to compare"
            )
    return notes


def _data_dependent(exc: Exception) -> bool:
    from torch._subclasses.fake_tensor import (
        DataDependentOutputException,
        DynamicOutputShapeException,
    )

    return isinstance(exc, (DynamicOutputShapeException, DataDependentOutputException))


# Messages of errors about what a module was given (shapes, sizes, dtypes), not about itself.
_INPUT_ERROR = re.compile(
    r"shape|size|dimension|\bdims?\b|dtype|channels|expected|must match|broadcast|"
    r"cannot be multiplied|out of range|scalar type",
    re.IGNORECASE,
)


def _reject_message(where: str, model: nn.Module, exc: Exception) -> str:
    """One line naming the module that raised ``exc``. The model's own ``raise`` (or
    ``assert``) is reported as raised, with its type: its text is the model's, whatever it
    says. An error out of torch (an op, or torch's own checks) is "rejected the input" only
    for a shape/type error (a TypeError, or a message about shapes, sizes, dtypes); any
    other failure is reported as such, with its exception type."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    module = where or type(model).__name__
    if _raised_by_model_code(exc):
        return f"module '{module}' raised {type(exc).__name__}: {first_line}"
    if isinstance(exc, TypeError) or _INPUT_ERROR.search(first_line):
        return f"module '{module}' rejected the input: {first_line}"
    return f"module '{module}' failed: {type(exc).__name__}: {first_line}"


_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_RAISE_VARARGS = dis.opmap["RAISE_VARARGS"]


def _raised_by_model_code(exc: BaseException) -> bool:
    """True when ``exc`` was raised by a ``raise``/``assert`` statement in Python code
    outside torch (the model's own check), not by a torch op or torch's own Python checks.

    Read, not guessed: the innermost traceback entry is the frame the exception started in,
    and its ``tb_lasti`` the instruction that frame was running. A ``RAISE_VARARGS`` there is
    the frame's own raise statement; any other instruction (a call, ``x @ w``) means the
    exception came out of compiled code it called, such as a torch op."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    if not 0 <= tb.tb_lasti < len(code.co_code):
        return False
    own_raise = code.co_code[tb.tb_lasti] == _RAISE_VARARGS
    return own_raise and not os.path.abspath(code.co_filename).startswith(_TORCH_DIR)


def _device_of(model: nn.Module, args: tuple, kwargs: dict) -> torch.device:
    """The device the run executes on (or, for meta tensors, imitates: CPU)."""
    for t in [*tree_leaves((args, kwargs)), *model.parameters()]:
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            return t.device
    return torch.device("cpu")


def _is_fake(t: torch.Tensor) -> bool:
    # Importing the fake-tensor module pulls in dynamo (~150 MiB); if nobody has imported
    # it yet, no tensor can be fake.
    module = sys.modules.get("torch._subclasses.fake_tensor")
    return module is not None and isinstance(t, module.FakeTensor)


def _backward(out: Any, cap: capture) -> None:
    """Backpropagate ones from every floating output that requires grad; building the
    seed gradients is not counted, the backward ops are."""
    roots = [
        t
        for t in tree_leaves(out)
        if isinstance(t, torch.Tensor) and t.requires_grad and t.is_floating_point()
    ]
    if not roots:
        raise FlopwiseError("train=True but no model output requires grad")
    with cap.pause():
        seeds = [torch.ones_like(t) for t in roots]
    torch.autograd.backward(roots, seeds)


class count:  # noqa: N801  (a context manager used like a function)
    """Count any block of code: ``with flopwise.count() as c: ...; c.profile``.

    Ops run outside any module are filed under the root path ``""``.
    """

    def __init__(self, model: nn.Module | None = None, name: str = "block") -> None:
        self._model = model
        self._name = name
        self._capture = capture(model)
        self.profile: Profile | None = None

    def __enter__(self) -> count:
        self._capture.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._capture.__exit__(*exc)
        self.profile = _assemble(
            self._capture,
            self._model,
            name=self._name,
            inputs=[],
            mode={
                "phase": "block",
                "tensors": "as given",
                "device": "",
                "grad": torch.is_grad_enabled(),
            },
        )

    @property
    def totals(self) -> Totals:
        if self.profile is None:
            raise RuntimeError("the count is available after the with-block ends")
        return self.profile.totals
