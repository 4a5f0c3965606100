"""The pipeline behind ``flopwise predict``: latency predicted from counts alone, by a cost
model calibrated on this machine.

Calibrating (:func:`calibrate`) times a small zoo of models (interleaved, within a budget),
or reads a stored campaign's timings, fits the cost model of
:mod:`flopwise.analysis.predict` to the measured medians, cross-validates it
leave-one-model-out and stores it as JSON in the cache directory (one file per device and
dtype, and on the CPU per thread count). Predicting (:func:`predict_model`) never runs the model: it
counts on meta tensors and prices each op::

    from flopwise.pipeline import MeasureOptions, calibrate, predict_model

    calibrate(measure=MeasureOptions(budget_s=120, threads=1))
    predict_model("torchvision:resnet50", ["1x3x224x224"], threads=1).predicted_s
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from flopwise.analysis import predict as P
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps
from flopwise.measure.devices import device_summary, reset_peak_memory, resolve_device
from flopwise.measure.hardware import (
    HardwareProfile,
    _host_tag,
    cache_dir,
    device_name,
    get_profile,
    normalize_device,
    resolve_hardware,
)
from flopwise.measure.options import MeasureOptions, torch_threads
from flopwise.measure.timing import measure_interleaved
from flopwise.pipeline.profile import load
from flopwise.profile import profile
from flopwise.sources.specs import parse_dtype, parse_model_dtype

__all__ = [
    "CALIBRATION_SCHEMA",
    "CALIBRATION_ZOO",
    "DEFAULT_CALIBRATION_BUDGET_S",
    "LatencyPrediction",
    "PREDICT_SCHEMA",
    "SavedCalibration",
    "calibrate",
    "calibration_path",
    "campaign_calibration",
    "load_calibration",
    "predict_model",
    "run_calibration",
]

CALIBRATION_SCHEMA = "flopwise.predict.calibration/1"
PREDICT_SCHEMA = "flopwise.predict/1"
#: Seconds of timing for a whole calibration when no budget is given.
DEFAULT_CALIBRATION_BUDGET_S = 120.0

#: The zoo ``--calibrate`` times: (model spec, group, inputs). Small and quick models at a
#: few sizes each, covering dense and depthwise convolutions, attention, matmuls and the
#: memory-bound ops in between.
CALIBRATION_ZOO: tuple[tuple[str, str, list[str]], ...] = (
    ("torchvision:resnet18", "resnet18", ["1x3x128x128"]),
    ("torchvision:resnet18", "resnet18", ["1x3x224x224"]),
    ("torchvision:resnet18", "resnet18", ["4x3x160x160"]),
    ("torchvision:resnet50", "resnet50", ["1x3x160x160"]),
    ("torchvision:resnet50", "resnet50", ["1x3x224x224"]),
    ("torchvision:mobilenet_v2", "mobilenet_v2", ["1x3x160x160"]),
    ("torchvision:mobilenet_v2", "mobilenet_v2", ["1x3x224x224"]),
    ("torchvision:mobilenet_v2", "mobilenet_v2", ["4x3x224x224"]),
    ("torchvision:efficientnet_b0", "efficientnet_b0", ["1x3x224x224"]),
    ("torchvision:efficientnet_b0", "efficientnet_b0", ["2x3x160x160"]),
    ("torchvision:regnet_x_400mf", "regnet_x_400mf", ["1x3x224x224"]),
    ("torchvision:regnet_x_400mf", "regnet_x_400mf", ["4x3x224x224"]),
    ("torchvision:squeezenet1_1", "squeezenet1_1", ["1x3x224x224"]),
    ("torchvision:squeezenet1_1", "squeezenet1_1", ["4x3x224x224"]),
    ("torchvision:convnext_tiny", "convnext_tiny", ["1x3x128x128"]),
    ("torchvision:convnext_tiny", "convnext_tiny", ["1x3x192x192"]),
    ("torchvision:swin_t", "swin_t", ["1x3x160x160"]),
    ("hf:tiny-bert", "tiny-bert", ["input_ids=1x128:int64"]),
    ("hf:tiny-llama", "tiny-llama", ["input_ids=1x256:int64"]),
    ("hf:gpt2", "gpt2", ["input_ids=1x32:int64"]),
    ("hf:gpt2", "gpt2", ["input_ids=1x128:int64"]),
    ("hf:bert-base-uncased", "bert", ["input_ids=1x64:int64"]),
    ("hf:bert-base-uncased", "bert", ["input_ids=1x128:int64"]),
)

# What predict reads from a calibration document.
_CALIBRATION_KEYS = ("created", "host", "hardware", "cost_model", "cross_validation", "samples")
CALIBRATED = "calibrated cost model"


@dataclass
class SavedCalibration:
    """A calibration and where it was saved: ``document`` is the stored JSON (schema
    :data:`CALIBRATION_SCHEMA`: cost model, cross-validation, one record per timed run)."""

    document: dict[str, Any]
    path: Path


@dataclass
class LatencyPrediction:
    """A latency predicted without running the model.

    ``method`` says how (a calibrated cost model, host efficiencies on datasheet ceilings,
    default efficiencies, or the plain roofline floor); ``by_class`` and ``by_module``
    split ``predicted_s``; ``class_share`` and ``module_share`` are each class's and each
    module's fraction (0..1) of the sum of ``by_class`` and of ``by_module`` seconds (the
    text table's share columns; not written to the JSON document, whose seconds give them); ``cross_validation`` is the calibration's error when it applies
    to this prediction (``flops_baseline`` beside it), ``cross_validation_host`` when it
    was measured on another device; ``notes`` state every assumption."""

    model: str
    inputs: list[dict[str, Any]]
    dtype: str
    hardware: dict[str, Any]
    method: str
    predicted_s: float
    roofline_floor_s: float
    flops: int
    bytes: int
    ops: int
    by_class: dict[str, Any]
    by_module: dict[str, float]
    class_share: dict[str, float]
    module_share: dict[str, float]
    cost_model: dict[str, Any] | None
    notes: list[str]
    complete: bool
    cross_validation: dict[str, Any] | None = None
    flops_baseline: dict[str, Any] | None = None
    cross_validation_host: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema :data:`PREDICT_SCHEMA`)."""
        doc: dict[str, Any] = {"schema": PREDICT_SCHEMA}
        for key in ("model", "inputs", "dtype", "hardware", "method", "predicted_s"):
            doc[key] = getattr(self, key)
        for key in ("roofline_floor_s", "flops", "bytes", "ops", "by_class", "by_module"):
            doc[key] = getattr(self, key)
        doc["cost_model"] = self.cost_model
        doc["cross_validation"] = self.cross_validation
        doc["notes"] = self.notes
        doc["complete"] = self.complete
        if self.cross_validation is not None:
            doc["flops_baseline"] = self.flops_baseline
        if self.cross_validation_host is not None:
            doc["cross_validation_host"] = self.cross_validation_host
        return doc


# -- where calibrations live ---------------------------------------------------------------


def calibration_path(
    device: str = "cpu", threads: int | None = None, dtype: str = "float32"
) -> Path:
    """Where this host's calibration for ``device`` and model ``dtype`` lives:
    ``<cache dir>/predict/calibration-<host>-<N>t.json`` on the CPU (one file per thread
    count ``threads``; None: torch's current count), ``calibration-<host>-cuda_0-<GPU
    name>.json`` on a GPU (``FLOPWISE_CACHE_DIR`` or ``~/.cache/flopwise``); a dtype other
    than float32 adds ``-<dtype>`` before ``.json`` (float32 keeps the name it always had)."""
    dev = normalize_device(device)
    suffix = "" if _dtype_name(dtype) == "float32" else f"-{_dtype_name(dtype)}"
    if dev.startswith("cuda"):
        tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{dev}-{device_name(dev)}")
        return cache_dir() / "predict" / f"calibration-{_host_tag()}-{tag}{suffix}.json"
    n = threads or torch.get_num_threads()
    return cache_dir() / "predict" / f"calibration-{_host_tag()}-{n}t{suffix}.json"


def _dtype_name(dtype: str) -> str:
    """The canonical torch name of a model dtype (``bf16`` → ``bfloat16``), so that one
    dtype has one calibration file; an unknown name is a usage error."""
    return str(parse_model_dtype(dtype)).removeprefix("torch.")


def load_calibration(path: Path | None = None) -> dict[str, Any] | None:
    """The stored calibration document at ``path`` (default: :func:`calibration_path`),
    or None when there is none; a file that is not a complete calibration is an error."""
    path = path or calibration_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FlopwiseError(f"cannot read the calibration {path}: {exc}") from exc
    schema = data.get("schema") if isinstance(data, dict) else type(data).__name__
    if schema != CALIBRATION_SCHEMA:
        raise FlopwiseError(
            f"{path} is not a flopwise predict calibration ({schema!r}); "
            "re-run `flopwise predict --calibrate`"
        )
    missing = [k for k in _CALIBRATION_KEYS if k not in data]
    if missing:
        raise FlopwiseError(
            f"{path} is an incomplete calibration (no {', '.join(missing)}); "
            "re-run `flopwise predict --calibrate`"
        )
    return data


def _campaign_calibration_path(doc: dict[str, Any], threads: int | None = None) -> Path:
    """Where a calibration from a campaign goes without a file named: this host's cache
    file for that device, when the campaign timed on this host, on the CPU at this thread
    count or on this machine's GPU kind; otherwise a file must be named (a calibration of
    another machine would be taken for this one's)."""
    from flopwise.campaign.worker import kind_matches

    kind = doc["campaign"]["device"]
    here = doc["host"] == socket.gethostname()
    dtype = doc.get("dtype") or "float32"
    if here and kind == "cpu" and doc.get("threads") == (threads or torch.get_num_threads()):
        return calibration_path("cpu", threads, dtype)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if here and kind != "cpu" and gpu is not None and kind_matches(kind, gpu):
        return calibration_path("cuda:0", dtype=dtype)
    raise FlopwiseError(
        f"the campaign's timings ({kind} on {doc['host']}, {doc.get('threads')} threads) are "
        "not this machine's default calibration; name the file with --calibration FILE"
    )


# -- calibrating ---------------------------------------------------------------------------


def calibrate(
    *,
    measure: MeasureOptions | None = None,
    device: str = "auto",
    calibration: Path | None = None,
    from_campaign: str | None = None,
    db: Path | None = None,
    dtype: str = "float32",
) -> SavedCalibration:
    """What ``flopwise predict --calibrate`` does: time :data:`CALIBRATION_ZOO` on
    ``device`` under ``measure`` (None: :data:`DEFAULT_CALIBRATION_BUDGET_S` seconds in
    total; its ``threads`` set torch's CPU threads while timing, and the calibration is
    stored for that thread count) with models and float inputs in ``dtype``, or fit on the
    stored campaign ``from_campaign``'s timings (results database ``db``; nothing is
    timed), then save the document to ``calibration`` (default: this host's cache file of
    that device and dtype, :func:`calibration_path`)."""
    measure = measure or MeasureOptions(budget_s=DEFAULT_CALIBRATION_BUDGET_S)
    if from_campaign is not None:
        doc = campaign_calibration(from_campaign, db, device)
        path = calibration or _campaign_calibration_path(doc, measure.threads)
    else:
        dev = resolve_device(device, timing=True)
        if calibration is not None:  # before the timing: a path a file blocks fails first
            _make_folder(calibration.expanduser().parent, calibration)
        path = calibration or calibration_path(dev, measure.threads, dtype)
        doc = run_calibration(measure=measure, device=dev, dtype=dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(doc) + "\n")
    return SavedCalibration(doc, path)


def _make_folder(folder: Path, calibration: Path) -> None:
    """Make ``folder`` (and its parents) for the calibration file, as every command makes
    its output's missing folders; a FlopwiseError when it cannot be made."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), folder)
        why = f"{blocker} is a file" if blocker.is_file() else exc.strerror or str(exc)
        raise FlopwiseError(
            f"--calibration {calibration}: cannot make the folder {folder}: {why}"
        ) from None


def _zoo_inputs(spec: str, spec_inputs: list[str], device: str, dtype: str) -> tuple[tuple, dict]:
    """The inputs of one zoo entry on ``device``, float ones in ``dtype`` (token ids within
    the model's vocabulary, read from its meta-tensor build)."""
    from flopwise.sources import load_model
    from flopwise.sources.specs import make_inputs

    loaded = load_model(spec, device="meta")
    return make_inputs(
        spec_inputs, device, float_dtype=parse_dtype(dtype), vocab_size=loaded.vocab_size
    )


def _zoo_callables(
    zoo: tuple[tuple[str, str, list[str]], ...], dev: str, dtype: str
) -> tuple[dict[str, Any], list[tuple[str, str, str, list[str]]]]:
    """One no-argument callable per zoo entry (each model built once, on ``dev`` in
    ``dtype``) and the entries as ``(label, spec, group, inputs)``."""
    fns: dict[str, Any] = {}
    entries = []
    models: dict[str, Any] = {}
    for spec, group, spec_inputs in zoo:
        if spec not in models:
            models[spec] = load(spec, spec_inputs, dev, dtype)[0]
        args, kwargs = _zoo_inputs(spec, spec_inputs, dev, dtype)
        label = f"{group} {' '.join(spec_inputs)}"

        def call(net=models[spec], args=args, kwargs=kwargs) -> Any:
            with torch.inference_mode():
                return net(*args, **kwargs)

        fns[label] = call
        entries.append((label, spec, group, spec_inputs))
    return fns, entries


def run_calibration(
    *,
    measure: MeasureOptions | None = None,
    zoo: tuple[tuple[str, str, list[str]], ...] = CALIBRATION_ZOO,
    device: str = "auto",
    dtype: str = "float32",
) -> dict[str, Any]:
    """Time ``zoo`` interleaved on ``device`` (``auto``: cpu) within ``measure.budget_s``
    seconds in total (None: :data:`DEFAULT_CALIBRATION_BUDGET_S`) at ``measure.threads``
    torch threads, models and float inputs in ``dtype`` (float32 runs under the backend's
    default TF32 settings), fit and cross-validate the cost model against that device's
    host profile, and return the calibration document (not saved); its ``device`` names
    the device and, on CUDA, the peak memory while timing, its ``dtype`` the dtype timed."""
    dtype = _dtype_name(dtype)
    measure = measure or MeasureOptions(budget_s=DEFAULT_CALIBRATION_BUDGET_S)
    dev = resolve_device(device, timing=True)
    with torch_threads(measure.threads) as threads:
        hw = get_profile(resolve_hardware("host", dev), progress=measure.progress)
        fns, entries = _zoo_callables(zoo, dev, dtype)
        reset_peak_memory(dev)
        lat = measure_interleaved(
            fns,
            warmup=measure.warmup,
            budget_s=measure.budget_s,
            progress=measure.progress,
            device=dev,
        )
    timed_on = device_summary(dev)
    samples, records = [], []
    for label, spec, group, spec_inputs in entries:
        meta_model, args, kwargs, _ = load(spec, spec_inputs, "meta", dtype)
        prof = profile(meta_model, *args, kwargs=kwargs, tensors="meta")
        median = lat[label].median_s
        samples.append(P.Sample.from_ops(prof.ops, hw, measured_s=median, group=group, name=label))
        records.append(
            {
                "name": label,
                "group": group,
                "spec": spec,
                "inputs": spec_inputs,
                "flops": prof.totals.flops,
                "measured_s": median,
                "spread": lat[label].rel_iqr,
                "repeats": lat[label].repeats,
                "trustworthy": lat[label].trustworthy,
            }
        )
    return _calibration_document(
        samples,
        records,
        hw,
        host=socket.gethostname(),
        threads=threads,
        device=timed_on,
        extra={"dtype": dtype, "budget_s": measure.budget_s},
    )


def _calibration_document(
    samples: list[P.Sample],
    records: list[dict[str, Any]],
    hw: HardwareProfile,
    *,
    host: str,
    threads: int | None,
    device: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Fit the cost model to ``samples`` (one per ``records`` entry, which gain the fitted,
    out-of-fold and floor seconds), cross-validate it leave-one-model-out, and return the
    calibration document (schema :data:`CALIBRATION_SCHEMA`)."""
    noisy = [r["name"] for r in records if not r["trustworthy"]]
    cal = P.calibrate(samples, source=f"calibrated on {host}")
    cv = P.cross_validate(samples)
    base = P.cross_validate_flops_baseline(samples)
    for rec, sample, out_of_fold in zip(records, samples, cv.predicted, strict=True):
        rec["fitted_s"] = cal.model.predict_s(sample.features)
        rec["cross_validated_s"] = out_of_fold
        rec["roofline_floor_s"] = sample.floor_s
    return {
        "schema": CALIBRATION_SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": host,
        "threads": threads,
        "device": device,
        "torch": torch.__version__,
        **extra,
        "hardware": hw.to_dict(),
        "cost_model": cal.model.to_dict(),
        "fit": cal.to_dict(),
        "cross_validation": cv.summary(),
        "flops_baseline": base.summary(),
        "samples": records,
        "warnings": (
            [
                f"{len(noisy)} of {len(records)} timings are noisy (spread above the "
                "threshold): a busy machine; re-run when it is quieter, with a larger "
                "--budget, or with --threads 1"
            ]
            if noisy
            else []
        ),
    }


def _campaign_record(run_id: Any, doc: dict[str, Any], hw: HardwareProfile) -> tuple[Any, ...]:
    """One stored campaign timing, recounted on meta tensors: ``(sample, record, host,
    threads)``."""
    from flopwise.campaign.plan import Job
    from flopwise.campaign.summary import measured_latency

    section, measured = doc["campaign"], doc["measured"]
    job = Job.from_dict(section["job"])
    inputs = list(job.inputs)
    net, args, kwargs, _ = load(
        job.model, inputs, "meta", job.dtype, factory_kwargs=dict(job.params) or None
    )
    prof = profile(net, *args, kwargs=kwargs, tensors="meta")
    label = f"{job.label} {' '.join(inputs) or '(default inputs)'}"
    median = measured_latency(doc)
    sample = P.Sample.from_ops(prof.ops, hw, measured_s=median, group=job.label, name=label)
    latency = measured.get("latency") if isinstance(measured.get("latency"), dict) else {}
    record = {
        "name": label,
        "group": job.label,
        "spec": job.model,
        "inputs": inputs,
        "flops": prof.totals.flops,
        "measured_s": median,
        "spread": latency.get("rel_iqr"),
        "repeats": latency.get("repeats"),
        "trustworthy": latency.get("trustworthy", measured.get("trustworthy", True)),
        "run_id": run_id,
    }
    return sample, record, section.get("host") or "?", measured.get("threads")


def campaign_calibration(name: str, db: Path | None = None, device: str = "auto") -> dict[str, Any]:
    """Fit and cross-validate the cost model on campaign ``name``'s stored timings (one
    device kind, :func:`~flopwise.campaign.summary.campaign_device_kind`) instead of
    timing the zoo: each timed job is counted again on meta tensors and its op records
    priced on the hardware profile its timing was judged against (the newest job's).
    Returns the calibration document (not saved); one sample per timed job, one
    cross-validation group per model (grid point)."""
    from flopwise.campaign.summary import campaign_timings

    kind, ids, docs = campaign_timings(name, db, device)
    hw_doc = (docs[-1].get("measured") or {}).get("hardware")
    if not isinstance(hw_doc, dict):
        raise FlopwiseError(f"campaign {name!r}: its timings name no hardware profile")
    hw = HardwareProfile.from_dict(hw_doc, origin=f"campaign {name}")
    from flopwise.campaign.plan import Job

    dtypes = {_dtype_name(Job.from_dict(d["campaign"]["job"]).dtype) for d in docs}
    samples, records, hosts, threads = [], [], set(), set()
    for run_id, doc in zip(ids, docs, strict=True):
        sample, record, host, n_threads = _campaign_record(run_id, doc, hw)
        samples.append(sample)
        records.append(record)
        hosts.add(host)
        threads.add(n_threads)
    if len({s.group for s in samples}) < 2:
        raise FlopwiseError(
            f"campaign {name!r} timed only one model on {kind}: a calibration is "
            "cross-validated leave-one-model-out and needs at least two"
        )
    return _calibration_document(
        samples,
        records,
        hw,
        host=", ".join(sorted(hosts)),
        threads=threads.pop() if len(threads) == 1 else None,
        device={"name": kind, "model": hw.name, "peak_memory_bytes": None},
        extra={
            "dtype": dtypes.pop() if len(dtypes) == 1 else None,  # None: mixed dtypes
            "campaign": {"name": name, "device": kind, "jobs": len(docs)},
        },
    )


# -- predicting ----------------------------------------------------------------------------


def _cost_model_for(
    doc: dict[str, Any] | None, hw: HardwareProfile, is_host: bool
) -> tuple[P.CostModel | None, str, list[str]]:
    """Which cost model prices the ops on ``hw``, how the result names the method, and the
    notes that say what was assumed: the calibration itself on the host, its efficiencies
    on another profile of the same kind, defaults on another kind, or none (the floor)."""
    if doc is None:
        return (
            None,
            "roofline floor",
            [
                "no calibration on this machine: the prediction is the plain roofline floor (sum "
                "of per-op max(flops / peak, bytes / bandwidth)), a lower bound that real runs "
                "exceed, often by several times; run `flopwise predict --calibrate` first"
            ],
        )
    calibrated = P.CostModel.from_dict(doc["cost_model"])
    cal_kind = doc["hardware"].get("kind", "cpu")
    if is_host:
        notes = [
            f"cost model calibrated on this machine {doc['created']} "
            f"({len(doc['samples'])} runs of {doc['cross_validation']['folds']} models)"
        ]
        return (
            calibrated,
            CALIBRATED,
            notes + [f"calibration: {w}" for w in doc.get("warnings", [])],
        )
    if hw.kind == cal_kind:
        calibrated.source = f"transferred from the {doc['host']} calibration"
        return (
            calibrated,
            "host-calibrated efficiencies on datasheet ceilings",
            [
                f"assumption: the efficiencies and per-op overheads calibrated on "
                f"{doc['host']} ({cal_kind}) hold on {hw.name}; only the ceilings change"
            ],
        )
    default = P.default_model(hw.kind, overhead_s=hw.launch_overhead_s)
    return (
        default,
        f"default {hw.kind} efficiencies on datasheet ceilings",
        [
            f"assumption: a {cal_kind} calibration does not transfer to a {hw.kind}; "
            f"default {hw.kind} efficiencies are used (docs/predict.md), per-op overhead "
            f"{default.overhead_s * 1e6:.3g} µs"
            + (" (the profile's launch overhead)" if hw.launch_overhead_s else "")
        ],
    )


def _price(
    feats: P.OpFeatures, cost_model: P.CostModel | None
) -> tuple[float, dict[str, Any], dict[str, float]]:
    """Predicted seconds, split by op class and by module: by ``cost_model``, or without
    one the roofline floor (ideal efficiencies, no overheads, no free-op class)."""
    if cost_model is not None:
        pred = P.predict(feats, cost_model)
        return pred.seconds, pred.by_class, pred.by_module
    ideal = P.CostModel(
        compute_eff={c: 1.0 for c in P.CLASSES},
        bandwidth_eff=1.0,
        overhead_s=1e-30,
        free_overhead_s=1e-30,
        size_exponent={c: 0.0 for c in P.SIZE_CLASSES},
        source="roofline floor",
    )
    pred = P.predict(feats, ideal)
    pred.by_class.pop("free ops", None)
    return feats.floor_s, pred.by_class, pred.by_module


def predict_model(
    model: str,
    inputs: list[str],
    *,
    hardware: str = "host",
    dtype: str = "float32",
    calibration_file: Path | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: bool = False,
    factory_kwargs: dict[str, Any] | None = None,
) -> LatencyPrediction:
    """Count ``model`` on meta tensors and predict its latency on ``hardware`` (``host``:
    this machine, priced by its calibration for ``device`` at ``threads`` torch threads,
    None: torch's current count; or a profile name). ``calibration_file`` names the
    calibration instead of this host's cache file; it must exist. ``progress`` draws a bar
    if a host profile has to be measured first. ``factory_kwargs`` are passed to a factory
    source (a campaign's grid point)."""
    if device in ("meta", "fake"):
        raise FlopwiseError(
            f"--device {device}: predict always counts the model on meta tensors; --device "
            "names whose calibration prices the prediction (cpu or cuda[:N])"
        )
    dev = resolve_device(device, timing=True)
    if calibration_file is not None and not calibration_file.is_file():
        raise FlopwiseError(
            f"--calibration {calibration_file}: no such file; give an existing calibration, "
            "or add --calibrate to write one there"
        )
    doc = load_calibration(calibration_file or calibration_path(dev, threads, dtype))
    is_host = hardware == "host"
    if is_host and doc is not None:
        hw = HardwareProfile.from_dict(doc["hardware"], origin="calibration")
    else:
        hw = get_profile(hardware, progress=progress)
    net, args, kwargs, _ = load(model, inputs, "meta", dtype, factory_kwargs=factory_kwargs)
    prof = profile(net, *args, kwargs=kwargs, tensors="meta", name=model)
    feats = P.features(prof.ops, hw)
    cost_model, method, notes = _cost_model_for(doc, hw, is_host)
    timed_in = None if doc is None else doc.get("dtype", "float32")  # None: mixed
    if timed_in is not None and timed_in != _dtype_name(dtype):
        notes.append(
            f"the calibration was timed in {timed_in}, the model is "
            f"{dtype}: its efficiencies may not hold (calibrate with --dtype {dtype})"
        )
    if not prof.complete:
        notes.append(
            f"{len(prof.uncounted)} op(s) uncounted (priced by their bytes only): "
            + ", ".join(u.op for u in prof.uncounted[:5])
        )
    seconds, by_class, by_module = _price(feats, cost_model)
    result = LatencyPrediction(
        model=model,
        inputs=prof.inputs,
        dtype=dtype,
        hardware={"name": hw.name, "kind": hw.kind, "source": hw.source},
        method=method,
        predicted_s=seconds,
        roofline_floor_s=feats.floor_s,
        flops=prof.totals.flops,
        bytes=prof.totals.bytes_read + prof.totals.bytes_written,
        ops=feats.n_ops + feats.free_ops,
        by_class=by_class,
        by_module=by_module,
        class_share=P.shares({cls: v["seconds"] for cls, v in by_class.items()}),
        module_share=P.shares(by_module),
        cost_model=cost_model.to_dict() if cost_model is not None else None,
        notes=notes,
        complete=prof.complete,
    )
    if doc is not None and method == CALIBRATED:
        result.cross_validation = doc["cross_validation"]
        result.flops_baseline = doc.get("flops_baseline")
    elif doc is not None:
        result.cross_validation_host = doc["cross_validation"]
        notes.append(
            "the cross-validated error below was measured on the host, not on "
            f"{hw.name}: it does not bound the error of this prediction"
        )
    return result
