"""Latency prediction without running the model: a roofline cost model calibrated on this
machine's measurements.

The model (Lavin 2024's "ops / (efficiency · peak)" per layer, with FasterNet's memory
term and a per-op dispatch cost) prices every op record of a profile on its own and adds
them up, since eager ops run one after another::

    t_op = max(flops / (e_class · peak · size_factor),  bytes / (e_bw · bandwidth(bytes)))
           + overhead
    t_model = Σ t_op + free_overhead · (ops that move nothing: views, reshapes, ...)

- ``peak`` and ``bandwidth(bytes)`` are the hardware profile's ceilings (the dtype's dense
  peak; the cache-aware copy bandwidth of :meth:`HardwareProfile.bandwidth_for`), exactly
  the terms of :func:`flopwise.analysis.roofline.op_floor`, so with every efficiency at 1
  and no overhead the prediction is the roofline floor (the waterline).
- ``e_class`` is a compute efficiency per op class (:data:`CLASSES`: dense convolution,
  grouped/depthwise convolution, matmul, attention, elementwise, norm, ...), ``e_bw`` one
  bandwidth efficiency.
- ``size_factor = (S / S_REF) ** δ_class`` is an α-FLOPs-style size correction for
  convolutions and dense layers (S = output positions of a convolution, rows of a dense
  layer, as in :func:`flopwise.analysis.alpha.layer_geometry`): parallel hardware runs a
  layer with more independent positions at a higher rate. δ = 0 switches it off.

The parameters are fitted by least squares on log time (so a 10% miss counts the same on
a 1 ms model and a 1 s one) over a calibration set of measured per-model or per-op times,
with a weak pull towards default values so classes the calibration data cannot identify
keep sensible efficiencies. Leave-one-group-out cross-validation (a group = one model and
all its configurations) says how well it predicts a model it has not seen.

Everything here is a pure function of op records, hardware profiles and numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flopwise.analysis.alpha import layer_geometry
from flopwise.analysis.roofline import op_floor
from flopwise.analysis.stats import kendall_tau_b, mape, pearson, spearman

__all__ = [
    "CLASSES",
    "SIZE_CLASSES",
    "S_REF",
    "CostModel",
    "OpFeatures",
    "Sample",
    "Calibration",
    "CrossValidation",
    "Prediction",
    "default_model",
    "op_class",
    "features",
    "calibrate",
    "cross_validate",
    "cross_validate_flops_baseline",
    "fit_flops_scale",
    "leave_one_group_out",
    "predict",
    "shares",
    "summarize_errors",
]

SCHEMA = "flopwise.cost_model/1"

#: Op classes with their own compute efficiency.
CLASSES = (
    "conv",
    "conv_1x1",
    "conv_grouped",
    "matmul",
    "attention",
    "elementwise",
    "norm",
    "softmax",
    "reduction",
    "pool",
    "fft",
    "memory",
)
#: Classes that get the α-style size correction.
SIZE_CLASSES = ("conv", "conv_1x1", "conv_grouped", "matmul")
#: Index in θ of ln(p - 1), the overlap exponent.
_P = len(CLASSES) + 3 + len(SIZE_CLASSES)
#: Index in θ of the first depth exponent (one per size class).
_R = _P + 1
#: Reference reduction depth of the depth correction.
R_REF = 256.0
#: Reference size of the size correction (S at which size_factor = 1).
S_REF = 1024.0

_ATTENTION_MARKERS = ("scaled_dot_product", "multi_head_attention", "flash_attention")


def op_class(record: Any) -> str | None:
    """The cost-model class of an op record, or ``None`` for an op that does no work (no
    flops, no bytes: views, reshapes, metadata), which only costs ``free_overhead_s``.

    Convolutions whose weight has fewer input channels than the input (groups > 1, e.g.
    depthwise) are ``conv_grouped``: on most hardware they run far below a dense
    convolution's rate at equal flops. Pointwise (1×1 kernel) dense convolutions are
    ``conv_1x1``, the other kernel class of α-FLOPs: a GEMM over the positions, with a much
    lower arithmetic intensity than larger kernels.
    """
    flops = int(getattr(record, "flops", 0) or 0)
    nbytes = int(getattr(record, "bytes_read", 0) or 0) + int(
        getattr(record, "bytes_written", 0) or 0
    )
    if flops == 0 and nbytes == 0:
        return None
    op = str(getattr(record, "op", ""))
    category = str(getattr(record, "category", "") or "")
    if category == "contraction":
        if any(m in op for m in _ATTENTION_MARKERS):
            return "attention"
        if "conv" in op:
            ins = getattr(record, "inputs", ())
            if len(ins) >= 2 and len(ins[0].shape) >= 3 and len(ins[1].shape) >= 2:
                cin = ins[0].shape[1]
                w_cin = ins[1].shape[1]
                if "transpose" not in op and w_cin and cin != w_cin:
                    return "conv_grouped"
                if math.prod(ins[1].shape[2:]) == 1:
                    return "conv_1x1"
            return "conv"
        return "matmul"
    if category in CLASSES:
        return category
    return "memory" if flops == 0 else "elementwise"


@dataclass
class OpFeatures:
    """What the cost model reads from the op records of one run, on one hardware profile.

    Arrays have one entry per op that does work: ``cls`` (index into :data:`CLASSES`),
    ``compute_s`` (flops / peak), ``memory_s`` (bytes / bandwidth), ``log_size``
    (ln(S / S_REF) for conv/dense layers, 0 otherwise). ``free_ops`` counts ops that move
    nothing; ``flops`` and ``bytes`` are totals.
    """

    cls: np.ndarray
    compute_s: np.ndarray
    memory_s: np.ndarray
    log_size: np.ndarray
    free_ops: int
    flops: int
    bytes: int
    modules: list[str] = field(default_factory=list)
    log_depth: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.log_depth is None:
            self.log_depth = np.zeros(self.cls.size)

    @property
    def n_ops(self) -> int:
        return int(self.cls.size)

    @property
    def floor_s(self) -> float:
        """The plain roofline floor (waterline): Σ max(compute, memory)."""
        return float(np.maximum(self.compute_s, self.memory_s).sum())


def features(ops: Iterable[Any], hw: Any, *, phase: str | None = None) -> OpFeatures:
    """Features of op records on hardware profile ``hw`` (anything with ``peak_for`` and
    ``memory_bandwidth``, optionally ``bandwidth_for``). ``phase`` keeps only records of
    that phase (``"forward"``/``"backward"``); None keeps all."""
    cls, comp, mem, size, modules, depth = [], [], [], [], [], []
    free = 0
    total_flops = total_bytes = 0
    index = {c: i for i, c in enumerate(CLASSES)}
    for rec in ops:
        if phase is not None and getattr(rec, "phase", "forward") != phase:
            continue
        total_flops += int(rec.flops)
        total_bytes += int(rec.bytes_read) + int(rec.bytes_written)
        kind = op_class(rec)
        if kind is None:
            free += 1
            continue
        fl = op_floor(rec, hw)
        path = str(getattr(rec, "module_path", ""))
        split = _fused_mha_split(rec) if kind == "attention" else None
        if split is not None:
            # The fused nn.MultiheadAttention fast path: its q/k/v and output projections
            # are ordinary matmuls (priced as such, with the size correction on their
            # rows), the rest is attention; time, flops and bytes split by flops.
            share, rows = split
            cls += [index["matmul"], index["attention"]]
            comp += [fl.compute_s * share, fl.compute_s * (1 - share)]
            mem += [fl.memory_s * share, fl.memory_s * (1 - share)]
            size += [math.log(max(rows, 1) / S_REF), 0.0]
            modules += [path, path]
            depth += [math.log(max(rec.inputs[0].shape[-1], 1) / R_REF), 0.0]
            continue
        cls.append(index[kind])
        comp.append(fl.compute_s)
        mem.append(fl.memory_s)
        u = 0.0
        if kind in SIZE_CLASSES:
            geom = layer_geometry(rec, include_backward=True)
            if geom is not None:
                u = math.log(max(geom.spatial, 1) / S_REF)
        size.append(u)
        modules.append(path)
        depth.append(_log_depth(rec, kind))
    return OpFeatures(
        cls=np.asarray(cls, dtype=np.int64),
        compute_s=np.asarray(comp, dtype=float),
        memory_s=np.asarray(mem, dtype=float),
        log_size=np.asarray(size, dtype=float),
        free_ops=free,
        flops=total_flops,
        bytes=total_bytes,
        modules=modules,
        log_depth=np.asarray(depth, dtype=float),
    )


def _log_depth(record: Any, kind: str) -> float:
    """ln(reduction depth / R_REF) of a conv or matmul record (0 for other ops): the
    length of each output element's dot product, (C_in / groups) · kernel area for a
    convolution and K for a matmul."""
    if kind not in SIZE_CLASSES:
        return 0.0
    ins = getattr(record, "inputs", ())
    try:
        if kind.startswith("conv"):
            weight = ins[1].shape
            depth = math.prod(weight[1:])
        else:
            op = str(getattr(record, "op", ""))
            first = ins[1] if ("addmm" in op or "baddbmm" in op) and len(ins) > 2 else ins[0]
            depth = first.shape[-1]
    except (IndexError, AttributeError):
        return 0.0
    return math.log(max(int(depth), 1) / R_REF)


def _fused_mha_split(record: Any) -> tuple[float, int] | None:
    """(share of the flops in the projections, projection rows) of a fused
    ``_native_multi_head_attention`` record, else None."""
    if "multi_head_attention" not in str(getattr(record, "op", "")):
        return None
    ins = getattr(record, "inputs", ())
    if len(ins) < 6 or not record.flops:
        return None
    query, key = ins[0].shape, ins[1].shape
    if len(query) < 2 or len(key) < 2:
        return None
    embed = query[-1]
    lq = query[-2]
    lk = key[-2]
    batch = math.prod(query[:-2]) if len(query) > 2 else 1
    proj = 2 * batch * (lq + 2 * lk + lq) * embed * embed
    share = min(1.0, proj / record.flops)
    return share, batch * lq


@dataclass
class Sample:
    """One measured (or to-be-predicted) run: its features, measured seconds, and the group
    it belongs to for cross-validation (normally the model's name)."""

    features: OpFeatures
    measured_s: float | None = None
    group: str = ""
    name: str = ""

    @classmethod
    def from_ops(
        cls,
        ops: Iterable[Any],
        hw: Any,
        *,
        measured_s: float | None = None,
        group: str = "",
        name: str = "",
        phase: str | None = None,
    ) -> Sample:
        """A sample from op records (a profile's ``.ops``, or a single op for per-op data)."""
        return cls(features(ops, hw, phase=phase), measured_s, group, name)

    @property
    def floor_s(self) -> float:
        return self.features.floor_s

    @property
    def flops(self) -> int:
        return self.features.flops


# -- the model ----------------------------------------------------------------------------


@dataclass
class CostModel:
    """The parameters of the cost model (see the module docstring).

    ``compute_eff`` per class of :data:`CLASSES`; ``bandwidth_eff``; ``overhead_s`` per op
    doing work; ``free_overhead_s`` per op moving nothing; ``size_exponent`` (δ) per class
    of :data:`SIZE_CLASSES`. ``source`` says where the values come from.
    """

    compute_eff: dict[str, float]
    bandwidth_eff: float
    overhead_s: float
    free_overhead_s: float
    size_exponent: dict[str, float] = field(default_factory=dict)
    overlap: float = math.inf
    depth_exponent: dict[str, float] = field(default_factory=dict)
    source: str = "defaults"

    # -- vector form used by the fit ------------------------------------------------------
    def _theta(self) -> np.ndarray:
        return np.array(
            [math.log(self.compute_eff[c]) for c in CLASSES]
            + [
                math.log(self.bandwidth_eff),
                math.log(self.overhead_s),
                math.log(self.free_overhead_s),
            ]
            + [self.size_exponent.get(c, 0.0) for c in SIZE_CLASSES]
            + [_overlap_to_theta(self.overlap)]
            + [self.depth_exponent.get(c, 0.0) for c in SIZE_CLASSES]
        )

    @classmethod
    def _from_theta(cls, theta: np.ndarray, source: str) -> CostModel:
        n = len(CLASSES)
        return cls(
            compute_eff={c: float(math.exp(theta[i])) for i, c in enumerate(CLASSES)},
            bandwidth_eff=float(math.exp(theta[n])),
            overhead_s=float(math.exp(theta[n + 1])),
            free_overhead_s=float(math.exp(theta[n + 2])),
            size_exponent={
                c: max(float(theta[n + 3 + i]), 0.0) for i, c in enumerate(SIZE_CLASSES)
            },
            overlap=_theta_to_overlap(float(theta[_P])),
            depth_exponent={c: float(theta[_R + i]) for i, c in enumerate(SIZE_CLASSES)},
            source=source,
        )

    # -- prediction -------------------------------------------------------------------------
    def op_times(self, feats: OpFeatures) -> np.ndarray:
        """Predicted seconds of every op doing work (without the free ops)."""
        return _op_times(
            self._theta(),
            feats.cls,
            feats.compute_s,
            feats.memory_s,
            feats.log_size,
            feats.log_depth,
        )

    def predict_s(self, feats: OpFeatures) -> float:
        """Predicted seconds of one run."""
        return float(self.op_times(feats).sum() + feats.free_ops * self.free_overhead_s)

    @property
    def params(self) -> dict[str, float]:
        """Flat ``{name: value}`` view (for tables)."""
        out = {f"efficiency {c}": v for c, v in self.compute_eff.items()}
        out["bandwidth efficiency"] = self.bandwidth_eff
        out["overhead per op (s)"] = self.overhead_s
        out["overhead per free op (s)"] = self.free_overhead_s
        for c, v in self.size_exponent.items():
            out[f"size exponent {c}"] = v
        for c, v in self.depth_exponent.items():
            out[f"depth exponent {c}"] = v
        out["overlap exponent p"] = self.overlap
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "compute_eff": dict(self.compute_eff),
            "bandwidth_eff": self.bandwidth_eff,
            "overhead_s": self.overhead_s,
            "free_overhead_s": self.free_overhead_s,
            "size_exponent": dict(self.size_exponent),
            "size_ref": S_REF,
            "depth_exponent": dict(self.depth_exponent),
            "depth_ref": R_REF,
            "overlap": None if math.isinf(self.overlap) or self.overlap > 1e6 else self.overlap,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostModel:
        if data.get("schema", SCHEMA) != SCHEMA:
            raise ValueError(f"unsupported cost model schema {data.get('schema')!r}")
        base = default_model("cpu")
        eff = dict(base.compute_eff)
        eff.update({k: float(v) for k, v in (data.get("compute_eff") or {}).items()})
        return cls(
            compute_eff=eff,
            bandwidth_eff=float(data.get("bandwidth_eff", base.bandwidth_eff)),
            overhead_s=float(data.get("overhead_s", base.overhead_s)),
            free_overhead_s=float(data.get("free_overhead_s", base.free_overhead_s)),
            size_exponent={k: float(v) for k, v in (data.get("size_exponent") or {}).items()},
            overlap=math.inf if data.get("overlap") is None else float(data["overlap"]),
            depth_exponent={k: float(v) for k, v in (data.get("depth_exponent") or {}).items()},
            source=str(data.get("source", "unknown")),
        )


#: Default efficiencies, documented in docs/predict.md. CPU: eager PyTorch on a few cores
#: (oneDNN convolutions, MKL/oneDNN GEMM; elementwise and norm kernels memory-bound).
#: GPU: eager PyTorch on a datacenter GPU (cuDNN/cuBLAS at large sizes, launch-bound
#: small ops).
_DEFAULT_EFF = {
    "cpu": {
        "conv": 0.5,
        "conv_1x1": 0.5,
        "conv_grouped": 0.05,
        "matmul": 0.6,
        "attention": 0.3,
        "elementwise": 0.1,
        "norm": 0.1,
        "softmax": 0.05,
        "reduction": 0.1,
        "pool": 0.1,
        "fft": 0.1,
        "memory": 1.0,
    },
    "gpu": {
        "conv": 0.5,
        "conv_1x1": 0.5,
        "conv_grouped": 0.05,
        "matmul": 0.7,
        "attention": 0.4,
        "elementwise": 0.5,
        "norm": 0.5,
        "softmax": 0.3,
        "reduction": 0.5,
        "pool": 0.5,
        "fft": 0.3,
        "memory": 1.0,
    },
}
_DEFAULT_BW = {"cpu": 0.5, "gpu": 0.8}
_DEFAULT_OVERHEAD = {"cpu": 5e-6, "gpu": 6e-6}
_DEFAULT_FREE = {"cpu": 1.5e-6, "gpu": 3e-6}


def default_model(kind: str = "cpu", *, overhead_s: float | None = None) -> CostModel:
    """The uncalibrated defaults for a ``"cpu"`` or ``"gpu"`` device (docs/predict.md).

    ``overhead_s`` overrides the per-op overhead (e.g. a profile's measured
    ``launch_overhead_s``)."""
    if kind not in _DEFAULT_EFF:
        raise ValueError(f"kind must be 'cpu' or 'gpu', not {kind!r}")
    return CostModel(
        compute_eff=dict(_DEFAULT_EFF[kind]),
        bandwidth_eff=_DEFAULT_BW[kind],
        overhead_s=overhead_s if overhead_s and overhead_s > 0 else _DEFAULT_OVERHEAD[kind],
        free_overhead_s=_DEFAULT_FREE[kind],
        size_exponent={c: 0.0 for c in SIZE_CLASSES},
        source=f"default {kind} efficiencies (uncalibrated)",
    )


def _op_times(
    theta: np.ndarray,
    cls: np.ndarray,
    compute_s: np.ndarray,
    memory_s: np.ndarray,
    log_size: np.ndarray,
    log_depth: np.ndarray,
) -> np.ndarray:
    n = len(CLASSES)
    log_eff = theta[:n][cls]
    delta = np.zeros(n)
    for i, c in enumerate(SIZE_CLASSES):
        delta[CLASSES.index(c)] = max(theta[n + 3 + i], 0.0)
    rho = np.zeros(n)
    for i, c in enumerate(SIZE_CLASSES):
        rho[CLASSES.index(c)] = theta[_R + i]
    log_eff = log_eff + delta[cls] * log_size + rho[cls] * log_depth
    compute = compute_s * np.exp(-log_eff)
    memory = memory_s * math.exp(-theta[n])
    return _combine(compute, memory, 1.0 + math.exp(theta[_P])) + math.exp(theta[n + 1])


def _combine(compute: np.ndarray, memory: np.ndarray, p: float) -> np.ndarray:
    """(compute^p + memory^p)^(1/p): the roofline's max for p = ∞, no overlap at all (a
    sum) for p = 1, computed in log space so large p neither overflows nor loses digits."""
    if p > 1e6:
        return np.maximum(compute, memory)
    with np.errstate(divide="ignore"):
        lc, lm = np.log(compute), np.log(memory)
    return np.exp(np.logaddexp(p * lc, p * lm) / p)


def _theta_to_overlap(value: float) -> float:
    p = 1.0 + math.exp(min(value, 700.0))
    return math.inf if p > 1e6 else p


def _overlap_to_theta(p: float) -> float:
    return math.log(min(max(p - 1.0, 1e-9), 1e12))


# -- calibration --------------------------------------------------------------------------


@dataclass
class _Stack:
    """All samples' op features concatenated, for vectorised prediction."""

    cls: np.ndarray
    compute_s: np.ndarray
    memory_s: np.ndarray
    log_size: np.ndarray
    log_depth: np.ndarray
    owner: np.ndarray
    free_ops: np.ndarray
    n: int

    @classmethod
    def of(cls, feats: Sequence[OpFeatures]) -> _Stack:
        return cls(
            cls=np.concatenate([f.cls for f in feats]) if feats else np.zeros(0, np.int64),
            compute_s=np.concatenate([f.compute_s for f in feats]) if feats else np.zeros(0),
            memory_s=np.concatenate([f.memory_s for f in feats]) if feats else np.zeros(0),
            log_size=np.concatenate([f.log_size for f in feats]) if feats else np.zeros(0),
            log_depth=np.concatenate([f.log_depth for f in feats]) if feats else np.zeros(0),
            owner=np.concatenate([np.full(f.n_ops, i, dtype=np.int64) for i, f in enumerate(feats)])
            if feats
            else np.zeros(0, np.int64),
            free_ops=np.array([f.free_ops for f in feats], dtype=float),
            n=len(feats),
        )

    def predict(self, theta: np.ndarray) -> np.ndarray:
        per_op = _op_times(
            theta, self.cls, self.compute_s, self.memory_s, self.log_size, self.log_depth
        )
        n = len(CLASSES)
        total = np.bincount(self.owner, weights=per_op, minlength=self.n)
        return total + self.free_ops * math.exp(theta[n + 2])


@dataclass
class Calibration:
    """A fitted :class:`CostModel` with its fit diagnostics (in-sample errors, iterations)."""

    model: CostModel
    n_samples: int
    groups: list[str]
    in_sample: dict[str, float]
    iterations: int
    size_correction: bool
    regularization: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "params": self.model.params,
            "n_samples": self.n_samples,
            "groups": list(self.groups),
            "in_sample": dict(self.in_sample),
            "iterations": self.iterations,
            "size_correction": self.size_correction,
            "regularization": self.regularization,
        }


def _free_mask(
    size_correction: bool, present: set[int], fit_overlap: bool, depth_correction: bool
) -> np.ndarray:
    n = len(CLASSES)
    free = np.zeros(_R + len(SIZE_CLASSES), dtype=bool)
    for i in present:
        free[i] = True
    free[n : n + 3] = True
    if size_correction:
        for i, c in enumerate(SIZE_CLASSES):
            if CLASSES.index(c) in present:
                free[n + 3 + i] = True
                free[_R + i] = depth_correction
    free[_P] = fit_overlap
    return free


def calibrate(
    samples: Sequence[Sample],
    *,
    prior: CostModel | None = None,
    size_correction: bool = True,
    fit_overlap: bool = False,
    depth_correction: bool = False,
    regularization: float = 1e-2,
    max_iterations: int = 200,
    source: str = "calibrated",
) -> Calibration:
    """Fit a :class:`CostModel` to measured samples by least squares on log time.

    Minimises ``Σ (ln predicted − ln measured)² + regularization · Σ (θ − θ_prior)²`` over
    θ = (ln efficiencies, ln bandwidth efficiency, ln overheads, size exponents) with
    Levenberg-Marquardt, starting from ``prior`` (default: :func:`default_model` ``"cpu"``)
    rescaled to the data's overall speed. Classes absent from the samples keep the prior's
    values. ``size_correction=False`` holds every size exponent at 0. ``fit_overlap=True``
    replaces the roofline's ``max(compute, memory)`` by ``(compute^p + memory^p)^(1/p)``
    with p fitted (p = 1: compute and memory traffic never overlap; p → ∞: the max).
    ``depth_correction=True`` adds a second α-style exponent per conv/matmul class on the
    reduction depth (C_in / groups · kernel area, or K): ``(depth / R_REF) ** ρ``. Both are
    off by default: on the benchmark zoo neither beat the plain model out of sample.
    """
    samples = [s for s in samples if s.measured_s is not None]
    if not samples:
        raise ValueError("calibration needs at least one measured sample")
    if any(not (s.measured_s > 0 and math.isfinite(s.measured_s)) for s in samples):
        raise ValueError("measured times must be positive and finite")
    prior = prior or default_model("cpu")
    stack = _Stack.of([s.features for s in samples])
    y = np.log(np.array([s.measured_s for s in samples], dtype=float))
    present = {int(c) for c in np.unique(stack.cls)}
    free = _free_mask(size_correction, present, fit_overlap, depth_correction)
    theta0 = prior._theta()
    if not size_correction:
        theta0[len(CLASSES) + 3 : _P] = 0.0
        theta0[_R:] = 0.0
    if fit_overlap and prior.overlap > 1e6:
        theta0[_P] = 0.0  # start (and pull) at p = 2 rather than at the max

    def residuals(th: np.ndarray) -> np.ndarray:
        pred = stack.predict(th)
        data = np.log(np.maximum(pred, 1e-30)) - y
        reg = math.sqrt(regularization) * (th - theta0)[free]
        return np.concatenate([data, reg])

    # Start from the prior, with every time term scaled so the median ratio is 1: the
    # data's overall speed is the first thing the fit must find.
    theta = theta0.copy()
    shift = float(np.median(np.log(stack.predict(theta)) - y))
    n = len(CLASSES)
    theta[: n + 1] += shift
    theta[n + 1 : n + 3] -= shift
    theta[~free] = theta0[~free]
    theta, iterations = _levenberg_marquardt(residuals, theta, free, max_iterations)
    model = CostModel._from_theta(theta, source)
    if not size_correction:
        model.size_exponent = {c: 0.0 for c in SIZE_CLASSES}
    pred = stack.predict(theta)
    measured = np.exp(y)
    return Calibration(
        model=model,
        n_samples=len(samples),
        groups=sorted({s.group for s in samples}),
        in_sample=summarize_errors(pred, measured),
        iterations=iterations,
        size_correction=size_correction,
        regularization=regularization,
    )


def _levenberg_marquardt(
    residuals: Any, theta: np.ndarray, free: np.ndarray, max_iterations: int
) -> tuple[np.ndarray, int]:
    """Minimise ½‖residuals(θ)‖² over θ[free]; forward-difference Jacobian."""
    idx = np.flatnonzero(free)
    r = residuals(theta)
    cost = float(r @ r)
    mu = 1e-2
    it = 0
    for it in range(1, max_iterations + 1):  # noqa: B007
        jac = np.empty((r.size, idx.size))
        for k, j in enumerate(idx):
            h = 1e-6 * max(1.0, abs(theta[j]))
            th = theta.copy()
            th[j] += h
            jac[:, k] = (residuals(th) - r) / h
        g = jac.T @ r
        a = jac.T @ jac
        improved = False
        for _ in range(30):
            step = np.linalg.solve(a + mu * (np.diag(np.diag(a)) + 1e-9 * np.eye(idx.size)), -g)
            trial = theta.copy()
            trial[idx] += step
            r_new = residuals(trial)
            c_new = float(r_new @ r_new)
            if np.isfinite(c_new) and c_new < cost:
                improved = True
                rel = (cost - c_new) / max(cost, 1e-300)
                theta, r, cost = trial, r_new, c_new
                mu = max(mu / 3.0, 1e-12)
                break
            mu *= 4.0
        if not improved or rel < 1e-12 or np.max(np.abs(step)) < 1e-10:
            break
    return theta, it


# -- prediction and validation ------------------------------------------------------------


@dataclass
class Prediction:
    """A model's predicted latency with its breakdown.

    ``by_class``: ``{class: {"seconds", "ops", "memory_bound_ops"}}`` (plus
    ``"free ops"`` for the ops that move nothing); ``by_module``: seconds per top-level
    module; ``floor_s``: the roofline floor of the same ops on the same profile.
    """

    seconds: float
    floor_s: float
    by_class: dict[str, dict[str, float]]
    by_module: dict[str, float]
    model: CostModel

    def to_dict(self) -> dict[str, Any]:
        return {
            "predicted_s": self.seconds,
            "roofline_floor_s": self.floor_s,
            "by_class": self.by_class,
            "by_module": self.by_module,
            "cost_model": self.model.to_dict(),
        }


def predict(feats: OpFeatures, model: CostModel, *, module_depth: int = 1) -> Prediction:
    """Price one run's features with ``model``: total seconds, per class, per module."""
    theta = model._theta()
    per_op = _op_times(
        theta, feats.cls, feats.compute_s, feats.memory_s, feats.log_size, feats.log_depth
    )
    n = len(CLASSES)
    eff = np.exp(theta[:n][feats.cls])
    delta = np.array([model.size_exponent.get(c, 0.0) for c in CLASSES])
    rho = np.array([model.depth_exponent.get(c, 0.0) for c in CLASSES])
    compute = feats.compute_s / (
        eff * np.exp(delta[feats.cls] * feats.log_size + rho[feats.cls] * feats.log_depth)
    )
    memory = feats.memory_s / model.bandwidth_eff
    by_class: dict[str, dict[str, float]] = {}
    for i, c in enumerate(CLASSES):
        mask = feats.cls == i
        if not mask.any():
            continue
        by_class[c] = {
            "seconds": float(per_op[mask].sum()),
            "ops": int(mask.sum()),
            "memory_bound_ops": int((memory[mask] > compute[mask]).sum()),
        }
    if feats.free_ops:
        by_class["free ops"] = {
            "seconds": feats.free_ops * model.free_overhead_s,
            "ops": feats.free_ops,
            "memory_bound_ops": 0,
        }
    by_module: dict[str, float] = {}
    for path, t in zip(feats.modules, per_op, strict=False):
        key = ".".join(path.split(".")[:module_depth]) if path else "(root)"
        by_module[key] = by_module.get(key, 0.0) + float(t)
    total = float(per_op.sum() + feats.free_ops * model.free_overhead_s)
    return Prediction(total, feats.floor_s, by_class, by_module, model)


def shares(seconds: Mapping[str, float]) -> dict[str, float]:
    """Each entry's fraction (0..1, unitless) of the sum of ``seconds``, in the same order;
    all 0 when the sum is 0. ``shares({"a": 3.0, "b": 1.0}) == {"a": 0.75, "b": 0.25}``."""
    total = sum(seconds.values()) or 1.0
    return {key: value / total for key, value in seconds.items()}


def summarize_errors(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """MAPE, worst absolute percentage error, Spearman, Kendall and Pearson of logs."""
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    ape = np.abs(p / m - 1.0)
    out = {"n": int(p.size), "mape": mape(p, m), "max_ape": float(ape.max()) if p.size else 0.0}
    if p.size >= 2:
        out["spearman"] = spearman(p, m)
        out["kendall"] = kendall_tau_b(p, m)
        out["pearson_log"] = pearson(np.log(p), np.log(m))
    else:
        out["spearman"] = out["kendall"] = out["pearson_log"] = float("nan")
    return out


def leave_one_group_out(groups: Sequence[str]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(group, train indices, test indices)`` for every distinct group, in first-seen
    order: each fold tests on one group and trains on all the others."""
    labels = list(groups)
    order = list(dict.fromkeys(labels))
    arr = np.array(labels, dtype=object)
    return [
        (g, np.flatnonzero(arr != g), np.flatnonzero(arr == g)) for g in order if len(order) > 1
    ]


@dataclass
class CrossValidation:
    """Out-of-fold predictions (one per sample, from the fold that held it out)."""

    names: list[str]
    groups: list[str]
    measured: list[float]
    predicted: list[float]
    method: str

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = summarize_errors(self.predicted, self.measured)
        out["method"] = self.method
        out["folds"] = len(set(self.groups))
        per_group: dict[str, list[float]] = {}
        for g, p, m in zip(self.groups, self.predicted, self.measured, strict=True):
            per_group.setdefault(g, []).append(abs(p / m - 1.0))
        out["mape_by_group"] = {g: float(np.mean(v)) for g, v in per_group.items()}
        return out


def _leave_one_group_out_cv(
    samples: Sequence[Sample],
    fit: Callable[[list[Sample]], Callable[[Sample], float]],
    method: str,
) -> CrossValidation:
    """Leave-one-group-out cross-validation of ``fit``: for each group, fit on the other
    groups' measured samples and predict the held-out group's (needs >= 2 groups)."""
    samples = [s for s in samples if s.measured_s is not None]
    folds = leave_one_group_out([s.group for s in samples])
    if not folds:
        raise ValueError("cross-validation needs samples from at least two groups")
    predicted = [0.0] * len(samples)
    for _, train, test in folds:
        predict_one = fit([samples[i] for i in train])
        for i in test:
            predicted[i] = predict_one(samples[i])
    return CrossValidation(
        names=[s.name for s in samples],
        groups=[s.group for s in samples],
        measured=[float(s.measured_s) for s in samples],
        predicted=predicted,
        method=method,
    )


def cross_validate(samples: Sequence[Sample], **calibrate_kwargs: Any) -> CrossValidation:
    """Leave-one-group-out cross-validation of :func:`calibrate` (needs >= 2 groups)."""

    def fit(train: list[Sample]) -> Callable[[Sample], float]:
        model = calibrate(train, **calibrate_kwargs).model
        return lambda s: model.predict_s(s.features)

    return _leave_one_group_out_cv(samples, fit, "leave-one-group-out, calibrated cost model")


def fit_flops_scale(flops: Sequence[float], measured: Sequence[float]) -> float:
    """Seconds per FLOP of the FLOPs-only baseline ``t = s · flops``, least squares on log
    time (the geometric mean of measured / flops)."""
    f = np.asarray(flops, dtype=float)
    m = np.asarray(measured, dtype=float)
    if f.size == 0 or np.any(f <= 0) or np.any(m <= 0):
        raise ValueError("the FLOPs baseline needs positive flops and times")
    return float(np.exp(np.mean(np.log(m) - np.log(f))))


def cross_validate_flops_baseline(samples: Sequence[Sample]) -> CrossValidation:
    """Leave-one-group-out cross-validation of the FLOPs-only baseline (a run with no
    flops counts as 1 FLOP, so the baseline stays defined)."""

    def fit(train: list[Sample]) -> Callable[[Sample], float]:
        scale = fit_flops_scale([max(s.flops, 1) for s in train], [s.measured_s for s in train])
        return lambda s: scale * max(s.flops, 1)

    return _leave_one_group_out_cv(
        samples, fit, "leave-one-group-out, FLOPs-only (one seconds-per-FLOP scale)"
    )
