"""Built-in transformer architecture configs, as plain dicts in Hugging Face ``config.json``
format (each has ``model_type``), so these architectures need no fetch; any other Hub
repository ``ORG/NAME`` is resolved by :func:`resolve_config` through
:mod:`flopwise.sources.hub` (its ``config.json`` only).

The figures are the published architecture facts of each model (hidden size, layers, heads,
key/value heads, MLP size, vocabulary, context length, RoPE base, sliding window, MoE experts
and top-k, embedding tying). Weights are never part of this: models built from these configs
have random weights.

Public API (read by :mod:`flopwise.llm` as well as the ``hf:`` model source):
``BUILTIN``, :func:`load_config_dict`, :func:`resolve_config`, :func:`list_builtin`,
:func:`resolve_builtin_name`.

The ``tiny-*`` configs (2 layers, hidden 64, vocabulary 512) are for tests across the project.
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flopwise.errors import BadModelFile, UnknownModel

__all__ = [
    "ALIASES",
    "BUILTIN",
    "HUB_IDS",
    "ResolvedConfig",
    "list_builtin",
    "load_config_dict",
    "resolve_builtin_name",
    "resolve_config",
]


def _decoder(
    architecture: str,
    model_type: str,
    shape: tuple[int, ...],
    rope_theta: float,
    middle: dict[str, Any],
    bos_eos: tuple[int, int] = (1, 2),
) -> dict[str, Any]:
    """A SiLU-gated decoder config in HF key order. ``shape`` is (hidden, intermediate,
    layers, heads, kv_heads, vocab, max_positions); ``middle`` holds the family's own keys
    between the RoPE base and the shared tail."""
    hidden, intermediate, layers, heads, kv_heads, vocab, max_positions = shape
    return {
        "architectures": [architecture],
        "model_type": model_type,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": hidden // heads,
        "hidden_act": "silu",
        "vocab_size": vocab,
        "max_position_embeddings": max_positions,
        "rope_theta": rope_theta,
        **middle,
        "attention_dropout": 0.0,
        "tie_word_embeddings": False,
        "initializer_range": 0.02,
        "bos_token_id": bos_eos[0],
        "eos_token_id": bos_eos[1],
        "use_cache": True,
    }


def _llama(
    hidden: int,
    intermediate: int,
    layers: int,
    heads: int,
    kv_heads: int,
    vocab: int,
    max_positions: int,
    rope_theta: float,
    bos: int,
    eos: int,
) -> dict[str, Any]:
    """A Llama config (no biases, no RoPE scaling)."""
    middle = {
        "rope_scaling": None,
        "rms_norm_eps": 1e-5,
        "attention_bias": False,
        "mlp_bias": False,
    }
    shape = (hidden, intermediate, layers, heads, kv_heads, vocab, max_positions)
    return _decoder("LlamaForCausalLM", "llama", shape, rope_theta, middle, (bos, eos))


def _mistral(
    *shape: int, rope_theta: float, sliding_window: int | None, experts: int | None = None
) -> dict[str, Any]:
    """A Mistral config, or with ``experts`` a Mixtral one (top-2 routing); ``shape`` as
    :func:`_decoder` reads it."""
    middle: dict[str, Any] = {"sliding_window": sliding_window}
    if experts:
        middle |= {
            "num_local_experts": experts,
            "num_experts_per_tok": 2,
            "router_aux_loss_coef": 0.02,
            "output_router_logits": False,
        }
    middle["rms_norm_eps"] = 1e-5
    if experts:
        return _decoder("MixtralForCausalLM", "mixtral", shape, rope_theta, middle)
    return _decoder("MistralForCausalLM", "mistral", shape, rope_theta, middle)


def _bert(hidden: int, layers: int, heads: int, intermediate: int, vocab: int) -> dict[str, Any]:
    """A BERT masked-LM config (512 positions)."""
    return {
        "architectures": ["BertForMaskedLM"],
        "model_type": "bert",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "vocab_size": vocab,
        "layer_norm_eps": 1e-12,
        "initializer_range": 0.02,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "use_cache": True,
    }


def _gpt2(
    hidden: int, layers: int, heads: int, positions: int, vocab: int, eos: int
) -> dict[str, Any]:
    """A GPT-2 LM config (MLP 4× hidden, tied lm_head); ``eos`` is the bos token too."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "n_embd": hidden,
        "n_layer": layers,
        "n_head": heads,
        "n_inner": None,
        "n_positions": positions,
        "n_ctx": positions,
        "vocab_size": vocab,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": 0.1,
        "embd_pdrop": 0.1,
        "attn_pdrop": 0.1,
        "initializer_range": 0.02,
        "bos_token_id": eos,
        "eos_token_id": eos,
        "tie_word_embeddings": True,
        "use_cache": True,
    }


BUILTIN: dict[str, dict[str, Any]] = {
    # google-bert/bert-base-uncased (Devlin et al. 2018): 12 layers, 768 hidden, 12 heads.
    "bert-base-uncased": _bert(768, 12, 12, 3072, 30522),
    # openai-community/gpt2 (124M): 12 layers, 768 hidden, 12 heads, MLP 4x, tied lm_head.
    "gpt2": _gpt2(768, 12, 12, 1024, 50257, 50256),
    # meta-llama/Llama-2-7b-hf: 32 layers, 4096 hidden, 32 heads (MHA), MLP 11008, 4k context.
    "llama-2-7b": _llama(4096, 11008, 32, 32, 32, 32000, 4096, 10000.0, 1, 2),
    # meta-llama/Llama-2-13b-hf: 40 layers, 5120 hidden, 40 heads (MHA), MLP 13824.
    "llama-2-13b": _llama(5120, 13824, 40, 40, 40, 32000, 4096, 10000.0, 1, 2),
    # meta-llama/Llama-2-70b-hf: 80 layers, 8192 hidden, 64 heads, 8 KV heads (GQA), MLP 28672.
    "llama-2-70b": _llama(8192, 28672, 80, 64, 8, 32000, 4096, 10000.0, 1, 2),
    # meta-llama/Meta-Llama-3-8B: 32 layers, 4096 hidden, 32 heads, 8 KV heads, MLP 14336,
    # 128256-token vocabulary, 8k context, RoPE base 500000.
    "llama-3-8b": _llama(4096, 14336, 32, 32, 8, 128256, 8192, 500000.0, 128000, 128001),
    # meta-llama/Meta-Llama-3-70B: 80 layers, 8192 hidden, 64 heads, 8 KV heads, MLP 28672.
    "llama-3-70b": _llama(8192, 28672, 80, 64, 8, 128256, 8192, 500000.0, 128000, 128001),
    # mistralai/Mistral-7B-v0.1: Llama-like with GQA (8 KV heads) and a 4096-token sliding
    # window over a 32k context.
    "mistral-7b": _mistral(
        4096, 14336, 32, 32, 8, 32000, 32768, rope_theta=10000.0, sliding_window=4096
    ),
    # mistralai/Mixtral-8x7B-v0.1: Mistral-7B layout with 8 experts per layer, top-2 routing,
    # no sliding window, RoPE base 1e6. 46.7B total, ~12.9B active parameters.
    "mixtral-8x7b": _mistral(
        4096, 14336, 32, 32, 8, 32000, 32768, rope_theta=1e6, sliding_window=None, experts=8
    ),
    # Qwen/Qwen1.5-MoE-A2.7B: 24 layers, 2048 hidden, 16 heads; every layer has 60 routed
    # experts (MLP 1408, top-4, no renormalisation) plus a gated shared expert (MLP 5632);
    # QKV projections carry biases. 14.3B total, 2.7B active parameters.
    "qwen2-moe": {
        "architectures": ["Qwen2MoeForCausalLM"],
        "model_type": "qwen2_moe",
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "moe_intermediate_size": 1408,
        "shared_expert_intermediate_size": 5632,
        "num_experts": 60,
        "num_experts_per_tok": 4,
        "norm_topk_prob": False,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "hidden_act": "silu",
        "vocab_size": 151936,
        "max_position_embeddings": 8192,
        "rope_theta": 1000000.0,
        "use_sliding_window": False,
        "sliding_window": 32768,
        "max_window_layers": 21,
        "rms_norm_eps": 1e-6,
        "attention_dropout": 0.0,
        "router_aux_loss_coef": 0.001,
        "output_router_logits": False,
        "tie_word_embeddings": False,
        "initializer_range": 0.02,
        "bos_token_id": 151643,
        "eos_token_id": 151643,
        "use_cache": True,
    },
    # ---- tiny configs for tests: 2 layers, hidden 64, vocabulary 512, 512 positions ----
    "tiny-llama": _llama(64, 128, 2, 4, 2, 512, 512, 10000.0, 1, 2),
    "tiny-mistral": _mistral(64, 128, 2, 4, 2, 512, 512, rope_theta=10000.0, sliding_window=32),
    "tiny-mixtral": _mistral(
        64, 128, 2, 4, 2, 512, 512, rope_theta=1e6, sliding_window=None, experts=4
    ),
    "tiny-bert": _bert(64, 2, 4, 128, 512),
    "tiny-gpt2": _gpt2(64, 2, 4, 512, 512, 0),
}

# The public model each built-in config describes (for documentation and aliases).
HUB_IDS: dict[str, str] = {
    "bert-base-uncased": "google-bert/bert-base-uncased",
    "gpt2": "openai-community/gpt2",
    "llama-2-7b": "meta-llama/Llama-2-7b-hf",
    "llama-2-13b": "meta-llama/Llama-2-13b-hf",
    "llama-2-70b": "meta-llama/Llama-2-70b-hf",
    "llama-3-8b": "meta-llama/Meta-Llama-3-8B",
    "llama-3-70b": "meta-llama/Meta-Llama-3-70B",
    "mistral-7b": "mistralai/Mistral-7B-v0.1",
    "mixtral-8x7b": "mistralai/Mixtral-8x7B-v0.1",
    "qwen2-moe": "Qwen/Qwen1.5-MoE-A2.7B",
}

# Other spellings (compared case-insensitively) that name the same architecture.
ALIASES: dict[str, str] = {
    "bert-base": "bert-base-uncased",
    "bert": "bert-base-uncased",
    "gpt-2": "gpt2",
    "llama2-7b": "llama-2-7b",
    "llama2-13b": "llama-2-13b",
    "llama2-70b": "llama-2-70b",
    "llama3-8b": "llama-3-8b",
    "llama3-70b": "llama-3-70b",
    "meta-llama-3-8b": "llama-3-8b",
    "meta-llama-3-70b": "llama-3-70b",
    "mistral-7b-v0.1": "mistral-7b",
    "mixtral-8x7b-v0.1": "mixtral-8x7b",
    "mixtral": "mixtral-8x7b",
    "qwen1.5-moe-a2.7b": "qwen2-moe",
    "qwen-moe": "qwen2-moe",
}
for _name, _hub in HUB_IDS.items():
    ALIASES.setdefault(_hub.lower(), _name)
    ALIASES.setdefault(_hub.split("/", 1)[1].lower(), _name)

# Suffixes of variants that share the base model's architecture (chat/instruct tunes).
_VARIANT_SUFFIXES = ("-hf", "-chat", "-instruct")


def list_builtin() -> list[str]:
    """Names of the built-in configs, sorted."""
    return sorted(BUILTIN)


def resolve_builtin_name(name: str) -> str | None:
    """The built-in config ``name`` refers to, or None.

    Matches exact names, then (case-insensitively) aliases and hub ids such as
    ``meta-llama/Llama-2-7b-hf``; chat/instruct variants (``Llama-2-7b-chat-hf``,
    ``Mixtral-8x7B-Instruct-v0.1``) resolve to their base architecture.
    """
    if name in BUILTIN:
        return name
    key = name.strip().lower()
    candidates = [key]
    if "/" in key:
        candidates.append(key.split("/", 1)[1])
    for cand in list(candidates):
        stripped = cand
        changed = True
        while changed:
            changed = False
            for suffix in _VARIANT_SUFFIXES:
                if stripped.endswith(suffix):
                    stripped = stripped[: -len(suffix)]
                    changed = True
                elif suffix + "-" in stripped:  # e.g. mixtral-8x7b-instruct-v0.1
                    stripped = stripped.replace(suffix + "-", "-", 1)
                    changed = True
        candidates.append(stripped)
    for cand in candidates:
        if cand in BUILTIN:
            return cand
        if cand in ALIASES:
            return ALIASES[cand]
    return None


@dataclass(frozen=True)
class ResolvedConfig:
    """A config dict and where it came from.

    ``kind``: ``"local"`` (a file or a directory holding ``config.json``), ``"builtin"``
    (a built-in name or alias) or ``"hub"`` (``config.json`` of a Hub repository, from the
    cache or the endpoint; see :mod:`flopwise.sources.hub`). ``where``: one line for the
    output naming the file, built-in or repository, commit and cache/endpoint used.
    ``location``: what transformers can load the config from again (a local folder or
    the repository id), ``revision`` the Hub revision asked for.
    """

    config: dict[str, Any]
    kind: str
    where: str
    location: str | None = None
    revision: str | None = None


def resolve_config(name_or_path: str) -> ResolvedConfig:
    """Find the config ``name_or_path`` names, in this order: an existing local file (or a
    directory holding ``config.json``), a built-in name or alias, then, for ``ORG/NAME`` or
    ``ORG/NAME@REVISION``, ``config.json`` of that Hub repository (the user's cache first,
    ``HF_HUB_OFFLINE`` respected; never weights).

    The config is a fresh copy the caller may modify. Raises :class:`UnknownModel` (with
    close matches) for an unknown name or Hub repository, :class:`BadModelFile` for a file
    that is not a JSON object with a ``model_type``, and
    :class:`~flopwise.sources.hub.HubUnavailable` for a gated repository or a config the
    cache does not have while offline or the endpoint is unreachable.
    """
    text = name_or_path.strip()
    path = Path(text).expanduser()
    if path.is_file() or (path.is_dir() and (path / "config.json").is_file()):
        config = _read_config_file(path)
        folder = path if path.is_dir() else path.parent
        return ResolvedConfig(config, "local", f"local file {path}", location=str(folder))
    resolved = resolve_builtin_name(text)
    if resolved is not None and "/" in text and not text.endswith(".json"):
        # ORG/NAME is the built-in only when ORG is the org that published it: a fine-tune
        # "someone/gpt2" may change the architecture, so it goes to the Hub.
        org = text.split("/", 1)[0].lower()
        if org != HUB_IDS.get(resolved, "").split("/", 1)[0].lower():
            resolved = None
    if resolved is not None:
        hub = HUB_IDS.get(resolved)
        about = f" (the architecture of {hub})" if hub else ""
        return ResolvedConfig(
            copy.deepcopy(BUILTIN[resolved]), "builtin", f"built-in config {resolved}{about}"
        )
    if text.endswith(".json") or path.exists():
        _read_config_file(path)  # raises the reason the path is not a config
    from flopwise.sources.hub import fetch_hub_config, is_hub_id, split_revision

    if is_hub_id(text):
        fetched = fetch_hub_config(text)
        config = _read_config_file(fetched.path)
        repo_id, revision = split_revision(text)
        return ResolvedConfig(
            config, "hub", fetched.describe(), location=repo_id, revision=revision
        )
    known = list_builtin()
    pool = known + sorted(ALIASES)
    close = difflib.get_close_matches(text.lower(), pool, n=4, cutoff=0.5)
    close = list(dict.fromkeys(resolve_builtin_name(c) or c for c in close))
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownModel(
        f"unknown HF config {name_or_path!r}{hint} (built-in: {', '.join(known)}; "
        "or give a path to a config.json, or a Hub repository ORG/NAME[@REVISION])"
    )


def load_config_dict(name_or_path: str) -> dict[str, Any]:
    """A config dict (HF ``config.json`` format, with ``model_type``) by local path,
    built-in name or alias, or Hub repository id, resolved as :func:`resolve_config` does.

    Returns a fresh deep copy the caller may modify. Only a Hub repository id that is not
    a built-in name reaches huggingface_hub (its cache first, then its endpoint unless
    ``HF_HUB_OFFLINE``). Raises what :func:`resolve_config` raises.
    """
    return resolve_config(name_or_path).config


def _read_config_file(path: Path) -> dict[str, Any]:
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise BadModelFile(f"config file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BadModelFile(f"cannot read config file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise BadModelFile(f"config file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadModelFile(f"config file {path} must hold a JSON object")
    if "model_type" not in data:
        raise BadModelFile(f'config file {path} has no \'model_type\' (e.g. "llama", "bert")')
    return data
