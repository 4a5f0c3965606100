"""``diffusers:NAME``: a diffusion denoiser (or any diffusers model) built from its config.

Forms: a built-in name (``dit-xl-2-256``, ``dit-xl-2-512``: the DiT paper's class-
conditional ImageNet models, Peebles & Xie 2023; ``sd15-unet``, ``sdxl-unet``,
``pixart-alpha-512``), a ``config.json`` of a diffusers model
(with ``_class_name``), or a folder holding one; a pipeline folder (``model_index.json``)
selects its denoiser (``transformer`` or ``unet`` subfolder). Weights are random (never
downloaded); the count is one denoising step (one forward of the denoiser, batch 1, no
classifier-free guidance).

Whole generations (``flopwise diffusion``): :data:`PIPELINES` (``sd15``, ``sdxl``,
``pixart-alpha``) name each pipeline's text encoders (transformers configs written here),
its built-in denoiser and its VAE, and :func:`generation_parts` builds them on meta with
the inputs of one call each. docs/diffusion.md states what is counted.

Needs the optional extra ``diffusion`` (diffusers; transformers for the text encoders).
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from flopwise.errors import BadModelFile, FlopwiseError, UnknownModel, require
from flopwise.sources.specs import InputSpec

__all__ = [
    "BUILTIN",
    "added_cond_kwargs",
    "build_diffusers_model",
    "diffusers_config",
    "diffusers_default_inputs",
    "GenerationPart",
    "generation_parts",
    "PIPELINES",
    "PipelineSpec",
    "TextEncoderSpec",
    "build_text_encoder",
    "pipeline_spec",
]


def _dit_xl_2(sample_size: int) -> dict[str, Any]:
    # DiT-XL/2: 28 blocks, hidden 1152 (16 heads of 72), patch 2, adaLN-Zero, 1000 classes;
    # latents of the SD VAE (4 channels, 1/8 resolution), learned sigma (8 output channels).
    return {
        "_class_name": "DiTTransformer2DModel",
        "activation_fn": "gelu-approximate",
        "attention_bias": True,
        "attention_head_dim": 72,
        "dropout": 0.0,
        "in_channels": 4,
        "norm_elementwise_affine": False,
        "norm_type": "ada_norm_zero",
        "num_attention_heads": 16,
        "num_embeds_ada_norm": 1000,
        "num_layers": 28,
        "out_channels": 8,
        "patch_size": 2,
        "sample_size": sample_size,
        "upcast_attention": False,
    }


BUILTIN: dict[str, dict[str, Any]] = {
    "dit-xl-2-256": _dit_xl_2(32),  # 256x256 images: 32x32 latents, 256 tokens
    "dit-xl-2-512": _dit_xl_2(64),  # 512x512 images: 64x64 latents, 1024 tokens
    # Stable Diffusion 1.5's UNet (860M parameters): diffusers' UNet2DConditionModel
    # defaults are the SD 1.x UNet; CLIP ViT-L/14 text states (768), 512x512 images.
    "sd15-unet": {
        "_class_name": "UNet2DConditionModel",
        "cross_attention_dim": 768,
        "sample_size": 64,
    },
    # SDXL base UNet (2.6B parameters, Podell et al. 2023): 1024x1024 images, text states
    # of two CLIP encoders (2048), pooled text and size/crop conditioning ("text_time").
    "sdxl-unet": {
        "_class_name": "UNet2DConditionModel",
        "addition_embed_type": "text_time",
        "addition_embed_type_num_heads": 64,
        "addition_time_embed_dim": 256,
        "attention_head_dim": [5, 10, 20],
        "block_out_channels": [320, 640, 1280],
        "cross_attention_dim": 2048,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        "in_channels": 4,
        "layers_per_block": 2,
        "norm_num_groups": 32,
        "out_channels": 4,
        "projection_class_embeddings_input_dim": 2816,
        "sample_size": 128,
        "transformer_layers_per_block": [1, 2, 10],
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "use_linear_projection": True,
    },
    # PixArt-α XL/2 at 512 (Chen et al. 2023): DiT-XL/2 blocks with cross-attention to
    # T5 text states (4096 channels, 120 tokens) and adaLN-single.
    "pixart-alpha-512": {
        "_class_name": "PixArtTransformer2DModel",
        "activation_fn": "gelu-approximate",
        "attention_bias": True,
        "attention_head_dim": 72,
        "caption_channels": 4096,
        "cross_attention_dim": 1152,
        "in_channels": 4,
        "norm_elementwise_affine": False,
        "norm_eps": 1e-6,
        "norm_type": "ada_norm_single",
        "num_attention_heads": 16,
        "num_embeds_ada_norm": 1000,
        "num_layers": 28,
        "out_channels": 8,
        "patch_size": 2,
        "sample_size": 64,
        "use_additional_conditions": False,
    },
}
_ALIASES = {
    "sd15": "sd15-unet",
    "sd-1.5": "sd15-unet",
    "stable-diffusion-v1-5": "sd15-unet",
    "sdxl": "sdxl-unet",
    "stable-diffusion-xl-base-1.0": "sdxl-unet",
    "pixart-alpha": "pixart-alpha-512",
    "pixart-xl-2-512x512": "pixart-alpha-512",
    "dit-xl/2-256": "dit-xl-2-256",
    "dit-xl/2": "dit-xl-2-256",
    "dit-xl-2": "dit-xl-2-256",
    "dit-xl/2-512": "dit-xl-2-512",
    "facebook/dit-xl-2-256": "dit-xl-2-256",
    "facebook/dit-xl-2-512": "dit-xl-2-512",
}


def diffusers_config(target: str) -> tuple[dict[str, Any], str, str]:
    """``(config, canonical name, origin line)`` for a built-in name or a local path.

    Raises :class:`UnknownModel` (with close matches) for an unknown name and
    :class:`BadModelFile` for a file that is not a diffusers model config.
    """
    key = target.strip().lower()
    name = _ALIASES.get(key, key)
    if name in BUILTIN:
        return copy.deepcopy(BUILTIN[name]), f"diffusers:{name}", f"built-in config {name}"
    path = Path(target).expanduser()
    if path.is_dir() and (path / "model_index.json").is_file():
        for sub in ("transformer", "unet"):
            if (path / sub / "config.json").is_file():
                path = path / sub
                break
        else:
            raise BadModelFile(f"pipeline folder {path} has no transformer/ or unet/ config.json")
    if path.is_dir():
        path = path / "config.json"
    if path.is_file():
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadModelFile(f"cannot read diffusers config {path}: {exc}") from exc
        if not isinstance(config, dict) or "_class_name" not in config:
            raise BadModelFile(f"{path} is not a diffusers model config (no '_class_name')")
        return config, f"diffusers:{target}", f"local file {path}"
    close = difflib.get_close_matches(key, [*BUILTIN, *_ALIASES], n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(dict.fromkeys(_ALIASES.get(c, c) for c in close))}?"
    raise UnknownModel(
        f"unknown diffusers model {target!r}{hint if close else ''} (built-in: "
        f"{', '.join(BUILTIN)}; or a diffusers config.json, model or pipeline folder)"
    )


def build_diffusers_model(config: dict[str, Any]) -> nn.Module:
    """The diffusers class ``config["_class_name"]`` built from ``config`` with random
    weights, on the current default device (``with torch.device("meta")`` allocates
    nothing). Raises :class:`MissingDependency`
    (extra ``diffusion``) without diffusers, :class:`BadModelFile` for an unknown class."""
    diffusers = require("diffusers", "diffusion", "diffusers: models")
    class_name = str(config["_class_name"])
    cls = getattr(diffusers, class_name, None)
    if cls is None or not hasattr(cls, "from_config"):
        raise BadModelFile(f"diffusers {diffusers.__version__} has no model class {class_name!r}")
    fields = {k: v for k, v in config.items() if not k.startswith("_")}
    return cls.from_config(fields)


def diffusers_default_inputs(config: dict[str, Any], model: nn.Module) -> list[InputSpec]:
    """One denoising step's inputs from the forward signature and config: the latent
    (``hidden_states`` or ``sample``, 1×C×S×S at ``sample_size``), ``timestep`` (1,),
    ``class_labels`` (1,) for class-conditional models, and text states for text-
    conditioned ones: 1×120×``caption_channels`` (PixArt's T5 tokens) or
    1×77×``cross_attention_dim`` (CLIP tokens). SDXL's extra conditioning is
    :func:`added_cond_kwargs`."""
    import inspect

    params = set(inspect.signature(model.forward).parameters)
    size = config.get("sample_size") or 64
    height, width = (size, size) if isinstance(size, int) else tuple(size)[:2]
    channels = int(config.get("in_channels") or 4)
    latent = "hidden_states" if "hidden_states" in params else "sample"
    inputs = [InputSpec(shape=(1, channels, int(height), int(width)), name=latent)]
    if "timestep" in params:
        inputs.append(InputSpec(shape=(1,), name="timestep", dtype=torch.int64))
    if "class_labels" in params and config.get("num_embeds_ada_norm"):
        inputs.append(InputSpec(shape=(1,), name="class_labels", dtype=torch.int64))
    cross = config.get("cross_attention_dim")
    caption = config.get("caption_channels")
    if "encoder_hidden_states" in params and isinstance(caption, int):
        inputs.append(InputSpec(shape=(1, 120, caption), name="encoder_hidden_states"))
    elif "encoder_hidden_states" in params and isinstance(cross, int):
        inputs.append(InputSpec(shape=(1, 77, cross), name="encoder_hidden_states"))
    return inputs


def added_cond_kwargs(
    config: dict[str, Any], device: torch.device, batch: int = 1
) -> dict[str, Any] | None:
    """SDXL-style ``added_cond_kwargs`` (pooled text embeddings and the six size/crop ids,
    ``batch`` rows each) for a UNet with ``addition_embed_type="text_time"``, else None."""
    if config.get("addition_embed_type") != "text_time":
        return None
    time_ids = 6 * int(config.get("addition_time_embed_dim") or 256)
    pooled = int(config.get("projection_class_embeddings_input_dim") or 2816) - time_ids
    return {
        "text_embeds": torch.zeros(batch, pooled, device=device),
        "time_ids": torch.zeros(batch, 6, device=device),
    }


# ---------------------------------------------------------------------------------------
# Whole generations: text encoders once, denoiser per step, VAE decoder once

# The SD VAE (f=8, 4 latent channels), shared by SD 1.5, SDXL (same architecture, refit
# weights) and PixArt-α (sd-vae-ft-ema). Only its decoder half runs when generating.
_SD_VAE = {
    "_class_name": "AutoencoderKL",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
# CLIP ViT-L/14 text tower (SD 1.5's text encoder, SDXL's first): 12 layers of 768.
_CLIP_L_TEXT = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "vocab_size": 49408,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
# OpenCLIP ViT-bigG/14 text tower with its text projection (SDXL's second text encoder,
# whose projected pooled output is the UNet's text_embeds): 32 layers of 1280.
_OPENCLIP_BIGG_TEXT = {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "max_position_embeddings": 77,
    "vocab_size": 49408,
    "hidden_act": "gelu",
    "projection_dim": 1280,
}
# T5 v1.1 XXL encoder (PixArt-α's text encoder): 24 layers of 4096, 64 heads of 64,
# gated-GELU feed-forward of 10240.
_T5_XXL_ENCODER = {
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "vocab_size": 32128,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "tie_word_embeddings": False,
}


@dataclass(frozen=True)
class TextEncoderSpec:
    """One text encoder of a pipeline: its component ``name`` (diffusers' attribute name),
    the transformers class ``cls`` built from ``config``, a short ``label`` for tables and
    the prompt length in ``tokens``."""

    name: str
    cls: str
    config: dict[str, Any]
    label: str
    tokens: int


@dataclass(frozen=True)
class PipelineSpec:
    """A text-to-image pipeline: its text encoders, the built-in denoiser (a
    :data:`BUILTIN` name), the VAE config whose decoder runs last, and whether classifier-
    free guidance runs the empty negative prompt through the text encoders
    (``encode_negative``; SDXL's ``force_zeros_for_empty_prompt`` uses zeros instead)."""

    text_encoders: tuple[TextEncoderSpec, ...]
    denoiser: str
    vae: dict[str, Any]
    encode_negative: bool = True


_CLIP_L = TextEncoderSpec("text_encoder", "CLIPTextModel", _CLIP_L_TEXT, "CLIPTextModel", 77)
PIPELINES: dict[str, PipelineSpec] = {
    # Stable Diffusion 1.5: CLIP ViT-L/14 text, the SD 1.5 UNet, the SD VAE; 512x512.
    "sd15": PipelineSpec((_CLIP_L,), "sd15-unet", _SD_VAE),
    # SDXL base 1.0: CLIP ViT-L/14 and OpenCLIP bigG text, the SDXL UNet; 1024x1024. The
    # default pipeline (no negative prompt) zeroes the unconditional embeddings rather
    # than encoding an empty prompt, so its text encoders run at batch 1.
    "sdxl": PipelineSpec(
        (
            _CLIP_L,
            TextEncoderSpec(
                "text_encoder_2",
                "CLIPTextModelWithProjection",
                _OPENCLIP_BIGG_TEXT,
                "CLIPTextModelWithProj",
                77,
            ),
        ),
        "sdxl-unet",
        {**_SD_VAE, "sample_size": 1024},
        encode_negative=False,
    ),
    # PixArt-α XL/2 512: T5 v1.1 XXL encoder on 120 tokens, the PixArt transformer.
    "pixart-alpha": PipelineSpec(
        (
            TextEncoderSpec(
                "text_encoder", "T5EncoderModel", _T5_XXL_ENCODER, "T5EncoderModel", 120
            ),
        ),
        "pixart-alpha-512",
        _SD_VAE,
    ),
}
_PIPELINE_ALIASES = {"sd-1.5": "sd15", "pixart": "pixart-alpha", "pixart-alpha-512": "pixart-alpha"}


class _VAEDecode(nn.Module):
    """``AutoencoderKL.decode`` as a forward (latents -> image), what a pipeline runs last."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents).sample


@dataclass
class GenerationPart:
    """One component of a generation: ``name`` (text_encoder, text_encoder_2, denoiser,
    vae_decoder), the ``model`` it is, the ``module`` run (on meta), the ``inputs`` of one
    call plus constant keyword tensors ``kwargs`` (SDXL's ``added_cond_kwargs``), how many
    ``calls`` one image makes, and the modules whose parameters it uses (``owners``)."""

    name: str
    model: str
    module: nn.Module
    inputs: list[InputSpec]
    calls: int
    owners: list[nn.Module]
    kwargs: dict[str, Any] = field(default_factory=dict)


def build_text_encoder(spec: TextEncoderSpec) -> nn.Module:
    """The transformers class ``spec.cls`` built from ``spec.config`` on meta (no weights).
    Raises :class:`MissingDependency` (extra ``hf``) without transformers."""
    transformers = require("transformers", "hf", "hf: models")
    cls = getattr(transformers, spec.cls)
    with torch.device("meta"):
        return cls._from_config(cls.config_class(**spec.config))


def pipeline_spec(name: str) -> PipelineSpec:
    """The :class:`PipelineSpec` of ``name`` (or an alias); :class:`UnknownModel` (with
    close matches) otherwise."""
    key = _PIPELINE_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key in PIPELINES:
        return PIPELINES[key]
    close = difflib.get_close_matches(key, [*PIPELINES, *_PIPELINE_ALIASES], n=2, cutoff=0.4)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownModel(f"unknown diffusion pipeline {name!r}{hint} (known: {', '.join(PIPELINES)})")


def _denoiser_part(name: str, batch: int, steps: int) -> GenerationPart:
    """The built-in denoiser ``name`` on meta at ``batch``, called ``steps`` times."""
    config = copy.deepcopy(BUILTIN[name])
    with torch.device("meta"):
        denoiser = build_diffusers_model(config)
    inputs = [
        InputSpec(shape=(batch, *s.shape[1:]), name=s.name, dtype=s.dtype)
        for s in diffusers_default_inputs(config, denoiser)
    ]
    extra = added_cond_kwargs(config, torch.device("meta"), batch=batch)
    kwargs = {"added_cond_kwargs": extra} if extra is not None else {}
    return GenerationPart("denoiser", name, denoiser, inputs, steps, [denoiser], kwargs)


def generation_parts(name: str, steps: int = 50, guidance: bool = True) -> list[GenerationPart]:
    """The components of generating one image with the pipeline ``name`` (``sd15``,
    ``sdxl``, ``pixart-alpha``; :data:`PIPELINES`), built on meta: each text encoder (one
    call), the denoiser (``steps`` calls), the VAE decoder (one call), each with the
    inputs of one call.

    Classifier-free guidance (``guidance``) doubles the batch of every denoiser step (the
    conditional and unconditional predictions) and, where the pipeline encodes the empty
    negative prompt (:attr:`PipelineSpec.encode_negative`), of the text encoders.
    :func:`flopwise.pipeline.diffusion.generation_cost` counts them. Raises
    :class:`UnknownModel` for an unknown pipeline and :class:`FlopwiseError` for
    ``steps < 1``.
    """
    spec = pipeline_spec(name)
    if steps < 1:
        raise FlopwiseError(f"--steps must be at least 1 (got {steps})")
    batch = 2 if guidance else 1
    text_batch = batch if spec.encode_negative else 1
    parts: list[GenerationPart] = []
    for enc in spec.text_encoders:
        text = build_text_encoder(enc)
        ids = InputSpec(shape=(text_batch, enc.tokens), name="input_ids", dtype=torch.int64)
        parts.append(GenerationPart(enc.name, enc.label, text, [ids], 1, [text]))
    parts.append(_denoiser_part(spec.denoiser, batch, steps))
    with torch.device("meta"):
        vae = build_diffusers_model(copy.deepcopy(spec.vae))
    latent = (1, *parts[-1].inputs[0].shape[1:])  # one image, whatever the guidance
    # Only the decoder half runs when generating: post_quant_conv and the decoder.
    used = [vae.post_quant_conv, vae.decoder]
    decode = _VAEDecode(vae)
    parts.append(
        GenerationPart("vae_decoder", "AutoencoderKL.decode", decode, [InputSpec(latent)], 1, used)
    )
    return parts
