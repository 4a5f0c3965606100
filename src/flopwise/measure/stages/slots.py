"""Where the model inputs a preprocess stage replaces live: an image ``(N, 1|3, H, W)``
float tensor or a token ``(N, L)`` integer tensor, in ``args`` or ``kwargs``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

__all__ = ["Slot", "find_image_input", "find_token_input", "get_input", "replace_inputs"]

#: Where a model input lives: ("arg", index) or ("kwarg", name).
Slot = tuple[str, Any]


def get_input(args: Sequence[Any], kwargs: Mapping[str, Any], slot: Slot) -> Any:
    return args[slot[1]] if slot[0] == "arg" else kwargs[slot[1]]


def replace_inputs(
    args: Sequence[Any], kwargs: Mapping[str, Any], values: Mapping[Slot, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    new_args, new_kwargs = list(args), dict(kwargs)
    for (kind, key), value in values.items():
        if kind == "arg":
            new_args[key] = value
        else:
            new_kwargs[key] = value
    return tuple(new_args), new_kwargs


def _slots(args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[tuple[Slot, Any]]:
    out: list[tuple[Slot, Any]] = [(("kwarg", k), v) for k, v in kwargs.items()]
    out += [(("arg", i), v) for i, v in enumerate(args)]
    return out


def _is_image(value: Any) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and value.dim() == 4
        and value.shape[1] in (1, 3)
        and value.shape[2] >= 8
        and value.shape[3] >= 8
    )


def _is_tokens(value: Any) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and not value.is_floating_point()
        and not value.is_complex()
        and value.dtype != torch.bool
        and value.dim() == 2
    )


def find_image_input(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Slot | None:
    """The slot of the ``(N, 1|3, H, W)`` float image input (``pixel_values`` first)."""
    if "pixel_values" in kwargs and _is_image(kwargs["pixel_values"]):
        return ("kwarg", "pixel_values")
    for slot, value in _slots(args, kwargs):
        if _is_image(value):
            return slot
    return None


def find_token_input(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Slot | None:
    """The slot of the ``(N, L)`` integer token input (``input_ids`` first)."""
    if "input_ids" in kwargs and _is_tokens(kwargs["input_ids"]):
        return ("kwarg", "input_ids")
    for slot, value in _slots(args, kwargs):
        if slot[0] == "kwarg" and slot[1] in ("attention_mask", "token_type_ids"):
            continue
        if _is_tokens(value):
            return slot
    return None
