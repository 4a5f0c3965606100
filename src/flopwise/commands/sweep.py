"""``flopwise sweep MODEL --dim batch=1,2,4,8 --dim resolution=128,224,320``.

Each ``--dim`` is swept on its own, the other dimensions staying at the base input's values
(the model's default input, or ``--input``). For every point: counted flops, MACs, α-flops,
bytes and activations, and (unless ``--no-measure``) the measured median time, all points
timed interleaved in one run so their ratios are steady. Per dimension: power-law exponents
``cost ∝ dim^b`` of flops, α-flops, bytes and time with bootstrap CIs (see
:mod:`flopwise.analysis.sweep`).

Dimensions: ``batch`` (axis 0 of every input), ``resolution`` (the two last axes of every
4-D input), ``seq`` (axis 1 of every 2-D or 3-D input), or ``INPUT.AXIS`` for any named
input dimension (``input_ids.1``, ``0.2`` for axis 2 of the first positional input).
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from flopwise.commands._options import output_file, seconds_budget
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps, finite

SCHEMA = "flopwise.sweep/1"
ALIASES = {
    "batch": "batch",
    "batch_size": "batch",
    "resolution": "resolution",
    "res": "resolution",
    "image_size": "resolution",
    "seq": "seq",
    "seq_len": "seq",
    "sequence": "seq",
    "tokens": "seq",
}


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_command)


# -- dimensions (pure) ----------------------------------------------------------------------


def parse_dim(text: str) -> tuple[str, list[int]]:
    """``"batch=1,2,4"`` → ``("batch", [1, 2, 4])``; aliases normalised, values > 0."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        raise FlopwiseError(f"--dim {text!r}: expected NAME=V1,V2,... (e.g. batch=1,2,4,8)")
    try:
        vals = [int(v) for v in values.split(",") if v.strip()]
    except ValueError as exc:
        raise FlopwiseError(f"--dim {text!r}: values must be integers") from exc
    if len(vals) < 2 or any(v <= 0 for v in vals):
        raise FlopwiseError(f"--dim {text!r}: give at least two positive values")
    canonical = ALIASES.get(name.lower())
    if canonical is None and "." not in name:
        known = ", ".join(sorted(set(ALIASES.values())))
        raise FlopwiseError(f"--dim {name!r}: unknown dimension (use {known}, or INPUT.AXIS)")
    return canonical or name, list(dict.fromkeys(vals))


def _targets(specs: list[Any], dim: str) -> list[tuple[int, tuple[int, ...]]]:
    """(spec index, axes) pairs that dimension ``dim`` resizes."""
    out: list[tuple[int, tuple[int, ...]]] = []
    if dim == "batch":
        out = [(i, (0,)) for i, s in enumerate(specs) if len(s.shape) >= 1]
    elif dim == "resolution":
        out = [(i, (2, 3)) for i, s in enumerate(specs) if len(s.shape) == 4]
    elif dim == "seq":
        out = [(i, (1,)) for i, s in enumerate(specs) if len(s.shape) in (2, 3)]
    else:
        which, _, axis_text = dim.rpartition(".")
        try:
            axis = int(axis_text)
        except ValueError as exc:
            raise FlopwiseError(f"--dim {dim!r}: AXIS must be an integer") from exc
        positional = [i for i, s in enumerate(specs) if s.name is None]
        if which.isdigit():
            k = int(which)
            matches = [positional[k]] if k < len(positional) else []
        else:
            matches = [i for i, s in enumerate(specs) if s.name == which]
        out = [(i, (axis,)) for i in matches if -len(specs[i].shape) <= axis < len(specs[i].shape)]
    if not out:
        shapes = ", ".join(str(s) for s in specs) or "none"
        raise FlopwiseError(f"--dim {dim}: no input has that dimension (inputs: {shapes})")
    return out


def base_value(specs: list[Any], dim: str) -> int:
    """The value ``dim`` has in the base inputs."""
    i, axes = _targets(specs, dim)[0]
    return int(specs[i].shape[axes[0]])


def apply_dims(specs: list[Any], values: dict[str, int]) -> list[Any]:
    """Copies of the input specs with each dimension in ``values`` set."""
    out = list(specs)
    for dim, value in values.items():
        for i, axes in _targets(out, dim):
            shape = list(out[i].shape)
            for axis in axes:
                shape[axis] = value
            out[i] = replace(out[i], shape=tuple(shape))
    return out


# -- running ----------------------------------------------------------------------------------


def _alpha_constants() -> tuple[Any, str]:
    """This host's fitted α constants if `fit-alpha` saved some, else the authors'."""
    from flopwise.analysis.alpha import DEFAULT_CONSTANTS, AlphaConstants

    try:
        from flopwise.measure.hardware import HardwareProfile, host_profile_path

        path = host_profile_path()
        if path.is_file():
            prof = HardwareProfile.load(path)
            if prof.alpha:
                return AlphaConstants.from_dict(prof.alpha), "fitted on this host"
    except Exception:  # a broken cache must not stop a sweep
        pass
    return DEFAULT_CONSTANTS, "authors' constants (run `flopwise fit-alpha` to fit this host)"


def run_sweep(
    model_spec: str,
    dims: list[tuple[str, list[int]]],
    inputs: list[str] | None = None,
    *,
    measure: bool = True,
    budget: float = 2.0,
    dtype: str = "float32",
    progress: bool = False,
    statistic: str = "median",
) -> dict[str, Any]:
    """Count (and time) every point of the sweep; returns the JSON-ready result.

    ``statistic`` picks each point's time: ``"median"`` of the samples (default) or
    ``"min"``, the least disturbed sample (steadier on a busy machine)."""
    import torch

    import flopwise
    from flopwise.analysis.alpha import alpha_totals
    from flopwise.analysis.sweep import SweepPoint, summarize_sweep
    from flopwise.sources import load_model
    from flopwise.sources.specs import parse_dtype, parse_input_specs

    if not dims:
        raise FlopwiseError("give at least one --dim NAME=V1,V2,...")
    if statistic not in ("median", "min"):
        raise FlopwiseError(f"--statistic must be median or min, not {statistic!r}")
    torch_dtype = parse_dtype(dtype)
    loaded = load_model(model_spec, device="cpu" if measure else "meta", dtype=torch_dtype)
    base = parse_input_specs(inputs) if inputs else list(loaded.default_inputs)
    if not base:
        raise FlopwiseError(f"{model_spec}: no default inputs; pass --input")
    constants, constants_source = _alpha_constants()
    bases = {name: base_value(base, name) for name, _ in dims}

    planned: list[tuple[str, int, dict[str, int], list[Any]]] = []
    seen_configs: set[tuple] = set()
    for name, values in dims:
        for v in values:
            point_dims = dict(bases)
            point_dims[name] = v
            key = tuple(sorted(point_dims.items()))
            if key in seen_configs:  # the base configuration, shared by every sweep
                continue
            seen_configs.add(key)
            planned.append((name, v, point_dims, apply_dims(base, {name: v})))

    points: list[SweepPoint] = []
    callables: dict[str, Any] = {}
    for name, v, point_dims, specs in planned:
        inputs_doc = [s.to_dict(torch_dtype) for s in specs]
        try:
            args, kwargs = loaded.inputs(specs)
            prof = flopwise.profile(
                loaded.model, *args, kwargs=kwargs, tensors="meta" if not measure else "fake"
            )
            if measure:  # one real call: a point that runs on fake tensors may still fail
                with torch.inference_mode():
                    loaded.model(*args, **kwargs)
        except Exception as exc:  # the model rejects this point: keep its row, go on
            points.append(SweepPoint.rejected(name, v, point_dims, inputs_doc, _reason(exc)))
            continue
        at = alpha_totals(prof, constants)
        totals = prof.totals
        notes = [] if prof.complete else ["count incomplete: uncounted ops"]
        points.append(
            SweepPoint(
                dim=name,
                value=v,
                dims=point_dims,
                inputs=inputs_doc,
                flops=int(totals.flops),
                macs=int(totals.macs),
                alpha_flops=at["alpha_flops"] + at["other_flops"],
                alpha_macs=at["alpha_macs"] + at["other_macs"],
                bytes=int(totals.bytes_read + totals.bytes_written),
                activations=int(totals.activations),
                notes=notes,
            )
        )
        if measure:
            model = loaded.model

            def call(model=model, args=args, kwargs=kwargs) -> Any:
                with torch.inference_mode():
                    return model(*args, **kwargs)

            callables[str(len(points) - 1)] = call

    if not any(p.error is None for p in points):
        reasons = "; ".join(f"{p.dim}={p.value}: {p.error}" for p in points)
        raise FlopwiseError(f"{model_spec} rejected every point of the sweep ({reasons})")
    if measure:
        from flopwise.measure.timing import measure_interleaved

        lat = measure_interleaved(
            callables, warmup=2, budget_s=budget * len(callables), progress=progress
        )
        points = [
            p
            if str(k) not in lat
            else replace(
                p,
                seconds=lat[str(k)].median_s if statistic == "median" else lat[str(k)].min_s,
                spread=lat[str(k)].spread,
                trustworthy=lat[str(k)].trustworthy,
                notes=p.notes + ([lat[str(k)].reason] if lat[str(k)].reason else []),
            )
            for k, p in enumerate(points)
        ]

    summary = summarize_sweep(points, base=bases)
    return {
        "schema": SCHEMA,
        "model": model_spec,
        "base_inputs": [s.to_dict(torch_dtype) for s in base],
        "base_dims": bases,
        "measured": measure,
        "statistic": statistic if measure else None,
        "threads": torch.get_num_threads(),
        "dtype": dtype,
        "alpha_constants": {"source": constants_source, **constants.to_dict()},
        "units": {
            "flops": "flops (multiply-add = 2)",
            "alpha_flops": "α-flops: α · flops for conv/dense layers, plain flops for other ops",
            "bytes": "bytes read + written, unfused, per op",
            "seconds": f"{statistic} wall-clock seconds per forward pass",
        },
        "points": [p.to_dict() for p in points],
        **summary,
    }


def _reason(exc: BaseException) -> str:
    """One line saying why a point was rejected (a FlopwiseError already names the module)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, FlopwiseError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- rendering ---------------------------------------------------------------------------------


def render_table(result: dict[str, Any]) -> None:
    """Rich tables: one row per point, then one row per dimension fit."""
    from rich.markup import escape
    from rich.table import Table

    from flopwise.report.console import stdout_console

    console = stdout_console()  # piped: whole values
    base = ", ".join(f"{k}={v}" for k, v in result["base_dims"].items())
    console.print(
        f"[bold]sweep[/bold] {result['model']}  (base: {base}; {result['dtype']}, "
        f"{result['threads']} threads; α: {result['alpha_constants']['source']})"
    )
    t = Table(title="points (one dimension varied at a time)")
    cols = ["dim", "value", "GFLOPs", "α-GFLOPs", "MB moved", "M activ."]
    if result["measured"]:
        cols += [f"ms ({result['statistic']})", "GFLOP/s", "spread"]
    rejected = [p for p in result["points"] if p.get("error")]
    if rejected:
        cols.append("note")
    for c in cols:
        t.add_column(c, justify="left" if c in ("dim", "note") else "right")
    for p in result["points"]:
        if p.get("error"):
            blanks = ["—"] * (len(cols) - 3)
            t.add_row(p["dim"], str(p["value"]), *blanks, "[red]rejected by the model[/red]")
            continue
        row = [
            p["dim"],
            str(p["value"]),
            f"{p['flops'] / 1e9:.3g}",
            f"{p['alpha_flops'] / 1e9:.3g}",
            f"{p['bytes'] / 1e6:.4g}",
            f"{p['activations'] / 1e6:.3g}",
        ]
        if result["measured"]:
            flag = "" if p["trustworthy"] else " !"
            row += [
                f"{p['seconds'] * 1e3:.4g}",
                f"{(p['flops_per_second'] or 0) / 1e9:.3g}",
                f"{p['spread'] * 100:.0f}%{flag}",
            ]
        t.add_row(*row, *([""] if rejected else []))
    console.print(t)
    for p in rejected:
        console.print(f"[red]{p['dim']}={p['value']} rejected:[/red] {escape(p['error'])}")

    f = Table(title="power-law exponent b of cost ∝ dim^b")
    cols = ["dim", "values", "FLOPs", "α-FLOPs", "bytes"]
    if result["measured"]:
        cols += ["time", "time 95% CI", "time/FLOP"]
    for c in cols:
        f.add_column(c, justify="left" if c in ("dim", "values") else "right")

    def show(e: dict[str, float] | None) -> str:
        return "n/a" if e is None else f"{e['exponent']:.2f}"

    def show_ci(e: dict[str, float] | None) -> str:
        if e is None or e.get("ci_low") is None or not math.isfinite(e["ci_low"]):
            return "n/a"
        return f"{e['ci_low']:.2f}..{e['ci_high']:.2f}"

    for fit in result["fits"]:
        ex = fit["exponents"]
        row = [
            fit["dim"],
            ",".join(map(str, fit["values"])),
            show(ex["flops"]),
            show(ex["alpha_flops"]),
            show(ex["bytes"]),
        ]
        if result["measured"]:
            gap = fit["time_per_flop_exponent"]
            row += [
                show(ex["seconds"]),
                show_ci(ex["seconds"]),
                "n/a" if gap is None else f"{gap:+.2f}",
            ]
        f.add_row(*row)
    console.print(f)
    if result["measured"] and result["ranking"]:
        console.print(
            "cheapest per FLOP → dearest: "
            + " < ".join(result["ranking"])
            + "  (time/FLOP < 0: the hardware absorbs the growth; > 0: it gets dearer per FLOP)"
        )
    noisy = [p for p in result["points"] if p.get("trustworthy") is False]
    if noisy:
        console.print(
            f"[yellow]{len(noisy)} point(s) marked ! have a spread above 10%: "
            "treat their times with care (busy machine? raise --budget, or --statistic min)"
            "[/yellow]"
        )


def sweep_command(
    model: str = typer.Argument(..., help="Model spec, as for `flopwise profile`"),
    dim: list[str] = typer.Option(
        ...,
        "--dim",
        "-d",
        help="NAME=V1,V2,...; NAME is batch, resolution, seq or INPUT.AXIS (repeatable)",
    ),
    inputs: list[str] = typer.Option(
        [], "--input", "-i", help="Base input spec(s) (default: the model's default input)"
    ),
    measure: bool = typer.Option(
        True, "--measure/--no-measure", help="Time every point (interleaved) on this machine"
    ),
    budget: float | None = typer.Option(
        None, help="Seconds of timing per point [default: 2]", callback=seconds_budget
    ),
    dtype: str = typer.Option("float32", help="Model dtype"),
    statistic: str = typer.Option(
        "median", help="Time per point: median of the samples, or min (steadier on a busy machine)"
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format"),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write JSON to this file too", callback=output_file
    ),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Charts of time and FLOP/s per dimension: FILE.html (one page), FILE.svg or "
        "FILE.png (one file per chart, FILE-<chart>.svg/png; png needs matplotlib)",
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Progress bar while timing"
    ),
    save: bool = typer.Option(True, "--save/--no-save", help="Keep the run in the results store"),
) -> None:
    """Cost along input dimensions: flops, α-flops, bytes and time per point, with power-law fits."""
    if budget is not None and not measure:
        raise FlopwiseError("--budget is only used with --measure; drop it or drop --no-measure")
    dims = [parse_dim(d) for d in dim]
    names = [d[0] for d in dims]
    if len(set(names)) != len(names):
        raise FlopwiseError("each dimension may be given once")
    result = run_sweep(
        model,
        dims,
        inputs or None,
        measure=measure,
        budget=2.0 if budget is None else budget,
        dtype=dtype,
        progress=progress and sys.stderr.isatty(),
        statistic=statistic,
    )
    doc = finite(result)
    if save:  # before any output: a bad --output must not lose the run
        from flopwise.commands.saving import save_run

        save_run(doc, "sweep")
    if output is not None:
        output.write_text(dumps(doc) + "\n")
        typer.echo(f"wrote {output}", err=True)
    if plot is not None:
        for path in write_plots(doc, plot):
            typer.echo(f"wrote {path}", err=True)
    if fmt is OutputFormat.json:
        typer.echo(dumps(doc))
    else:
        render_table(result)


def write_plots(doc: dict[str, Any], path: Path) -> list[Path]:
    """Draw the sweep's charts (the report's sweep charts) into ``path``; returns the files."""
    from html import escape

    from flopwise.report.plots import sweep_charts
    from flopwise.report.plots_svg import chart_png, chart_svg

    charts = sweep_charts(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        body = "\n".join(
            f"<figure>{chart_svg(c)}<figcaption>{escape(c.caption)}</figcaption></figure>"
            for c in charts
        )
        title = escape(f"flopwise sweep {doc['model']}")
        path.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1>\n{body}\n</body></html>\n"
        )
        return [path]
    if suffix not in (".svg", ".png"):
        raise FlopwiseError(f"--plot {path}: use a .html, .svg or .png file name")
    written = []
    for chart in charts:
        target = path.with_name(f"{path.stem}-{chart.id}{suffix}")
        if suffix == ".svg":
            target.write_text(chart_svg(chart) + "\n")
        else:
            try:
                chart_png(chart, target)
            except ImportError as exc:
                from flopwise.errors import MissingDependency

                raise MissingDependency("matplotlib", "plots", "PNG plots") from exc
        written.append(target)
    return written
