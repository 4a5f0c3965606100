"""Model sources: turn a MODEL string into a module with random weights and default inputs.

Forms (see ``docs/architecture.md`` and DESIGN.md "Interfaces"):

================================  ===========  ==========================================
form                              source       built with
================================  ===========  ==========================================
``torchvision:resnet50``          torchvision  ``torchvision.models.get_model(name, weights=None)``
``timm:convnext_tiny``            timm         ``timm.create_model(name, pretrained=False)``
``hf:llama-3-8b``                 hf           a built-in config (:mod:`.hf_configs`)
``hf:path/to/config.json``        hf           a local config file (or a directory holding one)
``hf:ORG/NAME[@REVISION]``        hf           that Hub repository's ``config.json`` (cache first)
``path/to/file.py:factory``       file         ``factory()`` from that file
``path/to/model.pt2``             export       ``torch.export.load``: the program's module
``path/to/model.onnx``            onnx         the graph as torch ops on meta (:mod:`.onnx`)
``diffusers:dit-xl-2-256``        diffusers    a diffusers denoiser config (:mod:`.diffusion`)
``package.module:factory``        module       ``factory()`` from an importable module
``resnet50`` / ``gpt2``           (any)        a bare name: built-in HF config, else
                                               torchvision, else timm
================================  ===========  ==========================================

No weights are ever downloaded: every ``weights*`` argument of a torchvision builder is
``None``, timm gets ``pretrained=False``, and HF models are built from a config with
``from_config`` (never ``from_pretrained``). ``hf:`` resolves, in order, an existing local
path, a built-in name or alias, then a Hub repository's ``config.json`` (the only file
fetched; see :mod:`flopwise.sources.hub`). A config whose classes live in its repository
(``auto_map``) is refused unless ``trust_remote_code`` is given. Weights are random, seeded (``seed``) and built
without touching the global RNG.

``device="meta"`` builds the module under ``with torch.device("meta")``: parameters have
shapes and dtypes but no storage, so a 70B-parameter config builds in about a second.

The returned module is in ``eval()`` mode.

HF head choice: a config whose ``architectures`` name a causal LM (``*ForCausalLM``,
``*LMHeadModel``) is built with ``AutoModelForCausalLM`` so the ``lm_head`` projection is
part of the cost; a generation head of an encoder-decoder or multimodal model
(``*ForConditionalGeneration``: T5, BART, Whisper), an image classifier
(``*ForImageClassification``) or a bare model class (``CLIPModel``, ``SamModel``,
``Dinov2Model``) is built as its ``architectures`` entry names it; any other config
(BERT-style encoders, whose ``architectures`` say ``*ForMaskedLM``) is built with
``AutoModel``, the bare encoder with its pooler, which is what embedding and reranking
workloads run. Without ``architectures``, decoder-only model types go to
``AutoModelForCausalLM`` and others to ``AutoModel``. Default inputs fit the model's kind (``input_ids``,
``pixel_values``, ``input_features``, ``decoder_input_ids``; CLIP gets text and image, Llava
``input_ids`` holding its image tokens and ``pixel_values``); see :func:`_hf_default_inputs`.
Attention uses ``attn_implementation="sdpa"`` (so it runs through
``scaled_dot_product_attention``), falling back to ``"eager"`` for the few architectures
without SDPA support.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from flopwise.errors import BadInputSpec, BadModelFile, FlopwiseError, UnknownModel, require
from flopwise.sources.hf_configs import (
    BUILTIN,
    ResolvedConfig,
    resolve_builtin_name,
    resolve_config,
)
from flopwise.sources.specs import InputSpec, make_inputs, normalize_example_inputs

__all__ = [
    "SOURCES",
    "ExportedProgramModule",
    "LoadedModel",
    "ModelTooLarge",
    "build_hf_model",
    "load_model",
    "parse_model_spec",
]

SOURCES = ("torchvision", "timm", "hf", "file", "module", "export", "diffusers", "onnx")

# Prefixes accepted before the colon, and the source each selects.
_PREFIXES = {
    "torchvision": "torchvision",
    "tv": "torchvision",
    "timm": "timm",
    "hf": "hf",
    "huggingface": "hf",
    "transformers": "hf",
    "export": "export",
    "diffusers": "diffusers",
    "onnx": "onnx",
}

VISION_INPUT = InputSpec(shape=(1, 3, 224, 224))
TEXT_SEQUENCE_LENGTH = 128

# Encoder model types that transformers also maps to a causal-LM class (a decoder head
# bolted on); built as encoders when a config has no "architectures" entry.
_ENCODER_MODEL_TYPES = frozenset(
    {
        "bert",
        "roberta",
        "xlm-roberta",
        "xlm-roberta-xl",
        "camembert",
        "electra",
        "ernie",
        "rembert",
        "roformer",
        "data2vec-text",
        "megatron-bert",
        "roc_bert",
        "xmod",
        "bert-generation",
        "roberta-prelayernorm",
        "modernbert",
    }
)

# HF config keys never passed to the config class: remote code, quantisation of weights we
# do not load, and the stored dtype (flopwise chooses the dtype itself).
_DROPPED_HF_KEYS = ("auto_map", "quantization_config", "torch_dtype", "dtype", "_name_or_path")


class ModelTooLarge(FlopwiseError):
    """The model's weights would not fit in this machine's memory on the chosen device."""


@dataclass
class LoadedModel:
    """A model built by :func:`load_model`, with what is needed to run it.

    - ``model``: the module (random weights, ``eval()`` mode) on the requested device/dtype;
    - ``name``: the canonical spec (``"torchvision:resnet50"``, ``"hf:llama-3-8b"`` ...);
    - ``source``: ``"torchvision"``, ``"timm"``, ``"hf"``, ``"file"`` or ``"module"``;
    - ``default_inputs``: the inputs used when the user gives none (1×3×224×224 for vision,
      ``input_ids`` 1×128 int64 for text; a factory's example inputs described as specs);
    - ``example_inputs``: ``(args, kwargs)`` a factory returned with its module, else None;
    - ``vocab_size``: the token vocabulary (integer inputs are drawn from ``[0, vocab)``);
    - ``config``: the HF config dict the model was built from (``source == "hf"``), else None;
    - ``origin``: one line saying where the model came from (the local file, built-in config
      or Hub repository and commit, remote code trusted), for the output; None if obvious.
    """

    model: nn.Module
    name: str
    source: str
    default_inputs: list[InputSpec]
    example_inputs: tuple[tuple[Any, ...], dict[str, Any]] | None = None
    vocab_size: int | None = None
    config: dict[str, Any] | None = None
    origin: str | None = None

    @property
    def device(self) -> torch.device:
        """Device of the first parameter or buffer (CPU for a module with neither)."""
        for tensor in _tensors_of(self.model):
            return tensor.device
        return torch.device("cpu")

    @property
    def float_dtype(self) -> torch.dtype:
        """Dtype of the first floating parameter or buffer (torch's default otherwise)."""
        for tensor in _tensors_of(self.model):
            if tensor.is_floating_point():
                return tensor.dtype
        return torch.get_default_dtype()

    def inputs(
        self,
        specs: Sequence[InputSpec | str] | None = None,
        *,
        device: str | torch.device | None = None,
        seed: int = 0,
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` to call the model with.

        With ``specs``: tensors made by :func:`make_inputs` (float inputs in the model's
        dtype, token ids within ``vocab_size``). Without: the factory's example inputs if
        any, else the ``default_inputs``. Tensors are made on ``device`` (default: the
        model's device).
        """
        target = torch.device(device) if device is not None else self.device
        if specs is None and self.example_inputs is not None:
            args, kwargs = self.example_inputs
            return _move(args, target, None), _move(kwargs, target, None)
        chosen = list(specs) if specs is not None else self.default_inputs
        return make_inputs(
            chosen, target, float_dtype=self.float_dtype, vocab_size=self.vocab_size, seed=seed
        )


def parse_model_spec(spec: str) -> tuple[str, str, str | None]:
    """Split a MODEL string into ``(source, target, factory)`` without building anything.

    ``target`` is the model name, config name/path, file path or module name; ``factory``
    is the function name for the ``file`` and ``module`` sources, else None. A bare name
    gives source ``""`` (resolved by :func:`load_model` against the known names).
    Raises :class:`UnknownModel` for an unknown ``prefix:`` and :class:`BadModelFile` for a
    ``.py`` file without a factory name.
    """
    text = spec.strip()
    if not text:
        raise UnknownModel("empty model name; give e.g. torchvision:resnet50 or hf:gpt2")
    if ":" in text:
        prefix, _, rest = text.partition(":")
        if prefix.lower() in _PREFIXES:
            if not rest.strip():
                raise UnknownModel(f"missing model name after {prefix}: in {text!r}")
            return _PREFIXES[prefix.lower()], rest.strip(), None
        left, _, factory = text.rpartition(":")
        factory = factory.strip()
        if not factory:
            raise BadModelFile(f"missing factory name after ':' in {text!r}")
        if left.endswith(".py") or os.sep in left or "/" in left or Path(left).exists():
            return "file", left, factory
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", left):
            return "module", left, factory
        raise UnknownModel(_unknown_prefix_message(text, left))
    if text.endswith(".py"):
        raise BadModelFile(f"give the factory function too: {text}:FUNCTION")
    if text.lower().endswith(".onnx"):
        return "onnx", text, None
    if text.endswith(".json"):
        return "hf", text, None
    if text.endswith(".pt2"):
        return "export", text, None
    return "", text, None


def load_model(
    spec: str,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    *,
    seed: int = 0,
    attn_implementation: str = "sdpa",
    experts_implementation: str | None = None,
    trust_remote_code: bool = False,
    factory_kwargs: dict[str, Any] | None = None,
) -> LoadedModel:
    """Build the model ``spec`` names (see the module docstring for the forms).

    ``device``: where parameters live; ``"meta"`` allocates nothing. ``dtype``: floating
    dtype of parameters (None: torch's default, float32). ``seed``: random weights are
    reproducible and the global RNG is left as it was. ``attn_implementation`` and
    ``experts_implementation`` are passed to transformers for ``hf:`` models (e.g.
    ``experts_implementation="eager"`` for per-expert loops in MoE layers).
    ``trust_remote_code``: build an ``hf:`` config whose classes live in its repository
    (``auto_map``) by running that code; without it such a config is refused.
    ``factory_kwargs``: keyword arguments for a ``file`` or ``module`` factory (one point of
    a campaign's parameter grid); refused for the other sources.

    Raises (one-line messages): :class:`UnknownModel` (unknown source or name, with close
    matches), :class:`MissingDependency` (torchvision/timm: extra ``vision``;
    transformers: extra ``hf``), :class:`BadModelFile` (file or module not found, factory
    missing, factory returning no ``nn.Module``), :class:`ModelTooLarge` (weights would not
    fit in memory on a real device; use ``device="meta"``).
    """
    device = torch.device(device)
    if dtype is not None and not (dtype.is_floating_point or dtype.is_complex):
        raise BadInputSpec(
            f"--dtype {str(dtype).removeprefix('torch.')}: a model's weights need a floating "
            "dtype (float32, bfloat16, float16, float64); integer dtypes are for inputs, "
            "e.g. -i input_ids=1x128:int64"
        )
    with _seeded(seed, device):
        source, target, factory = _resolved_spec(spec, bool(factory_kwargs))
        if source == "torchvision":
            loaded = _load_torchvision(target, device)
        elif source == "timm":
            loaded = _load_timm(target, device)
        elif source == "hf":
            loaded = _load_hf(
                target,
                device,
                dtype,
                attn_implementation=attn_implementation,
                experts_implementation=experts_implementation,
                trust_remote_code=trust_remote_code,
            )
        elif source == "export":
            loaded = _load_exported(Path(target).expanduser(), device)
        elif source == "onnx":
            loaded = _load_onnx(target)
        elif source == "diffusers":
            loaded = _load_diffusers(target, device)
        elif source == "file":
            module = _import_file(Path(target).expanduser())
            loaded = _load_factory(module, target, factory, "file", device, factory_kwargs)
        else:
            module = _import_module(target, spec)
            loaded = _load_factory(module, target, factory, "module", device, factory_kwargs)
    # (diffusers warns on any .to(dtype), even one that changes nothing)
    same = source == "diffusers" and loaded.float_dtype == dtype
    if dtype is not None and source != "hf" and not same:
        loaded.model.to(dtype)
        if loaded.example_inputs is not None:
            args, kwargs = loaded.example_inputs
            loaded.example_inputs = (_move(args, None, dtype), _move(kwargs, None, dtype))
            loaded.default_inputs = _specs_of(*loaded.example_inputs)
    loaded.model.eval()
    return loaded


# ---------------------------------------------------------------------------------------
# torchvision and timm


def _load_torchvision(name: str, device: torch.device) -> LoadedModel:
    require("torchvision", "vision", "torchvision: models")
    from torchvision import models

    names = models.list_models()
    if name not in names:
        lowered = {n.lower(): n for n in names}
        if name.lower() not in lowered:
            raise UnknownModel(
                _unknown_name_message(f"torchvision:{name}", name, names, "torchvision:")
            )
        name = lowered[name.lower()]
    builder = models.get_model_builder(name)
    # Every weights argument (weights, weights_backbone, ...) is None: nothing downloads.
    no_weights = {p: None for p in inspect.signature(builder).parameters if p.startswith("weights")}

    def build() -> nn.Module:
        with warnings.catch_warnings():
            # inception_v3/googlenet warn about their default init; weights are random anyway.
            warnings.filterwarnings("ignore", message="The default weight initialization")
            return builder(**no_weights)

    model = _construct(build, device)
    side = _documented_side(models, name)
    built = getattr(model, "image_size", None)  # a ViT takes only the size it was built for
    if isinstance(built, int):
        side = built
    if name in models.list_models(module=models.video):
        side = side or 112
        inputs = [InputSpec(shape=(1, 3, 16, side, side))]
    elif name in models.list_models(module=models.optical_flow):
        inputs = [VISION_INPUT, VISION_INPUT]
    elif side:
        inputs = [InputSpec(shape=(1, 3, side, side))]
    else:
        inputs = [VISION_INPUT]
    return LoadedModel(
        model=model, name=f"torchvision:{name}", source="torchvision", default_inputs=inputs
    )


def _documented_side(models: Any, name: str) -> int | None:
    """The image side torchvision documents ``name`` at: its first weights' evaluation crop
    (classification 224-600, video 112 or 224), or segmentation's resize (520). None for
    detection (it resizes inside the model) and models without weights."""
    try:
        weights = next(iter(models.get_model_weights(name)))
    except (ValueError, StopIteration, KeyError):
        return None
    keywords = dict(getattr(weights.transforms, "keywords", {}) or {})
    size = keywords.get("crop_size")
    if size is None and name in models.list_models(module=models.segmentation):
        size = keywords.get("resize_size")
    if isinstance(size, (list, tuple)):
        size = size[0] if size else None
    return int(size) if isinstance(size, int) else None


def _load_timm(name: str, device: torch.device) -> LoadedModel:
    timm = require("timm", "vision", "timm: models")
    if not timm.is_model(name):
        names = timm.list_models()
        raise UnknownModel(_unknown_name_message(f"timm:{name}", name, names, "timm:"))
    model = _construct(lambda: timm.create_model(name, pretrained=False), device)
    inputs = [VISION_INPUT]
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
    size = cfg.get("input_size") if isinstance(cfg, dict) else None
    if size and len(size) == 3 and all(isinstance(d, int) and d > 0 for d in size):
        inputs = [InputSpec(shape=(1, *size))]
    return LoadedModel(model=model, name=f"timm:{name}", source="timm", default_inputs=inputs)


# ---------------------------------------------------------------------------------------
# Hugging Face configs


def _load_hf(
    target: str,
    device: torch.device,
    dtype: torch.dtype | None,
    *,
    attn_implementation: str,
    experts_implementation: str | None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    resolved = resolve_config(target)
    config = resolved.config
    builtin = resolve_builtin_name(target) if resolved.kind == "builtin" else None
    name = f"hf:{builtin}" if builtin is not None else f"hf:{target}"
    origin = resolved.where
    auto_map = config.get("auto_map")
    if auto_map:
        classes = ", ".join(sorted({str(v) for v in _flat_values(auto_map)}))
        if not trust_remote_code:
            raise BadModelFile(
                f"{name} needs remote code ({classes}), which flopwise does not run by default; "
                "rerun with --trust-remote-code to run the repository's Python code"
            )
        model = _build_remote_code_model(resolved, config, device, dtype, name)
        origin += f"; remote code trusted (--trust-remote-code): {classes}"
    else:
        model = build_hf_model(
            config,
            device=device,
            dtype=dtype,
            attn_implementation=attn_implementation,
            experts_implementation=experts_implementation,
            label=name,
        )
    return LoadedModel(
        model=model,
        name=name,
        source="hf",
        default_inputs=_hf_default_inputs(config, model),
        vocab_size=_hf_vocab_size(config),
        config=config,
        origin=origin,
    )


def _flat_values(obj: Any) -> Iterator[Any]:
    """Leaf values of nested dicts/lists (auto_map entries may be [slow, fast] pairs)."""
    if isinstance(obj, dict):
        for value in obj.values():
            yield from _flat_values(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _flat_values(value)
    elif obj is not None:
        yield obj


def _build_remote_code_model(
    resolved: ResolvedConfig,
    config: dict[str, Any],
    device: torch.device,
    dtype: torch.dtype | None,
    label: str,
) -> nn.Module:
    """Build a model whose classes live in its repository (``auto_map``), running that code.

    Only called with ``--trust-remote-code``. transformers fetches the repository's Python
    files (never weights) next to the config, or reads them from the local folder.
    """
    transformers = require("transformers", "hf", "hf: models")
    if resolved.location is None:
        raise BadModelFile(f"{label}: remote code needs a local folder or a Hub repository")
    auto_map = config["auto_map"]
    wanted = "AutoModelForCausalLM" if _wants_causal_lm(config, None) else "AutoModel"
    choice = wanted if wanted in auto_map else "AutoModel"
    if choice not in auto_map:
        choice = next((k for k in auto_map if k.startswith("AutoModel")), "")
    if not choice:
        raise BadModelFile(f"{label}: its auto_map names no model class ({', '.join(auto_map)})")
    try:
        hf_config = transformers.AutoConfig.from_pretrained(
            resolved.location, revision=resolved.revision, trust_remote_code=True
        )
        auto = getattr(transformers, choice)

        def build(on: torch.device) -> nn.Module:
            with torch.device(on):
                return auto.from_config(
                    hf_config, trust_remote_code=True, dtype=dtype or torch.get_default_dtype()
                )

        if device.type != "meta":
            _check_fits(build(torch.device("meta")), device, label)
        return build(device)
    except FlopwiseError:
        raise
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise BadModelFile(
            f"{label}: building its remote code failed: {type(exc).__name__}: {first}"
        ) from exc


def build_hf_model(
    config: dict[str, Any],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    attn_implementation: str = "sdpa",
    experts_implementation: str | None = None,
    causal_lm: bool | None = None,
    label: str | None = None,
) -> nn.Module:
    """Build a transformers model with random weights from a config dict (HF format).

    ``causal_lm``: True builds ``AutoModelForCausalLM`` (with ``lm_head``), False
    ``AutoModel``; None decides from the config (see the module docstring). Uses
    ``from_config`` only (never downloads), on ``device`` (``"meta"`` allocates nothing)
    with parameters in ``dtype`` (None: torch's default). On a real device, raises
    :class:`ModelTooLarge` before allocating weights that would not fit in memory.
    Raises :class:`MissingDependency` (extra ``hf``) without transformers and
    :class:`BadModelFile` for a ``model_type`` transformers does not know.
    """
    transformers = require("transformers", "hf", "hf: models")
    device = torch.device(device)
    dtype = dtype or torch.get_default_dtype()
    label = label or str(config.get("model_type"))
    _check_sizes(config, label)
    try:
        hf_config = _make_hf_config(transformers, config)
    except FlopwiseError:
        raise
    except Exception as exc:  # strict dataclass validation, division by zero heads ...
        raise BadModelFile(f"{label}: invalid config: {_first_lines(exc)}") from exc
    if causal_lm is None:
        causal_lm = _wants_causal_lm(config, hf_config)
    if causal_lm:
        auto: Any = transformers.AutoModelForCausalLM
    else:
        auto = _model_class(transformers, config)

    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": attn_implementation}
    if experts_implementation is not None:
        kwargs["experts_implementation"] = experts_implementation

    def build(on: torch.device) -> nn.Module:
        try:
            with torch.device(on):
                return _from_config(auto, hf_config, kwargs)
        except ValueError as exc:
            message = str(exc)
            if kwargs.get("attn_implementation") != "eager" and (
                "attn" in message.lower() or "attention" in message.lower()
            ):
                kwargs["attn_implementation"] = "eager"
                with torch.device(on):
                    return _from_config(auto, hf_config, kwargs)
            raise

    try:  # on meta first: a config transformers cannot build fails here, allocating nothing
        meta_model = build(torch.device("meta"))
    except Exception as exc:
        raise BadModelFile(
            f"{label}: transformers cannot build a model from this config: {_first_lines(exc)}"
        ) from exc
    if device.type == "meta":
        return meta_model
    _check_fits(meta_model, device, label)
    return build(device)


# Heads whose class is built as the config's ``architectures`` names it: generation heads of
# encoder-decoders and multimodal models (their LM head is part of every step) and image
# classifiers. Other heads (``*ForMaskedLM``, ``*ForSequenceClassification`` ...) build the
# bare backbone with AutoModel, what embedding and reranking workloads run.
_ARCH_HEADS = ("ForConditionalGeneration", "ForSpeechSeq2Seq", "ForImageClassification")


def _model_class(transformers: Any, config: dict[str, Any]) -> Any:
    """The class to build a non-causal-LM config with (see the module docstring).

    The ``architectures`` entry when it is a generation or image-classification head, or a
    bare model class (``CLIPModel``, ``SamModel``, ``Dinov2Model``); anything else
    (including a config without ``architectures``) is AutoModel, the bare model.
    """
    for arch in config.get("architectures") or []:
        cls = getattr(transformers, str(arch), None) if isinstance(arch, str) else None
        if cls is None or not hasattr(cls, "_from_config"):
            continue
        if arch.endswith(_ARCH_HEADS) or (
            arch.endswith("Model") and not arch.endswith("LMHeadModel")
        ):
            return cls
    return transformers.AutoModel


def _from_config(cls: Any, hf_config: Any, kwargs: dict[str, Any]) -> nn.Module:
    """``from_config`` of an auto class, ``_from_config`` of a concrete model class."""
    if hasattr(cls, "from_config") and cls.__name__.startswith("Auto"):
        return cls.from_config(hf_config, **kwargs)
    return cls._from_config(hf_config, **kwargs)


# Config fields that size tensors: each must be a positive integer when present.
_HF_SIZE_KEYS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "max_position_embeddings",
    "n_embd",
    "n_layer",
    "n_head",
    "n_positions",
    "d_model",
    "num_layers",
    "num_heads",
    "d_ff",
)


def _check_sizes(config: dict[str, Any], label: str) -> None:
    """Refuse a size field that is not a positive integer, naming it (transformers would
    fail later with a message about a tensor, not about the config)."""
    for key in _HF_SIZE_KEYS:
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise BadModelFile(
                f"{label}: config field {key!r} must be a positive integer, got {value!r}"
            )


def _first_lines(exc: BaseException) -> str:
    """An exception's message on one line (validation errors span several)."""
    lines = [part.strip() for part in str(exc).strip().splitlines() if part.strip()]
    return " ".join(lines) or type(exc).__name__


def _make_hf_config(transformers: Any, config: dict[str, Any]) -> Any:
    model_type = config.get("model_type")
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if model_type not in CONFIG_MAPPING_NAMES:
        close = difflib.get_close_matches(
            str(model_type), list(CONFIG_MAPPING_NAMES), n=3, cutoff=0.6
        )
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise BadModelFile(
            f"model_type {model_type!r} is not known to transformers {transformers.__version__}{hint}"
        )
    fields = {k: v for k, v in config.items() if k != "model_type" and k not in _DROPPED_HF_KEYS}
    return transformers.AutoConfig.for_model(model_type, **fields)


def _wants_causal_lm(config: dict[str, Any], hf_config: Any) -> bool:
    archs = config.get("architectures") or []
    if archs:
        return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
    if getattr(hf_config, "is_encoder_decoder", False):
        return False
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    model_type = config.get("model_type")
    return (
        model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in _ENCODER_MODEL_TYPES
    )


def _hf_vocab_size(config: dict[str, Any]) -> int | None:
    vocab = config.get("vocab_size")
    if vocab is None and isinstance(config.get("text_config"), dict):
        vocab = config["text_config"].get("vocab_size")
    return int(vocab) if isinstance(vocab, int) and vocab > 0 else None


def _hf_default_inputs(config: dict[str, Any], model: nn.Module) -> list[InputSpec]:
    """Inputs that fit the model's kind, from its ``main_input_name`` and config:

    - ``pixel_values`` 1×C×S×S (vision: ViT, DINOv2, SAM ...; S the config's ``image_size``);
    - ``input_features`` 1×mel×2·positions (Whisper-style audio encoders);
    - ``input_values`` 1×16000 (one second of 16 kHz audio: wav2vec2-style);
    - else ``input_ids`` 1×L (L = 128, or the model's position limit if smaller), plus
      ``pixel_values`` for dual encoders that take both (CLIP, SigLIP: a ``vision_config``
      and no image tokens to place); image-first models of that kind that also take
      ``input_ids`` (BLIP captioning) get both too;
    - Llava: ``input_ids`` 1×(N + L) whose first N ids are the image token (N: what its
      processor inserts for one image, :func:`_llava_image_tokens`) and ``pixel_values``.

    Encoder-decoders add ``decoder_input_ids`` 1×L (L within the decoder's position limit).
    Sizes the config file leaves out are the built model's defaults (a bare
    ``{"model_type": "clip"}`` gets CLIP's 77 text positions and its vision tower).
    """
    main = getattr(model, "main_input_name", "input_ids")
    params = _forward_params(model)
    hf_config = getattr(model, "config", None)
    config = _with_defaults(config, hf_config)
    encoder_decoder = bool(getattr(hf_config, "is_encoder_decoder", False))
    if main == "pixel_values" or (
        main == "input_ids" and _hf_vocab_size(config) is None and "image_size" in config
    ):
        inputs = [_pixel_values(config)]
        if "input_ids" in params and _reads_text(config):  # captioning: BLIP
            inputs.append(
                InputSpec(shape=(1, _text_length(config)), name="input_ids", dtype=torch.int64)
            )
    elif main == "input_features":
        mels = int(config.get("num_mel_bins") or 80)
        positions = config.get("max_source_positions")
        # Whisper's two convolutions (the second with stride 2) halve 2·positions frames.
        frames = 2 * int(positions) if isinstance(positions, int) else 3000
        inputs = [InputSpec(shape=(1, mels, frames), name="input_features")]
    elif main == "input_values":
        inputs = [InputSpec(shape=(1, 16000), name="input_values")]
    elif "pixel_values" in params and _llava_image_tokens(config) is not None:
        inputs = _image_token_inputs(config)
    else:
        inputs = [InputSpec(shape=(1, _text_length(config)), name="input_ids", dtype=torch.int64)]
        if "pixel_values" in params and _reads_text(config):
            inputs.append(_pixel_values(config))
    if encoder_decoder and "decoder_input_ids" in params:
        length = _text_length(config, ("max_target_positions", "max_position_embeddings"))
        inputs.append(InputSpec(shape=(1, length), name="decoder_input_ids", dtype=torch.int64))
    return inputs


def _llava_image_tokens(config: dict[str, Any]) -> int | None:
    """Image tokens a Llava processor puts in ``input_ids`` for one image at the vision
    tower's ``image_size`` (None: not a Llava config).

    transformers' ``LlavaProcessor`` inserts (S // P)² patch tokens, plus the vision
    tower's extra tokens (CLIP's class token: 1), minus one with the ``"default"`` feature
    strategy, which drops that class token from the features (``"full"`` keeps it); the
    model checks that ``input_ids`` holds exactly as many as the tower gives features
    (Llava-1.5: CLIP ViT-L/14 at 336 px, 24² = 576)."""
    vision = config.get("vision_config")
    if config.get("model_type") != "llava" or not isinstance(vision, dict):
        return None
    if not isinstance(_image_token_id(config), int):
        return None
    size, patch = vision.get("image_size"), vision.get("patch_size")
    if not isinstance(size, int) or not isinstance(patch, int) or patch <= 0:
        return None
    tokens = (size // patch) ** 2 + (1 if vision.get("model_type") == "clip_vision_model" else 0)
    if config.get("vision_feature_select_strategy", "default") == "default":
        tokens -= 1
    return tokens if tokens > 0 else None


def _image_token_id(config: dict[str, Any]) -> Any:
    """The image token id (``image_token_id``, or ``image_token_index`` as Llava names it)."""
    token = config.get("image_token_id")
    return token if token is not None else config.get("image_token_index")


def _image_token_inputs(config: dict[str, Any]) -> list[InputSpec]:
    """Llava's ``input_ids`` (its N image tokens first, then up to 128 text tokens within
    the language model's position limit) and ``pixel_values``."""
    count = _llava_image_tokens(config) or 0
    token = _image_token_id(config)
    text_config = config.get("text_config")
    limit = text_config.get("max_position_embeddings") if isinstance(text_config, dict) else None
    text = TEXT_SEQUENCE_LENGTH
    if isinstance(limit, int) and limit > 0:
        text = max(1, min(text, limit - count))
    ids = InputSpec(
        shape=(1, count + text),
        name="input_ids",
        dtype=torch.int64,
        placeholder=(int(token), count),
    )
    return [ids, _pixel_values(config)]


def _reads_text(config: dict[str, Any]) -> bool:
    """A vision-and-text model whose forward takes text and image side by side (CLIP,
    SigLIP, BLIP captioning), not one that places image tokens inside its text."""
    return isinstance(config.get("vision_config"), dict) and not any(
        k in config for k in ("image_token_id", "image_token_index")
    )


def _with_defaults(config: dict[str, Any], hf_config: Any) -> dict[str, Any]:
    """``config`` with the fields it omits (at top level and in its ``text_config`` and
    ``vision_config``) taken from the built model's config; fields it states win."""
    to_dict = getattr(hf_config, "to_dict", None)
    if not callable(to_dict):
        return config
    merged = {**to_dict(), **config}
    for key in ("text_config", "vision_config"):
        default = getattr(hf_config, key, None)
        if default is not None and hasattr(default, "to_dict"):
            stated = config.get(key)
            merged[key] = {**default.to_dict(), **(stated if isinstance(stated, dict) else {})}
    return merged


def _forward_params(model: nn.Module) -> set[str]:
    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return set()


def _text_length(
    config: dict[str, Any], keys: tuple[str, ...] = ("max_position_embeddings", "n_positions")
) -> int:
    """128 tokens, or fewer when the model's position table is shorter."""
    length = TEXT_SEQUENCE_LENGTH
    text_config = config.get("text_config")
    for source in (config, text_config if isinstance(text_config, dict) else {}):
        for key in keys:
            limit = source.get(key)
            if isinstance(limit, int) and 0 < limit < length:
                length = limit
    return length


def _pixel_values(config: dict[str, Any]) -> InputSpec:
    """1×C×S×S at the config's (or its ``vision_config``'s) ``image_size`` (224 if none)."""
    vision = config.get("vision_config")
    vision = vision if isinstance(vision, dict) else {}
    size = config.get("image_size") or vision.get("image_size") or 224
    size = size if isinstance(size, int) else size[0]
    channels = config.get("num_channels") or vision.get("num_channels") or 3
    return InputSpec(shape=(1, int(channels), int(size), int(size)), name="pixel_values")


def _check_fits(meta_model: nn.Module, device: torch.device, label: str) -> None:
    """Raise ModelTooLarge when the weights of ``meta_model`` exceed free memory."""
    nbytes = sum(t.numel() * t.element_size() for t in _unique_tensors(meta_model))
    available = _available_bytes(device)
    if available is not None and nbytes > 0.9 * available:
        raise ModelTooLarge(
            f"{label} needs {nbytes / 2**30:.1f} GiB for its weights on {device} but only "
            f"{available / 2**30:.1f} GiB is free; use --device meta to count without weights"
        )


def _available_bytes(device: torch.device) -> int | None:
    from flopwise.sources.specs import available_bytes

    return available_bytes(device)


def _load_diffusers(target: str, device: torch.device) -> LoadedModel:
    from flopwise.sources.diffusion import (
        added_cond_kwargs,
        build_diffusers_model,
        diffusers_config,
        diffusers_default_inputs,
    )

    config, name, origin = diffusers_config(target)
    model = _construct(lambda: build_diffusers_model(config), device)
    classes = config.get("num_embeds_ada_norm")
    # Integer inputs (timestep, class label) are drawn below the number of classes.
    vocab = int(classes) if isinstance(classes, int) else None
    specs = diffusers_default_inputs(config, model)
    example = None
    extra = added_cond_kwargs(config, device)
    if extra is not None:  # a dict argument no input spec can describe
        args, kwargs = make_inputs(specs, device, vocab_size=vocab)
        example = (args, {**kwargs, "added_cond_kwargs": extra})
    return LoadedModel(
        model=model,
        name=name,
        source="diffusers",
        default_inputs=specs,
        example_inputs=example,
        vocab_size=vocab,
        config=config,
        origin=f"{origin}; one denoising step, batch 1, no classifier-free guidance",
    )


# ---------------------------------------------------------------------------------------
# ONNX files
def _load_onnx(target: str) -> LoadedModel:
    """An ONNX graph as a module of torch ops on meta tensors (its own input shapes)."""
    from flopwise.sources.onnx import load_onnx, onnx_origin
    from flopwise.sources.specs import parse_input_spec

    loaded = load_onnx(target)
    return LoadedModel(
        model=loaded.module,
        name=target,
        source="onnx",
        default_inputs=[parse_input_spec(s) for s in loaded.input_specs],
        origin=onnx_origin(loaded),
    )


# torch.export programs


class ExportedProgramModule(nn.Module):
    """The module of a saved ``torch.export`` program, run as exported.

    ``program`` is ``torch.export.unflatten(ep)`` (the original module tree, so costs land
    on the exported submodules), or ``ep.module()`` when unflattening fails. Exported
    modules refuse ``train()``/``eval()`` (their mode was fixed at export), so this wrapper
    only records the flag and never passes it down.
    """

    def __init__(self, program: nn.Module) -> None:
        super().__init__()
        self.program = program

    def train(self, mode: bool = True) -> ExportedProgramModule:
        self.training = mode
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.program(*args, **kwargs)


def _load_exported(path: Path, device: torch.device) -> LoadedModel:
    """A ``.pt2`` file (``torch.export.save`` of an ExportedProgram) as a runnable module.

    Default inputs are the program's saved example inputs, else the shapes and dtypes its
    graph records for the user inputs.
    """
    if not path.is_file():
        raise BadModelFile(f"exported program not found: {path}")
    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise BadModelFile(
            f"cannot load {path} as a torch.export program (torch.export.save output): "
            f"{type(exc).__name__}: {first}"
        ) from exc
    try:
        inner: nn.Module = torch.export.unflatten(program)
    except Exception:  # programs unflatten cannot rebuild still run flat
        inner = program.module()
    model = ExportedProgramModule(inner)
    if device.type != "cpu":
        model = _move(model, device, None)
    example = program.example_inputs
    if example is not None:
        args, kwargs = example
        inputs = _specs_of(tuple(args), dict(kwargs))
    else:
        inputs = _placeholder_specs(program)
    return LoadedModel(
        model=model,
        name=str(path),
        source="export",
        default_inputs=inputs,
        vocab_size=_embedding_vocab(model),
        origin=f"torch.export program {path}",
    )


def _placeholder_specs(program: Any) -> list[InputSpec]:
    """Specs of the user inputs from the graph's placeholder metadata (positional)."""
    user = set(program.graph_signature.user_inputs)
    specs = []
    for node in program.graph.nodes:
        value = node.meta.get("val") if node.op == "placeholder" else None
        if node.name in user and isinstance(value, torch.Tensor):
            shape = tuple(int(d) for d in value.shape)
            specs.append(InputSpec(shape=shape, dtype=value.dtype))
    return specs


# ---------------------------------------------------------------------------------------
# Files and importable modules with a factory


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise BadModelFile(f"model file not found: {path}")
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", resolved.stem)
    module_name = f"_flopwise_user_{stem}_{digest}"
    module_spec = importlib.util.spec_from_file_location(module_name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise BadModelFile(f"cannot load {path} as a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    folder = str(resolved.parent)
    sys.path.insert(0, folder)  # so the file can import its siblings
    try:
        module_spec.loader.exec_module(module)
    except FlopwiseError:
        sys.modules.pop(module_name, None)
        raise
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise BadModelFile(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from exc
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise BadModelFile(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return module


def _import_module(name: str, spec: str) -> Any:
    try:
        return importlib.import_module(name)
    except FlopwiseError:
        raise
    except ModuleNotFoundError as exc:
        top = name.split(".")[0]
        if exc.name == top and "." not in name:
            raise UnknownModel(_unknown_prefix_message(spec, name)) from exc
        raise BadModelFile(f"cannot import module {name!r}: {exc}") from exc
    except Exception as exc:
        raise BadModelFile(f"importing {name} failed: {type(exc).__name__}: {exc}") from exc


def _load_factory(
    module: Any,
    target: str,
    factory_name: str | None,
    source: str,
    device: torch.device,
    factory_kwargs: dict[str, Any] | None = None,
) -> LoadedModel:
    assert factory_name is not None
    label = f"{target}:{factory_name}"
    factory = _factory_of(module, target, factory_name)

    def call() -> Any:
        try:
            return factory(**(factory_kwargs or {}))
        except FlopwiseError:
            raise
        except Exception as exc:
            if torch.get_default_device().type == "meta" and _names_meta(exc):
                raise  # needs values: _construct builds it once more on CPU
            raise _FactoryFailed(
                f"factory {label} raised {type(exc).__name__}: {_first_lines(exc)}"
            ) from exc

    try:
        result = _construct(call, device)
    except _FactoryFailed as exc:
        raise BadModelFile(str(exc)) from exc.__cause__
    model, example = _split_factory_result(result, label)
    example_inputs = None
    if example is not None:
        try:
            args, kwargs = normalize_example_inputs(example)
        except FlopwiseError as exc:
            raise BadModelFile(f"factory {label}: {exc}") from None
        example_inputs = (_move(args, device, None), _move(kwargs, device, None))
    vocab = _embedding_vocab(model)
    if example_inputs is not None:
        default_inputs = _specs_of(*example_inputs)
    else:
        default_inputs = _guess_inputs(model)
    return LoadedModel(
        model=model,
        name=label,
        source=source,
        default_inputs=default_inputs,
        example_inputs=example_inputs,
        vocab_size=vocab,
    )


def _factory_of(module: Any, target: str, factory_name: str) -> Callable[..., Any]:
    """The function ``factory_name`` (dotted: ``Class.build``) of ``module``; raises
    :class:`BadModelFile` with close matches when it is missing or not callable."""
    factory: Any = module
    for part in factory_name.split("."):
        if not hasattr(factory, part):
            names = [
                n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))
            ]
            close = difflib.get_close_matches(factory_name, names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise BadModelFile(f"{target} has no factory {factory_name!r}{hint}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise BadModelFile(f"{target}:{factory_name} is not callable (a {type(factory).__name__})")
    return factory


def _check_factory_params(factory: Callable[..., Any], label: str, params: Sequence[str]) -> None:
    """Raise :class:`BadModelFile` when ``factory(**{p: ... for p in params})`` cannot bind:
    a parameter it does not take (unless it takes ``**kwargs``) or a required one missing."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    takes = [n for n, p in signature.parameters.items() if p.kind in named]
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    unknown = [p for p in params if p not in takes]
    if unknown and not open_ended:
        raise BadModelFile(
            f"{label} takes no parameter {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(takes) or 'none'}"
        )
    missing = [
        n
        for n, p in signature.parameters.items()
        if p.kind in named and p.default is inspect.Parameter.empty and n not in params
    ]
    if missing:
        raise BadModelFile(
            f"{label} needs {', '.join(map(repr, missing))}: give "
            f"{' and '.join(missing)} in the grid"
        )


def _resolved_spec(spec: str, has_params: bool) -> tuple[str, str, str | None]:
    """``(source, target, factory)`` of ``spec``, a bare name resolved to its source;
    factory parameters (``has_params``) are refused for anything but a factory."""
    source, target, factory = parse_model_spec(spec)
    if source == "":
        source, target = _resolve_bare_name(target)
    if has_params and source not in ("file", "module"):
        raise BadModelFile(
            f"{spec}: factory parameters are only for file.py:factory or module:factory"
        )
    return source, target, factory


def check_model_spec(spec: str, params: Sequence[str] = ()) -> None:
    """Check, building nothing, that :func:`load_model` can find the model ``spec`` names,
    called with the keyword arguments ``params`` (a factory's grid): the source prefix,
    a torchvision or timm name, a built-in or local HF config, a file or module factory
    (the file is imported, so an import error shows here) and its parameters, an export or
    ONNX file. Hub repositories and diffusers pipelines are left to load time (no network
    here). Raises what :func:`load_model` would: :class:`UnknownModel`,
    :class:`BadModelFile`, :class:`MissingDependency`."""
    source, target, factory = _resolved_spec(spec, bool(params))
    if source == "torchvision":
        require("torchvision", "vision", "torchvision: models")
        from torchvision import models

        names = models.list_models()
        if target.lower() not in {n.lower() for n in names}:
            raise UnknownModel(
                _unknown_name_message(f"torchvision:{target}", target, names, "torchvision:")
            )
    elif source == "timm":
        timm = require("timm", "vision", "timm: models")
        if not timm.is_model(target):
            raise UnknownModel(
                _unknown_name_message(f"timm:{target}", target, timm.list_models(), "timm:")
            )
    elif source == "hf":
        from flopwise.sources.hub import is_hub_id

        local = Path(target).expanduser().exists() or target.endswith(".json")
        if local or resolve_builtin_name(target) is not None or not is_hub_id(target):
            resolve_config(target)
    elif source in ("file", "module"):
        assert factory is not None
        if source == "file":
            module = _import_file(Path(target).expanduser())
        else:
            module = _import_module(target, spec)
        function = _factory_of(module, target, factory)
        _check_factory_params(function, f"{target}:{factory}", params)
    elif source in ("export", "onnx") and not Path(target).expanduser().is_file():
        raise BadModelFile(f"model file not found: {target}")


class _FactoryFailed(Exception):
    """A user factory raised for a reason other than meta tensors; carried through
    :func:`_construct` without a retry, so the factory runs once."""


def _names_meta(exc: BaseException) -> bool:
    """The error (or one it was raised from) is torch refusing values of a meta tensor:
    ``.item()``, ``.tolist()``, ``.numpy()``, a copy out of meta or a data-dependent op
    without a meta kernel; torch's messages all name meta."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if "meta" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
    return False


def _split_factory_result(result: Any, label: str) -> tuple[nn.Module, Any]:
    if isinstance(result, nn.Module):
        return result, None
    if isinstance(result, (tuple, list)) and len(result) == 2 and isinstance(result[0], nn.Module):
        return result[0], result[1]
    raise BadModelFile(
        f"factory {label} returned {type(result).__name__}, expected an nn.Module "
        "or (module, example_inputs)"
    )


def _specs_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[InputSpec]:
    specs = [
        InputSpec(shape=tuple(v.shape), dtype=v.dtype) for v in args if isinstance(v, torch.Tensor)
    ]
    specs += [
        InputSpec(shape=tuple(v.shape), name=k, dtype=v.dtype)
        for k, v in kwargs.items()
        if isinstance(v, torch.Tensor)
    ]
    return specs


def _embedding_vocab(model: nn.Module) -> int | None:
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            return int(module.num_embeddings)
    return None


def _guess_inputs(model: nn.Module) -> list[InputSpec]:
    """A plausible single input from the first leaf module with parameters (empty if none)."""
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            return [InputSpec(shape=(1, TEXT_SEQUENCE_LENGTH), dtype=torch.int64)]
        if isinstance(module, nn.Conv2d):
            return [InputSpec(shape=(1, module.in_channels, 224, 224))]
        if isinstance(module, nn.Conv1d):
            return [InputSpec(shape=(1, module.in_channels, TEXT_SEQUENCE_LENGTH))]
        if isinstance(module, nn.Conv3d):
            return [InputSpec(shape=(1, module.in_channels, 16, 112, 112))]
        if isinstance(module, nn.Linear):
            return [InputSpec(shape=(1, module.in_features))]
    return []


# ---------------------------------------------------------------------------------------
# helpers


def _resolve_bare_name(name: str) -> tuple[str, str]:
    """A bare name: a built-in HF config, else a torchvision model, else a timm model."""
    if resolve_builtin_name(name) is not None:
        return "hf", name
    pool = [f"hf:{n}" for n in BUILTIN]
    missing = []
    try:
        from torchvision import models as tv_models
    except ImportError:
        missing.append("torchvision")
    else:
        tv_names = tv_models.list_models()
        if name in tv_names:
            return "torchvision", name
        pool += [f"torchvision:{n}" for n in tv_names]
    try:
        import timm
    except ImportError:
        missing.append("timm")
    else:
        if timm.is_model(name):
            return "timm", name
        pool += [f"timm:{n}" for n in timm.list_models()]
    message = _unknown_name_message(name, name, pool, "")
    if missing:
        message += f" ({' and '.join(missing)} not installed: pip install 'flopwise[vision]')"
    raise UnknownModel(message)


def _unknown_name_message(label: str, name: str, names: Sequence[str], prefix: str) -> str:
    # Compare against bare names (prefix stripped) so "resnet5" finds "torchvision:resnet50".
    bare: dict[str, list[str]] = {}
    for full in names:
        bare.setdefault(full.split(":", 1)[-1] if not prefix else full, []).append(full)
    close = difflib.get_close_matches(name.lower(), list(bare), n=5, cutoff=0.6)
    suggestions = [prefix + full for key in close for full in bare[key]][:5]
    hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
    return f"unknown model {label!r}{hint}"


def _unknown_prefix_message(text: str, prefix: str) -> str:
    close = difflib.get_close_matches(prefix.lower(), list(_PREFIXES), n=2, cutoff=0.6)
    hint = f" (did you mean {close[0]}:?)" if close else ""
    return (
        f"unknown model source {prefix + ':'!r} in {text!r}{hint}; use torchvision:NAME, "
        "timm:NAME, hf:NAME, FILE.py:FACTORY or package.module:FACTORY"
    )


def _construct(fn: Callable[[], Any], device: torch.device) -> Any:
    """Run a constructor so parameters land on ``device``.

    On ``meta`` a constructor that needs real values (``.item()``, ``tolist()`` ...) is
    retried on CPU and the result moved to meta. A user factory's own error
    (:class:`_FactoryFailed`) is not retried: the factory runs once.
    """
    if device.type == "cpu":
        return fn()
    try:
        with torch.device(device):
            return fn()
    except (FlopwiseError, _FactoryFailed):
        raise
    except Exception:
        if device.type != "meta":
            raise
        result = fn()
    return _move(result, device, None)


def _move(obj: Any, device: torch.device | None, dtype: torch.dtype | None) -> Any:
    """Move modules and tensors in ``obj`` (nested tuples/lists/dicts) to ``device`` and
    cast floating tensors to ``dtype`` (None: unchanged)."""
    if isinstance(obj, nn.Module):
        if device is not None:
            obj.to(device)
        return obj
    if isinstance(obj, torch.Tensor):
        if dtype is not None and obj.is_floating_point():
            obj = obj.to(dtype)
        if device is not None and obj.device != device:
            obj = obj.to(device)
        return obj
    if isinstance(obj, tuple):
        return tuple(_move(v, device, dtype) for v in obj)
    if isinstance(obj, list):
        return [_move(v, device, dtype) for v in obj]
    if isinstance(obj, dict):
        return {k: _move(v, device, dtype) for k, v in obj.items()}
    return obj


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's RNG for the block and restore it afterwards."""
    devices = [device.index or 0] if device.type == "cuda" and torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _tensors_of(model: nn.Module) -> Iterator[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()


def _unique_tensors(model: nn.Module) -> list[torch.Tensor]:
    seen: set[int] = set()
    out = []
    for tensor in _tensors_of(model):
        if id(tensor) not in seen:
            seen.add(id(tensor))
            out.append(tensor)
    return out
