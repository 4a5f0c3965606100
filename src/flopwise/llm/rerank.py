"""LLM reranker cost in the E2R-FLOPs framing (Peng et al., 2025): FLOPs per query,
QPP (queries per PetaFLOP) and RPP (ranking metric per PetaFLOP).

A reranking style is a sequence of LLM calls per query, each a prompt (template + query +
the documents it shows) and a few output tokens. The calls are planned the way the
reference implementations run them, document count per call included:

* **pointwise**: one call per candidate (prompt = template + query + one document), one
  output token (a relevance label or the logit of "yes");
* **listwise**: RankGPT's sliding window (``sliding_windows`` in RankGPT's ``rank_gpt.py``):
  the window ``[n − window, n)`` first, then moved up by ``stride`` while its start is
  ≥ 0, so ``floor((n − window) / stride) + 1`` calls of ``window`` documents each (one call
  of all ``n`` when ``n ≤ window``). Each emits a permutation (``output_tokens``, by
  default 3 tokens per document, e.g. "[12] >");
* **setwise** (Zhuang et al. 2024, the llm-rankers code the E2R-FLOPs authors ran): each
  call shows up to ``set_size`` documents and returns the best one (one output token).
  ``method="bubble"``: the standard bubble sort for the top ``top_k``; pass ``i`` slides a
  set of ``set_size`` from the bottom up by ``set_size − 1``, clamped at position ``i``
  (the last set of a pass may show fewer documents): ``Σ_{i<k} ceil((n − i − 1)/(c − 1))``
  calls. ``method="heap"``: heapsort on a ``(set_size − 1)``-ary max-heap, one call per
  heapify step (a node and its children), a full build then ``top_k − 1`` sift-downs of
  the root. Its call count depends on the documents' relevance order, so it is counted by
  running the heapsort on an order: ``"reversed"`` (the LLM's order is the reverse of the
  first stage's, the default), ``"sorted"`` (the same order) or explicit relevance scores.

Each call is priced in one of two conventions:

* ``"flopwise"`` (default): the exact count under flopwise's rules (docs/conventions.md):
  a prefill of the prompt with last-position logits, one decode step per further output
  token, causal attention, GQA costing as MHA per query head, norms, softmax, LM head;
* ``"paper"``: the E2R-FLOPs estimator's closed form (the authors' ``flops_decoder`` /
  ``flops_encoder_decoder``), see :func:`paper_call_flops`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from flopwise.llm.dtypes import Precision
from flopwise.llm.ops import decoder_step_ops, encoder_ops, forward_ops
from flopwise.llm.spec import BadLLMArgument, ModelSpec, check_at_least, load_spec

PETA = 10**15
STYLES = ("pointwise", "listwise", "setwise")
SETWISE_METHODS = ("bubble", "heap")
HEAP_ORDERS = ("reversed", "sorted")
CONVENTIONS = ("flopwise", "paper")


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
    """FLOPs of reranking one query.

    ``flops_per_query`` sums every call at its own prompt length under ``convention``;
    ``exact_flops_per_query`` is flopwise's exact count (equal to it under the ``flopwise``
    convention). ``prompt_tokens`` and ``flops_per_call`` describe a call that shows the
    full window or set; ``docs_per_call`` maps the documents a call shows to how many calls
    show that many (setwise passes end with smaller sets).
    """

    style: str
    calls: int
    prompt_tokens: int  # per full call
    output_tokens: int  # per call
    flops_per_call: int  # a full call
    flops_per_query: int
    convention: str = "flopwise"
    exact_flops_per_query: int = 0
    docs_per_call: tuple[tuple[int, int], ...] = ()
    method: str = ""  # setwise: bubble | heap

    @property
    def qpp(self) -> float:
        return qpp(self.flops_per_query)

    def rpp(self, metric: float) -> float:
        return rpp(metric, self.flops_per_query)


# ---------------------------------------------------------------------------------------
# call plans: the documents each LLM call shows


def listwise_windows(candidates: int, window: int = 20, stride: int = 10) -> list[tuple[int, int]]:
    """The ``[start, end)`` windows RankGPT's sliding-window loop ranks, in call order.

    RankGPT starts at ``[n − window, n)`` and moves both ends up by ``stride`` while the
    start is ≥ 0; positions above the last start keep the first stage's order. With
    ``n ≤ window`` one window holds all ``n`` documents (RankGPT with ``window_size = n``).
    """
    check_at_least("candidates", candidates, 1)
    check_at_least("window", window, 1)
    check_at_least("stride", stride, 1)
    if candidates <= window:
        return [(0, candidates)]
    out = []
    start, end = candidates - window, candidates
    while start >= 0:
        out.append((start, end))
        start, end = start - stride, end - stride
    return out


def setwise_bubble_plan(candidates: int, set_size: int = 4, top_k: int = 10) -> list[int]:
    """Documents shown by each call of setwise bubble sort for the top ``top_k``.

    Pass ``i`` (``i < min(top_k, n − 1)``) compares the set ``[n − c, n)`` (c = set_size),
    then moves it up by ``c − 1`` with its start clamped at ``i``, until the set starts at
    ``i`` (the standard bubble sort of the llm-rankers code; its default variant also skips
    sets the previous pass left unchanged, a data-dependent count not modelled here).
    """
    check_at_least("candidates", candidates, 1)
    check_at_least("set_size", set_size, 2)
    check_at_least("top_k", top_k, 1)
    n, step = candidates, set_size - 1
    shown: list[int] = []
    for i in range(min(top_k, n - 1)):
        start, end = n - set_size, n
        while True:
            start = max(start, i)
            shown.append(end - start)
            if start == i:
                break
            start, end = start - step, end - step
    return shown


def setwise_heap_plan(
    candidates: int,
    set_size: int = 4,
    top_k: int = 10,
    order: str | Sequence[float] = "reversed",
) -> list[int]:
    """Documents shown by each call of setwise heapsort for the top ``top_k``, counted by
    running the heapsort with an LLM that always picks the most relevant document shown.

    The heap is ``(set_size − 1)``-ary over the first-stage list; a call shows a node and
    its children and the node swaps with the winner, then the sift continues below it. After
    the build, ``top_k − 1`` times the root is moved out and the new root sifted down (as
    in the llm-rankers ``heapSort``). ``order`` gives the relevance of the documents in
    first-stage order: ``"reversed"`` (the least relevant first), ``"sorted"`` (the most
    relevant first) or one score per candidate (higher = more relevant; a tie keeps the node).
    """
    check_at_least("candidates", candidates, 1)
    check_at_least("set_size", set_size, 2)
    check_at_least("top_k", top_k, 1)
    n, children = candidates, set_size - 1
    if isinstance(order, str):
        if order not in HEAP_ORDERS:
            raise BadLLMArgument("order", order, f"must be one of {', '.join(HEAP_ORDERS)}")
        relevance: list[float] = list(range(n)) if order == "reversed" else list(range(n, 0, -1))
    else:
        relevance = [float(r) for r in order]
        if len(relevance) != n:
            raise BadLLMArgument("order", len(relevance), f"needs one score per candidate ({n})")
    heap = list(relevance)
    shown: list[int] = []

    def sift(node: int, size: int) -> None:
        while children * node + 1 < size:
            kids = range(children * node + 1, min(children * node + children + 1, size))
            shown.append(1 + len(kids))
            best = node
            for k in kids:  # strict: on a tie the node (shown first) wins
                if heap[k] > heap[best]:
                    best = k
            if best == node:
                return
            heap[node], heap[best] = heap[best], heap[node]
            node = best

    for node in range(n // children, -1, -1):
        sift(node, n)
    for size in range(n - 1, n - min(top_k, n - 1), -1):
        heap[0], heap[size] = heap[size], heap[0]
        sift(0, size)
    return shown


def rerank_plan(
    style: str,
    candidates: int,
    window: int = 20,
    stride: int = 10,
    set_size: int = 4,
    top_k: int = 10,
    method: str = "bubble",
    order: str | Sequence[float] = "reversed",
) -> list[int]:
    """Documents shown by each LLM call of reranking ``candidates`` documents in ``style``."""
    check_at_least("candidates", candidates, 1)
    if style == "pointwise":
        return [1] * candidates
    if style == "listwise":
        return [end - start for start, end in listwise_windows(candidates, window, stride)]
    if style == "setwise":
        if method == "bubble":
            return setwise_bubble_plan(candidates, set_size, top_k)
        if method == "heap":
            return setwise_heap_plan(candidates, set_size, top_k, order)
        raise BadLLMArgument("method", method, f"must be one of {', '.join(SETWISE_METHODS)}")
    raise BadLLMArgument("style", style, f"must be one of {', '.join(STYLES)}")


def rerank_calls(style: str, candidates: int, **plan: Any) -> int:
    """LLM calls per query of a reranking style (see the module docstring); ``plan`` takes
    :func:`rerank_plan`'s keyword arguments (window, stride, set_size, top_k, method, order)."""
    return len(rerank_plan(style, candidates, **plan))


# ---------------------------------------------------------------------------------------
# FLOPs of one call


def call_flops(spec: ModelSpec, prompt_tokens: int, output_tokens: int = 1) -> int:
    """FLOPs of one LLM call (batch 1) under flopwise's rules: prefill of the prompt with
    last-position logits, then ``output_tokens − 1`` decode steps (encoder-decoder: encoder
    + ``output_tokens`` decoder steps; encoder-only cross-encoders: one forward)."""
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


def paper_call_flops(spec: ModelSpec, prompt_tokens: int, output_tokens: int = 1) -> int:
    """FLOPs of one call by the E2R-FLOPs paper's closed form (rounded to an integer).

    With d = hidden, L = layers, ff = MLP size, r = query heads per key/value head,
    n = prompt tokens, o = output tokens, decoder-only::

        N   = 2·d·L·((1 + 1/r)·d + ff)             (Q, O: d² each; K, V: d²/r; MLP 2·d·ff)
        ctx = 2·N·n + 4·L·n²·d / r                 (full n² attention, divided by r)
        gen = 2·N·o + 2·L·d/r·(2·o·n + o·(o − 1))  (one forward per output token,
                                                    the first one included)

    and encoder-decoder (one L for both stacks, no GQA)::

        N_enc = 2·d·L·(2·d + ff),  N_dec = 2·d·L·(3·d + ff)
        ctx = 2·N_enc·n + 4·L·n²·d,  cross = 4·L·n·d²
        gen = 2·N_dec·o + 2·L·d·(2·o·n + o·(o − 1))

    No embeddings, LM head, norms, softmax or biases; a SwiGLU MLP counts as 2·d·ff like a
    plain one. Encoder-only models and MoE models have no paper formula: refused.
    """
    if spec.moe is not None:
        raise BadLLMArgument("convention", "paper", "the paper's formula has no MoE layers")
    if spec.kind == "encoder":
        raise BadLLMArgument(
            "convention", "paper", "the paper's formula covers decoder-only and encoder-decoder"
        )
    d, layers, ff = spec.hidden, spec.layers, spec.intermediate
    n, o = prompt_tokens, output_tokens
    if spec.kind == "encoder-decoder":
        n_enc = 2 * d * layers * (2 * d + ff)
        n_dec = 2 * d * layers * (3 * d + ff)
        ctx = 2 * n_enc * n + 4 * layers * n * n * d
        cross = 4 * layers * n * d * d
        gen = 2 * n_dec * o + 2 * layers * d * (2 * o * n + o * (o - 1))
        return ctx + cross + gen
    r = Fraction(spec.heads, spec.kv_heads)  # exact: d/r need not be whole
    params = 2 * d * layers * ((1 + 1 / r) * d + ff)
    ctx = 2 * params * n + 4 * layers * n * n * d / r
    gen = 2 * params * o + 2 * layers * d / r * (2 * o * n + o * (o - 1))
    return round(ctx + gen)


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
    method: str = "bubble",
    order: str | Sequence[float] = "reversed",
    convention: str = "flopwise",
    beyond_context: bool = False,
) -> RerankCost:
    """FLOPs per query of reranking ``candidates`` documents in ``style``.

    ``calls`` replaces the planned call count (measured counts): every call then shows the
    full window or set. A call's prompt plus its output tokens must fit the model's context
    unless ``beyond_context``. Raises :class:`BadLLMArgument` for out-of-range arguments.
    """
    from flopwise.llm.estimate import check_context

    spec = model if isinstance(model, ModelSpec) else load_spec(model)
    if convention not in CONVENTIONS:
        raise BadLLMArgument("convention", convention, f"must be one of {', '.join(CONVENTIONS)}")
    check_at_least("query_tokens", query_tokens, 0)
    check_at_least("doc_tokens", doc_tokens, 1)
    check_at_least("template_tokens", template_tokens, 0)
    if output_tokens is not None:
        check_at_least("output_tokens", output_tokens, 1)
    plan = rerank_plan(style, candidates, window, stride, set_size, top_k, method, order)
    full = {"pointwise": 1, "listwise": min(window, candidates), "setwise": set_size}[style]
    if calls is not None:
        check_at_least("calls", calls, 1)
        plan = [full] * calls
    if output_tokens is None:
        output_tokens = 3 * full if style == "listwise" else 1

    def prompt(docs: int) -> int:
        return template_tokens + query_tokens + docs * doc_tokens

    longest = prompt(max(plan)) + (output_tokens if spec.kind == "decoder" else 0)
    check_context(spec, longest, beyond_context, "prompt + output tokens of a call")
    if convention == "paper":
        paper_call_flops(spec, 1, 1)  # refuses what the paper has no formula for, early
    by_docs = Counter(plan)
    sizes = set(by_docs) | {full}
    exact = {k: call_flops(spec, prompt(k), output_tokens) for k in sizes}
    price = exact
    if convention == "paper":
        price = {k: paper_call_flops(spec, prompt(k), output_tokens) for k in sizes}
    return RerankCost(
        style=style,
        calls=len(plan),
        prompt_tokens=prompt(full),
        output_tokens=output_tokens,
        flops_per_call=price[full],
        flops_per_query=sum(price[k] * c for k, c in by_docs.items()),
        convention=convention,
        exact_flops_per_query=sum(exact[k] * c for k, c in by_docs.items()),
        docs_per_call=tuple(sorted(by_docs.items(), reverse=True)),
        method=method if style == "setwise" else "",
    )
