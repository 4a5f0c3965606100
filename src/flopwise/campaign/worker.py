"""What runs one campaign job, in a worker process (a local pool worker or a Ray task).

A worker never touches the store: it returns a plain JSON-ready dict (the profile's
``to_dict()`` document, or the error) and the driver writes it.
"""

from __future__ import annotations

import re
import socket
import time
import traceback
from typing import Any

from flopwise.errors import DataDependentOp
from flopwise.measure.options import MeasureOptions

#: Version of the dict :func:`run_job` returns.
RESULT_SCHEMA = "flopwise.campaign-result/1"


def device_kind_of(name: str) -> str:
    """A device name as a kind: lower case, runs of other characters as ``-``
    (``"NVIDIA H100 80GB HBM3"`` → ``"nvidia-h100-80gb-hbm3"``)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def kind_matches(kind: str, device_name: str) -> bool:
    """Whether a plan's device kind names this GPU: ``cuda`` names any, otherwise the kind is
    a prefix of the GPU's kind at a ``-`` boundary (``nvidia-h100`` names an
    ``NVIDIA H100 80GB HBM3`` but not an ``NVIDIA H100X``)."""
    if kind == "cuda":
        return True
    full = device_kind_of(device_name)
    return full == kind or full.startswith(kind + "-")


def local_device_kinds() -> list[str]:
    """Device kinds this machine has: ``cpu``, and for each visible GPU ``cuda`` and its
    kind (:func:`device_kind_of` of its name)."""
    import torch

    kinds = ["cpu"]
    if torch.cuda.is_available():
        kinds.append("cuda")
        for index in range(torch.cuda.device_count()):
            kinds.append(device_kind_of(torch.cuda.get_device_name(index)))
    return list(dict.fromkeys(kinds))


def _torch_device(kind: str) -> str:
    """The torch device a job of this kind runs on (raises when this worker lacks it)."""
    if kind in ("meta", "cpu"):
        return kind
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError(f"device {kind!r} needs a GPU and this worker has none")
    name = torch.cuda.get_device_name(0)
    if not kind_matches(kind, name):
        raise RuntimeError(f"device {kind!r} asked for, but this worker's GPU is {name}")
    return "cuda"


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job (a :meth:`Job.to_dict`) and return a result dict.

    ``{"schema", "ok": True, "document": <profile document>, "host", "machine",
    "elapsed_s"}`` on success; ``{"ok": False, "error": "Type: message", "traceback", ...}``
    when the job raised (a Python exception; a crash of the process is seen by the
    executor instead). Never raises for an exception inside the job.
    """
    from flopwise.store.fingerprint import machine_fingerprint

    start = time.perf_counter()
    base = {"schema": RESULT_SCHEMA, "host": socket.gethostname()}
    try:
        document = _run(job)
    except Exception as exc:  # recorded by the driver, retried if attempts are left
        return {
            **base,
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=20),
            "machine": machine_fingerprint(),
            "elapsed_s": time.perf_counter() - start,
        }
    return {
        **base,
        "ok": True,
        "document": document,
        "machine": machine_fingerprint(),
        "elapsed_s": time.perf_counter() - start,
    }


def measure_options(options: dict[str, Any], *, energy: bool = False) -> MeasureOptions:
    """The :class:`MeasureOptions` of a timing job's ``options`` (the plan's ``[measure]``):
    ``repeats`` 0 means the budget decides; ``energy`` adds the energy reading, its gCO2e
    on ``grid`` (default the world average) times ``pue`` (default 1)."""
    repeats = int(options.get("repeats", 0))
    return MeasureOptions(
        repeats=repeats or None,
        budget_s=float(options.get("budget_s", 2.0)),
        hardware=str(options.get("hardware", "host")),
        energy=energy,
        grid=str(options.get("grid", "world")),
        pue=float(options.get("pue", 1.0)),
    )


def _run(job: dict[str, Any]) -> dict[str, Any]:
    """The document of one job: a profile (count, measure, energy), a memory profile or a
    latency prediction."""
    action = job["action"]
    device = _torch_device(job["device"])
    options = job.get("options", {})
    if action == "count":
        return _count(job, device)
    if action in ("measure", "energy"):
        return _profile(job, device, measure_options(options, energy=action == "energy"))
    if action == "memory":
        from flopwise.pipeline import run_memory
        from flopwise.report.json import memory_document

        return memory_document(
            run_memory(
                job["model"],
                list(job["inputs"]),
                device="meta",
                dtype=job.get("dtype", "float32"),
                factory_kwargs=job.get("params") or None,
            ),
            curve=False,
        )
    if action == "predict":
        from flopwise.pipeline import predict_model

        return predict_model(
            job["model"],
            list(job["inputs"]),
            hardware=str(options.get("hardware", "host")),
            dtype=job.get("dtype", "float32"),
            device=device,
            factory_kwargs=job.get("params") or None,
        ).to_dict()
    raise ValueError(f"unknown campaign action {action!r}")


def _count(job: dict[str, Any], device: str) -> dict[str, Any]:
    """A count on ``device`` (meta tensors). A model with a data-dependent op (a detection
    model's ``nonzero``) cannot run there; as ``flopwise profile`` advises for it, it is
    counted again on real CPU tensors, and the document's ``fallback`` says so and why."""
    try:
        return _profile(job, device, None)
    except DataDependentOp as exc:
        if device == "cpu":
            raise
        document = _profile(job, "cpu", None)
        document["fallback"] = {"tensors": "real", "device": "cpu", "reason": str(exc)}
        return document


def _profile(job: dict[str, Any], device: str, measure: MeasureOptions | None) -> dict[str, Any]:
    """``run_profile``'s document for a count (``measure`` None) or a timed run: the one
    place a campaign calls it."""
    from flopwise.pipeline import run_profile

    prof = run_profile(
        job["model"],
        list(job["inputs"]),
        device=device,
        dtype=job.get("dtype", "float32"),
        factory_kwargs=job.get("params") or None,
        measure=measure,
    )
    return prof.to_dict()
