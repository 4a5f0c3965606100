"""The op → formula registry and the explicit zero set.

Formulas register per ATen overload packet (``aten.mm``) or per overload
(``aten.add.Tensor``); the overload wins. An op in neither the registry nor the zero set
is *uncounted*: reported, never silently zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from flopwise.cost.types import OpCall, OpCost

aten = torch.ops.aten

Formula = Callable[[OpCall], OpCost]

_FORMULAS: dict[str, Formula] = {}
_ZERO: set[str] = set()


def op_key(op) -> str:
    """Canonical name of an op, overload packet or overload: ``aten.mm`` / ``aten.add.Tensor``."""
    if isinstance(op, str):
        return op
    name = op.name() if isinstance(op, torch._ops.OpOverload) else op._qualified_op_name
    return name.replace("::", ".")


def packet_of(key: str) -> str:
    """``aten.add.Tensor`` → ``aten.add``; a default overload's key is its packet already."""
    return key.rsplit(".", 1)[0] if key.count(".") >= 2 else key


def _resolve(ops: Iterable) -> list[str]:
    keys = []
    for op in ops:
        try:
            keys.append(op_key(op))
        except (AttributeError, RuntimeError):
            continue  # op absent from this torch build
    return keys


def register(*ops) -> Callable[[Formula], Formula]:
    """Decorator: file ``fn`` as the formula of every op in ``ops``. An op already given a
    formula, or already in the zero set, raises: two rules for one op would make the count
    depend on import order."""

    def wrap(fn: Formula) -> Formula:
        for key in _resolve(ops):
            if key in _FORMULAS or key in _ZERO:
                raise RuntimeError(f"flopwise: {key} registered twice ({fn.__qualname__})")
            _FORMULAS[key] = fn
        return fn

    return wrap


def register_zero(*ops) -> None:
    """Add ops to the zero-flop set (views, copies, indexing, factories, masks). An op that
    already has a formula or is already listed raises, as in :func:`register`."""
    for key in _resolve(ops):
        if key in _FORMULAS or key in _ZERO:
            raise RuntimeError(f"flopwise: {key} registered twice (zero set)")
        _ZERO.add(key)


def maybe_ops(*names: str) -> list:
    """Look up ``aten`` overload packets by name, skipping those this torch build lacks."""
    found = []
    for name in names:
        packet = getattr(aten, name, None)
        if packet is not None:
            found.append(packet)
    return found


def lookup(op) -> tuple[str, Formula | None]:
    """Return ``(status, formula)`` with status ``counted``, ``zero`` or ``uncounted``."""
    _ensure_loaded()
    full = op_key(op)
    packet = packet_of(full)
    for key in (full, packet):
        if key in _FORMULAS:
            return "counted", _FORMULAS[key]
    for key in (full, packet):
        if key in _ZERO:
            return "zero", None
    if full.startswith("prim."):  # metadata queries (prim.device, prim.layout): no data touched
        return "zero", None
    return "uncounted", None


def registered_ops() -> dict[str, list[str]]:
    """All op names with a formula and all op names in the zero set (for docs and tests)."""
    _ensure_loaded()
    return {"formula": sorted(_FORMULAS), "zero": sorted(_ZERO)}


_loaded = False


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from flopwise.cost import (  # noqa: F401  (import registers the formulas)
            contraction,
            elementwise,
            layers,
            linalg,
            vision,
            zero,
        )
        from flopwise.cost.rules import rows_without_counter

        missing = rows_without_counter()
        if missing:  # a row whose counter nobody defines would leave its ops uncounted
            raise RuntimeError(f"flopwise: rules without a counter: {', '.join(missing)}")
