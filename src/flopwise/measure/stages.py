"""Pipeline stages beyond inference: preprocessing, host-device copy, model, postprocessing.

"Beyond Inference" (2024) showed that in a deployed model the forward pass is often a
minority of the end-to-end time: decoding and resizing an image, tokenizing text, copying
inputs to the accelerator and turning logits into an answer all cost time that a FLOP
count never sees. :func:`measure_stages` builds those stages for a model and its example
inputs and times them in the same run, interleaved (A B C D, B C D A, ...), so a burst of
load from a neighbour hits every stage alike and their shares are comparable.

The stages:

- ``preprocess`` -- for an image model (a ``(N, C, H, W)`` float input): decode a JPEG or
  PNG made in memory with PIL at a camera-like size (640x480 unless told otherwise),
  resize and center-crop to the model's input size, convert to float and normalise
  (torchvision.transforms.v2 when available, else PIL + torch). For a text model (an
  integer ``input_ids``): tokenization with a local ``tokenizer.json`` when given, else a
  small byte-level BPE trained in memory on synthetic text with the ``tokenizers`` library
  (labelled as such: it is not the model's own tokenizer, but it does the same kind of
  work). The output replaces the matching model input, so inference runs on it.
- ``host_to_device`` -- copying the inputs to the device. On the CPU there is no copy: it
  is reported as not applicable, 0 s, with a note. On CUDA it is timed with events.
- ``inference`` -- the model's forward under ``torch.no_grad()``.
- ``postprocess`` -- softmax + top-5 for a classifier, argmax of the next token for a
  language model (decoded when a tokenizer is in use), mean-pool + L2 normalise for an
  encoder's hidden states, per-pixel argmax for a segmentation map; the result is moved to
  the host.

Everything here is deterministic (seeded) and nothing is downloaded.
"""

from __future__ import annotations

import functools
import io
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from flopwise.errors import FlopwiseError
from flopwise.measure.timing import (
    Latency,
    check_device,
    measure_interleaved,
)

__all__ = [
    "SCHEMA",
    "STAGES",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_BUDGET_S",
    "stage_shares",
    "make_image_bytes",
    "ImagePreprocess",
    "TextPreprocess",
    "in_memory_tokenizer",
    "choose_postprocess",
    "measure_stages",
]

#: JSON schema name of :func:`measure_stages`' result.
SCHEMA = "flopwise.stages/1"
#: The stages, in pipeline order.
STAGES = ("preprocess", "host_to_device", "inference", "postprocess")
#: (width, height) of the synthetic camera image, VGA.
DEFAULT_IMAGE_SIZE = (640, 480)
#: Seconds of interleaved timing when neither repeats nor a budget is given.
DEFAULT_BUDGET_S = 5.0
#: Center-crop ratio of the usual ImageNet evaluation transform (resize 256, crop 224).
CROP_RATIO = 0.875
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The mean/std Hugging Face image processors default to (``IMAGENET_STANDARD_*``).
HF_STANDARD_MEAN = (0.5, 0.5, 0.5)
HF_STANDARD_STD = (0.5, 0.5, 0.5)
#: Vocabulary of the in-memory byte-level BPE.
IN_MEMORY_VOCAB = 2000


# -- shares -------------------------------------------------------------------------------


def stage_shares(times: Mapping[str, float]) -> dict[str, float]:
    """Each stage's share of the sum of ``times`` (seconds, e.g. medians), in input order.

    Pure. The shares sum to 1 unless every time is 0, in which case every share is 0.
    Raises ``ValueError`` for a negative or non-finite time.
    """
    for name, value in times.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"stage {name!r}: time must be finite and >= 0, got {value!r}")
    total = math.fsum(times.values())
    if total <= 0:
        return {name: 0.0 for name in times}
    return {name: value / total for name, value in times.items()}


# -- images ---------------------------------------------------------------------------------


def _require_pil() -> Any:
    from flopwise.errors import require

    return require("PIL.Image", "vision", "image preprocessing")


def make_image_bytes(
    width: int = DEFAULT_IMAGE_SIZE[0],
    height: int = DEFAULT_IMAGE_SIZE[1],
    fmt: str = "jpeg",
    *,
    seed: int = 0,
    quality: int = 90,
) -> bytes:
    """Encode a synthetic ``width`` x ``height`` RGB photo-like image (smooth gradients and
    stripes plus sensor-like noise, so it compresses like a photo rather than a flat colour
    or pure noise) as JPEG (``quality``) or PNG. Deterministic for a given ``seed``."""
    import numpy as np

    image_mod = _require_pil()
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    fmt_name = _image_format(fmt)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    red = 128 + 90 * np.sin(x / 41.0 + y / 67.0 + phase[0])
    green = 128 + 90 * np.cos(x / 29.0 - y / 53.0 + phase[1])
    blue = 255 * (x + y) / max(1.0, float(width + height)) + 20 * np.sin(y / 7.0 + phase[2])
    pixels = np.stack([red, green, blue], axis=-1) + rng.normal(0.0, 10.0, (height, width, 3))
    array = np.clip(pixels, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    options = {"quality": quality} if fmt_name == "JPEG" else {}
    image_mod.fromarray(array, mode="RGB").save(buffer, format=fmt_name, **options)
    return buffer.getvalue()


def _image_format(fmt: str) -> str:
    name = fmt.strip().lower()
    if name in ("jpeg", "jpg"):
        return "JPEG"
    if name == "png":
        return "PNG"
    raise FlopwiseError(f"image format must be jpeg or png, got {fmt!r}")


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
        image_mod = _require_pil()
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

        image_mod = _require_pil()
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


# -- text -----------------------------------------------------------------------------------

_SYLLABLE_TEXT = (
    "ka to ri an the ing er st lo ve mi ne or pa qu el is on re de "
    "ba co fu gi ha jo ku la mo nu pe sa ti vo wa ze tion ment al ly"
)


def synthetic_texts(count: int, words: int, *, seed: int = 0) -> list[str]:
    """``count`` deterministic English-like sentences of ``words`` words each, drawn from a
    Zipf-distributed vocabulary of made-up words (so frequent words tokenize to one token
    and rare ones split, as in real text)."""
    rng = random.Random(seed)
    syllables = _SYLLABLE_TEXT.split()
    lexicon = [
        "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(3000)
    ]
    weights = [1.0 / (rank + 1) for rank in range(len(lexicon))]
    texts = []
    for _ in range(count):
        chosen = rng.choices(lexicon, weights=weights, k=max(1, words))
        sentence = " ".join(chosen)
        texts.append(sentence[0].upper() + sentence[1:] + ".")
    return texts


@functools.lru_cache(maxsize=4)
def in_memory_tokenizer(vocab_size: int = IN_MEMORY_VOCAB, seed: int = 0) -> Any:
    """A byte-level BPE tokenizer trained in memory on :func:`synthetic_texts` with the
    ``tokenizers`` library (the Rust core of Hugging Face fast tokenizers). Nothing is
    downloaded; it is not any model's real tokenizer. Token 0 is ``<pad>``. Cached."""
    from flopwise.errors import require

    tk = require("tokenizers", "hf", "in-memory tokenization")
    tokenizer = tk.Tokenizer(tk.models.BPE())
    tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<pad>"],
        show_progress=False,
    )
    tokenizer.train_from_iterator(synthetic_texts(400, 60, seed=seed), trainer=trainer)
    return tokenizer


def _load_tokenizer(tokenizer: Any) -> tuple[Any | None, str]:
    """Resolve the ``tokenizer`` option to ``(tokenizers.Tokenizer | None, label)``."""
    if tokenizer is not None and not isinstance(tokenizer, (str, Path)):
        return tokenizer, f"given tokenizer ({type(tokenizer).__name__})"
    if tokenizer is not None:
        path = Path(tokenizer)
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise FlopwiseError(f"tokenizer file not found: {path} (give a local tokenizer.json)")
        from flopwise.errors import require

        tk = require("tokenizers", "hf", "tokenization")
        return tk.Tokenizer.from_file(str(path)), f"local tokenizer {path}"
    try:
        tok = in_memory_tokenizer()
    except FlopwiseError:  # MissingDependency: no tokenizers library
        return None, ""
    return tok, (
        f"in-memory byte-level BPE (vocab {tok.get_vocab_size()}, trained on synthetic text "
        "with the tokenizers library; not the model's own tokenizer)"
    )


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


# -- locating the inputs --------------------------------------------------------------------

#: Where a model input lives: ("arg", index) or ("kwarg", name).
Slot = tuple[str, Any]


def _get(args: Sequence[Any], kwargs: Mapping[str, Any], slot: Slot) -> Any:
    return args[slot[1]] if slot[0] == "arg" else kwargs[slot[1]]


def _replace(
    args: Sequence[Any], kwargs: Mapping[str, Any], values: Mapping[Slot, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    new_args, new_kwargs = list(args), dict(kwargs)
    for (kind, key), value in values.items():
        if kind == "arg":
            new_args[key] = value
        else:
            new_kwargs[key] = value
    return tuple(new_args), new_kwargs


def _slots(args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[tuple[Slot, Any]]:
    out: list[tuple[Slot, Any]] = [(("kwarg", k), v) for k, v in kwargs.items()]
    out += [(("arg", i), v) for i, v in enumerate(args)]
    return out


def _is_image(value: Any) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and value.dim() == 4
        and value.shape[1] in (1, 3)
        and value.shape[2] >= 8
        and value.shape[3] >= 8
    )


def _is_tokens(value: Any) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and not value.is_floating_point()
        and not value.is_complex()
        and value.dtype != torch.bool
        and value.dim() == 2
    )


def find_image_input(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Slot | None:
    """The slot of the ``(N, 1|3, H, W)`` float image input (``pixel_values`` first)."""
    if "pixel_values" in kwargs and _is_image(kwargs["pixel_values"]):
        return ("kwarg", "pixel_values")
    for slot, value in _slots(args, kwargs):
        if _is_image(value):
            return slot
    return None


def find_token_input(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Slot | None:
    """The slot of the ``(N, L)`` integer token input (``input_ids`` first)."""
    if "input_ids" in kwargs and _is_tokens(kwargs["input_ids"]):
        return ("kwarg", "input_ids")
    for slot, value in _slots(args, kwargs):
        if slot[0] == "kwarg" and slot[1] in ("attention_mask", "token_type_ids"):
            continue
        if _is_tokens(value):
            return slot
    return None


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


# -- postprocessing -------------------------------------------------------------------------


def _field(output: Any, name: str) -> Any:
    if isinstance(output, Mapping):
        return output.get(name)
    return getattr(output, name, None)


def choose_postprocess(
    output: Any, tokenizer: Any | None = None
) -> tuple[Callable[[Any], Any], str] | None:
    """Pick the postprocessing a deployment would run on ``output`` (one forward's result).

    Returns ``(fn, label)`` with ``fn(output)`` producing host tensors (or decoded text), or
    None when the output's structure is not recognised (e.g. detection lists).
    """
    logits = output if isinstance(output, torch.Tensor) else _field(output, "logits")
    hidden = None if isinstance(output, torch.Tensor) else _field(output, "last_hidden_state")
    seg = None if isinstance(output, torch.Tensor) else _field(output, "out")
    if (
        logits is None
        and hidden is None
        and seg is None
        and isinstance(output, (tuple, list))
        and output
        and isinstance(output[0], torch.Tensor)
    ):
        logits = output[0]

    def pick(out: Any, name: str) -> torch.Tensor:
        if isinstance(out, torch.Tensor):
            return out
        if isinstance(out, (tuple, list)):
            return out[0]
        return _field(out, name)

    if isinstance(logits, torch.Tensor) and logits.is_floating_point():
        if logits.dim() == 2:
            k = min(5, logits.shape[-1])

            def classify(out: Any) -> tuple[torch.Tensor, torch.Tensor]:
                probs = torch.softmax(pick(out, "logits").float(), dim=-1)
                top = probs.topk(k, dim=-1)
                return top.values.cpu(), top.indices.cpu()

            return classify, f"softmax + top-{k}"
        if logits.dim() == 3:

            def next_token(out: Any) -> Any:
                ids = pick(out, "logits")[:, -1, :].argmax(dim=-1).cpu()
                if tokenizer is not None:
                    return tokenizer.decode_batch([[int(i)] for i in ids.tolist()])
                return ids

            label = "argmax of the last position (next token)"
            return next_token, label + (" + decode" if tokenizer is not None else "")
        if logits.dim() == 4:
            return (
                lambda out: pick(out, "logits").argmax(dim=1).cpu(),
                "argmax over classes per pixel",
            )
    if isinstance(seg, torch.Tensor) and seg.dim() == 4:
        return (lambda out: _field(out, "out").argmax(dim=1).cpu(), "argmax over classes per pixel")
    if isinstance(hidden, torch.Tensor) and hidden.dim() == 3:

        def embed(out: Any) -> torch.Tensor:
            pooled = _field(out, "last_hidden_state").float().mean(dim=1)
            return torch.nn.functional.normalize(pooled, dim=-1).cpu()

        return embed, "mean-pool + L2 normalize (embedding)"
    return None


# -- measuring -------------------------------------------------------------------------------


def _tensor_bytes(values: Sequence[Any]) -> int:
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


def _with_threads(fn: Callable[[], Any], threads: int | None) -> Callable[[], Any]:
    if threads is None:
        return fn

    def run() -> Any:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)

    return run


def _latency_fields(lat: Latency) -> dict[str, Any]:
    return {
        "median_s": lat.median_s,
        "min_s": lat.min_s,
        "iqr_s": lat.iqr_s,
        "cv": lat.cv,
        "spread": lat.spread,
        "repeats": lat.repeats,
        "calls_per_sample": lat.number,
        "trustworthy": lat.trustworthy,
        "reason": lat.reason,
    }


def _stage_entry(status: str, what: str, note: str | None = None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "status": status,
        "what": what,
        "median_s": None,
        "min_s": None,
        "iqr_s": None,
        "cv": None,
        "spread": None,
        "repeats": None,
        "calls_per_sample": None,
        "trustworthy": None,
        "reason": None,
        "share": None,
        "note": note,
    }
    entry.update(extra)
    return entry


def measure_stages(
    model: Any,
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
    *,
    source: str = "",
    preprocess: str = "auto",
    device: str | torch.device = "cpu",
    repeats: int | None = None,
    budget_s: float | None = None,
    progress: bool = False,
    warmup: int = 3,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    image_format: str = "jpeg",
    image_backend: str = "auto",
    tokenizer: Any = None,
    preprocess_threads: int | None = None,
    end_to_end: bool = True,
) -> dict[str, Any]:
    """Time preprocessing, host-to-device copy, inference and postprocessing of ``model``
    on inputs shaped like ``args``/``kwargs``, interleaved in one run; JSON-ready result.

    ``source`` is the model source (``LoadedModel.source``: torchvision, timm, hf, file,
    module, or a spec prefix); ``hf`` image models are resized straight to the input size
    with mean/std 0.5 like Hugging Face image processors, the others get the ImageNet
    evaluation transform (resize to cover size/0.875, center-crop, ImageNet mean/std).
    ``preprocess``: ``"auto"`` (image if there is a ``(N, 1|3, H, W)`` float input, else
    text if there is an integer ``(N, L)`` input), ``"image"``, ``"text"`` or ``"none"``.
    ``device``: where the model and its inputs live (``cuda`` fails with one line here).
    ``repeats`` counts interleaved rounds; ``budget_s`` bounds the run (with
    neither, 5 s; with both, whichever ends first).
    ``image_size`` is the camera image (width, height); ``tokenizer`` a local
    ``tokenizer.json`` path or a ``tokenizers.Tokenizer`` (default: an in-memory BPE).
    ``preprocess_threads``: run preprocessing with this many intra-op threads (1 mimics a
    DataLoader worker); None keeps the current setting. With ``end_to_end`` the whole
    chain is also timed as one callable in the same interleaving, as a check on the sum.

    Result keys (schema ``flopwise.stages/1``): ``schema``, ``device``, ``threads``,
    ``source``, ``kind`` (image / text / None), ``input`` (what was preprocessed),
    ``order`` (the stage names), ``stages`` (name → status measured / not_applicable /
    skipped, what, median_s, min_s, iqr_s, cv, spread, repeats, trustworthy, reason,
    share, note, plus ``latency``: the full ``Latency.to_dict()``), ``shares`` (of
    ``total_s``, the sum of stage medians), ``total_s``, ``end_to_end`` (median_s,
    trustworthy, reason, latency, ``over_sum``: end-to-end median / sum of medians),
    ``trustworthy``, ``reasons``, ``notes``.
    """
    dev = check_device(device)  # one line (DeviceUnavailable) for cuda without a GPU
    on_cuda = dev.startswith("cuda")
    kwargs = dict(kwargs or {})
    args = tuple(args)
    if preprocess not in ("auto", "image", "text", "none"):
        raise FlopwiseError(f"preprocess must be auto, image, text or none (got {preprocess!r})")
    notes: list[str] = []
    stages: dict[str, dict[str, Any]] = {}
    input_info: dict[str, Any] = {}
    fns: dict[str, Callable[[], Any]] = {}

    # -- preprocess: build the callable and its output, which replaces the model input
    image_slot = find_image_input(args, kwargs)
    token_slot = find_token_input(args, kwargs)
    kind: str | None = None
    if preprocess in ("auto", "image") and image_slot is not None:
        kind = "image"
    elif preprocess in ("auto", "text") and token_slot is not None:
        kind = "text"
    elif preprocess == "image":
        raise FlopwiseError(
            "preprocess='image' needs a (N, 1|3, H, W) float model input; none found"
        )
    elif preprocess == "text":
        raise FlopwiseError("preprocess='text' needs an integer (N, L) model input; none found")

    pre_fn: Callable[[], dict[Slot, torch.Tensor]] | None = None
    text_tokenizer: Any = None
    if kind == "image":
        assert image_slot is not None
        template = _get(args, kwargs, image_slot)
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
            backend=image_backend,
        )
        data = make_image_bytes(image_size[0], image_size[1], image_format)
        slot = image_slot

        def pre_image() -> dict[Slot, torch.Tensor]:
            return {slot: proc(data)}

        pre_fn = pre_image
        input_info = {
            "kind": "image",
            "slot": list(image_slot),
            "image_size": [int(image_size[0]), int(image_size[1])],
            "format": _image_format(image_format).lower(),
            "encoded_bytes": len(data),
            "batch": n,
            "output_shape": [n, c, h, w],
            "output_dtype": str(template.dtype).removeprefix("torch."),
            "backend": proc.backend,
        }
        what = f"{n}x {input_info['format']} {image_size[0]}x{image_size[1]}: {proc.label}"
        stages["preprocess"] = _stage_entry("measured", what)
    elif kind == "text":
        assert token_slot is not None
        template = _get(args, kwargs, token_slot)
        n, length = (int(s) for s in template.shape)
        text_tokenizer, tok_label = _load_tokenizer(tokenizer)
        if text_tokenizer is None:
            kind = None
            stages["preprocess"] = _stage_entry(
                "skipped",
                "tokenization",
                "tokenization: no local tokenizer available (install flopwise[hf] for the "
                "in-memory byte-level BPE, or pass a local tokenizer.json)",
            )
        else:
            vocab = _model_vocab(model, template)
            proc_text = TextPreprocess(
                text_tokenizer, batch=n, length=length, vocab_size=vocab, label=tok_label
            )
            mask_slot: Slot | None = (
                ("kwarg", "attention_mask") if ("attention_mask" in kwargs) else None
            )
            tslot = token_slot

            def pre_text() -> dict[Slot, torch.Tensor]:
                ids, mask = proc_text()
                out = {tslot: ids}
                if mask_slot is not None:
                    out[mask_slot] = mask.to(_get(args, kwargs, mask_slot).dtype)
                return out

            pre_fn = pre_text
            input_info = {
                "kind": "text",
                "slot": list(token_slot),
                "batch": n,
                "sequence_length": length,
                "model_vocab": vocab,
                "tokenizer": tok_label,
                "words_per_text": len(proc_text.texts[0].split()),
                "output_shape": [n, length],
            }
            stages["preprocess"] = _stage_entry(
                "measured", f"tokenize {n} text(s) to {length} tokens: {tok_label}"
            )
    else:
        reason = (
            "disabled (preprocess='none')"
            if preprocess == "none"
            else "no image (N, 1|3, H, W) or token (N, L) input to preprocess"
        )
        stages["preprocess"] = _stage_entry("skipped", "preprocessing", reason)

    # -- the host copies of every input, and the device copies inference runs on
    def host_inputs() -> tuple[tuple[Any, ...], dict[str, Any]]:
        produced = pre_fn() if pre_fn is not None else {}
        new_args, new_kwargs = _replace(args, kwargs, produced)
        if on_cuda:
            new_args = tuple(_to(v, "cpu") for v in new_args)
            new_kwargs = {k: _to(v, "cpu") for k, v in new_kwargs.items()}
        return new_args, new_kwargs

    host_args, host_kwargs = host_inputs()
    if pre_fn is not None and preprocess_threads is not None:
        pre_fn = _with_threads(pre_fn, preprocess_threads)
    if pre_fn is not None:
        fns["preprocess"] = pre_fn
    host_tensors = [v for v in (*host_args, *host_kwargs.values()) if isinstance(v, torch.Tensor)]
    copy_bytes = _tensor_bytes(host_tensors)

    def to_device(
        h_args: tuple[Any, ...], h_kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if not on_cuda:
            return h_args, h_kwargs
        return (
            tuple(_to(v, dev) for v in h_args),
            {k: _to(v, dev) for k, v in h_kwargs.items()},
        )

    if on_cuda:  # pragma: no cover - needs a GPU
        fns["host_to_device"] = lambda: to_device(host_args, host_kwargs)
        stages["host_to_device"] = _stage_entry(
            "measured",
            f"copy {copy_bytes} bytes of inputs to {dev} (pageable memory)",
            bytes=copy_bytes,
        )
    else:
        stages["host_to_device"] = _stage_entry(
            "not_applicable",
            "copy of the inputs to the device",
            "not applicable on cpu: the inputs already live in host memory (0 s)",
            bytes=0,
        )
        stages["host_to_device"]["median_s"] = 0.0

    dev_args, dev_kwargs = to_device(host_args, host_kwargs)

    def infer(a: tuple[Any, ...], k: dict[str, Any]) -> Any:
        with torch.no_grad():
            return model(*a, **k)

    try:
        output = infer(dev_args, dev_kwargs)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        hint = "; retry with preprocess='none'" if pre_fn is not None else ""
        what = "the preprocessed inputs" if pre_fn is not None else "its inputs"
        raise FlopwiseError(
            f"the model failed on {what} ({type(exc).__name__}: {first}){hint}"
        ) from exc
    fns["inference"] = lambda: infer(dev_args, dev_kwargs)
    stages["inference"] = _stage_entry("measured", "model forward under torch.no_grad()")

    post = choose_postprocess(output, text_tokenizer if kind == "text" else None)
    if post is None:
        stages["postprocess"] = _stage_entry(
            "skipped",
            "postprocessing",
            f"no postprocessing known for a {type(output).__name__} output",
        )
    else:
        post_fn, post_label = post
        post_fn(output)  # fail here, not mid-timing
        fns["postprocess"] = lambda: post_fn(output)
        stages["postprocess"] = _stage_entry("measured", post_label + " (result on the host)")

    if end_to_end:
        pre_inner = fns.get("preprocess")

        def whole() -> Any:
            produced = pre_inner() if pre_inner is not None else {}
            h_args, h_kwargs = _replace(host_args, host_kwargs, produced)
            d_args, d_kwargs = to_device(h_args, h_kwargs)
            out = infer(d_args, d_kwargs)
            return post[0](out) if post is not None else out

        fns["end_to_end"] = whole

    lats = measure_interleaved(
        fns,
        warmup=warmup,
        repeats=repeats,
        budget_s=DEFAULT_BUDGET_S if repeats is None and budget_s is None else budget_s,
        device=dev,
        progress=progress,
    )

    for name, lat in lats.items():
        if name in stages:
            stages[name].update(_latency_fields(lat))
            stages[name]["latency"] = lat.to_dict()

    times = {
        name: float(entry["median_s"])
        for name, entry in stages.items()
        if entry["median_s"] is not None
    }
    ordered_times = {name: times[name] for name in STAGES if name in times}
    shares = stage_shares(ordered_times)
    for name, share in shares.items():
        stages[name]["share"] = share
    total = math.fsum(ordered_times.values())

    e2e: dict[str, Any] | None = None
    if "end_to_end" in lats:
        lat = lats["end_to_end"]
        e2e = {
            "median_s": lat.median_s,
            "trustworthy": lat.trustworthy,
            "reason": lat.reason,
            "over_sum": lat.median_s / total if total > 0 else None,
            "latency": lat.to_dict(),
        }

    reasons = [
        f"{name}: {entry['reason']}"
        for name, entry in stages.items()
        if entry["status"] == "measured" and entry["trustworthy"] is False
    ]
    if kind == "text":
        notes.append(
            "tokenization uses " + input_info["tokenizer"] + "; the Python wrapper of a "
            "transformers tokenizer adds its own overhead on top"
        )
    if preprocess_threads is not None:
        notes.append(f"preprocessing ran with {preprocess_threads} intra-op thread(s)")
    if kind == "image" and on_cuda:  # pragma: no cover - needs a GPU
        notes.append("preprocessing runs on the host; its time is measured with CUDA events")

    return {
        "schema": SCHEMA,
        "device": dev,
        "threads": torch.get_num_threads(),
        "source": source or None,
        "kind": kind,
        "input": input_info,
        "order": list(STAGES),
        "stages": {name: stages[name] for name in STAGES},
        "shares": shares,
        "total_s": total,
        "end_to_end": e2e,
        "trustworthy": not reasons,
        "reasons": reasons,
        "notes": notes,
    }


def _to(value: Any, device: str) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value
