"""α-FLOPs: a per-layer correction for how parallel hardware spends time along each input axis.

Asperti, Evangelista and Marzolla ("Dissecting FLOPs along input dimensions for GreenAI cost
estimations", 2021) observed that on parallel hardware the spatial size of a layer's output
is much cheaper per MAC than its channels or kernel: the S output positions are computed in
parallel, so doubling S costs far less than doubling the work along a sequential axis. They
correct the MAC count of a convolution with output spatial size ``S = H·W`` and kernel area
``K = K1·K2`` by

    S_K = ln(K) + 1
    α(S, K; β, γ) = ((S_K + β·(S − S_K)) / S) ** γ

with one pair (β, γ) for pointwise kernels (K = 1) and one for larger kernels (K > 1). For a
dense layer the batch plays the role of S (and K = 1). α is deliberately not clamped: when
``S < S_K`` it exceeds 1.

The paper counts a multiply-add once, so its "α-FLOPs" are what flopwise calls **α-MACs**
(``α · macs``); ``α · flops`` is **α-flops**. Everything here is a pure function of shapes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

__all__ = [
    "DEFAULT_CONSTANTS",
    "PUBLISHED_LABEL",
    "AlphaConstants",
    "LayerGeometry",
    "alpha",
    "alpha_array",
    "alpha_flops",
    "alpha_macs",
    "alpha_totals",
    "host_alpha_constants",
    "kernel_log_size",
    "layer_geometry",
    "record_alpha",
    "record_alpha_macs",
]

SCHEMA = "flopwise.alpha/1"

# Ops whose records are a convolution layer (forward). Names are flopwise op keys
# ("aten.convolution") with the "aten." prefix and any overload suffix removed.
_CONV_OPS = frozenset(
    {
        "convolution",
        "_convolution",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "cudnn_convolution",
        "cudnn_convolution_transpose",
        "mkldnn_convolution",
        "miopen_convolution",
        "convolution_overrideable",
        "_slow_conv2d_forward",
        "slow_conv3d_forward",
        "slow_conv_transpose2d",
        "slow_conv_transpose3d",
        "thnn_conv2d",
        "_nnpack_spatial_convolution",
    }
)
# Ops whose records are a dense (fully connected) layer: a 2-D product [M, K] @ [K, N] whose
# M rows (batch, or batch × tokens) play S.
_DENSE_OPS = frozenset({"mm", "addmm", "linear", "_addmm_activation"})


class _Tensorish(Protocol):
    shape: tuple[int, ...]


class _Recordish(Protocol):
    op: str
    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    macs: int
    flops: int


@dataclass(frozen=True)
class AlphaConstants:
    """Per-hardware α constants: (β, γ) per kernel class and an optional time scale.

    ``seconds_per_mac`` turns α-MACs into a time estimate (``t ≈ s · α · macs``); it is
    ``None`` for the authors' constants, which were published without one. ``source`` says
    where the constants come from; ``fit`` carries the fit's diagnostics when they were
    fitted (number of layers, correlations), and is informational only.
    """

    beta_k1: float = 0.02
    gamma_k1: float = 0.99
    beta_kn: float = 0.001
    gamma_kn: float = 0.56
    seconds_per_mac: float | None = None
    source: str = "Asperti, Evangelista, Marzolla 2021 (NVIDIA Quadro T2000)"
    fit: dict[str, Any] | None = field(default=None, compare=False)

    def for_kernel(self, kernel_area: float) -> tuple[float, float]:
        """(β, γ) of the class a kernel of area ``kernel_area`` belongs to."""
        if kernel_area <= 1:
            return self.beta_k1, self.gamma_k1
        return self.beta_kn, self.gamma_kn

    @property
    def macs_per_second(self) -> float | None:
        """The time scale as a rate: α-MACs per second (1 / ``seconds_per_mac``), None
        without a time scale."""
        return None if not self.seconds_per_mac else 1 / self.seconds_per_mac

    def with_time_scale(self, seconds_per_mac: float | None) -> AlphaConstants:
        """A copy with another time scale."""
        return replace(self, seconds_per_mac=seconds_per_mac)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in a hardware profile's ``alpha`` field."""
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "k1": {"beta": float(self.beta_k1), "gamma": float(self.gamma_k1)},
            "k_gt1": {"beta": float(self.beta_kn), "gamma": float(self.gamma_kn)},
            "seconds_per_mac": None
            if self.seconds_per_mac is None
            else float(self.seconds_per_mac),
            "source": self.source,
        }
        if self.fit is not None:
            out["fit"] = self.fit
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AlphaConstants:
        """Inverse of :meth:`to_dict`; ``None`` or ``{}`` gives the authors' constants."""
        if not data:
            return cls()
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise ValueError(f"unsupported α constants schema {schema!r} (expected {SCHEMA})")
        k1 = data.get("k1", {})
        kn = data.get("k_gt1", {})
        default = cls()
        spm = data.get("seconds_per_mac")
        return cls(
            beta_k1=float(k1.get("beta", default.beta_k1)),
            gamma_k1=float(k1.get("gamma", default.gamma_k1)),
            beta_kn=float(kn.get("beta", default.beta_kn)),
            gamma_kn=float(kn.get("gamma", default.gamma_kn)),
            seconds_per_mac=None if spm is None else float(spm),
            source=str(data.get("source", "unknown")),
            fit=data.get("fit"),
        )


DEFAULT_CONSTANTS = AlphaConstants()

#: The label of :data:`DEFAULT_CONSTANTS` wherever a result says which constants it used.
PUBLISHED_LABEL = "published (Asperti et al. 2021, Quadro T2000)"


def host_alpha_constants() -> tuple[AlphaConstants, str]:
    """The α constants every command uses, and one label saying which they are.

    This host's constants when ``flopwise fit-alpha`` stored them in its measured (cpu)
    hardware profile (label ``"fitted on this host (<profile source>)"``), else the
    authors' published ones (:data:`PUBLISHED_LABEL`). Never measures anything: a missing
    or unreadable host profile just means the published constants."""
    try:
        # read only: the profile registry lives in measure (analysis may import it)
        from flopwise.measure.hardware import get_profile

        host = get_profile("host", measure_if_missing=False)
        if host.alpha:
            return AlphaConstants.from_dict(host.alpha), f"fitted on this host ({host.source})"
    except Exception:  # no host profile yet, or a broken cache: the published constants
        pass
    return DEFAULT_CONSTANTS, PUBLISHED_LABEL


def kernel_log_size(kernel_area: float) -> float:
    """S_K = ln(K) + 1, the paper's effective size of a kernel of area K (1 for K = 1)."""
    if kernel_area < 1:
        raise ValueError(f"kernel area must be >= 1, got {kernel_area}")
    return math.log(kernel_area) + 1.0


def alpha(spatial: float, kernel_area: float, beta: float, gamma: float) -> float:
    """α(S, K; β, γ) = ((S_K + β·(S − S_K)) / S) ** γ with S_K = ln(K) + 1 (not clamped).

    ``spatial`` is S (output H·W of a convolution, the batch of a dense layer), ``kernel_area``
    is K = K1·K2. Raises ``ValueError`` for S < 1 or K < 1.
    """
    if spatial < 1:
        raise ValueError(f"spatial size S must be >= 1, got {spatial}")
    sk = kernel_log_size(kernel_area)
    return ((sk + beta * (spatial - sk)) / spatial) ** gamma


def alpha_array(
    spatial: Any, kernel_area: Any, constants: AlphaConstants = DEFAULT_CONSTANTS
) -> np.ndarray:
    """Vectorised α over arrays of S and K, each element using its kernel class's (β, γ)."""
    s = np.asarray(spatial, dtype=float)
    k = np.asarray(kernel_area, dtype=float)
    if np.any(s < 1) or np.any(k < 1):
        raise ValueError("S and K must be >= 1")
    pointwise = k <= 1
    beta = np.where(pointwise, constants.beta_k1, constants.beta_kn)
    gamma = np.where(pointwise, constants.gamma_k1, constants.gamma_kn)
    sk = np.log(k) + 1.0
    return ((sk + beta * (s - sk)) / s) ** gamma


def alpha_macs(
    macs: float, spatial: float, kernel_area: float, constants: AlphaConstants = DEFAULT_CONSTANTS
) -> float:
    """α · macs: the paper's "α-FLOPs" (it counts a multiply-add once)."""
    return alpha(spatial, kernel_area, *constants.for_kernel(kernel_area)) * macs


def alpha_flops(
    flops: float, spatial: float, kernel_area: float, constants: AlphaConstants = DEFAULT_CONSTANTS
) -> float:
    """α · flops (a multiply-add counted as 2 flops, as everywhere else in flopwise)."""
    return alpha(spatial, kernel_area, *constants.for_kernel(kernel_area)) * flops


# -- op records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerGeometry:
    """What α needs from one op: its kind ("conv" or "dense"), S and K."""

    kind: str
    spatial: int
    kernel_area: int


def _base_name(op: str) -> str:
    name = op.removeprefix("aten.")
    return name.split(".", 1)[0]


def layer_geometry(record: _Recordish, include_backward: bool = False) -> LayerGeometry | None:
    """S and K of a convolution or dense-layer record, ``None`` for any other op.

    - convolution (any dimensionality, transposed, grouped): S = product of the output's
      spatial dims (``outputs[0].shape[2:]``), K = product of the weight's kernel dims
      (``inputs[1].shape[2:]``). The batch N multiplies the MACs, not S.
    - dense (``mm``, ``addmm``, ``linear``): S = the output's rows (batch, or batch × tokens
      once flattened), K = 1.

    Backward-phase records get ``None`` unless ``include_backward``: the paper defines α for
    forward layers only.
    """
    if not include_backward and getattr(record, "phase", "forward") == "backward":
        return None
    name = _base_name(record.op)
    outputs = record.outputs
    if not outputs:
        return None
    out_shape = tuple(outputs[0].shape)
    if name in _CONV_OPS:
        if len(record.inputs) < 2 or len(out_shape) < 3:
            return None
        weight_shape = tuple(record.inputs[1].shape)
        spatial = math.prod(out_shape[2:])
        kernel = math.prod(weight_shape[2:]) if len(weight_shape) > 2 else 1
        if spatial < 1 or kernel < 1:
            return None
        return LayerGeometry("conv", int(spatial), int(kernel))
    if name in _DENSE_OPS:
        if len(out_shape) < 1:
            return None
        rows = math.prod(out_shape[:-1]) if len(out_shape) > 1 else 1
        if rows < 1:
            return None
        return LayerGeometry("dense", int(rows), 1)
    return None


def record_alpha(
    record: _Recordish,
    constants: AlphaConstants = DEFAULT_CONSTANTS,
    include_backward: bool = False,
) -> float | None:
    """α of a conv/dense op record (:class:`flopwise.capture.records.OpRecord`), else ``None``."""
    geom = layer_geometry(record, include_backward=include_backward)
    if geom is None:
        return None
    return alpha(geom.spatial, geom.kernel_area, *constants.for_kernel(geom.kernel_area))


def record_alpha_macs(
    record: _Recordish,
    constants: AlphaConstants = DEFAULT_CONSTANTS,
    include_backward: bool = False,
) -> float | None:
    """α · macs of a conv/dense record, ``None`` for other ops (α · flops is
    :func:`record_alpha` times ``record.flops``)."""
    a = record_alpha(record, constants, include_backward)
    return None if a is None else a * record.macs


def alpha_totals(
    profile_or_ops: Any,
    constants: AlphaConstants = DEFAULT_CONSTANTS,
    include_backward: bool = False,
) -> dict[str, Any]:
    """α totals of a profile (anything with ``.ops``) or an iterable of op records.

    Returns a JSON-ready dict:
    ``alpha_macs`` / ``alpha_flops`` (over conv and dense layers), ``layer_macs`` /
    ``layer_flops`` (the plain counts of the same layers), ``other_macs`` / ``other_flops``
    (every other counted op, e.g. attention matmuls, uncorrected), ``layers`` (how many
    records got an α), ``effective_alpha`` (alpha_macs / layer_macs) and, when the constants
    carry a time scale, ``predicted_seconds`` (s · alpha_macs, layers only), plus the
    constants themselves so a reader knows which α was used.
    """
    ops: Iterable[Any] = getattr(profile_or_ops, "ops", profile_or_ops)
    a_macs = a_flops = 0.0
    layer_macs = layer_flops = other_macs = other_flops = 0
    layers = 0
    for rec in ops:
        a = record_alpha(rec, constants, include_backward)
        if a is None:
            other_macs += int(rec.macs)
            other_flops += int(rec.flops)
            continue
        layers += 1
        a_macs += a * rec.macs
        a_flops += a * rec.flops
        layer_macs += int(rec.macs)
        layer_flops += int(rec.flops)
    out: dict[str, Any] = {
        "alpha_macs": a_macs,
        "alpha_flops": a_flops,
        "layer_macs": layer_macs,
        "layer_flops": layer_flops,
        "other_macs": other_macs,
        "other_flops": other_flops,
        "layers": layers,
        "effective_alpha": a_macs / layer_macs if layer_macs else None,
        "constants": constants.to_dict(),
    }
    if constants.seconds_per_mac is not None:
        out["predicted_seconds"] = constants.seconds_per_mac * a_macs
    return out
