"""What ``flopwise llm`` computes for one request, as one typed result: the inference
estimate, and on request the training cost and memory, the reranking cost and the measured
generation or training step. Filled by :func:`flopwise.pipeline.llm.run_llm`; rendered by
``flopwise.report.llm`` (text) and ``flopwise.report.json`` (the JSON document)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flopwise.llm.estimate import LLMEstimate
    from flopwise.llm.measured import LLMMeasurement
    from flopwise.llm.rerank import RerankCost
    from flopwise.llm.training import TrainingCost
    from flopwise.memory.llm import LLMMemory


@dataclass(frozen=True)
class LLMResult:
    """One ``flopwise llm`` run.

    ``estimate``: prefill/decode cost, memory and (with a hardware profile) roofline times.
    ``largest_batch``: with a hardware profile that states its memory, the largest batch
    whose inference footprint (weights + KV cache + activations) fits in it.
    ``training`` and ``training_memory`` (what ``flopwise memory hf:NAME --train`` gives, per GPU)
    are set with a training request; ``mfu``/``hfu`` when it gave a measured step time and
    the estimate has a roofline. ``reranking`` with a rerank request; ``rpp`` when it gave a
    ranking metric. ``measured`` (timed prefill/decode) or ``measured_training`` (timed
    training steps, JSON-ready) when the run was measured.
    """

    estimate: LLMEstimate
    largest_batch: int | None = None
    training: TrainingCost | None = None
    training_memory: LLMMemory | None = None
    mfu: float | None = None
    hfu: float | None = None
    reranking: RerankCost | None = None
    rpp: float | None = None
    measured: LLMMeasurement | None = None
    measured_training: dict[str, Any] | None = None
