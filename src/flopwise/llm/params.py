"""Parameter counts of a :class:`ModelSpec`: total, active per token (MoE), embeddings."""

from __future__ import annotations

from dataclasses import dataclass

from flopwise.llm.spec import ModelSpec


@dataclass(frozen=True)
class ParamCount:
    """Unique parameters. ``active`` is what one token uses (MoE: top-k of the routed experts
    plus everything else); ``embedding`` is the input lookup tables (token, position, type);
    ``lm_head`` is 0 when tied to the token embedding (counted once, as a unique tensor)."""

    total: int
    active: int
    embedding: int
    lm_head: int
    attention: int
    mlp: int
    norms: int
    router: int = 0
    experts: int = 0

    @property
    def non_embedding(self) -> int:
        """Parameters outside the input lookup tables (Kaplan's N); a tied head's matrix is
        one tensor with the embedding, so it is excluded here too."""
        return self.total - self.embedding


def _norm_params(spec: ModelSpec) -> int:
    return spec.hidden * (1 if spec.norm == "rms" else 2)


def count_params(spec: ModelSpec) -> ParamCount:
    """Count parameters the way ``sum(p.numel() for p in model.parameters())`` does for the
    HF model of this config (shared tensors once)."""
    h, qd, kvd = spec.hidden, spec.q_dim, spec.kv_dim
    attn_one = h * qd + 2 * h * kvd + qd * h
    if spec.attention_bias:
        attn_one += qd + 2 * kvd
    if spec.o_bias:
        attn_one += h

    def mlp_params(inter: int) -> int:
        mats = (3 if spec.gated_mlp else 2) * h * inter
        bias = (2 * inter + h if spec.gated_mlp else inter + h) if spec.mlp_bias else 0
        return mats + bias

    embedding = spec.vocab * h
    if spec.positions == "learned":
        embedding += spec.max_positions * h + spec.type_vocab * h
    lm_head = 0 if spec.tied_embeddings else spec.vocab * h
    norms = router = experts = mlp = attention = 0
    active_experts = 0
    if spec.kind == "encoder-decoder":
        dec = spec.decoder_layers or spec.layers
        attention = (spec.layers + 2 * dec) * attn_one
        mlp = (spec.layers + dec) * mlp_params(spec.intermediate)
        norms = (2 * spec.layers + 3 * dec + 2) * _norm_params(spec)
        attention += 2 * 32 * spec.heads  # relative position bias tables (32 buckets)
    else:
        attention = spec.layers * attn_one
        norms = (2 * spec.layers + (1 if spec.kind == "decoder" else 0)) * _norm_params(spec)
        if spec.kind == "encoder" and spec.positions == "learned":
            norms += _norm_params(spec)  # embedding LayerNorm
        for i in range(spec.layers):
            if spec.is_moe_layer(i):
                moe = spec.moe
                assert moe is not None
                router += h * moe.num_experts
                one = mlp_params(moe.expert_intermediate)
                experts += moe.num_experts * one
                active_experts += moe.top_k * one
                if moe.shared_intermediate:
                    mlp += mlp_params(moe.shared_intermediate) + (h if moe.shared_gate else 0)
            else:
                mlp += mlp_params(spec.intermediate)
        if spec.kind == "encoder" and spec.lm_head:
            lm_head += h * h + h + _norm_params(spec) + spec.vocab  # MLM transform + bias
    total = embedding + lm_head + attention + mlp + norms + router + experts
    active = total - experts + active_experts
    return ParamCount(
        total=total,
        active=active,
        embedding=embedding,
        lm_head=lm_head,
        attention=attention,
        mlp=mlp,
        norms=norms,
        router=router,
        experts=experts,
    )
