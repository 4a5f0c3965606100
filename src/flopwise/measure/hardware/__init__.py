"""Hardware ceilings: datasheet profiles and this machine's measured profile.

A :class:`HardwareProfile` holds the two roofline ceilings (dense peak FLOP/s per dtype and
memory bandwidth) plus what else the other stages need (dispatch overhead, power, the
α-FLOPs constants fitted on the device). Two modules, one job each:

- :mod:`~flopwise.measure.hardware.profiles`: the registry (built-in datasheet profiles,
  the user's files, this host's cached measured profiles), lookup by name
  (:func:`get_profile`), saving and merging measurements;
- :mod:`~flopwise.measure.hardware.bench`: the micro-benchmarks (GEMM per dtype, copy
  bandwidth, dispatch overhead) and :func:`measure_host_profile`, which runs them in under
  a minute.

Import the public names from here (``from flopwise.measure.hardware import get_profile``).
:func:`get_profile` measures the host through this package's ``measure_host_profile``, so
replacing that one name (as tests do) replaces the measurement everywhere.
"""

from __future__ import annotations

from flopwise.measure.hardware.bench import (
    BANDWIDTH_LADDER,
    MEANINGFUL_FRACTION,
    bandwidth_curve,
    copy_bandwidth,
    dispatch_overhead,
    gemm_rate,
    measure_host_profile,
)
from flopwise.measure.hardware.profiles import (
    DTYPE_NAMES,
    BadHardwareProfile,
    HardwareProfile,
    UnknownHardware,
    _host_tag,  # noqa: F401 - commands/predict.py names the cached files' host tag
    builtin_profiles,
    cache_dir,
    cached_gpu_profiles,
    device_name,
    dtype_key,
    get_profile,
    host_profile_name,
    host_profile_path,
    list_profiles,
    merge_measured,
    normalize_device,
    resolve_hardware,
    save_profile,
    user_profiles_dir,
)

__all__ = [
    "BANDWIDTH_LADDER",
    "DTYPE_NAMES",
    "MEANINGFUL_FRACTION",
    "BadHardwareProfile",
    "HardwareProfile",
    "UnknownHardware",
    "bandwidth_curve",
    "builtin_profiles",
    "cache_dir",
    "cached_gpu_profiles",
    "copy_bandwidth",
    "device_name",
    "dispatch_overhead",
    "dtype_key",
    "gemm_rate",
    "get_profile",
    "host_profile_name",
    "host_profile_path",
    "list_profiles",
    "measure_host_profile",
    "merge_measured",
    "normalize_device",
    "resolve_hardware",
    "save_profile",
    "user_profiles_dir",
]
