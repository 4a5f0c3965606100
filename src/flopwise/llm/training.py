"""Training compute: flops per token and per step for forward + backward, next to the
closed forms people quote (6·N, Kaplan's 6·N + attention, Megatron's), and MFU.

The analytic backward follows the op rows of the forward:

* a weight contraction (``y = x·Wᵀ``) costs two contractions of the same size backward
  (grad input and grad weight): ``2 × 2·macs``; a bias adds a reduction of the output
  gradient (one flop per output element);
* attention backward, without recomputing scores in the kernel: ``dV = Pᵀ·dO``,
  ``dP = dO·Vᵀ``, ``dQ = dS·K``, ``dK = dSᵀ·Q`` (twice the forward macs) plus 3 flops per
  pair for the softmax backward (as ``flopwise.cost.contraction.attention_backward_cost``);
* elementwise, norm and softmax steps: 2 × their forward flops (an approximation: the chain
  rule of each elementary step is about one multiply and one add per element);
* embedding lookups: one add per gathered element (the scatter-add of the gradient).

Full recomputation (activation checkpointing of every layer) re-runs each transformer
layer's forward once more; embedding, final norm and lm_head are not recomputed, as in
Megatron's closed form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flopwise.llm.dtypes import Precision
from flopwise.llm.ops import OpEstimate, decoder_step_ops, encoder_ops, forward_ops
from flopwise.llm.params import count_params
from flopwise.llm.spec import ModelSpec, load_spec

_NOT_RECOMPUTED_GROUPS = ("embedding", "head", "position")


def backward_flops(op: OpEstimate, hidden: int = 0, tokens: int = 0) -> int:
    """Analytic backward flops of one forward op row (see the module docstring);
    ``hidden`` and ``tokens`` size the embedding gradient's scatter-add."""
    if op.category == "contraction":
        return 4 * op.macs + (op.flops - 2 * op.macs)
    if op.pairs:  # attention softmax: 3 flops per pair backward
        return 3 * op.pairs
    if op.group == "embedding" and op.category == "memory":
        return hidden * tokens
    return 2 * op.flops


def _is_recomputed(op: OpEstimate) -> bool:
    return op.group not in _NOT_RECOMPUTED_GROUPS and op.name != "final_norm"


@dataclass(frozen=True)
class TrainingCost:
    """Training flops of one step of ``batch`` sequences of ``seq`` tokens."""

    batch: int
    seq: int
    forward: int
    backward: int
    recompute: int  # extra forward flops of full recomputation (0 when off)
    forward_matmul: int  # 2·macs of the forward (the closed forms' view)
    six_n: int  # 6·N·tokens, N = active non-embedding parameters
    kaplan: int  # (6·N + 6·L·s·d_attn)·tokens
    megatron: int  # 72·B·s·L·h²·(1 + s/(6h) + V/(12·L·h)) (96·…·V/(16·L·h) with recompute)
    palm: int = 0  # PaLM's MFU numerator: (6·N + 12·L·H·Q·T)·tokens, matmuls only

    @property
    def tokens(self) -> int:
        return self.batch * self.seq

    @property
    def step(self) -> int:
        """All flops the hardware runs in one step (forward + backward + recomputation)."""
        return self.forward + self.backward + self.recompute

    @property
    def model_flops(self) -> int:
        """Flops of the step without recomputation: the numerator of MFU."""
        return self.forward + self.backward

    @property
    def per_token(self) -> float:
        return self.step / self.tokens

    @property
    def per_token_flops(self) -> dict[str, float]:
        """Each figure of the step in FLOPs per token (over ``batch · seq`` tokens), keyed
        by its field name: ``forward``, ``backward``, ``recompute``, ``step``, ``six_n``,
        ``kaplan``, ``megatron``, ``palm``."""
        names = ("forward", "backward", "recompute", "step", "six_n", "kaplan", "megatron", "palm")
        return {name: getattr(self, name) / self.tokens for name in names}


def megatron_forward_flops(batch: int, seq: int, layers: int, hidden: int, vocab: int) -> int:
    """``24·B·s·L·h²·(1 + s/(6h) + V/(12·L·h))`` = 24BsLh² + 4Bs²Lh + 2BshV, exactly: the
    matmuls of a GPT forward (non-causal attention, MLP 4h, logits at every position)."""
    b, s, n, h, v = batch, seq, layers, hidden, vocab
    return 24 * b * s * n * h * h + 4 * b * s * s * n * h + 2 * b * s * h * v


def megatron_training_flops(
    batch: int, seq: int, layers: int, hidden: int, vocab: int, recompute: bool = False
) -> int:
    """Narayanan et al. 2021: ``72·B·s·L·h²·(1 + s/(6h) + V/(12·L·h))`` per step without
    recomputation, ``96·B·s·L·h²·(1 + s/(6h) + V/(16·L·h))`` with full recomputation."""
    b, s, n, h, v = batch, seq, layers, hidden, vocab
    if recompute:
        return 96 * b * s * n * h * h + 16 * b * s * s * n * h + 6 * b * s * h * v
    return 3 * megatron_forward_flops(b, s, n, h, v)


def training_cost(
    model: ModelSpec | Mapping[str, Any] | str,
    batch: int,
    seq: int,
    recompute: bool = False,
) -> TrainingCost:
    """Analytic training flops per step for ``batch`` sequences of ``seq`` tokens (logits at
    every position; encoder-decoder: ``seq`` source and ``seq`` target tokens)."""
    spec = model if isinstance(model, ModelSpec) else load_spec(model)
    prec = Precision()
    if spec.kind == "encoder-decoder":
        ops = encoder_ops(spec, batch, seq, prec) + decoder_step_ops(
            spec, batch, 0, seq, seq, "all", prec
        )
    else:
        ops = forward_ops(spec, batch, seq, 0, "all", prec)
    tokens = batch * seq
    fwd = sum(op.flops for op in ops)
    bwd = sum(backward_flops(op, spec.hidden, tokens) for op in ops)
    rec = sum(op.flops for op in ops if _is_recomputed(op)) if recompute else 0
    params = count_params(spec)
    n = params.active - params.embedding
    if spec.tied_embeddings and spec.lm_head:
        n += spec.vocab * spec.hidden  # the head's matmul runs even though the tensor is shared
    layers = spec.layers + (spec.decoder_layers if spec.kind == "encoder-decoder" else 0)
    six_n = 6 * n * tokens
    kaplan = six_n + 6 * layers * seq * spec.q_dim * tokens
    # PaLM (Chowdhery et al. 2022, app. B): attention as if unmasked, H·Q = q_dim, T = seq
    palm = six_n + 12 * layers * spec.q_dim * seq * tokens
    return TrainingCost(
        batch=batch,
        seq=seq,
        forward=fwd,
        backward=bwd,
        recompute=rec,
        forward_matmul=2 * sum(op.macs for op in ops),
        six_n=six_n,
        kaplan=kaplan,
        megatron=megatron_training_flops(batch, seq, layers, spec.hidden, spec.vocab, recompute),
        palm=palm,
    )


def mfu(model_flops: float, step_seconds: float, peak_flops: float) -> float:
    """Model flops utilisation: model flops of a step (no recomputation) / (time · peak)."""
    if step_seconds <= 0 or peak_flops <= 0:
        raise ValueError("step time and peak must be positive")
    return model_flops / (step_seconds * peak_flops)
