"""A transformer described by the numbers a cost model needs, read from an HF config dict.

:func:`spec_from_config` normalises the key names of the config families flopwise knows
(llama, mistral, mixtral, qwen2 / qwen2-moe, gpt2, bert, t5 and anything that uses the same
keys) into one :class:`ModelSpec`. Nothing here touches torch or transformers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flopwise.errors import FlopwiseError


class BadConfig(FlopwiseError):
    """A config dict that lacks a number the cost model needs, or holds one no model can
    have (a non-integer size, zero heads, heads not divisible by key/value heads)."""


class BadLLMArgument(FlopwiseError, ValueError):
    """An argument of the analytic model out of its range (``stride 0``, negative document
    tokens, a prompt longer than the model's context). ``field`` names the argument, so the
    CLI can name its option instead. Also a ``ValueError``, for callers that catch those."""

    def __init__(self, field: str, value: Any, requirement: str) -> None:
        self.field = field
        self.value = value
        self.requirement = requirement
        super().__init__(f"{field} = {value!r}: {requirement}")


def check_at_least(field: str, value: Any, minimum: int) -> None:
    """Raise :class:`BadLLMArgument` unless ``value`` is an int (not a bool) ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadLLMArgument(field, value, "must be a whole number")
    if value < minimum:
        raise BadLLMArgument(field, value, f"must be ≥ {minimum}")


# Activation names → the elementwise recipe name used by flopwise.llm.ops.
_ACTIVATIONS = {
    "silu": "silu",
    "swish": "silu",
    "gelu": "gelu",
    "gelu_new": "gelu_tanh_python",
    "gelu_fast": "gelu_tanh_python",
    "gelu_pytorch_tanh": "gelu_tanh",
    "relu": "relu",
    "quick_gelu": "quick_gelu",
}


@dataclass(frozen=True)
class MoESpec:
    """Mixture-of-experts MLP: ``num_experts`` routed experts of which ``top_k`` run per token,
    plus optional always-on shared experts (qwen2-moe: one shared expert with a sigmoid gate)."""

    num_experts: int
    top_k: int
    expert_intermediate: int
    shared_intermediate: int = 0
    shared_gate: bool = False
    normalize_top_k: bool = True
    sparse_layers: tuple[int, ...] | None = None  # None = every layer is MoE


@dataclass(frozen=True)
class ModelSpec:
    """Architecture numbers of a transformer.

    ``kind`` is ``decoder`` (GPT/llama style, causal), ``encoder`` (BERT style, bidirectional)
    or ``encoder-decoder`` (T5 style). Head counts give MHA (kv_heads == heads), GQA or MQA
    (kv_heads == 1). ``sliding_window`` applies to the layers listed in ``window_layers``
    (None = all layers).
    """

    name: str
    kind: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    activation: str = "silu"
    gated_mlp: bool = True
    norm: str = "rms"  # "rms" | "layer"
    attention_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    tied_embeddings: bool = False
    positions: str = "rope"  # "rope" | "learned" | "relative" | "none"
    max_positions: int = 0
    type_vocab: int = 0
    sliding_window: int | None = None
    window_layers: tuple[int, ...] | None = None
    moe: MoESpec | None = None
    decoder_layers: int = 0  # encoder-decoder only
    lm_head: bool = True  # encoder-only models: MLM head on top
    pooler: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def attention_style(self) -> str:
        if self.kv_heads == self.heads:
            return "MHA"
        if self.kv_heads == 1:
            return "MQA"
        return f"GQA ({self.heads // self.kv_heads} query heads per kv head)"

    def is_moe_layer(self, index: int) -> bool:
        if self.moe is None:
            return False
        return self.moe.sparse_layers is None or index in self.moe.sparse_layers

    def window_of(self, index: int) -> int | None:
        if not self.sliding_window:
            return None
        if self.window_layers is None or index in self.window_layers:
            return self.sliding_window
        return None

    def with_(self, **changes: Any) -> ModelSpec:
        """A copy with some fields changed (e.g. ``spec.with_(sliding_window=None)``)."""
        return replace(self, **changes)


def _get(cfg: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        value = cfg.get(key)
        if value is not None:
            return value
    return default


def _whole(key: str, value: Any, minimum: int) -> int:
    """``value`` of config field ``key`` as an int ≥ ``minimum`` (4096.0 is 4096), or
    :class:`BadConfig` naming the field and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadConfig(f"config field {key} = {value!r} is not a number")
    if isinstance(value, float) and not value.is_integer():
        raise BadConfig(f"config field {key} = {value!r} is not a whole number")
    if value < minimum:
        raise BadConfig(f"config field {key} = {value!r} must be ≥ {minimum}")
    return int(value)


def _int(cfg: Mapping[str, Any], *keys: str, default: int | None = None, minimum: int = 1) -> int:
    """The first of ``keys`` present (not None) in ``cfg`` as a checked int; ``default``
    when none is (a documented architecture default), :class:`BadConfig` when there is no
    default either."""
    for key in keys:
        value = cfg.get(key)
        if value is not None:
            return _whole(key, value, minimum)
    if default is None:
        raise BadConfig(f"config has none of {', '.join(keys)}")
    return default


def _key_of(cfg: Mapping[str, Any], *keys: str) -> str:
    """The first of ``keys`` present in ``cfg`` (the first one when none is): the name an
    error message gives the field."""
    return next((k for k in keys if cfg.get(k) is not None), keys[0])


def _head_dim(
    given: tuple[str, Any] | None, hidden: int, heads: int, hidden_key: str, heads_key: str
) -> int:
    """The head size the config ``given`` as ``(key, value)``, else hidden / heads (the HF
    definition), which must then divide exactly."""
    if given is not None and given[1] is not None:
        return _whole(given[0], given[1], 1)
    if hidden % heads:
        raise BadConfig(
            f"config field {hidden_key} = {hidden} is not divisible by {heads_key} = {heads} "
            "and the config gives no head_dim"
        )
    return hidden // heads


# Families whose layers the llama-, GPT-2- and BERT-style specs would price wrong, with
# what differs: they would otherwise fall through to a llama-style (gated MLP, RMSNorm)
# or GPT-2-style (learned positions, biases everywhere) reading of the same keys.
_UNMODELLED_TYPES = {
    "gpt_neox": "an ungated MLP, LayerNorm with biases and parallel residuals",
    "phi": "an ungated MLP, LayerNorm and a parallel attention/MLP block",
    "starcoder2": "an ungated MLP with biases and LayerNorm",
    "falcon": "a parallel attention/MLP block with an ungated MLP",
    "opt": "an ungated MLP with biases, LayerNorm and learned positions",
    "bloom": "ALiBi attention, an ungated MLP and LayerNorm",
    "mpt": "ALiBi attention and an ungated MLP",
    "gptj": "rotary positions and a parallel attention/MLP block without attention biases",
    "codegen": "rotary positions and a parallel attention/MLP block",
    "albert": "cross-layer parameter sharing and factorized embeddings",
    "deepseek_v2": "multi-head latent attention and DeepSeek's MoE layout",
    "deepseek_v3": "multi-head latent attention and DeepSeek's MoE layout",
}
_T5_TYPES = ("t5", "mt5", "umt5")
# Config keys of features no spec models, whatever the model_type says.
_UNMODELLED_KEYS = {
    "kv_lora_rank": "multi-head latent attention (a compressed KV cache)",
    "q_lora_rank": "multi-head latent attention (low-rank queries)",
    "n_shared_experts": "DeepSeek-style shared experts",
    "first_k_dense_replace": "dense first layers in an MoE stack",
}


def _check_modelled(cfg: Mapping[str, Any], model_type: str) -> None:
    """Refuse a config whose architecture the specs would silently price wrong (the
    parameter count, FLOPs and KV cache of another layout) with :class:`BadConfig`."""
    for key, feature in _UNMODELLED_KEYS.items():
        if cfg.get(key) is not None:
            raise BadConfig(
                f"config field {key} = {cfg[key]!r}: {feature} is not modelled "
                "(its parameters, FLOPs and KV cache would be priced as another layout)"
            )
    embedding, hidden = cfg.get("embedding_size"), _get(cfg, "hidden_size", "d_model")
    if embedding is not None and hidden is not None and embedding != hidden:
        raise BadConfig(
            f"config field embedding_size = {embedding!r} differs from the hidden size "
            f"{hidden!r}: factorized embeddings (a projection between them) are not modelled"
        )
    why = _UNMODELLED_TYPES.get(model_type)
    if not why and cfg.get("is_encoder_decoder") and model_type not in ("", *_T5_TYPES):
        why = "an encoder-decoder layout other than T5's"
    if why:
        raise BadConfig(
            f"model_type {model_type}: {why} is not modelled (flopwise llm prices "
            "llama-, mistral-, mixtral-, qwen2-, GPT-2-, BERT- and T5-style layers)"
        )


def spec_from_config(config: Mapping[str, Any], name: str | None = None) -> ModelSpec:
    """Build a :class:`ModelSpec` from an HF ``config.json`` dict.

    Raises :class:`BadConfig` when a needed number is missing, or when the config describes
    an architecture the specs do not model (``_UNMODELLED_TYPES``, ``_UNMODELLED_KEYS``).
    """
    cfg = dict(config)
    model_type = str(cfg.get("model_type", "")).lower()
    _check_modelled(cfg, model_type)
    name = name or cfg.get("_name_or_path") or model_type or "model"
    archs = " ".join(cfg.get("architectures") or []).lower()

    if model_type in _T5_TYPES or "t5" in archs or cfg.get("is_encoder_decoder"):
        return _t5_spec(cfg, name)
    if model_type in ("bert", "roberta", "xlm-roberta", "electra", "distilbert") or (
        "bert" in archs
    ):
        return _bert_spec(cfg, name, model_type)
    if model_type in ("gpt2", "gpt_bigcode") or "n_embd" in cfg:
        return _gpt2_spec(cfg, name)
    return _llama_like_spec(cfg, name, model_type)


def _dims(
    cfg: Mapping[str, Any],
    hidden_keys: tuple[str, ...],
    heads_keys: tuple[str, ...],
    head_dim_key: str | None = None,
) -> tuple[int, int, int]:
    """``(hidden, heads, head_dim)`` read under the family's key names; the head size is
    ``cfg[head_dim_key]`` when given, else hidden / heads (which must divide)."""
    hidden, heads = _int(cfg, *hidden_keys), _int(cfg, *heads_keys)
    given = (head_dim_key, cfg.get(head_dim_key)) if head_dim_key else None
    head_dim = _head_dim(
        given, hidden, heads, _key_of(cfg, *hidden_keys), _key_of(cfg, *heads_keys)
    )
    return hidden, heads, head_dim


def _layer_norm_block(cfg: Mapping[str, Any], act: str) -> dict[str, Any]:
    """The block GPT-2 and BERT share: LayerNorm, an ungated MLP, biases everywhere,
    learned positions, tied embeddings unless the config says otherwise."""
    return {
        "activation": _ACTIVATIONS.get(act, act),
        "gated_mlp": False,
        "norm": "layer",
        "attention_bias": True,
        "o_bias": True,
        "mlp_bias": True,
        "tied_embeddings": bool(_get(cfg, "tie_word_embeddings", default=True)),
        "positions": "learned",
    }


# llama-like model types whose HF config class ties the LM head to the token embedding
# when config.json does not say (the others default to an untied head, as LlamaConfig does).
_TIED_BY_DEFAULT = ("gemma", "gemma2", "gemma3_text", "cohere", "cohere2")


def _llama_like_spec(cfg: dict[str, Any], name: str, model_type: str) -> ModelSpec:
    hidden_keys, heads_keys = ("hidden_size", "d_model"), ("num_attention_heads", "n_head")
    hidden, heads = _int(cfg, *hidden_keys), _int(cfg, *heads_keys)
    kv_heads = _int(cfg, "num_key_value_heads", default=heads)
    if heads % kv_heads:
        raise BadConfig(
            f"config field {_key_of(cfg, *heads_keys)} = {heads} is not divisible by "
            f"num_key_value_heads = {kv_heads} (each key/value head serves a whole group of "
            "query heads)"
        )
    head_dim = _dims(cfg, hidden_keys, heads_keys, "head_dim")[2]  # checked after kv heads
    layers = _int(cfg, "num_hidden_layers", "n_layer")
    act = str(_get(cfg, "hidden_act", "hidden_activation", default="silu"))
    moe = _moe_spec(cfg, layers, model_type)
    # The dense MLP size: a config without intermediate_size is refused (HF fills in a
    # class default that differs per architecture, not 4·hidden); an MoE model whose config
    # names only the expert size uses it.
    intermediate = _int(
        cfg, "intermediate_size", default=moe.expert_intermediate if moe is not None else None
    )
    window, window_layers = _sliding_window(cfg, model_type, layers)
    return ModelSpec(
        name=str(name),
        kind="decoder",
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate=intermediate,
        vocab=_int(cfg, "vocab_size"),
        activation=_ACTIVATIONS.get(act, act),
        gated_mlp=True,
        norm="rms",
        attention_bias=bool(
            _get(cfg, "attention_bias", "qkv_bias", default=model_type.startswith("qwen2"))
        ),
        o_bias=bool(_get(cfg, "attention_bias", default=False)),
        mlp_bias=bool(_get(cfg, "mlp_bias", default=False)),
        # unset: the config class's default (LlamaConfig and most: untied; Gemma, Cohere:
        # tied)
        tied_embeddings=bool(
            _get(cfg, "tie_word_embeddings", default=model_type in _TIED_BY_DEFAULT)
        ),
        positions="rope",
        max_positions=_int(cfg, "max_position_embeddings", default=0, minimum=0),
        sliding_window=window,
        window_layers=window_layers,
        moe=moe,
        extra={"model_type": model_type, "max_positions_key": "max_position_embeddings"},
    )


def _moe_spec(cfg: Mapping[str, Any], layers: int, model_type: str) -> MoESpec | None:
    """The mixture-of-experts MLP of a llama-like config (mixtral, qwen2-moe ...), or None."""
    n_experts = _int(cfg, "num_local_experts", "num_experts", "n_routed_experts", default=0)
    if not n_experts:
        return None
    sparse: tuple[int, ...] | None = None
    step = _int(cfg, "decoder_sparse_step", default=1)
    only_mlp = tuple(cfg.get("mlp_only_layers") or ())
    if step != 1 or only_mlp:
        sparse = tuple(i for i in range(layers) if i not in only_mlp and (i + 1) % step == 0)
    shared = _int(cfg, "shared_expert_intermediate_size", default=0, minimum=0)
    top_k = _int(cfg, "num_experts_per_tok")
    if top_k > n_experts:
        raise BadConfig(
            f"config field num_experts_per_tok = {top_k} exceeds the {n_experts} experts"
        )
    return MoESpec(
        num_experts=n_experts,
        top_k=top_k,
        expert_intermediate=_int(cfg, "moe_intermediate_size", "intermediate_size"),
        shared_intermediate=shared,
        shared_gate=shared > 0 and model_type.startswith("qwen"),
        normalize_top_k=bool(_get(cfg, "norm_topk_prob", default=True)),
        sparse_layers=sparse,
    )


def _sliding_window(
    cfg: Mapping[str, Any], model_type: str, layers: int
) -> tuple[int | None, tuple[int, ...] | None]:
    """``(window, window_layers)``: the sliding window and the layers it applies to (None:
    all); qwen configs state a window they only use with ``use_sliding_window``."""
    window = _int(cfg, "sliding_window", default=0, minimum=0) or None
    if model_type.startswith("qwen") and not cfg.get("use_sliding_window", False):
        window = None
    layer_types = cfg.get("layer_types")
    if not (window and layer_types):
        return window, None
    window_layers = tuple(i for i, t in enumerate(layer_types) if "sliding" in str(t))
    if not window_layers:
        return None, None
    return window, None if len(window_layers) == layers else window_layers


def _gpt2_spec(cfg: dict[str, Any], name: str) -> ModelSpec:
    hidden, heads, head_dim = _dims(
        cfg, ("n_embd", "hidden_size"), ("n_head", "num_attention_heads")
    )
    act = str(_get(cfg, "activation_function", default="gelu_new"))
    positions_key = _key_of(cfg, "n_positions", "max_position_embeddings")
    return ModelSpec(
        name=str(name),
        kind="decoder",
        hidden=hidden,
        layers=_int(cfg, "n_layer", "num_hidden_layers"),
        heads=heads,
        kv_heads=1 if cfg.get("multi_query") else heads,
        head_dim=head_dim,
        # n_inner = None means 4·n_embd: that is GPT-2's definition in HF, not a guess.
        intermediate=_int(cfg, "n_inner", default=4 * hidden),
        vocab=_int(cfg, "vocab_size"),
        **_layer_norm_block(cfg, act),
        max_positions=_int(cfg, "n_positions", "max_position_embeddings", default=1024),
        extra={"model_type": "gpt2", "max_positions_key": positions_key},
    )


def _bert_spec(cfg: dict[str, Any], name: str, model_type: str) -> ModelSpec:
    hidden, heads, head_dim = _dims(cfg, ("hidden_size", "dim"), ("num_attention_heads", "n_heads"))
    act = str(_get(cfg, "hidden_act", "activation", default="gelu"))
    return ModelSpec(
        name=str(name),
        kind="encoder",
        hidden=hidden,
        layers=_int(cfg, "num_hidden_layers", "n_layers"),
        heads=heads,
        kv_heads=heads,
        head_dim=head_dim,
        # No default: BERT-family configs name their MLP size (distilbert: hidden_dim).
        intermediate=_int(cfg, "intermediate_size", "hidden_dim"),
        vocab=_int(cfg, "vocab_size"),
        **_layer_norm_block(cfg, act),
        max_positions=_int(cfg, "max_position_embeddings", default=512),
        type_vocab=_int(cfg, "type_vocab_size", default=0, minimum=0),
        lm_head=True,
        extra={"model_type": model_type or "bert", "max_positions_key": "max_position_embeddings"},
    )


def _t5_spec(cfg: dict[str, Any], name: str) -> ModelSpec:
    # T5's head size d_kv is independent of d_model; a config without it falls back to
    # d_model / num_heads.
    hidden, heads, head_dim = _dims(
        cfg, ("d_model", "hidden_size"), ("num_heads", "num_attention_heads"), "d_kv"
    )
    proj = str(_get(cfg, "feed_forward_proj", default="relu"))
    gated = proj.startswith("gated-")
    # T5Config reads "gated-gelu" as dense_act_fn "gelu_new" (T5 v1.1, flan-t5)
    act = "gelu_new" if proj == "gated-gelu" else proj.removeprefix("gated-")
    layers = _int(cfg, "num_layers", "num_hidden_layers")
    return ModelSpec(
        name=str(name),
        kind="encoder-decoder",
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=heads,
        head_dim=head_dim,
        intermediate=_int(cfg, "d_ff", "intermediate_size"),
        vocab=_int(cfg, "vocab_size"),
        activation=_ACTIVATIONS.get(act, act),
        gated_mlp=gated,
        norm="rms",
        tied_embeddings=bool(_get(cfg, "tie_word_embeddings", default=True)),
        positions="relative",
        decoder_layers=_int(cfg, "num_decoder_layers", default=layers),
        extra={"model_type": "t5"},
    )


def load_spec(name_or_path: str | Mapping[str, Any]) -> ModelSpec:
    """A :class:`ModelSpec` from a config dict, a built-in name or a ``config.json`` path.

    Names and paths resolve through ``flopwise.sources.hf_configs.load_config_dict``
    (imported lazily); a path to a JSON file also works without it.
    """
    if isinstance(name_or_path, Mapping):
        return spec_from_config(name_or_path)
    text = str(name_or_path).removeprefix("hf:")
    try:
        from flopwise.sources.hf_configs import load_config_dict
    except ImportError:
        load_config_dict = None
    if load_config_dict is not None:
        return spec_from_config(load_config_dict(text), name=text)
    import json
    from pathlib import Path

    path = Path(text)
    if path.is_dir():
        path = path / "config.json"
    if path.is_file():
        return spec_from_config(json.loads(path.read_text()), name=text)
    from flopwise.errors import UnknownModel

    raise UnknownModel(
        f"no config named {text!r} (built-in names need flopwise.sources.hf_configs)"
    )
