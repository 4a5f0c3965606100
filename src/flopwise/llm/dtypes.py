"""Storage widths of the dtypes the LLM model prices, in bits (int4 packs two per byte)."""

from __future__ import annotations

from dataclasses import dataclass

from flopwise.errors import FlopwiseError

_BITS = {
    "float64": 64,
    "float32": 32,
    "tfloat32": 32,
    "bfloat16": 16,
    "float16": 16,
    "float8": 8,
    "int8": 8,
    "uint8": 8,
    "int4": 4,
    "nf4": 4,
    "fp4": 4,
}

_ALIASES = {
    "fp64": "float64",
    "double": "float64",
    "fp32": "float32",
    "tf32": "tfloat32",  # the hardware profiles' key for the TF32 tensor-core peak
    "float": "float32",
    "bf16": "bfloat16",
    "fp16": "float16",
    "half": "float16",
    "fp8": "float8",
    "float8_e4m3fn": "float8",
    "float8_e5m2": "float8",
    "e4m3": "float8",
    "e5m2": "float8",
    "i8": "int8",
    "i4": "int4",
    "uint4": "int4",
    "mxfp4": "fp4",
}


# Storage formats with no arithmetic of their own: weights or KV held in them are
# dequantized to a compute dtype (bitsandbytes' nf4, packed uint8/4-bit), so they are a
# --weight-dtype or --kv-dtype, never a --dtype.
STORAGE_ONLY = ("nf4", "uint8")


def canonical_dtype(name: str) -> str:
    """Canonical dtype name (``bf16`` → ``bfloat16``, ``fp8`` → ``float8``)."""
    key = str(name).lower().removeprefix("torch.")
    key = _ALIASES.get(key, key)
    if key not in _BITS:
        raise FlopwiseError(f"unknown dtype {name!r}; known: {', '.join(sorted(_BITS))}")
    return key


def dtype_bits(name: str) -> int:
    """Bits per element of a dtype name."""
    return _BITS[canonical_dtype(name)]


def nbytes(elements: int, bits: int) -> int:
    """Bytes of ``elements`` values of ``bits`` each, rounded up to a whole byte."""
    return -(-elements * bits // 8)


@dataclass(frozen=True)
class Precision:
    """Dtypes of the three kinds of data an LLM moves.

    ``compute`` is the activation and arithmetic dtype (it picks the hardware peak);
    ``weights`` and ``kv`` may be narrower (weight-only / KV-cache quantization), which
    changes bytes, never flops.
    """

    compute: str = "bfloat16"
    weights: str | None = None
    kv: str | None = None

    def __post_init__(self) -> None:
        compute = canonical_dtype(self.compute)
        if compute in STORAGE_ONLY:
            raise FlopwiseError(
                f"--dtype = {self.compute!r}: {compute} is a storage format, not a compute "
                f"dtype; give it as --weight-dtype or --kv-dtype (computed at --dtype)"
            )
        object.__setattr__(self, "compute", compute)
        object.__setattr__(self, "weights", canonical_dtype(self.weights or self.compute))
        object.__setattr__(self, "kv", canonical_dtype(self.kv or self.compute))

    @property
    def act_bits(self) -> int:
        return dtype_bits(self.compute)

    @property
    def weight_bits(self) -> int:
        return dtype_bits(self.weights)

    @property
    def kv_bits(self) -> int:
        return dtype_bits(self.kv)
