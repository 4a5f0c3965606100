"""LLM reranker cost in the E2R-FLOPs framing (Peng et al., 2025): FLOPs per query,
QPP (queries per PetaFLOP) and RPP (ranking metric per PetaFLOP).

A reranking style is a number of LLM calls per query, each a prompt (template + query +
the documents it shows) and a few output tokens:

* **pointwise**: one call per candidate (prompt = template + query + one document), one
  output token (a relevance label or the logit of "yes");
* **listwise** (RankGPT sliding window): windows of ``window`` documents moved by
  ``stride`` from the bottom of the list: ``ceil((n − window) / stride) + 1`` calls, each
  emitting a permutation (``output_tokens``, by default 3 tokens per document, e.g. "[12] >");
* **setwise** (bubble sort for the top ``top_k``): each pass compares ``set_size`` documents
  per call and slides by ``set_size − 1``; pass ``i`` needs ``ceil((n − i − 1)/(c − 1))``
  calls; one output token (the label of the best document).

Each call's cost is a prefill of its prompt (logits at the last position) plus one decode
step per further output token, priced by :mod:`flopwise.llm.ops` under flopwise's counting
conventions (causal attention, a multiply-add = 2 flops). Measured call counts or token
counts can replace the defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flopwise.llm.dtypes import Precision
from flopwise.llm.ops import decoder_step_ops, encoder_ops, forward_ops
from flopwise.llm.spec import ModelSpec, load_spec

PETA = 10**15
STYLES = ("pointwise", "listwise", "setwise")


def qpp(mean_flops_per_query: float) -> float:
    """Queries per PetaFLOP: ``1e15 / mean FLOPs per query``."""
    if mean_flops_per_query <= 0:
        raise ValueError("FLOPs per query must be positive")
    return PETA / mean_flops_per_query


def rpp(metric: float, flops_per_query: float) -> float:
    """Ranking metric per PetaFLOP: ``metric / (FLOPs per query / 1e15)``."""
    if flops_per_query <= 0:
        raise ValueError("FLOPs per query must be positive")
    return metric / (flops_per_query / PETA)


def rpp_mean(metrics: Sequence[float], flops_per_query: Sequence[float]) -> float:
    """Mean of the per-query RPP values ``m(q) / (C_q / 1e15)``."""
    if len(metrics) != len(flops_per_query) or not metrics:
        raise ValueError("need one FLOPs figure per metric value, at least one")
    return sum(rpp(m, c) for m, c in zip(metrics, flops_per_query, strict=True)) / len(metrics)


@dataclass(frozen=True)
class RerankCost:
    """FLOPs of reranking one query."""

    style: str
    calls: int
    prompt_tokens: int  # per call
    output_tokens: int  # per call
    flops_per_call: int
    flops_per_query: int

    @property
    def qpp(self) -> float:
        return qpp(self.flops_per_query)

    def rpp(self, metric: float) -> float:
        return rpp(metric, self.flops_per_query)


def rerank_calls(
    style: str,
    candidates: int,
    window: int = 20,
    stride: int = 10,
    set_size: int = 4,
    top_k: int = 10,
) -> int:
    """LLM calls per query of a reranking style (see the module docstring)."""
    n = candidates
    if style == "pointwise":
        return n
    if style == "listwise":
        if n <= window:
            return 1
        return math.ceil((n - window) / stride) + 1
    if style == "setwise":
        if set_size < 2:
            raise ValueError("setwise needs set_size ≥ 2")
        return sum(math.ceil((n - i - 1) / (set_size - 1)) for i in range(min(top_k, n - 1)))
    raise ValueError(f"style must be one of {STYLES}, not {style!r}")


def call_flops(spec: ModelSpec, prompt_tokens: int, output_tokens: int = 1) -> int:
    """FLOPs of one LLM call (batch 1): prefill of the prompt with last-position logits, then
    ``output_tokens − 1`` decode steps (encoder-decoder: encoder + ``output_tokens`` decoder
    steps; encoder-only cross-encoders: one forward with no lm_head)."""
    prec = Precision()
    if spec.kind == "encoder":
        return sum(op.flops for op in forward_ops(spec, 1, prompt_tokens, 0, "none", prec))
    if spec.kind == "encoder-decoder":
        flops = sum(op.flops for op in encoder_ops(spec, 1, prompt_tokens, prec))
        for j in range(max(output_tokens, 1)):
            flops += sum(
                op.flops for op in decoder_step_ops(spec, 1, j, prompt_tokens, 1, "all", prec)
            )
        return flops
    flops = sum(op.flops for op in forward_ops(spec, 1, prompt_tokens, 0, "last", prec))
    for j in range(max(output_tokens - 1, 0)):
        flops += sum(op.flops for op in forward_ops(spec, 1, 1, prompt_tokens + j, "all", prec))
    return flops


def rerank_cost(
    model: ModelSpec | Mapping[str, Any] | str,
    style: str,
    candidates: int = 100,
    query_tokens: int = 32,
    doc_tokens: int = 128,
    template_tokens: int = 64,
    output_tokens: int | None = None,
    window: int = 20,
    stride: int = 10,
    set_size: int = 4,
    top_k: int = 10,
    calls: int | None = None,
) -> RerankCost:
    """FLOPs per query of reranking ``candidates`` documents in ``style``."""
    spec = model if isinstance(model, ModelSpec) else load_spec(model)
    shown = {"pointwise": 1, "listwise": min(window, candidates), "setwise": set_size}[style]
    if output_tokens is None:
        output_tokens = 3 * shown if style == "listwise" else 1
    n_calls = (
        calls
        if calls is not None
        else rerank_calls(style, candidates, window, stride, set_size, top_k)
    )
    prompt = template_tokens + query_tokens + shown * doc_tokens
    per_call = call_flops(spec, prompt, output_tokens)
    return RerankCost(style, n_calls, prompt, output_tokens, per_call, n_calls * per_call)
