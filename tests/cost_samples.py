"""Sample calls for every op with a registered formula, built from the op's schema.

tests/test_cost_registry_counts.py compares what every formula returns on these calls
against tests/data/cost_formula_counts.json, recorded once before the elementwise rules
became one table (``python tests/cost_samples.py --write`` records it again: only for a
deliberate change of a count, stated in the commit).

The calls are synthetic (every tensor argument gets the same shape, scalars their schema
default or a small value): they pin what each formula computes, not what a real model
passes. A formula that rejects a call records the exception's type, which is pinned too.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import torch

from flopwise.cost.registry import lookup, op_key, registered_ops
from flopwise.cost.types import OpCall, TensorMeta

FIXTURE = Path(__file__).resolve().parent / "data" / "cost_formula_counts.json"
TORCH = "__torch__"  # the fixture's key for the torch version it was recorded with
SHAPES = ((2, 3, 4, 5), (1, 4, 6, 6))
DTYPES = (torch.float32, torch.complex64, torch.int64)


def _value(arg, shape, dtype, with_optional: bool):
    """A sample value for one schema argument."""
    kind = str(arg.type)
    if "Tensor" in kind:
        optional = kind.endswith("?") or "Optional" in kind
        if optional and not with_optional:
            return None
        tensor = TensorMeta(shape, dtype)
        return [tensor, tensor] if "[]" in kind or "List" in kind else tensor
    if arg.has_default_value() and not with_optional:
        return arg.default_value
    name = arg.name
    if kind.startswith("bool[") or "List[bool]" in kind:
        return [True, True, True]
    if kind.startswith("bool"):
        return with_optional
    if kind.startswith(("int[", "SymInt[", "List[int]")) or "int[]" in kind:
        if name in ("kernel_size", "stride", "output_size", "size", "padding", "dilation"):
            return [2] * 2 if name != "size" else list(shape)
        return [-1] if "dim" in name else [2, 2]
    if kind.startswith(("int", "SymInt")):
        return -1 if "dim" in name else 2
    if kind.startswith(("float", "Scalar")):
        return 2.0
    if kind.startswith("str"):
        return "tanh" if name == "approximate" else "none"
    if arg.has_default_value():
        return arg.default_value
    return None


def _calls(overload):
    """(label, OpCall) samples of one overload: every shape × dtype, with and without the
    optional tensors and with non-default scalars."""
    schema = overload._schema
    key = op_key(overload)
    for shape in SHAPES:
        for dtype in DTYPES:
            for with_optional in (False, True):
                args = tuple(
                    _value(a, shape, dtype, with_optional)
                    for a in schema.arguments
                    if not a.kwarg_only
                )
                kwargs = {
                    a.name: _value(a, shape, dtype, with_optional)
                    for a in schema.arguments
                    if a.kwarg_only
                }
                label = f"{'x'.join(map(str, shape))}:{str(dtype)[6:]}:{int(with_optional)}"
                yield label, OpCall(key, args, kwargs, (TensorMeta(shape, dtype),))


def _overloads(key: str) -> list:
    """The overloads a registry key stands for (a packet: all of them)."""
    namespace, _, rest = key.partition(".")
    packet_name, _, overload = rest.partition(".")
    packet = getattr(getattr(torch.ops, namespace), packet_name, None)
    if packet is None:
        return []
    names = [overload] if overload else sorted(packet.overloads())
    return [getattr(packet, name) for name in names]


def _outcome(overload, call: OpCall) -> list | str:
    status, formula = lookup(overload)
    if status != "counted":
        return status
    try:
        c = formula(call)
    except Exception as error:  # noqa: BLE001  (the failure mode itself is pinned)
        return type(error).__name__
    return [c.flops, c.macs, c.activations, c.category, c.bytes_read, c.bytes_written]


def _text(outcome: list | str) -> str:
    """One outcome as the fixture writes it: ``flops macs activations category`` (then the
    bytes read and written unless both are the default -1), or ``!Error``."""
    if isinstance(outcome, str):
        return "!" + outcome
    flops, macs, activations, category, read, written = outcome
    traffic = "" if (read, written) == (-1, -1) else f" {read} {written}"
    return f"{flops} {macs} {activations} {category}{traffic}"


def record() -> dict[str, str]:
    """Every registered formula's outcome on every sample call: per overload, the outcomes
    of its samples in a fixed order, joined by `` | ``."""
    if any(key.startswith("torchvision.") for key in registered_ops()["formula"]):
        # torchvision's ops exist under torch.ops only once it is imported
        with contextlib.suppress(ImportError):
            import torchvision  # noqa: F401
    results: dict[str, str] = {}
    for key in registered_ops()["formula"]:
        if key.startswith("transformers."):
            # transformers defines its MoE custom ops only once its moe integration is
            # imported, so whether they exist depends on which tests ran before; the MoE
            # tests check those formulas
            continue
        for overload in _overloads(key):
            outcomes = [_text(_outcome(overload, call)) for _, call in _calls(overload)]
            results[op_key(overload)] = " | ".join(outcomes)
    return results


if __name__ == "__main__":
    text = json.dumps({TORCH: torch.__version__, **record()}, indent=0, sort_keys=True) + "\n"
    if "--write" in sys.argv:
        FIXTURE.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
