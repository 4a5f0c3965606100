"""Analytic transformer costs from a config alone: prefill and decode, KV cache, GQA, MoE,
sliding window, training, rerankers (E2R-FLOPs) and sparse retrieval.

Entry points::

    from flopwise.llm import estimate
    e = estimate("llama-3-8b", batch=1, prompt=512, gen=128, hardware="h100-sxm")
    e.prefill.flops, e.decode_first.flops, e.kv_cache_bytes, e.roofline.ttft

Counting conventions are flopwise's (docs/conventions.md): a multiply-add is 2 flops,
causal attention counts the pairs a query sees, elementwise steps use the cost registry's
constants. ``PhaseCost.matmul_flops`` (2·macs) is the view closed forms such as Megatron's
``24·B·s·L·h²·(1 + s/(6h) + V/(12·L·h))`` count.
"""

from flopwise.llm.dtypes import Precision, canonical_dtype, dtype_bits
from flopwise.llm.estimate import (
    DecodeTotals,
    LLMEstimate,
    PhaseCost,
    PhaseTime,
    Roofline,
    check_context,
    critical_batch,
    decode_step_cost,
    estimate,
    experts_touched,
    kv_cache_bytes,
    peak_for,
    prefill_cost,
    weight_bytes,
)
from flopwise.llm.ops import (
    OpEstimate,
    attended_keys,
    decoder_step_ops,
    encoder_ops,
    expected_experts_touched,
    forward_ops,
)
from flopwise.llm.params import ParamCount, count_params
from flopwise.llm.rerank import (
    RerankCost,
    listwise_windows,
    paper_call_flops,
    qpp,
    rerank_calls,
    rerank_cost,
    rerank_plan,
    rpp,
    rpp_mean,
    setwise_bubble_plan,
    setwise_heap_plan,
)
from flopwise.llm.sparse import (
    activation_probabilities,
    expected_flops,
    expected_flops_from_embeddings,
    flops_regularizer,
)
from flopwise.llm.spec import (
    BadConfig,
    BadLLMArgument,
    ModelSpec,
    MoESpec,
    load_spec,
    spec_from_config,
)
from flopwise.llm.training import (
    TrainingCost,
    megatron_forward_flops,
    megatron_training_flops,
    mfu,
    training_cost,
)

__all__ = [
    "BadConfig",
    "BadLLMArgument",
    "DecodeTotals",
    "LLMEstimate",
    "ModelSpec",
    "MoESpec",
    "OpEstimate",
    "ParamCount",
    "PhaseCost",
    "PhaseTime",
    "Precision",
    "RerankCost",
    "Roofline",
    "TrainingCost",
    "activation_probabilities",
    "attended_keys",
    "canonical_dtype",
    "check_context",
    "count_params",
    "critical_batch",
    "decode_step_cost",
    "decoder_step_ops",
    "dtype_bits",
    "encoder_ops",
    "estimate",
    "expected_experts_touched",
    "expected_flops",
    "expected_flops_from_embeddings",
    "experts_touched",
    "flops_regularizer",
    "forward_ops",
    "kv_cache_bytes",
    "listwise_windows",
    "load_spec",
    "megatron_forward_flops",
    "megatron_training_flops",
    "mfu",
    "paper_call_flops",
    "peak_for",
    "prefill_cost",
    "qpp",
    "rerank_calls",
    "rerank_cost",
    "rerank_plan",
    "rpp",
    "rpp_mean",
    "setwise_bubble_plan",
    "setwise_heap_plan",
    "spec_from_config",
    "training_cost",
    "weight_bytes",
]
