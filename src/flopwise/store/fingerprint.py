"""The machine a run was made on: CPU model, threads, GPU, torch and flopwise versions.

The fingerprint is recorded with every stored run so that runs from different machines are
never compared silently. It is read from the operating system and package metadata; torch is
only asked (thread count, GPU name) when it is already imported, so listing or diffing runs
never pays for importing torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from importlib import metadata
from typing import Any

FINGERPRINT_KEYS = (
    "cpu",
    "cores",
    "threads",
    "gpu",
    "torch",
    "flopwise",
    "python",
    "os",
    "arch",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _flopwise_version() -> str:
    try:
        from flopwise import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover - flopwise is always importable here
        return _version("flopwise") or "unknown"


def _threads_and_gpu() -> tuple[int | None, str | None]:
    torch = sys.modules.get("torch")
    threads: int | None = None
    gpu: str | None = None
    if torch is not None:
        try:
            threads = int(torch.get_num_threads())
        except Exception:  # pragma: no cover - torch partially imported
            threads = None
        try:
            if torch.cuda.is_available():
                gpu = ", ".join(
                    torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
                )
        except Exception:  # pragma: no cover - broken CUDA install
            gpu = None
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() else os.cpu_count()
    return threads, gpu


def machine_fingerprint() -> dict[str, Any]:
    """Describe this machine and software stack as a JSON-ready dict.

    Keys: ``cpu`` (model name), ``cores`` (logical CPUs), ``threads`` (torch intra-op threads,
    or ``OMP_NUM_THREADS``/cores when torch is not imported), ``gpu`` (device names or
    ``None``), ``torch``, ``flopwise``, ``python``, ``os``, ``arch``.
    """
    threads, gpu = _threads_and_gpu()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "gpu": gpu,
        "torch": _version("torch"),
        "flopwise": _flopwise_version(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}".strip(),
        "arch": platform.machine(),
    }


def fingerprint_id(fingerprint: dict[str, Any]) -> str:
    """A short stable hash of the hardware part of a fingerprint (CPU, cores, threads, GPU).

    Two runs with the same id ran on the same kind of machine with the same thread count;
    software versions are left out so that an upgrade does not look like a new machine.
    """
    hardware = {k: fingerprint.get(k) for k in ("cpu", "cores", "threads", "gpu", "arch")}
    blob = json.dumps(hardware, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
