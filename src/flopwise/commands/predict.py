"""``flopwise predict MODEL``: latency predicted from counts alone, by a cost model
calibrated on this machine (``flopwise predict --calibrate``).

The calibration times a small zoo of models (interleaved, within a budget), fits the cost
model of :mod:`flopwise.analysis.predict` to the measured medians, cross-validates it
leave-one-model-out and stores it as JSON in the cache directory. Prediction never runs
the model: it counts on meta tensors and prices each op.
"""

from __future__ import annotations

import datetime as _dt
import json
import socket
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from flopwise.commands._options import DeviceOption, seconds_budget
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps

CALIBRATION_SCHEMA = "flopwise.predict.calibration/1"
PREDICT_SCHEMA = "flopwise.predict/1"

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


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_command)


def calibration_path(device: str = "cpu") -> Path:
    """Where this host's calibration for ``device`` lives:
    ``<cache dir>/predict/calibration-<host>-<N>t.json`` on the CPU (one file per thread
    count), ``calibration-<host>-cuda_0-<GPU name>.json`` on a GPU (``FLOPWISE_CACHE_DIR``
    or ``~/.cache/flopwise``)."""
    import re

    import torch

    from flopwise.measure.hardware import _host_tag, cache_dir, device_name, normalize_device

    dev = normalize_device(device)
    if dev.startswith("cuda"):
        tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{dev}-{device_name(dev)}")
        return cache_dir() / "predict" / f"calibration-{_host_tag()}-{tag}.json"
    return cache_dir() / "predict" / f"calibration-{_host_tag()}-{torch.get_num_threads()}t.json"


def load_calibration(path: Path | None = None) -> dict[str, Any] | None:
    """The stored calibration document, or None when there is none."""
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


# What predict reads from a calibration document.
_CALIBRATION_KEYS = ("created", "host", "hardware", "cost_model", "cross_validation", "samples")


def predict_command(
    model: str | None = typer.Argument(
        None,
        help="torchvision:NAME, timm:NAME, hf:NAME, file.py:factory ... (omit with --calibrate)",
    ),
    inputs: list[str] = typer.Option(
        [], "--input", "-i", help="Input spec, repeatable: 1x3x224x224, input_ids=1x128:int64"
    ),
    hardware: str = typer.Option(
        "host", "--hardware", help="host (this machine, calibrated), or a profile: h100, a100 ..."
    ),
    dtype: str = typer.Option("float32", help="Model dtype: float32, bfloat16, float16 ..."),
    calibrate_: bool = typer.Option(
        False, "--calibrate", help="Time a small zoo on this machine and fit the cost model"
    ),
    budget: float | None = typer.Option(
        None, help="Seconds of timing for --calibrate [default: 120]", callback=seconds_budget
    ),
    calibration: Path | None = typer.Option(
        None, "--calibration", help="Calibration JSON to use or write (default: the cache dir)"
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format"),
    threads: int = typer.Option(
        0, "--threads", help="torch threads (0: torch's default); calibrations are per thread count"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars"),
    device: str = DeviceOption(),
    from_campaign: str | None = typer.Option(
        None,
        "--from-campaign",
        help="With --calibrate: fit on this stored campaign's timings instead of timing a zoo",
    ),
    db: Path | None = typer.Option(
        None,
        "--db",
        help="Results database of --from-campaign (default: $FLOPWISE_DB or the user data dir)",
    ),
) -> None:
    """Predict latency without running the model, from per-op costs and a calibrated cost model.

    ``--device`` is where ``--calibrate`` times its zoo, and whose calibration a prediction
    on ``--hardware host`` uses (each device has its own)."""
    from flopwise.pipeline import resolve_device

    if threads < 0:
        raise FlopwiseError("--threads must be >= 0")
    if threads:
        import torch

        torch.set_num_threads(threads)
    if from_campaign is not None:
        if not calibrate_ or budget is not None:
            raise FlopwiseError(
                "--from-campaign goes with --calibrate (and times nothing: no --budget)"
            )
        doc = campaign_calibration(from_campaign, db, device)
        path = calibration or _campaign_calibration_path(doc)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(doc) + "\n")
        typer.echo(_describe_calibration(doc, path), err=model is not None)
        if model is None:
            return
        calibrate_ = False  # done: predict MODEL with it below
    dev = resolve_device(device, timing=True)
    show_progress = progress and sys.stderr.isatty()
    if budget is not None and not calibrate_ and from_campaign is None:
        raise FlopwiseError("--budget is only used with --calibrate; drop it or add --calibrate")
    if calibration is not None and not calibrate_ and not calibration.is_file():
        raise FlopwiseError(
            f"--calibration {calibration}: no such file; give an existing calibration, or add "
            "--calibrate to write one there"
        )
    path = calibration or (path if from_campaign is not None else calibration_path(dev))
    if calibrate_:
        if calibration is not None and not calibration.expanduser().parent.is_dir():
            raise FlopwiseError(f"--calibration {calibration}: the folder does not exist")
        doc = run_calibration(
            budget=120.0 if budget is None else budget, progress=show_progress, device=dev
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(doc) + "\n")
        typer.echo(_describe_calibration(doc, path), err=model is not None)
        if model is None:
            return
    if model is None:
        raise FlopwiseError("give a MODEL to predict (or --calibrate to calibrate)")
    result = predict_model(model, inputs, hardware=hardware, dtype=dtype, calibration_file=path)
    if fmt is OutputFormat.json:
        typer.echo(dumps(result))
    else:
        typer.echo(render_table(result), nl=False)


# -- calibration ----------------------------------------------------------------------------


def run_calibration(
    *,
    budget: float = 120.0,
    progress: bool = False,
    zoo: tuple[tuple[str, str, list[str]], ...] = CALIBRATION_ZOO,
    device: str = "auto",
) -> dict[str, Any]:
    """Time ``zoo`` interleaved within ``budget`` seconds on ``device`` (``auto``: cpu), fit
    and cross-validate the cost model against that device's host profile, and return the
    calibration document (not saved); its ``device`` names the device and, on CUDA, the
    peak memory while timing."""
    import torch

    from flopwise.analysis import predict as P
    from flopwise.measure.hardware import get_profile, resolve_hardware
    from flopwise.measure.timing import measure_interleaved
    from flopwise.pipeline import device_summary, load, reset_peak_memory, resolve_device
    from flopwise.profile import profile

    dev = resolve_device(device, timing=True)
    hw = get_profile(resolve_hardware("host", dev), progress=progress)
    fns = {}
    entries = []
    models: dict[str, Any] = {}
    for spec, group, spec_inputs in zoo:
        if spec not in models:
            models[spec] = load(spec, spec_inputs, dev, "float32")[0]
        net = models[spec]
        _, args, kwargs, _ = _inputs_only(spec, spec_inputs, dev)
        label = f"{group} {' '.join(spec_inputs)}"

        def call(net=net, args=args, kwargs=kwargs) -> Any:
            with torch.inference_mode():
                return net(*args, **kwargs)

        fns[label] = call
        entries.append((label, spec, group, spec_inputs))
    reset_peak_memory(dev)
    lat = measure_interleaved(fns, warmup=2, budget_s=budget, progress=progress, device=dev)
    timed_on = device_summary(dev)
    samples = []
    records = []
    for label, spec, group, spec_inputs in entries:
        meta_model, args, kwargs, _ = load(spec, spec_inputs, "meta", "float32")
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
        threads=torch.get_num_threads(),
        device=timed_on,
        extra={"budget_s": budget},
    )


def _calibration_document(
    samples: list[Any],
    records: list[dict[str, Any]],
    hw: Any,
    *,
    host: str,
    threads: int | None,
    device: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Fit the cost model to ``samples`` (one per ``records`` entry, which gain the fitted,
    out-of-fold and floor seconds), cross-validate it leave-one-model-out, and return the
    calibration document (schema :data:`CALIBRATION_SCHEMA`)."""
    import torch

    from flopwise.analysis import predict as P

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


def campaign_calibration(name: str, db: Path | None = None, device: str = "auto") -> dict[str, Any]:
    """Fit and cross-validate the cost model on campaign ``name``'s stored timings (one
    device kind, :func:`campaign_device_kind`) instead of timing the zoo: each timed job is
    counted again on meta tensors and its op records priced on the hardware profile its
    timing was judged against (the newest job's). Returns the calibration document (not
    saved); one sample per timed job, one cross-validation group per model (grid point)."""
    from flopwise.analysis import predict as P
    from flopwise.campaign.plan import Job
    from flopwise.campaign.summary import campaign_timings, measured_latency
    from flopwise.measure.hardware import HardwareProfile
    from flopwise.pipeline import load
    from flopwise.profile import profile

    kind, ids, docs = campaign_timings(name, db, device)
    hw_doc = (docs[-1].get("measured") or {}).get("hardware")
    if not isinstance(hw_doc, dict):
        raise FlopwiseError(f"campaign {name!r}: its timings name no hardware profile")
    hw = HardwareProfile.from_dict(hw_doc, origin=f"campaign {name}")
    samples, records, hosts, threads = [], [], set(), set()
    for run_id, doc in zip(ids, docs, strict=True):
        section, measured = doc["campaign"], doc["measured"]
        job = Job.from_dict(section["job"])
        inputs = list(job.inputs)
        net, args, kwargs, _ = load(
            job.model, inputs, "meta", job.dtype, factory_kwargs=dict(job.params) or None
        )
        prof = profile(net, *args, kwargs=kwargs, tensors="meta")
        label = f"{job.label} {' '.join(inputs) or '(default inputs)'}"
        median = measured_latency(doc)
        samples.append(
            P.Sample.from_ops(prof.ops, hw, measured_s=median, group=job.label, name=label)
        )
        latency = measured.get("latency") if isinstance(measured.get("latency"), dict) else {}
        records.append(
            {
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
        )
        hosts.add(section.get("host") or "?")
        threads.add(measured.get("threads"))
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
        extra={"campaign": {"name": name, "device": kind, "jobs": len(docs)}},
    )


def _campaign_calibration_path(doc: dict[str, Any]) -> Path:
    """Where a calibration from a campaign goes without ``--calibration``: this host's cache
    file for that device, when the campaign timed on this host, on the CPU at this thread
    count or on this machine's GPU kind; otherwise a file must be named (a calibration of
    another machine would be taken for this one's)."""
    import torch

    from flopwise.campaign.worker import kind_matches

    kind = doc["campaign"]["device"]
    here = doc["host"] == socket.gethostname()
    if here and kind == "cpu" and doc.get("threads") == torch.get_num_threads():
        return calibration_path("cpu")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if here and kind != "cpu" and gpu is not None and kind_matches(kind, gpu):
        return calibration_path("cuda:0")
    raise FlopwiseError(
        f"the campaign's timings ({kind} on {doc['host']}, {doc.get('threads')} threads) are "
        "not this machine's default calibration; name the file with --calibration FILE"
    )


def _inputs_only(
    spec: str, spec_inputs: list[str], device: str = "cpu"
) -> tuple[None, tuple, dict, str]:
    import torch

    from flopwise.sources import load_model
    from flopwise.sources.specs import make_inputs

    loaded = load_model(spec, device="meta")
    args, kwargs = make_inputs(
        spec_inputs, device, float_dtype=torch.float32, vocab_size=loaded.vocab_size
    )
    return None, args, kwargs, loaded.name


def _describe_calibration(doc: dict[str, Any], path: Path) -> str:
    cv = doc["cross_validation"]
    base = doc["flops_baseline"]
    warn = "".join(f"\nwarning: {w}" for w in doc.get("warnings", []))
    from flopwise.report.device import describe_device

    where = describe_device(doc["device"]) if "device" in doc else "cpu"
    if doc.get("threads") is not None:
        where += f", {doc['threads']} threads"
    if doc.get("campaign"):
        where += f", timings of campaign {doc['campaign']['name']}"
    return (
        f"calibrated on {len(doc['samples'])} runs of {cv['folds']} models "
        f"({where}); "
        f"leave-one-model-out error: MAPE {cv['mape']:.1%}, Spearman {cv['spearman']:.3f} "
        f"(FLOPs-only baseline: MAPE {base['mape']:.1%}, Spearman {base['spearman']:.3f}); "
        f"saved to {path}" + warn
    )


# -- prediction -----------------------------------------------------------------------------


def predict_model(
    model: str,
    inputs: list[str],
    *,
    hardware: str = "host",
    dtype: str = "float32",
    calibration_file: Path | None = None,
) -> dict[str, Any]:
    """Count ``model`` on meta tensors and predict its latency on ``hardware``; returns the
    JSON-ready result (schema ``flopwise.predict/1``)."""
    from flopwise.analysis import predict as P
    from flopwise.measure.hardware import HardwareProfile, get_profile
    from flopwise.pipeline import load
    from flopwise.profile import profile

    doc = load_calibration(calibration_file)
    notes: list[str] = []
    is_host = hardware == "host"
    if is_host and doc is not None:
        hw = HardwareProfile.from_dict(doc["hardware"], origin="calibration")
    else:
        hw = get_profile(hardware, progress=sys.stderr.isatty())

    net, args, kwargs, name = load(model, inputs, "meta", dtype)
    prof = profile(net, *args, kwargs=kwargs, tensors="meta", name=model)
    feats = P.features(prof.ops, hw)

    cost_model = None
    method = "roofline floor"
    if doc is not None:
        calibrated = P.CostModel.from_dict(doc["cost_model"])
        cal_kind = doc["hardware"].get("kind", "cpu")
        if is_host:
            cost_model = calibrated
            method = "calibrated cost model"
            notes.append(
                f"cost model calibrated on this machine {doc['created']} "
                f"({len(doc['samples'])} runs of {doc['cross_validation']['folds']} models)"
            )
            notes.extend(f"calibration: {w}" for w in doc.get("warnings", []))
        elif hw.kind == cal_kind:
            cost_model = calibrated
            cost_model.source = f"transferred from the {doc['host']} calibration"
            method = "host-calibrated efficiencies on datasheet ceilings"
            notes.append(
                f"assumption: the efficiencies and per-op overheads calibrated on "
                f"{doc['host']} ({cal_kind}) hold on {hw.name}; only the ceilings change"
            )
        else:
            cost_model = P.default_model(hw.kind, overhead_s=hw.launch_overhead_s)
            method = f"default {hw.kind} efficiencies on datasheet ceilings"
            notes.append(
                f"assumption: a {cal_kind} calibration does not transfer to a {hw.kind}; "
                f"default {hw.kind} efficiencies are used (docs/predict.md), per-op overhead "
                f"{cost_model.overhead_s * 1e6:.3g} µs"
                + (" (the profile's launch overhead)" if hw.launch_overhead_s else "")
            )
    else:
        notes.append(
            "no calibration on this machine: the prediction is the plain roofline floor (sum "
            "of per-op max(flops / peak, bytes / bandwidth)), a lower bound that real runs "
            "exceed, often by several times; run `flopwise predict --calibrate` first"
        )
    if not prof.complete:
        notes.append(
            f"{len(prof.uncounted)} op(s) uncounted (priced by their bytes only): "
            + ", ".join(u.op for u in prof.uncounted[:5])
        )

    if cost_model is not None:
        pred = P.predict(feats, cost_model)
        seconds = pred.seconds
        by_class = pred.by_class
        by_module = pred.by_module
    else:
        ideal = P.CostModel(
            compute_eff={c: 1.0 for c in P.CLASSES},
            bandwidth_eff=1.0,
            overhead_s=1e-30,
            free_overhead_s=1e-30,
            size_exponent={c: 0.0 for c in P.SIZE_CLASSES},
            source="roofline floor",
        )
        pred = P.predict(feats, ideal)
        seconds = feats.floor_s
        by_class = pred.by_class
        by_class.pop("free ops", None)
        by_module = pred.by_module

    result: dict[str, Any] = {
        "schema": PREDICT_SCHEMA,
        "model": model,
        "inputs": prof.inputs,
        "dtype": dtype,
        "hardware": {"name": hw.name, "kind": hw.kind, "source": hw.source},
        "method": method,
        "predicted_s": seconds,
        "roofline_floor_s": feats.floor_s,
        "flops": prof.totals.flops,
        "bytes": prof.totals.bytes_read + prof.totals.bytes_written,
        "ops": feats.n_ops + feats.free_ops,
        "by_class": by_class,
        "by_module": by_module,
        "cost_model": cost_model.to_dict() if cost_model is not None else None,
        "cross_validation": None,
        "notes": notes,
        "complete": prof.complete,
    }
    if doc is not None and cost_model is not None and method == "calibrated cost model":
        result["cross_validation"] = doc["cross_validation"]
        result["flops_baseline"] = doc.get("flops_baseline")
    elif doc is not None:
        result["cross_validation_host"] = doc["cross_validation"]
        notes.append(
            "the cross-validated error below was measured on the host, not on "
            f"{hw.name}: it does not bound the error of this prediction"
        )
    return result


def render_table(result: dict[str, Any]) -> str:
    """The prediction as rich tables (renders only)."""
    from rich.console import Console
    from rich.table import Table

    from flopwise.report.console import table_width
    from flopwise.report.units import seconds, si

    console = Console(record=True, width=table_width(110), file=_Null())
    ins = ", ".join(
        f"{d.get('name')}={'x'.join(str(s) for s in d.get('shape', []))}:{d.get('dtype')}"
        for d in result["inputs"]
    )
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_column(style="bold")
    head.add_column()
    head.add_row("model", result["model"])
    head.add_row("inputs", ins)
    head.add_row("hardware", f"{result['hardware']['name']} ({result['hardware']['source']})")
    head.add_row("method", result["method"])
    head.add_row("predicted latency", f"[bold]{seconds(result['predicted_s'])}[/bold]")
    head.add_row("roofline floor", seconds(result["roofline_floor_s"]))
    head.add_row(
        "work",
        f"{si(result['flops'], 'FLOPs')}, {si(result['bytes'], 'B')} moved (unfused), "
        f"{result['ops']} ops",
    )
    cv = result.get("cross_validation") or result.get("cross_validation_host")
    if cv:
        head.add_row(
            "cross-validated error",
            f"MAPE {cv['mape']:.1%}, worst {cv['max_ape']:.1%}, Spearman {cv['spearman']:.3f} "
            f"(leave-one-model-out over {cv['n']} runs of {cv['folds']} models)",
        )
    console.print(head)
    table = Table(title="predicted time by op class", title_justify="left")
    for col in ("class", "ops", "memory-bound ops", "time", "share"):
        table.add_column(col, justify="left" if col == "class" else "right")
    total = sum(v["seconds"] for v in result["by_class"].values()) or 1.0
    for cls, v in sorted(result["by_class"].items(), key=lambda kv: -kv[1]["seconds"]):
        table.add_row(
            cls,
            str(v["ops"]),
            str(v["memory_bound_ops"]),
            seconds(v["seconds"]),
            f"{v['seconds'] / total:.1%}",
        )
    console.print(table)
    mods = sorted(result["by_module"].items(), key=lambda kv: -kv[1])[:8]
    if mods:
        mt = Table(title="top modules (depth 1)", title_justify="left")
        mt.add_column("module")
        mt.add_column("time", justify="right")
        mt.add_column("share", justify="right")
        mtotal = sum(result["by_module"].values()) or 1.0
        for path, t in mods:
            mt.add_row(path, seconds(t), f"{t / mtotal:.1%}")
        console.print(mt)
    for note in result["notes"]:
        console.print(f"note: {note}", highlight=False)
    return console.export_text()


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
