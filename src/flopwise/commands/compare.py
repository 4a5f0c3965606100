"""``flopwise compare MODEL...``: every model in one table, how well each cost proxy tracks
measured time on this machine, and the Pareto front of accuracy against time.

Counts come from meta tensors (no weights needed); with ``--measure`` (the default) every
model is built on the CPU and timed *interleaved* with the others in one run, so a burst
of load from a neighbour hits all of them alike, and each median is reported with its
spread. A MODEL may carry its own inputs after ``@``:
``torchvision:resnet50@2x3x224x224`` or ``hf:gpt2@input_ids=1x256:int64``.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from enum import Enum
from typing import Any

import typer

from flopwise.commands._options import seconds_budget
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps

SCHEMA = "flopwise.compare/1"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)


def split_model_arg(text: str, default_inputs: list[str]) -> tuple[str, list[str]]:
    """``"spec@in1,in2"`` → ``("spec", ["in1", "in2"])``; without ``@`` the default inputs."""
    spec, sep, rest = text.partition("@")
    if sep:
        specs = [s.strip() for s in rest.split(",") if s.strip()]
        if not specs:
            raise FlopwiseError(f"no input spec after '@' in {text!r}")
        return spec.strip(), specs
    return text.strip(), list(default_inputs)


def compare_command(
    models: list[str] = typer.Argument(
        ...,
        help="Models to compare (same forms as `flopwise profile`); MODEL@SPEC[,SPEC] sets its inputs",
    ),
    accuracy: list[str] = typer.Option(
        [], "--accuracy", "-a", help="NAME=VALUE, repeatable: resnet50=76.1 (for the Pareto front)"
    ),
    inputs: list[str] = typer.Option(
        [], "--input", "-i", help="Input spec for every model without its own @SPEC, repeatable"
    ),
    measure: bool = typer.Option(
        True, "--measure/--no-measure", help="Time the models (interleaved) on this machine"
    ),
    budget: float | None = typer.Option(
        None,
        help="Seconds of timing for all models together [default: 20]",
        callback=seconds_budget,
    ),
    energy: bool = typer.Option(False, "--energy", help="Also measure energy per run"),
    dtype: str = typer.Option("float32", help="Model dtype: float32, bfloat16, float16 ..."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format"),
    threads: int = typer.Option(
        0, "--threads", help="torch threads while timing (0: torch's default)"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars"),
    save: bool = typer.Option(True, "--save/--no-save", help="Keep the run in the results store"),
) -> None:
    """Compare models: params, FLOPs, α-FLOPs, activations, bytes, measured time (and energy);
    the correlation of each proxy with time; the Pareto front when accuracies are given."""
    from flopwise.analysis.compare import parse_accuracies

    if not models:
        raise FlopwiseError("give at least one MODEL")
    if energy and not measure:
        raise FlopwiseError("--energy needs --measure")
    if budget is not None and not measure:
        raise FlopwiseError("--budget is only used with --measure; drop it or drop --no-measure")
    if threads < 0:
        raise FlopwiseError("--threads must be >= 0")
    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        acc = parse_accuracies(accuracy)
    except ValueError as exc:
        raise FlopwiseError(str(exc)) from None
    bad = [f"{k}={v}" for k, v in acc.items() if not math.isfinite(v)]
    if bad:
        raise FlopwiseError(f"--accuracy {', '.join(bad)}: the value must be a finite number")
    entries = [split_model_arg(m, inputs) for m in models]
    result = run_compare(
        entries,
        accuracies=acc,
        measure=measure,
        budget=20.0 if budget is None else budget,
        energy=energy,
        dtype=dtype,
        progress=progress and sys.stderr.isatty(),
    )
    if save:
        from flopwise.commands.saving import save_run

        save_run(result, "compare")
    if fmt is OutputFormat.json:
        typer.echo(dumps(result))
    elif fmt is OutputFormat.csv:
        typer.echo(render_csv(result), nl=False)
    else:
        typer.echo(render_table(result), nl=False)


def _alpha_constants() -> tuple[Any, str]:
    """This machine's fitted α constants when a host profile carries them, else the
    authors' defaults."""
    from flopwise.analysis.alpha import DEFAULT_CONSTANTS, AlphaConstants

    try:
        from flopwise.measure.hardware import get_profile

        hw = get_profile("host", measure_if_missing=False)
        if hw.alpha:
            return AlphaConstants.from_dict(hw.alpha), "fitted on this machine"
    except Exception:  # no host profile, or an unreadable one: the defaults are fine
        pass
    return DEFAULT_CONSTANTS, "authors' constants (run `flopwise fit-alpha` to refit)"


def run_compare(
    entries: list[tuple[str, list[str]]],
    *,
    accuracies: dict[str, float] | None = None,
    measure: bool = True,
    budget: float = 20.0,
    energy: bool = False,
    dtype: str = "float32",
    progress: bool = False,
) -> dict[str, Any]:
    """Count (and time) every ``(spec, inputs)`` entry; returns the JSON-ready comparison."""
    from flopwise.analysis import compare as C
    from flopwise.analysis.alpha import alpha_totals
    from flopwise.pipeline import load
    from flopwise.profile import profile

    constants, alpha_source = _alpha_constants()
    rows: list[C.CompareRow] = []
    labels: list[str] = []
    for spec, spec_inputs in entries:
        net, args, kwargs, name = load(spec, spec_inputs, "meta", dtype)
        prof = profile(net, *args, kwargs=kwargs, tensors="meta", name=spec)
        alpha = alpha_totals(prof, constants)
        t = prof.totals
        row = C.CompareRow(
            name=name,
            spec=spec,
            inputs=prof.inputs,
            params=t.params,
            flops=t.flops,
            macs=t.macs,
            activations=t.activations,
            bytes=t.bytes_read + t.bytes_written,
            alpha_flops=alpha["alpha_flops"] + alpha["other_flops"],
            alpha_macs=alpha["alpha_macs"] + alpha["other_macs"],
            complete=prof.complete,
        )
        rows.append(row)
        labels.append(_label(spec, prof.inputs, labels))
    if len(set(labels)) != len(labels):
        labels = [f"{i + 1}. {lab}" for i, lab in enumerate(labels)]
    for row, lab in zip(rows, labels, strict=True):
        row.extra["label"] = lab

    matched, unmatched = C.match_accuracies(rows, accuracies or {})
    if unmatched:  # refused before the timing, not noted after it
        raise FlopwiseError(
            f"--accuracy {', '.join(unmatched)}: no such model among "
            f"{', '.join(r.spec for r in rows)}"
        )
    for i, value in matched.items():
        rows[i].accuracy = value
    notes: list[str] = []
    if measure:
        _measure(rows, entries, labels, budget, energy, dtype, progress, notes)

    measured = [r for r in rows if r.median_s is not None]
    correlations = C.proxy_correlations(rows) if measure else {}
    if measure and len(measured) < 3:
        notes.append("correlations need at least 3 measured models")
    pareto = None
    scored = [r for r in rows if r.accuracy is not None]
    if scored:
        cost_key = "median_s" if measure else "flops"
        points = [
            (r.extra["label"], float(getattr(r, cost_key)), float(r.accuracy))
            for r in scored
            if getattr(r, cost_key) is not None
        ]
        pareto = {
            "cost": "measured median time (s)" if measure else "FLOPs (not measured)",
            "front": C.pareto_front(points),
            "points": len(points),
        }
    untrusted = [r.extra["label"] for r in measured if r.trustworthy is False]
    if untrusted:
        notes.append(
            "noisy timings (spread above threshold; re-run or raise --budget): "
            + ", ".join(untrusted)
        )
    incomplete = [r.extra["label"] for r in rows if not r.complete]
    if incomplete:
        notes.append("counts incomplete (uncounted ops): " + ", ".join(incomplete))
    return {
        "schema": SCHEMA,
        "dtype": dtype,
        "mode": {"phase": "forward", "tensors": "meta (counts)", "measured": measure},
        "convention": {
            "flops": "a multiply-add is 2 FLOPs",
            "alpha_flops": "α · flops of conv and dense layers plus the other ops' flops "
            f"uncorrected; α constants: {alpha_source}",
            "bytes": "unfused read + written bytes",
            "time": "median of interleaved samples; spread = IQR / median",
        },
        "rows": [r.to_dict() | {"label": r.extra["label"]} for r in rows],
        "correlations": correlations,
        "best_proxy": C.best_proxy(correlations) if correlations else None,
        "pareto": pareto,
        "notes": notes,
    }


def _label(spec: str, inputs: list[dict[str, Any]], previous: list[str]) -> str:
    short = spec.rpartition(":")[2].rsplit("/", 1)[-1].removesuffix(".json") or spec
    if short in previous or any(p.startswith(short + " ") for p in previous):
        shape = "; ".join("x".join(str(s) for s in d.get("shape", [])) for d in inputs)
        return f"{short} {shape}"
    return short


def _measure(
    rows: list[Any],
    entries: list[tuple[str, list[str]]],
    labels: list[str],
    budget: float,
    energy: bool,
    dtype: str,
    progress: bool,
    notes: list[str],
) -> None:
    import torch

    from flopwise.measure.timing import measure_interleaved
    from flopwise.pipeline import load

    fns = {}
    items = {}
    for (spec, spec_inputs), lab in zip(entries, labels, strict=True):
        net, args, kwargs, _ = load(spec, spec_inputs, "cpu", dtype)

        def call(net=net, args=args, kwargs=kwargs) -> Any:
            with torch.inference_mode():
                return net(*args, **kwargs)

        fns[lab] = call
        first = next(
            (a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)), None
        )
        items[lab] = int(first.shape[0]) if first is not None and first.dim() else 1
    lat = measure_interleaved(fns, warmup=2, budget_s=budget, progress=progress, items=items)
    for row, lab in zip(rows, labels, strict=True):
        lt = lat[lab]
        row.median_s = lt.median_s
        row.min_s = lt.min_s
        row.spread = lt.rel_iqr
        row.repeats = lt.repeats
        row.trustworthy = lt.trustworthy
        row.reason = lt.reason
    if energy:
        from flopwise.measure.energy import energy_report

        for row, lab in zip(rows, labels, strict=True):
            try:
                rep = energy_report(fns[lab], repeats=10, flops=row.flops, items=items[lab])
            except Exception as exc:  # energy is optional: say why it is missing
                notes.append(f"energy of {lab} not measured: {exc}")
                continue
            row.energy_j = rep.get("joules_per_run")
            row.energy_method = f"{rep.get('method')} ({rep.get('uncertainty')})"


# -- rendering ------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str) -> str:
    from flopwise.report.units import si

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return si(value, unit)


def render_table(result: dict[str, Any]) -> str:
    """The comparison as rich tables (renders only)."""
    from rich.console import Console
    from rich.table import Table

    from flopwise.report.console import table_width
    from flopwise.report.units import count, seconds

    console = Console(record=True, width=table_width(160), file=_Null())
    rows = result["rows"]
    show_energy = any(r["energy_j"] is not None for r in rows)
    show_acc = any(r["accuracy"] is not None for r in rows)
    measured = any(r["median_s"] is not None for r in rows)
    front = set((result.get("pareto") or {}).get("front") or [])
    table = Table(title="models", title_justify="left")
    cols = ["model", "inputs", "params", "FLOPs", "α-FLOPs", "activations", "bytes"]
    if measured:
        cols += ["time (median)", "spread"]
    if show_energy:
        cols.append("energy / run")
    if show_acc:
        cols += ["accuracy", "Pareto"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("model", "inputs") else "right")
    for r in rows:
        shape = "; ".join("x".join(str(s) for s in d.get("shape", [])) for d in r["inputs"])
        cells = [
            r["label"] + ("" if r["complete"] else " *"),
            shape,
            count(r["params"], "params"),
            _fmt(r["flops"], "FLOPs"),
            _fmt(r["alpha_flops"], "FLOPs"),
            _fmt(r["activations"], "").strip(),
            _fmt(r["bytes"], "B"),
        ]
        if measured:
            cells.append(seconds(r["median_s"]) if r["median_s"] is not None else "-")
            flag = "" if r["trustworthy"] in (True, None) else " !"
            cells.append(f"{r['spread']:.0%}{flag}" if r["spread"] is not None else "-")
        if show_energy:
            cells.append(_fmt(r["energy_j"], "J"))
        if show_acc:
            cells.append(f"{r['accuracy']:g}" if r["accuracy"] is not None else "-")
            cells.append("yes" if r["label"] in front else "")
        table.add_row(*cells)
    console.print(table)
    corr = result.get("correlations") or {}
    if corr:
        from flopwise.analysis.compare import PROXIES

        names = {k: label for k, label, _ in PROXIES}
        ct = Table(
            title=f"correlation of each proxy with measured time ({next(iter(corr.values()))['n']} models)",
            title_justify="left",
        )
        for c in ("proxy", "Pearson", "Spearman", "Kendall τ-b", "log-log R²"):
            ct.add_column(c, justify="left" if c == "proxy" else "right")
        for key, st in corr.items():
            label = names.get(key, key) + (" (best)" if key == result.get("best_proxy") else "")
            ct.add_row(
                label,
                *(_num(st[k]) for k in ("pearson", "spearman", "kendall", "loglog_r2")),
            )
        console.print(ct)
    pareto = result.get("pareto")
    if pareto:
        console.print(
            f"Pareto front (accuracy vs {pareto['cost']}): "
            + (" → ".join(pareto["front"]) if pareto["front"] else "none"),
            highlight=False,
        )
    conv = result["convention"]
    console.print(
        f"FLOPs: {conv['flops']}; α-FLOPs: {conv['alpha_flops']}; bytes: {conv['bytes']}"
        + (f"; time: {conv['time']} (! = noisy)" if measured else ""),
        highlight=False,
    )
    methods = sorted({r["energy_method"] for r in rows if r.get("energy_method")})
    if methods:
        console.print(f"energy: joules per run, {'; '.join(methods)}", highlight=False)
    for note in result["notes"]:
        console.print(f"note: {note}", highlight=False)
    return console.export_text()


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.3f}"


def render_csv(result: dict[str, Any]) -> str:
    """One CSV row per model; integer counts stay integers, times in seconds."""
    keys = [
        "label",
        "spec",
        "inputs",
        "params",
        "flops",
        "macs",
        "alpha_flops",
        "alpha_macs",
        "activations",
        "bytes",
        "median_s",
        "min_s",
        "spread",
        "repeats",
        "trustworthy",
        "energy_j",
        "energy_method",
        "accuracy",
        "pareto",
    ]
    front = set((result.get("pareto") or {}).get("front") or [])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(keys)
    for r in result["rows"]:
        values = []
        for k in keys:
            if k == "inputs":
                values.append(
                    ";".join(
                        f"{d.get('name')}={'x'.join(str(s) for s in d.get('shape', []))}"
                        for d in r["inputs"]
                    )
                )
            elif k == "pareto":
                values.append("yes" if r["label"] in front else "")
            else:
                v = r.get(k)
                values.append("" if v is None else v)
        writer.writerow(values)
    return buf.getvalue()


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
