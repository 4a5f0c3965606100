"""The postprocessing a deployment runs on a model's output, chosen by its structure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["choose_postprocess"]


def _field(output: Any, name: str) -> Any:
    if isinstance(output, Mapping):
        return output.get(name)
    return getattr(output, name, None)


def choose_postprocess(
    output: Any, tokenizer: Any | None = None
) -> tuple[Callable[[Any], Any], str] | None:
    """Pick the postprocessing a deployment would run on ``output`` (one forward's result).

    Returns ``(fn, label)`` with ``fn(output)`` producing host tensors (or decoded text), or
    None when the output's structure is not recognised (e.g. detection lists).
    """
    logits = output if isinstance(output, torch.Tensor) else _field(output, "logits")
    hidden = None if isinstance(output, torch.Tensor) else _field(output, "last_hidden_state")
    seg = None if isinstance(output, torch.Tensor) else _field(output, "out")
    if (
        logits is None
        and hidden is None
        and seg is None
        and isinstance(output, (tuple, list))
        and output
        and isinstance(output[0], torch.Tensor)
    ):
        logits = output[0]

    def pick(out: Any, name: str) -> torch.Tensor:
        if isinstance(out, torch.Tensor):
            return out
        if isinstance(out, (tuple, list)):
            return out[0]
        return _field(out, name)

    if isinstance(logits, torch.Tensor) and logits.is_floating_point():
        if logits.dim() == 2:
            k = min(5, logits.shape[-1])

            def classify(out: Any) -> tuple[torch.Tensor, torch.Tensor]:
                probs = torch.softmax(pick(out, "logits").float(), dim=-1)
                top = probs.topk(k, dim=-1)
                return top.values.cpu(), top.indices.cpu()

            return classify, f"softmax + top-{k}"
        if logits.dim() == 3:

            def next_token(out: Any) -> Any:
                ids = pick(out, "logits")[:, -1, :].argmax(dim=-1).cpu()
                if tokenizer is not None:
                    return tokenizer.decode_batch([[int(i)] for i in ids.tolist()])
                return ids

            label = "argmax of the last position (next token)"
            return next_token, label + (" + decode" if tokenizer is not None else "")
        if logits.dim() == 4:
            return (
                lambda out: pick(out, "logits").argmax(dim=1).cpu(),
                "argmax over classes per pixel",
            )
    if isinstance(seg, torch.Tensor) and seg.dim() == 4:
        return (lambda out: _field(out, "out").argmax(dim=1).cpu(), "argmax over classes per pixel")
    if isinstance(hidden, torch.Tensor) and hidden.dim() == 3:

        def embed(out: Any) -> torch.Tensor:
            pooled = _field(out, "last_hidden_state").float().mean(dim=1)
            return torch.nn.functional.normalize(pooled, dim=-1).cpu()

        return embed, "mean-pool + L2 normalize (embedding)"
    return None
