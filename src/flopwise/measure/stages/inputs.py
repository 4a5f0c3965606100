"""The synthetic raw inputs a preprocess stage starts from: a photo-like camera image
encoded in memory, English-like texts, and the tokenizer that turns them into ids (a local
``tokenizer.json`` or a byte-level BPE trained in memory). Deterministic; nothing is
downloaded."""

from __future__ import annotations

import functools
import io
import random
from pathlib import Path
from typing import Any

from flopwise.errors import FlopwiseError

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "IN_MEMORY_VOCAB",
    "image_format_name",
    "in_memory_tokenizer",
    "load_tokenizer",
    "make_image_bytes",
    "synthetic_texts",
]

#: (width, height) of the synthetic camera image, VGA.
DEFAULT_IMAGE_SIZE = (640, 480)
#: Vocabulary of the in-memory byte-level BPE.
IN_MEMORY_VOCAB = 2000


# -- images ---------------------------------------------------------------------------------


def require_pil() -> Any:
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

    image_mod = require_pil()
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    fmt_name = image_format_name(fmt)
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


def image_format_name(fmt: str) -> str:
    name = fmt.strip().lower()
    if name in ("jpeg", "jpg"):
        return "JPEG"
    if name == "png":
        return "PNG"
    raise FlopwiseError(f"image format must be jpeg or png, got {fmt!r}")


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


def load_tokenizer(tokenizer: Any) -> tuple[Any | None, str]:
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
