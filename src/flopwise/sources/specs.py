"""Input specs: the text form of a model input (``1x3x224x224``, ``input_ids=1x128:int64``)
and the tensors made from it.

Grammar (whitespace around the parts is ignored)::

    SPEC  := [NAME "="] DIMS [":" DTYPE] ["@" TOKEN "*" COUNT]
    DIMS  := INT ("x" INT)*          # "x", "X" or "×" between dimensions; each INT >= 1
    NAME  := a Python identifier     # the keyword the model's forward receives
    DTYPE := a torch dtype name or alias (fp32, fp16, bf16, int64, long, bool, ...)
    TOKEN := INT >= 0; COUNT := INT >= 1

An unnamed spec is passed positionally, a named one as a keyword. A spec without a dtype
takes the model's floating dtype, except for names that are integer by nature
(``input_ids``, ``attention_mask``, ``token_type_ids``, ``position_ids``, ...), which take
``int64``. ``@TOKEN*COUNT`` (integer inputs only) puts token id TOKEN at the first COUNT
positions of each row: the image placeholders a vision-language processor inserts
(``input_ids=1x704:int64@32000*576`` is Llava-1.5's 576 image tokens and 128 text tokens).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from flopwise.errors import BadInputSpec

__all__ = [
    "DTYPE_ALIASES",
    "InputSpec",
    "describe_inputs",
    "make_inputs",
    "normalize_example_inputs",
    "parse_dtype",
    "parse_input_spec",
    "parse_input_specs",
]

# Every spelling a user may type for a dtype. Canonical torch names are accepted too.
DTYPE_ALIASES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "f32": torch.float32,
    "float": torch.float32,
    "single": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "f16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float64": torch.float64,
    "fp64": torch.float64,
    "f64": torch.float64,
    "double": torch.float64,
    "int64": torch.int64,
    "i64": torch.int64,
    "long": torch.int64,
    "int32": torch.int32,
    "i32": torch.int32,
    "int": torch.int32,
    "int16": torch.int16,
    "i16": torch.int16,
    "short": torch.int16,
    "int8": torch.int8,
    "i8": torch.int8,
    "uint8": torch.uint8,
    "u8": torch.uint8,
    "byte": torch.uint8,
    "bool": torch.bool,
    "complex64": torch.complex64,
    "cfloat": torch.complex64,
    "complex128": torch.complex128,
    "cdouble": torch.complex128,
}
for _name, _attr in (
    ("float8_e4m3fn", "float8_e4m3fn"),
    ("fp8_e4m3", "float8_e4m3fn"),
    ("float8_e5m2", "float8_e5m2"),
    ("fp8_e5m2", "float8_e5m2"),
):
    if hasattr(torch, _attr):
        DTYPE_ALIASES[_name] = getattr(torch, _attr)

# Input names that hold integers (token ids, masks, positions) when no dtype is given.
INTEGER_INPUT_NAMES = frozenset(
    {
        "input_ids",
        "decoder_input_ids",
        "attention_mask",
        "decoder_attention_mask",
        "token_type_ids",
        "position_ids",
        "labels",
        "cache_position",
    }
)

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DIM_SPLIT_RE = re.compile(r"[xX×]")


@dataclass(frozen=True)
class InputSpec:
    """One model input: an optional keyword ``name``, a ``shape`` and an optional ``dtype``.

    ``dtype=None`` means "the model's floating dtype" (see :meth:`resolve_dtype`).
    ``str(spec)`` gives back the canonical text form, which :func:`parse_input_spec` reads.
    """

    shape: tuple[int, ...]
    name: str | None = None
    dtype: torch.dtype | None = None
    #: ``(token id, count)``: the first ``count`` positions of each row hold that token id
    #: (a vision-language model's image placeholders); the others are random ids that
    #: avoid it. None: every position random.
    placeholder: tuple[int, int] | None = None

    def resolve_dtype(self, float_dtype: torch.dtype | None = None) -> torch.dtype:
        """The dtype the tensor is made with: the spec's own, ``int64`` for integer-natured
        names (``input_ids``, ``attention_mask`` ...), else ``float_dtype`` (default: torch's
        default dtype)."""
        if self.dtype is not None:
            return self.dtype
        if self.name in INTEGER_INPUT_NAMES:
            return torch.int64
        return float_dtype if float_dtype is not None else torch.get_default_dtype()

    @property
    def numel(self) -> int:
        """Number of elements of the tensor this spec describes."""
        return math.prod(self.shape)

    def to_dict(self, float_dtype: torch.dtype | None = None) -> dict[str, Any]:
        """``{"name", "shape", "dtype"}`` with plain JSON types (dtype as ``"float32"``),
        plus ``"placeholder": {"token", "count"}`` when the spec has one."""
        out: dict[str, Any] = {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": dtype_name(self.resolve_dtype(float_dtype)),
        }
        if self.placeholder is not None:
            out["placeholder"] = {"token": self.placeholder[0], "count": self.placeholder[1]}
        return out

    def __str__(self) -> str:
        text = "x".join(str(d) for d in self.shape)
        if self.name:
            text = f"{self.name}={text}"
        if self.dtype is not None:
            text = f"{text}:{dtype_name(self.dtype)}"
        if self.placeholder is not None:
            text = f"{text}@{self.placeholder[0]}*{self.placeholder[1]}"
        return text


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float16`` -> ``"float16"``."""
    return str(dtype).removeprefix("torch.")


def parse_model_dtype(text: str) -> torch.dtype:
    """:func:`parse_dtype` for a model's ``--dtype``: an unknown name is refused naming the
    option (an input spec's dtype names its spec instead)."""
    try:
        return parse_dtype(text)
    except BadInputSpec as exc:
        raise BadInputSpec(f"--dtype: {exc}") from None


def parse_dtype(text: str) -> torch.dtype:
    """A dtype from its name or alias (``fp16``, ``bf16``, ``torch.int64``, ``long`` ...).

    Raises :class:`BadInputSpec` for an unknown name, listing close matches.
    """
    key = text.strip().lower().removeprefix("torch.")
    if key in DTYPE_ALIASES:
        return DTYPE_ALIASES[key]
    import difflib

    close = difflib.get_close_matches(key, DTYPE_ALIASES, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise BadInputSpec(
        f"unknown dtype {text.strip()!r}{hint}; use one of "
        "float32/fp32, float16/fp16, bfloat16/bf16, float64, int64/long, int32, int8, uint8, bool"
    )


def parse_input_spec(text: str) -> InputSpec:
    """Parse one spec: ``1x3x224x224``, ``input_ids=1x128:int64``, ``x=2x16:float16``.

    Raises :class:`BadInputSpec` (one line, quoting the text) for an empty spec, a bad name,
    a dimension that is not a positive integer, or an unknown dtype.
    """
    if not isinstance(text, str):
        raise BadInputSpec(f"input spec must be text like '1x3x224x224', got {type(text).__name__}")
    raw = text.strip()
    where = f"input spec {raw!r}"
    if not raw:
        raise BadInputSpec(
            "empty input spec; expected e.g. '1x3x224x224' or 'input_ids=1x128:int64'"
        )

    name: str | None = None
    body = raw
    placeholder = None
    if "@" in body:
        body, _, token_text = body.partition("@")
        placeholder = _parse_placeholder(token_text, where)
    if "=" in body:
        name, _, body = body.partition("=")
        name = name.strip()
        if not _NAME_RE.match(name):
            raise BadInputSpec(f"{where}: input name {name!r} is not a valid identifier")
    dtype: torch.dtype | None = None
    if ":" in body:
        body, _, dtype_text = body.partition(":")
        if not dtype_text.strip():
            raise BadInputSpec(f"{where}: missing dtype after ':'")
        try:
            dtype = parse_dtype(dtype_text)
        except BadInputSpec as exc:
            raise BadInputSpec(f"{where}: {exc}") from None
    body = body.strip()
    if not body:
        raise BadInputSpec(f"{where}: missing shape; expected dimensions like 1x128")

    dims: list[int] = []
    for part in _DIM_SPLIT_RE.split(body):
        part = part.strip()
        if not part:
            raise BadInputSpec(f"{where}: empty dimension; write dimensions like 1x3x224x224")
        try:
            value = int(part)
        except ValueError:
            raise BadInputSpec(
                f"{where}: dimension {part!r} is not an integer; write dimensions like 1x3x224x224"
            ) from None
        if value <= 0:
            raise BadInputSpec(f"{where}: dimension {value} must be a positive integer")
        dims.append(value)
    spec = InputSpec(shape=tuple(dims), name=name, dtype=dtype, placeholder=placeholder)
    _check_placeholder(spec)
    return spec


def _parse_placeholder(text: str, where: str) -> tuple[int, int]:
    """``TOKEN*COUNT`` after the ``@`` of a spec."""
    token_text, star, count_text = text.partition("*")
    try:
        token, count = int(token_text.strip()), int(count_text.strip())
    except ValueError:
        raise BadInputSpec(
            f"{where}: expected '@TOKEN*COUNT' after the shape (e.g. @32000*576: token id "
            "32000 at the first 576 positions)"
        ) from None
    if not star or token < 0 or count < 1:
        raise BadInputSpec(
            f"{where}: '@TOKEN*COUNT' needs a token id >= 0 and a count >= 1, got {text.strip()!r}"
        )
    return token, count


def _check_placeholder(spec: InputSpec, vocab_size: int | None = None) -> None:
    """A placeholder needs integer ids, room for its count in each row and (when the
    vocabulary is known) a token id inside it."""
    if spec.placeholder is None:
        return
    where = f"input spec {str(spec)!r}"
    token, count = spec.placeholder
    dtype = spec.resolve_dtype()
    if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool:
        raise BadInputSpec(f"{where}: '@TOKEN*COUNT' needs integer token ids (e.g. :int64)")
    if count > spec.shape[-1]:
        raise BadInputSpec(
            f"{where}: {count} placeholder tokens do not fit in rows of {spec.shape[-1]}"
        )
    if vocab_size and token >= vocab_size:
        raise BadInputSpec(
            f"{where}: placeholder token {token} is outside the vocabulary ({vocab_size} ids)"
        )


def parse_input_specs(texts: Iterable[str | InputSpec]) -> list[InputSpec]:
    """Parse several specs (strings or already-parsed :class:`InputSpec`) in order.

    Raises :class:`BadInputSpec` when one does not parse or a name appears twice.
    """
    specs = [t if isinstance(t, InputSpec) else parse_input_spec(t) for t in texts]
    seen: set[str] = set()
    for spec in specs:
        if spec.name is None:
            continue
        if spec.name in seen:
            raise BadInputSpec(f"input {spec.name!r} is given more than once")
        seen.add(spec.name)
    return specs


def make_inputs(
    specs: Sequence[InputSpec | str],
    device: str | torch.device = "cpu",
    *,
    float_dtype: torch.dtype | None = None,
    vocab_size: int | None = None,
    seed: int = 0,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Make the tensors ``specs`` describe; return ``(args, kwargs)`` for ``model(*args, **kwargs)``.

    Unnamed specs become positional arguments in their order, named ones keyword arguments.
    Values are random but deterministic for a given ``seed`` (the global RNG is untouched):

    - floating and complex inputs: standard normal (``randn``);
    - ``attention_mask`` (and ``*_attention_mask``) and ``bool`` inputs: all ones / True;
    - ``token_type_ids``: zeros; ``position_ids``/``cache_position``: ``0..n-1`` along the last dim;
    - other integer inputs (token ids): uniform in ``[0, vocab_size)`` when ``vocab_size`` is
      known, else in ``[0, 2)`` (valid for any embedding table); with a ``placeholder``
      the first ``count`` positions of each row are its token and the others avoid it.

    Raises :class:`BadInputSpec` for a placeholder on a non-integer input, longer than a
    row, or with a token outside ``[0, vocab_size)``.

    ``device="meta"`` makes meta tensors (shape and dtype only, nothing allocated).
    Specs without a dtype use ``float_dtype`` (default: torch's default dtype), see
    :meth:`InputSpec.resolve_dtype`.
    """
    parsed = parse_input_specs(specs)
    for spec in parsed:  # specs built in code (sweeps, loaders) skip the parser's check
        _check_placeholder(spec, vocab_size)
    device = torch.device(device)
    if device.type != "meta":
        _check_inputs_fit(parsed, device, float_dtype)
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for spec in parsed:
        dtype = spec.resolve_dtype(float_dtype)
        if device.type == "meta":
            tensor = torch.empty(spec.shape, dtype=dtype, device="meta")
        else:
            tensor = _fill(spec, dtype, vocab_size, generator).to(device)
        if spec.name is None:
            args.append(tensor)
        else:
            kwargs[spec.name] = tensor
    return tuple(args), kwargs


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` in bytes (CPU: MemAvailable; CUDA: free), None if unknown."""
    if device.type == "cpu":
        try:
            with open("/proc/meminfo", encoding="ascii") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None
    if device.type == "cuda" and torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return None


def _check_inputs_fit(
    specs: Sequence[InputSpec], device: torch.device, float_dtype: torch.dtype | None
) -> None:
    """Refuse inputs that cannot be allocated, before trying (a huge spec would otherwise
    fail deep in the allocator, or swap the machine to a halt)."""
    nbytes = 0
    for spec in specs:
        dtype = spec.resolve_dtype(float_dtype)
        # 1-byte floats are drawn in float32 first (see _fill)
        itemsize = 4 if dtype.is_floating_point and dtype.itemsize == 1 else dtype.itemsize
        nbytes += math.prod(spec.shape) * itemsize
    available = available_bytes(device)
    if available is not None and nbytes > 0.9 * available:
        shown = ", ".join(str(s) for s in specs)
        raise BadInputSpec(
            f"inputs {shown} need {_gib(nbytes)} on {device} but only {_gib(available)} is "
            "free; use --device meta to count without allocating them"
        )


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**40:.1f} TiB" if nbytes >= 2**40 else f"{nbytes / 2**30:.1f} GiB"


def _fill(
    spec: InputSpec, dtype: torch.dtype, vocab_size: int | None, generator: torch.Generator
) -> torch.Tensor:
    """A CPU tensor for ``spec`` (see :func:`make_inputs` for the value rules)."""
    shape = spec.shape
    name = spec.name or ""
    if dtype == torch.bool or name.endswith("attention_mask"):
        return torch.ones(shape, dtype=dtype)
    if dtype.is_floating_point or dtype.is_complex:
        if dtype.itemsize == 1:  # float8 has no randn kernel
            return torch.randn(shape, generator=generator).to(dtype)
        return torch.randn(shape, generator=generator, dtype=dtype)
    if name == "token_type_ids":
        return torch.zeros(shape, dtype=dtype)
    if name in ("position_ids", "cache_position"):
        return torch.arange(shape[-1], dtype=dtype).expand(shape).contiguous()
    high = vocab_size if vocab_size and vocab_size > 0 else 2
    if dtype != torch.int64:
        info = torch.iinfo(dtype)
        high = min(high, int(info.max) + 1)
    if spec.placeholder is None:
        return torch.randint(0, high, shape, generator=generator, dtype=torch.int64).to(dtype)
    token, count = spec.placeholder
    # Text ids avoid the placeholder (drawn from one id fewer, shifted past it), so the row
    # holds exactly ``count`` of them, as the model checks against its image features.
    avoid = 1 if token < high else 0
    ids = torch.randint(0, max(high - avoid, 1), shape, generator=generator, dtype=torch.int64)
    ids = ids + (ids >= token).to(torch.int64) * avoid
    ids[..., :count] = token
    return ids.to(dtype)


def normalize_example_inputs(example: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Turn a factory's example inputs into ``(args, kwargs)``.

    Accepts a tensor (one positional argument), a tuple/list (positional arguments), a
    mapping (keyword arguments), or an ``(args_tuple, kwargs_dict)`` pair.
    Raises :class:`BadInputSpec` for anything else.
    """
    if isinstance(example, torch.Tensor):
        return (example,), {}
    if isinstance(example, Mapping):
        return (), dict(example)
    if (
        isinstance(example, tuple)
        and len(example) == 2
        and isinstance(example[0], (tuple, list))
        and isinstance(example[1], Mapping)
    ):
        return tuple(example[0]), dict(example[1])
    if isinstance(example, (tuple, list)):
        return tuple(example), {}
    raise BadInputSpec(
        f"example inputs must be a tensor, a tuple of tensors or a dict, got {type(example).__name__}"
    )


def describe_inputs(args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``[{"name", "shape", "dtype"}]`` for the tensors among ``args`` then ``kwargs``
    (positional ones have ``name=None``; non-tensor arguments are left out)."""
    out: list[dict[str, Any]] = []
    for value in args:
        if isinstance(value, torch.Tensor):
            out.append({"name": None, "shape": list(value.shape), "dtype": dtype_name(value.dtype)})
    for key, value in kwargs.items():
        if isinstance(value, torch.Tensor):
            out.append({"name": key, "shape": list(value.shape), "dtype": dtype_name(value.dtype)})
    return out
