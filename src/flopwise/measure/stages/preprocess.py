"""Preprocess stages per source kind: decode + resize + normalise a camera image
(:class:`ImagePreprocess`), or tokenize texts (:class:`TextPreprocess`), built for a model
and its example inputs by :func:`preprocess_stage`; the output replaces the model input."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from flopwise.errors import FlopwiseError
from flopwise.measure.stages.inputs import (
    DEFAULT_IMAGE_SIZE,
    image_format_name,
    load_tokenizer,
    make_image_bytes,
    require_pil,
    synthetic_texts,
)
from flopwise.measure.stages.result import stage_entry
from flopwise.measure.stages.slots import Slot, find_image_input, find_token_input, get_input
from flopwise.sections import StageTiming

__all__ = [
    "ImagePreprocess",
    "Preprocess",
    "StageInputs",
    "TextPreprocess",
    "preprocess_stage",
]

#: Center-crop ratio of the usual ImageNet evaluation transform (resize 256, crop 224).
CROP_RATIO = 0.875
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The mean/std Hugging Face image processors default to (``IMAGENET_STANDARD_*``).
HF_STANDARD_MEAN = (0.5, 0.5, 0.5)
HF_STANDARD_STD = (0.5, 0.5, 0.5)


def _resize_target(
    src_hw: tuple[int, int], out_hw: tuple[int, int], crop_ratio: float | None
) -> tuple[int, int]:
    """Size (h, w) to resize a ``src_hw`` image to before a center crop of ``out_hw``.

    Keeps the aspect ratio and scales so both sides cover ``out / crop_ratio`` (224 → 256 for
    the usual 0.875); with ``crop_ratio=None`` the image is resized straight to ``out_hw``.
    """
    if crop_ratio is None:
        return out_hw
    (sh, sw), (oh, ow) = src_hw, out_hw
    scale = max(oh / sh, ow / sw) / crop_ratio
    return max(oh, round(sh * scale)), max(ow, round(sw * scale))


@dataclass
class ImagePreprocess:
    """Decode image bytes and turn them into a model input ``(N, C, H, W)``.

    ``out_hw`` is the model's input size, ``channels`` 3 (RGB) or 1 (grayscale). With
    ``crop_ratio`` set (the torchvision/timm evaluation transform) the image is resized to
    cover ``out / crop_ratio`` and center-cropped; with ``None`` (Hugging Face image
    processors) it is resized straight to ``out_hw``. ``backend`` is ``"auto"`` (v2 when
    importable), ``"torchvision.v2"`` or ``"pil+torch"``. Each call decodes the bytes
    ``batch`` times (one decode per item, as a data loader would).
    """

    out_hw: tuple[int, int]
    channels: int = 3
    batch: int = 1
    dtype: torch.dtype = torch.float32
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    crop_ratio: float | None = CROP_RATIO
    backend: str = "auto"
    _v2_cache: dict[tuple[int, int], Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise FlopwiseError(f"image preprocessing handles 1 or 3 channels, not {self.channels}")
        if self.channels == 1:
            self.mean = (sum(self.mean) / len(self.mean),)
            self.std = (sum(self.std) / len(self.std),)
        if self.backend == "auto":
            try:
                import torchvision.transforms.v2  # noqa: F401

                self.backend = "torchvision.v2"
            except ImportError:
                self.backend = "pil+torch"
        if self.backend not in ("torchvision.v2", "pil+torch"):
            raise FlopwiseError(f"unknown image backend {self.backend!r}")

    @property
    def label(self) -> str:
        """What a call does, in one line."""
        h, w = self.out_hw
        how = (
            f"resize (crop ratio {self.crop_ratio:g}) + center-crop to {h}x{w}"
            if self.crop_ratio is not None
            else f"resize to {h}x{w}"
        )
        return f"decode + {how} + to-tensor + normalize ({self.backend})"

    def decode(self, data: bytes) -> Any:
        """Decode ``data`` into a PIL image in the model's colour mode."""
        image_mod = require_pil()
        image = image_mod.open(io.BytesIO(data))
        return image.convert("RGB" if self.channels == 3 else "L")

    def transform(self, image: Any) -> torch.Tensor:
        """Resize, crop, convert and normalise one decoded PIL image to ``(C, H, W)``."""
        target = _resize_target((image.height, image.width), self.out_hw, self.crop_ratio)
        if self.backend == "torchvision.v2":
            return self._v2(target)(image).as_subclass(torch.Tensor)
        return self._pil_torch(image, target)

    def _v2(self, target: tuple[int, int]) -> Callable[[Any], torch.Tensor]:
        """The torchvision.transforms.v2 pipeline for images resized to ``target`` (built
        once per source size, as a data loader builds its transform once)."""
        cached = self._v2_cache.get(target)
        if cached is not None:
            return cached
        from torchvision.transforms import v2

        steps: list[Any] = [v2.ToImage(), v2.Resize(list(target), antialias=True)]
        if self.crop_ratio is not None:
            steps.append(v2.CenterCrop(list(self.out_hw)))
        steps += [
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(self.mean), list(self.std)),
        ]
        pipeline = v2.Compose(steps)
        self._v2_cache[target] = pipeline
        return pipeline

    def _pil_torch(self, image: Any, target: tuple[int, int]) -> torch.Tensor:
        import numpy as np

        image_mod = require_pil()
        th, tw = target
        image = image.resize((tw, th), image_mod.Resampling.BILINEAR)
        oh, ow = self.out_hw
        if self.crop_ratio is not None:
            top, left = (th - oh) // 2, (tw - ow) // 2
            image = image.crop((left, top, left + ow, top + oh))
        array = np.array(image, dtype=np.uint8, copy=True)
        if array.ndim == 2:
            array = array[:, :, None]
        tensor = torch.from_numpy(array).permute(2, 0, 1).to(torch.float32).div_(255.0)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        return tensor.sub_(mean).div_(std)

    def __call__(self, data: bytes) -> torch.Tensor:
        """Decode ``data`` ``batch`` times and return the normalised ``(N, C, H, W)`` batch."""
        items = [self.transform(self.decode(data)) for _ in range(self.batch)]
        out = torch.stack(items)
        return out if out.dtype == self.dtype else out.to(self.dtype)


@dataclass
class TextPreprocess:
    """Tokenize ``batch`` texts, pad/truncate to ``length`` tokens, and return
    ``(input_ids, attention_mask)`` int64 tensors of shape ``(batch, length)``.

    ``tokenizer`` is a ``tokenizers.Tokenizer`` (or anything with ``encode_batch`` returning
    objects with ``ids`` and ``attention_mask``). Ids at or above ``vocab_size`` (the
    model's) are folded into range with a modulo, so a tokenizer larger than a tiny model's
    vocabulary still yields valid inputs.
    """

    tokenizer: Any
    batch: int
    length: int
    vocab_size: int | None = None
    label: str = "tokenization"
    seed: int = 0
    texts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.texts:
            # a little longer than needed, so truncation happens as with real documents
            self.texts = synthetic_texts(self.batch, int(self.length * 1.2) + 1, seed=self.seed)

    def __call__(self, texts: Sequence[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        encodings = self.tokenizer.encode_batch(list(texts if texts is not None else self.texts))
        ids = [_fit(list(e.ids), self.length, 0) for e in encodings]
        mask = [_fit(list(e.attention_mask), self.length, 0) for e in encodings]
        input_ids = torch.tensor(ids, dtype=torch.int64)
        if self.vocab_size is not None and input_ids.numel() and input_ids.max() >= self.vocab_size:
            input_ids = input_ids.remainder_(self.vocab_size)
        return input_ids, torch.tensor(mask, dtype=torch.int64)


def _fit(values: list[int], length: int, pad: int) -> list[int]:
    """Truncate or right-pad ``values`` to ``length``."""
    return values[:length] + [pad] * (length - len(values))


def _model_vocab(model: Any, token_tensor: torch.Tensor) -> int:
    """The model's vocabulary: its input embedding's rows, else the first ``nn.Embedding``,
    else one above the largest example id."""
    get = getattr(model, "get_input_embeddings", None)
    if callable(get):
        try:
            emb = get()
            if isinstance(emb, torch.nn.Embedding):
                return int(emb.num_embeddings)
        except (NotImplementedError, AttributeError):
            pass
    if isinstance(model, torch.nn.Module):
        for module in model.modules():
            if isinstance(module, torch.nn.Embedding):
                return int(module.num_embeddings)
    if token_tensor.device.type == "meta" or token_tensor.numel() == 0:
        return 1
    return int(token_tensor.max().item()) + 1


# -- the preprocess stage per source kind ----------------------------------------------------

#: Builds the model inputs a preprocess stage replaces (slot → tensor).
Produce = Callable[[], dict[Slot, torch.Tensor]]


@dataclass(frozen=True)
class StageInputs:
    """What to preprocess and from what: ``preprocess`` (``auto``, ``image``, ``text`` or
    ``none``), the synthetic camera image (``image_size`` (width, height),
    ``image_format``, ``image_backend``), the ``tokenizer`` (a local ``tokenizer.json``
    path or a ``tokenizers.Tokenizer``; None: the in-memory BPE) and
    ``preprocess_threads`` (intra-op threads while preprocessing; None: unchanged)."""

    preprocess: str = "auto"
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE
    image_format: str = "jpeg"
    image_backend: str = "auto"
    tokenizer: Any = None
    preprocess_threads: int | None = None

    def __post_init__(self) -> None:
        if self.preprocess not in ("auto", "image", "text", "none"):
            raise FlopwiseError(
                f"preprocess must be auto, image, text or none (got {self.preprocess!r})"
            )


@dataclass
class Preprocess:
    """The preprocess stage built for a model: its ``kind`` (image, text, or None when
    skipped), the callable producing the replaced inputs, its result entry, what was
    preprocessed (``info``) and the text tokenizer (postprocessing decodes with it)."""

    kind: str | None
    fn: Produce | None
    entry: StageTiming
    info: dict[str, Any] = field(default_factory=dict)
    tokenizer: Any = None


def preprocess_stage(
    model: Any,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    source: str,
    inputs: StageInputs,
) -> Preprocess:
    """The preprocess stage for ``model`` on inputs shaped like ``args``/``kwargs``: image
    when asked for (or ``auto``) and there is an image input, else text likewise, else
    skipped. Raises when the kind asked for has no matching input."""
    image_slot = find_image_input(args, kwargs)
    token_slot = find_token_input(args, kwargs)
    mode = inputs.preprocess
    if mode in ("auto", "image") and image_slot is not None:
        return _image_stage(args, kwargs, image_slot, source, inputs)
    if mode in ("auto", "text") and token_slot is not None:
        return _text_stage(model, args, kwargs, token_slot, inputs.tokenizer)
    if mode == "image":
        raise FlopwiseError(
            "preprocess='image' needs a (N, 1|3, H, W) float model input; none found"
        )
    if mode == "text":
        raise FlopwiseError("preprocess='text' needs an integer (N, L) model input; none found")
    reason = (
        "disabled (preprocess='none')"
        if mode == "none"
        else "no image (N, 1|3, H, W) or token (N, L) input to preprocess"
    )
    return Preprocess(None, None, stage_entry("skipped", "preprocessing", reason))


def _image_stage(
    args: Sequence[Any], kwargs: dict[str, Any], slot: Slot, source: str, inputs: StageInputs
) -> Preprocess:
    """Decode the synthetic camera image into the ``slot`` input: Hugging Face image
    processing for an ``hf`` source, the ImageNet evaluation transform otherwise."""
    template = get_input(args, kwargs, slot)
    n, c, h, w = (int(s) for s in template.shape)
    hf = source == "hf"
    proc = ImagePreprocess(
        out_hw=(h, w),
        channels=c,
        batch=n,
        dtype=template.dtype,
        mean=HF_STANDARD_MEAN if hf else IMAGENET_MEAN,
        std=HF_STANDARD_STD if hf else IMAGENET_STD,
        crop_ratio=None if hf else CROP_RATIO,
        backend=inputs.image_backend,
    )
    width, height = inputs.image_size
    data = make_image_bytes(width, height, inputs.image_format)

    def pre_image() -> dict[Slot, torch.Tensor]:
        return {slot: proc(data)}

    info = {
        "kind": "image",
        "slot": list(slot),
        "image_size": [int(width), int(height)],
        "format": image_format_name(inputs.image_format).lower(),
        "encoded_bytes": len(data),
        "batch": n,
        "output_shape": [n, c, h, w],
        "output_dtype": str(template.dtype).removeprefix("torch."),
        "backend": proc.backend,
    }
    what = f"{n}x {info['format']} {width}x{height}: {proc.label}"
    return Preprocess("image", pre_image, stage_entry("measured", what), info)


def _text_stage(
    model: Any, args: Sequence[Any], kwargs: dict[str, Any], slot: Slot, tokenizer: Any
) -> Preprocess:
    """Tokenize synthetic texts into the ``slot`` input (and ``attention_mask`` when the
    model takes one); skipped when no tokenizer is available."""
    template = get_input(args, kwargs, slot)
    n, length = (int(s) for s in template.shape)
    text_tokenizer, tok_label = load_tokenizer(tokenizer)
    if text_tokenizer is None:
        note = (
            "tokenization: no local tokenizer available (install flopwise[hf] for the "
            "in-memory byte-level BPE, or pass a local tokenizer.json)"
        )
        return Preprocess(None, None, stage_entry("skipped", "tokenization", note))
    vocab = _model_vocab(model, template)
    proc = TextPreprocess(text_tokenizer, batch=n, length=length, vocab_size=vocab, label=tok_label)
    mask_slot: Slot | None = ("kwarg", "attention_mask") if "attention_mask" in kwargs else None

    def pre_text() -> dict[Slot, torch.Tensor]:
        ids, mask = proc()
        out = {slot: ids}
        if mask_slot is not None:
            out[mask_slot] = mask.to(get_input(args, kwargs, mask_slot).dtype)
        return out

    info = {
        "kind": "text",
        "slot": list(slot),
        "batch": n,
        "sequence_length": length,
        "model_vocab": vocab,
        "tokenizer": tok_label,
        "words_per_text": len(proc.texts[0].split()),
        "output_shape": [n, length],
    }
    what = f"tokenize {n} text(s) to {length} tokens: {tok_label}"
    return Preprocess("text", pre_text, stage_entry("measured", what), info, text_tokenizer)
