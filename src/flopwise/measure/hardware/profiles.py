"""The hardware profile registry: what a :class:`HardwareProfile` holds, where profiles
come from, and how they are looked up, saved and merged.

Profiles come from three places:

- the built-in registry, ``flopwise/data/hardware/*.json``: datasheet figures with their
  source, dense and sparse tensor-core rates kept apart;
- the user's own JSON files, in ``$FLOPWISE_HARDWARE_DIR`` (default
  ``$XDG_CONFIG_HOME/flopwise/hardware`` or ``~/.config/flopwise/hardware``) or given by
  path;
- this machine's measured profile (:mod:`flopwise.measure.hardware.bench`), cached as JSON
  in ``$FLOPWISE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/flopwise`` or
  ``~/.cache/flopwise``) and reused by ``get_profile("host")``. A profile's ``alpha`` field
  stores the α-FLOPs constants fitted on that device.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import socket
import sys
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import torch

from flopwise.errors import FlopwiseError

__all__ = [
    "CacheCopy",
    "HardwareProfile",
    "UnknownHardware",
    "BadHardwareProfile",
    "DTYPE_NAMES",
    "dtype_key",
    "cache_dir",
    "user_profiles_dir",
    "host_profile_path",
    "host_profile_name",
    "normalize_device",
    "device_name",
    "resolve_hardware",
    "builtin_profiles",
    "list_profiles",
    "cached_gpu_profiles",
    "get_profile",
    "save_profile",
    "merge_measured",
]

#: Canonical dtype keys of ``peak_flops``.
DTYPE_NAMES = ("float64", "float32", "tfloat32", "bfloat16", "float16", "float8", "int8")

_DTYPE_ALIASES = {
    "fp64": "float64",
    "f64": "float64",
    "double": "float64",
    "fp32": "float32",
    "f32": "float32",
    "float": "float32",
    "tf32": "tfloat32",
    "bf16": "bfloat16",
    "fp16": "float16",
    "f16": "float16",
    "half": "float16",
    "fp8": "float8",
    "i8": "int8",
    "qint8": "int8",
    "uint8": "int8",
    "quint8": "int8",
}


class UnknownHardware(FlopwiseError):
    """A hardware profile name or path nobody knows; the message lists close matches."""


class BadHardwareProfile(FlopwiseError):
    """A hardware profile JSON file that does not parse or lacks a required field."""


def dtype_key(dtype: str | torch.dtype) -> str:
    """Canonical ``peak_flops`` key of a dtype: ``torch.bfloat16``/``"bf16"`` → ``"bfloat16"``.

    All float8 variants map to ``"float8"``; unknown names are returned lower-cased.
    """
    name = str(dtype).removeprefix("torch.").lower()
    if name.startswith("float8"):
        return "float8"
    return _DTYPE_ALIASES.get(name, name)


@dataclass(frozen=True)
class CacheCopy:
    """One cache-sized copy of a measured bandwidth curve, as the roofline uses it."""

    #: Bytes of one buffer (the copy reads and writes one: it moves twice this).
    buffer_bytes: float
    #: Bytes moved by the copy (read + write), the curve's own figure.
    bytes_moved: float
    #: The bandwidth (bytes/s) the copy measured.
    measured_bytes_per_s: float
    #: The bandwidth (bytes/s) the roofline uses for ops moving ``bytes_moved``
    #: (:meth:`HardwareProfile.bandwidth_for`).
    bytes_per_s: float
    #: True when the measurement is more than 1% under ``bytes_per_s``: it was disturbed,
    #: and a larger copy's figure is used instead.
    disturbed: bool


@dataclass
class HardwareProfile:
    """The ceilings of one device.

    ``peak_flops`` and ``sparse_peak_flops`` are FLOP/s (ops/s for int8) keyed by
    :data:`DTYPE_NAMES`; dense figures are what a roofline uses, sparse ones (2:4
    structured sparsity) are kept only for reference. ``memory_bandwidth`` is bytes/s
    (read + write). ``source`` names the datasheet and year, or ``"measured on <host>
    <date>"``. ``alpha`` holds α-FLOPs constants fitted on this device (another stage writes
    them). ``aliases`` are other names the registry accepts; ``details`` keeps measurement
    figures (sizes, medians, thread count) and notes.
    """

    name: str
    kind: Literal["cpu", "gpu"]
    peak_flops: dict[str, float]
    memory_bandwidth: float
    sparse_peak_flops: dict[str, float] = field(default_factory=dict)
    memory_bytes: int | None = None
    launch_overhead_s: float | None = None
    idle_power_w: float | None = None
    peak_power_w: float | None = None
    source: str = ""
    alpha: dict | None = None
    aliases: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    # -- lookups --------------------------------------------------------------------
    def peak_for(self, dtype: str | torch.dtype = "float32", *, sparse: bool = False) -> float:
        """Peak FLOP/s for ``dtype``.

        Falls back to the float32 figure when the dtype has none (e.g. bf16 on a CPU whose
        bf16 GEMM was not measured), then to the largest figure known. Raises
        :class:`BadHardwareProfile` when the profile has no peak at all.
        """
        key = dtype_key(dtype)
        table = self.sparse_peak_flops if sparse else self.peak_flops
        if key in table and table[key] > 0:
            return float(table[key])
        if sparse:
            return self.peak_for(dtype, sparse=False)
        if "float32" in self.peak_flops and self.peak_flops["float32"] > 0:
            return float(self.peak_flops["float32"])
        if self.peak_flops:
            return float(max(self.peak_flops.values()))
        raise BadHardwareProfile(f"hardware profile {self.name!r} has no peak FLOP/s")

    def bandwidth_for(self, nbytes: float | None = None) -> float:
        """Bandwidth (bytes/s) for work moving ``nbytes``.

        With a measured ``details["bandwidth_curve"]`` (``[[bytes moved, bytes/s], ...]``),
        the bandwidth of the largest measured copy that moved no more than ``nbytes`` (the
        fastest level such traffic can come from, so a floor built on it stays a lower
        bound); smaller than every point: the first point's. Otherwise, and for traffic
        past the last point, :attr:`memory_bandwidth`.
        """
        curve = self.details.get("bandwidth_curve") if self.details else None
        if not curve or nbytes is None:
            return self.memory_bandwidth
        points = sorted((float(b), float(r)) for b, r in curve)
        if nbytes >= points[-1][0]:
            return self.memory_bandwidth
        # Bandwidth cannot fall as the footprint shrinks: a smaller copy measured slower
        # than a larger one was disturbed, so take the running max from the large end.
        envelope = []
        running = self.memory_bandwidth
        for moved, rate in reversed(points):
            running = max(running, rate)
            envelope.append((moved, running))
        envelope.reverse()
        best = envelope[0][1]
        for moved, rate in envelope:
            if moved <= nbytes:
                best = rate
        return best

    def cache_copies(self) -> list[CacheCopy]:
        """The cache-sized copies of a measured ``details["bandwidth_curve"]`` (every point
        but the last, the main-memory copy that gives :attr:`memory_bandwidth`), in the
        curve's order; empty without a curve."""
        curve = (self.details or {}).get("bandwidth_curve", [])
        copies = []
        for moved, measured in curve[:-1]:
            used = self.bandwidth_for(moved)
            copies.append(CacheCopy(moved / 2, moved, measured, used, used > measured * 1.01))
        return copies

    def ridge_point(self, dtype: str | torch.dtype = "float32") -> float:
        """Arithmetic intensity (FLOPs/byte) where compute and memory time are equal."""
        return self.peak_for(dtype) / self.memory_bandwidth

    # -- serialisation --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the file format of user and cached profiles)."""
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        from flopwise.jsonout import dumps

        return dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, origin: str = "<dict>") -> HardwareProfile:
        """Build a profile from a dict, checking the required fields; unknown keys are kept
        in ``details`` rather than rejected, so newer files still load."""
        if not isinstance(data, dict):
            raise BadHardwareProfile(f"{origin}: a hardware profile must be a JSON object")
        missing = [k for k in ("name", "kind", "peak_flops", "memory_bandwidth") if k not in data]
        if missing:
            raise BadHardwareProfile(f"{origin}: missing field(s) {', '.join(missing)}")
        if data["kind"] not in ("cpu", "gpu"):
            raise BadHardwareProfile(f"{origin}: kind must be 'cpu' or 'gpu', not {data['kind']!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        try:
            kwargs["peak_flops"] = {dtype_key(k): float(v) for k, v in data["peak_flops"].items()}
            kwargs["sparse_peak_flops"] = {
                dtype_key(k): float(v) for k, v in (data.get("sparse_peak_flops") or {}).items()
            }
            kwargs["memory_bandwidth"] = float(data["memory_bandwidth"])
        except (AttributeError, TypeError, ValueError) as exc:
            raise BadHardwareProfile(f"{origin}: bad number in profile ({exc})") from exc
        kwargs["aliases"] = list(data.get("aliases") or [])
        kwargs["details"] = dict(data.get("details") or {})
        if extra:
            kwargs["details"].setdefault("extra_fields", extra)
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str, *, origin: str = "<json>") -> HardwareProfile:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadHardwareProfile(f"{origin}: not valid JSON ({exc})") from exc
        return cls.from_dict(data, origin=origin)

    @classmethod
    def load(cls, path: str | os.PathLike) -> HardwareProfile:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise BadHardwareProfile(
                f"cannot read hardware profile {path}: {exc.strerror}"
            ) from exc
        return cls.from_json(text, origin=str(path))

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json() + "\n")
        tmp.replace(path)
        return path


# -- locations ----------------------------------------------------------------------------


def cache_dir() -> Path:
    """``$FLOPWISE_CACHE_DIR``, else ``$XDG_CACHE_HOME/flopwise``, else ``~/.cache/flopwise``."""
    env = os.environ.get("FLOPWISE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "flopwise"


def user_profiles_dir() -> Path:
    """``$FLOPWISE_HARDWARE_DIR``, else ``$XDG_CONFIG_HOME/flopwise/hardware``, else
    ``~/.config/flopwise/hardware``: where a user drops their own profile JSON files."""
    env = os.environ.get("FLOPWISE_HARDWARE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "flopwise" / "hardware"


def _host_tag() -> str:
    host = re.sub(r"[^A-Za-z0-9_.-]+", "_", socket.gethostname() or "host")
    return host


def normalize_device(device: str | torch.device = "cpu") -> str:
    """``"cpu"`` for any CPU spelling; ``"cuda:N"`` for a CUDA device (a bare ``"cuda"`` is
    the current device, else index 0). Other names are returned as given."""
    name = str(device)
    if name == "cpu" or name.startswith("cpu:"):
        return "cpu"
    if name == "cuda":
        index = torch.cuda.current_device() if torch.cuda.is_available() else 0
        return f"cuda:{index}"
    return name


def device_name(device: str | torch.device) -> str:
    """The model name of an accelerator (``"NVIDIA H200"``), or ``"cpu"`` for the CPU.
    Profiles of GPUs are cached under this name, so a machine whose ``cuda:0`` changes model
    never reuses another GPU's ceilings. (Tests replace this function to fake a GPU.)"""
    dev = normalize_device(device)
    if dev.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(dev))
    return "cpu"


def host_profile_name(device: str | torch.device = "cpu") -> str:
    """The profile name ``host`` resolves to on ``device``: ``"host"`` for the CPU (also
    spelt ``host:cpu``), ``"host:cuda:0"`` for the first GPU."""
    dev = normalize_device(device)
    return "host" if dev == "cpu" else f"host:{dev}"


def resolve_hardware(hardware: str, device: str | torch.device = "cpu") -> str:
    """The profile a measurement on ``device`` should be judged against: ``host`` means the
    profile of the device being measured (``host:cuda:0`` when timing on ``cuda``), so a GPU
    run is never compared with the CPU's ceilings. Any other name is returned unchanged."""
    if str(hardware) == "host":
        return host_profile_name(device)
    return str(hardware)


def host_profile_path(
    device: str = "cpu", threads: int | None = None, model: str | None = None
) -> Path:
    """Where the measured profile of this host (and thread count, or GPU) is cached.

    CPU profiles are keyed by thread count; a GPU's by its index and model name
    (``host-<host>-cuda0-NVIDIA_H200.json``)."""
    dev = normalize_device(device)
    if dev == "cpu":
        threads = torch.get_num_threads() if threads is None else threads
        suffix = f"{threads}t"
    else:
        model = re.sub(r"[^A-Za-z0-9_.-]+", "_", model or device_name(dev))
        suffix = f"{re.sub(r'[^A-Za-z0-9]+', '', dev)}-{model}"
    return cache_dir() / "hardware" / f"host-{_host_tag()}-{suffix}.json"


# -- registry -----------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9+]", "", name.lower())


def builtin_profiles() -> list[HardwareProfile]:
    """The datasheet profiles shipped with flopwise, sorted by name."""
    out = []
    folder = resources.files("flopwise").joinpath("data", "hardware")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            out.append(
                HardwareProfile.from_json(entry.read_text(), origin=f"flopwise:{entry.name}")
            )
    return out


def _user_profiles() -> list[HardwareProfile]:
    """The user's profile files; a broken one is skipped with a warning (naming it by path
    still raises), so it cannot hide the built-ins."""
    folder = user_profiles_dir()
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(HardwareProfile.load(path))
        except BadHardwareProfile as exc:
            warnings.warn(f"skipping hardware profile: {exc}", stacklevel=3)
    return out


def cached_gpu_profiles() -> list[HardwareProfile]:
    """This host's cached measured GPU profiles (``host:cuda:N``, one file per GPU index and
    model: ``host-<host>-cuda0-<model>.json``), sorted by file name. Found by file name, so
    listing them needs no GPU; a broken file is skipped with a warning."""
    folder = cache_dir() / "hardware"
    pattern = re.compile(rf"host-{re.escape(_host_tag())}-cuda\d+-.+\.json")
    out = []
    for path in sorted(folder.glob("host-*-cuda*.json")):
        if not pattern.fullmatch(path.name):
            continue  # another host's file, or this host's CPU profile
        try:
            prof = HardwareProfile.load(path)
        except BadHardwareProfile as exc:
            warnings.warn(f"skipping cached GPU profile: {exc}", stacklevel=2)
            continue
        if str(prof.details.get("device", "")).startswith("cuda"):
            out.append(prof)
    return out


def list_profiles(*, include_host: bool = True) -> list[HardwareProfile]:
    """Every profile :func:`get_profile` can name: the user's (first; they override a
    built-in of the same name), the built-ins, and this host's cached measured profiles:
    the CPU's (``host``) and each GPU's (``host:cuda:N``, :func:`cached_gpu_profiles`)."""
    seen: set[str] = set()
    out: list[HardwareProfile] = []
    for prof in _user_profiles() + builtin_profiles():
        if _norm(prof.name) in seen:
            continue
        seen.add(_norm(prof.name))
        out.append(prof)
    if include_host:
        path = host_profile_path()
        if path.is_file():
            out.append(HardwareProfile.load(path))
        out.extend(cached_gpu_profiles())
    return out


def _names_of(prof: HardwareProfile) -> list[str]:
    names = [prof.name, *prof.aliases]
    for vendor in ("nvidia-", "amd-", "intel-"):
        if prof.name.startswith(vendor):
            names.append(prof.name[len(vendor) :])
    return names


def get_profile(
    name_or_path: str | os.PathLike,
    *,
    measure_if_missing: bool = True,
    budget_s: float = 30.0,
    progress: bool = True,
) -> HardwareProfile:
    """Resolve a profile by name, alias or JSON path.

    ``"host"`` (or ``"host:cuda"``) returns this machine's cached measured profile; if none is
    cached yet and ``measure_if_missing`` is True it is measured (``budget_s``) and saved.
    Names are matched ignoring case and punctuation (``H100``, ``nvidia-h100-sxm5-80gb``).
    An unknown name raises :class:`UnknownHardware` with close matches.
    """
    text = str(name_or_path)
    if text == "host" or text.startswith("host:"):
        device = normalize_device(text.partition(":")[2] or "cpu")
        path = host_profile_path(device)
        if path.is_file():
            return HardwareProfile.load(path)
        label = host_profile_name(device)
        if not measure_if_missing:
            raise UnknownHardware(
                f"no measured profile of {label} yet ({path}); "
                f"run `flopwise hardware{'' if device == 'cpu' else ' --device ' + device}`"
            )
        if progress:
            print(
                f"flopwise: no measured profile of {label} ({device_name(device)}) yet; "
                f"measuring its ceilings (~{budget_s:.0f} s), cached in {path}",
                file=sys.stderr,
            )
        # Looked up on the package at call time: the one name callers and tests replace.
        from flopwise.measure import hardware as package

        prof = package.measure_host_profile(budget_s, device=device, progress=progress)
        save_profile(prof)
        return prof

    if text.endswith(".json") or os.sep in text or Path(text).is_file():
        path = Path(text).expanduser()
        if not path.is_file():
            raise UnknownHardware(f"hardware profile file not found: {path}")
        return HardwareProfile.load(path)

    key = _norm(text)
    candidates: list[str] = []
    for prof in list_profiles(include_host=False):
        names = _names_of(prof)
        if key in {_norm(n) for n in names}:
            return prof
        candidates.extend(names)
    close = difflib.get_close_matches(text.lower(), candidates, n=4, cutoff=0.5)
    if not close:  # substring hits (e.g. "a100" variants) before giving up
        close = [c for c in candidates if key and key in _norm(c)][:4]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownHardware(
        f"unknown hardware {text!r}{hint} (see `flopwise hardware --list`, or pass a JSON file)"
    )


def save_profile(
    profile: HardwareProfile, path: str | os.PathLike | None = None, *, merge: bool = True
) -> Path:
    """Save ``profile``; a measured host profile goes to :func:`host_profile_path` by default,
    any other to the user profiles directory as ``<name>.json``.

    With ``merge`` (default), a measured profile is merged with the one already saved for
    the same host, device, thread count and torch version (:func:`merge_measured`): a
    ceiling is the best the machine reached, so each new measurement can only raise it, and
    a measurement taken while neighbours were busy does not replace a better one.
    """
    measured = bool(profile.details.get("measured"))
    if path is None:
        if measured:
            path = host_profile_path(
                profile.details.get("device", "cpu"),
                threads=profile.details.get("threads"),
                model=profile.details.get("gpu_model"),
            )
        else:
            path = user_profiles_dir() / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', profile.name)}.json"
    path = Path(path)
    if merge and measured and path.is_file():
        try:
            old = HardwareProfile.load(path)
        except BadHardwareProfile:
            old = None
        # The same measurement saved again (e.g. `fit-alpha --save` adding constants to the
        # loaded profile) replaces it: merging it with itself would count it twice.
        if old is not None and _same_setup(old, profile) and not _same_measurement(old, profile):
            profile = merge_measured(old, profile)
    return profile.save(path)


def _same_measurement(a: HardwareProfile, b: HardwareProfile) -> bool:
    """Whether ``b`` is ``a`` (as loaded from disk) with at most its α constants changed."""
    return dataclasses.replace(a, alpha=None) == dataclasses.replace(b, alpha=None)


def _same_setup(a: HardwareProfile, b: HardwareProfile) -> bool:
    keys = ("measured", "host", "device", "threads", "torch")
    return all(a.details.get(k) == b.details.get(k) for k in keys)


_MERGED = re.compile(r"; ceilings are the best of \d+ measurements$")


def merge_measured(old: HardwareProfile, new: HardwareProfile) -> HardwareProfile:
    """Two measurements of the same setup → the best of each ceiling: the larger peak per
    dtype, the larger bandwidth (per point of the cache curve too), the smaller dispatch
    overhead. ``details`` are the newer run's, plus ``measurements`` (how many were merged)
    and a short ``history``."""
    peaks = dict(old.peak_flops)
    for key, value in new.peak_flops.items():
        peaks[key] = max(value, peaks.get(key, 0.0))
    details = dict(new.details)
    n = int(old.details.get("measurements", 1)) + 1
    details["measurements"] = n
    history = list(old.details.get("history", []))
    for prof in (old, new) if not history else (new,):
        history.append(
            {
                "source": prof.source,
                "float32_flops": prof.peak_flops.get("float32"),
                "memory_bandwidth": prof.memory_bandwidth,
                "warnings": len(prof.details.get("warnings", [])),
            }
        )
    details["history"] = history[-20:]
    curves = {}
    for prof in (old, new):
        for moved, rate in prof.details.get("bandwidth_curve", []):
            curves[float(moved)] = max(rate, curves.get(float(moved), 0.0))
    if curves:
        details["bandwidth_curve"] = [[m, r] for m, r in sorted(curves.items())]
    if old.memory_bandwidth > new.memory_bandwidth and "copy" in old.details:
        details["copy"] = old.details["copy"]
    for dtype in peaks:
        if old.peak_flops.get(dtype, 0.0) > new.peak_flops.get(dtype, 0.0):
            details.setdefault("gemm", {})
            details["gemm"] = {**details["gemm"], dtype: old.details.get("gemm", {}).get(dtype)}
            details.get("skipped", {}).pop(dtype, None)
    overheads = [x for x in (old.launch_overhead_s, new.launch_overhead_s) if x is not None]
    first = old.details.get("first_source", old.source)
    details["first_source"] = first
    return dataclasses.replace(
        new,
        peak_flops=peaks,
        memory_bandwidth=max(old.memory_bandwidth, new.memory_bandwidth),
        launch_overhead_s=min(overheads) if overheads else None,
        source=f"{_MERGED.sub('', new.source)}; ceilings are the best of {n} measurements",
        alpha=new.alpha if new.alpha is not None else old.alpha,
        details=details,
    )
