"""``flopwise history``, ``flopwise diff`` and ``flopwise export``: the results store on the
command line.

``diff`` is a CI gate: ``flopwise diff BASE.json NEW.json --fail-over flops=1%`` exits 1 when
the model's FLOPs grew by more than 1%, 0 otherwise, and 2 on a usage error.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import typer

from flopwise.commands._options import non_negative, output_file
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps
from flopwise.store.metrics import METRICS
from flopwise.units import seconds, si

_DB_HELP = "Results database (default: $FLOPWISE_DB or ~/.local/share/flopwise/results.sqlite)."
_UNITS = {"flops": "FLOPs", "macs": "MACs", "bytes": "B", "params": "params", "activations": ""}


class ThresholdExceeded(FlopwiseError):
    """``flopwise diff --fail-over``: a gated metric grew more than allowed."""

    exit_code = 1


def _si(value: float | int | None, metric: str, *, unit: bool = True) -> str:
    if metric == "time":
        return seconds(value)
    return si(
        value, _UNITS.get(metric, "") if unit else "", kilo="k", sep=" " if unit else "", tidy=False
    )


def _pct(rel: float | None) -> str:
    if rel is None:
        return ""
    if math.isinf(rel):
        return "new"
    return f"{rel * 100:+.2f}%"


def _console():
    from flopwise.report.console import stdout_console

    return stdout_console(highlight=False)  # logs and pipes: whole values


def history(
    model: str | None = typer.Argument(
        None, help="Only runs of exactly this model; * and ? make a glob pattern (torchvision:*)."
    ),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    limit: int = typer.Option(30, "--limit", "-n", help="Show at most this many runs."),
    kind: str | None = typer.Option(None, "--kind", help="profile, measure, sweep or compare."),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """List stored runs, newest first."""
    from flopwise.store import RUN_KINDS, Store, default_db_path

    if kind is not None and kind not in RUN_KINDS:
        raise FlopwiseError(f"--kind {kind!r} is not a run kind; use one of {', '.join(RUN_KINDS)}")
    if limit < 1:
        raise FlopwiseError(f"--limit must be >= 1 (got {limit})")
    path = Path(db).expanduser() if db is not None else default_db_path()
    if path.exists():
        with Store(path, readonly=True) as store:
            runs = store.list_runs(model=model, limit=limit, kind=kind)
    else:
        runs = []
    if fmt == "json":
        typer.echo(dumps([r.to_dict() for r in runs]))
        return
    if fmt != "table":
        raise FlopwiseError(f"unknown format {fmt!r}; expected table or json")
    from rich.table import Table

    console = _console()
    if not runs:
        from flopwise.store import is_model_pattern

        hint = ""
        if model and not is_model_pattern(model):
            hint = f" (model names match exactly; for a pattern use *, e.g. '{model}*')"
        console.print(f"No runs{' of ' + model if model else ''} in {path}.{hint}", markup=False)
        return
    table = Table(title=f"flopwise runs in {path}", title_justify="left")
    for name, justify in (
        ("id", "right"),
        ("created (UTC)", "left"),
        ("kind", "left"),
        ("model", "left"),
        ("FLOPs", "right"),
        ("bytes", "right"),
        ("params", "right"),
        ("time", "right"),
        ("machine", "left"),
        ("torch", "left"),
        ("label", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name in ("id", "created (UTC)"))
    for r in runs:
        cpu = (r.cpu or "?").replace("(R)", "").replace("(TM)", "").replace(" CPU", "")
        machine = f"{cpu[:28]} ×{r.threads}" + (f" + {r.gpu}" if r.gpu else "")
        table.add_row(
            str(r.id),
            r.created.replace("T", " ").removesuffix("+00:00"),
            r.kind,
            r.model,
            _si(r.flops, "flops"),
            _si(r.bytes, "bytes"),
            _si(r.params, "params"),
            _si(r.time_s, "time"),
            f"{machine} [{r.machine_id[:6]}]",
            r.torch_version or "",
            r.label or "",
        )
    console.print(table)


def diff(
    run_a: str = typer.Argument(
        ..., help="Before: run id, latest, latest~N, @MODEL or a JSON file."
    ),
    run_b: str = typer.Argument(
        ..., help="After: run id, latest, latest~N, @MODEL or a JSON file."
    ),
    fail_over: list[str] = typer.Option(
        None,
        "--fail-over",
        help="Exit 1 when METRIC grows by more than N% (or by N units): flops=1%, bytes=5%, "
        "params=0, time=10%. Repeatable.",
    ),
    metric: list[str] = typer.Option(
        None,
        "--metric",
        "-m",
        help=f"Metrics to show (repeatable or comma-separated; {', '.join(METRICS)}). "
        "Default: flops, bytes, params and time when measured.",
    ),
    per_module: bool = typer.Option(
        False, "--per-module", help="Apply --fail-over to every module, not only to the totals."
    ),
    show_all: bool = typer.Option(False, "--all", help="Show unchanged modules too."),
    depth: int | None = typer.Option(
        None, "--depth", "-d", help="Show modules up to this depth.", callback=non_negative
    ),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """Show what changed per module between two runs; with --fail-over, gate CI on it."""
    from flopwise.store.diff import (
        check_thresholds,
        diff_documents,
        diff_totals,
        parse_threshold,
    )
    from flopwise.store.refs import load_document

    thresholds = [parse_threshold(t) for t in fail_over or ()]
    shown = _metrics(metric)
    doc_a, label_a = load_document(run_a, db)
    doc_b, label_b = load_document(run_b, db)
    rows = diff_documents(doc_a, doc_b)
    total = diff_totals(doc_a, doc_b)
    if not metric:
        shown = [m for m in shown if m != "time" or total.a.get("time") or total.b.get("time")]
    violations = check_thresholds(doc_a, doc_b, thresholds, per_module=per_module)
    visible = [
        r for r in rows if (show_all or r.status != "same") and (depth is None or r.depth <= depth)
    ]
    if fmt == "json":
        typer.echo(
            dumps(
                {
                    "a": label_a,
                    "b": label_b,
                    "total": total.to_dict(),
                    "modules": [r.to_dict() for r in visible],
                    "thresholds": [str(t) for t in thresholds],
                    "violations": [v.describe() for v in violations],
                },
            )
        )
    elif fmt == "table":
        _print_diff(label_a, label_b, doc_a, doc_b, total, visible, rows, shown)
    else:
        raise FlopwiseError(f"unknown format {fmt!r}; expected table or json")
    if violations:  # one line, as every error: the violations joined
        raise ThresholdExceeded(
            "FAIL: "
            + "; ".join(v.describe() for v in violations)
            + f" ({len(violations)} threshold violation(s), exit 1)"
        )
    if thresholds and fmt == "table":
        typer.echo("OK: " + ", ".join(f"{t} not exceeded" for t in thresholds))


def _metrics(requested: list[str] | None) -> list[str]:
    if not requested:
        return ["flops", "bytes", "params", "time"]
    out: list[str] = []
    for item in requested:
        for name in item.split(","):
            name = name.strip()
            if name not in METRICS:
                raise FlopwiseError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
            if name not in out:
                out.append(name)
    return out


def _cell(row, metric: str) -> str:
    a, b = row.a.get(metric), row.b.get(metric)
    if a is None and b is None:
        return "—"
    if row.status == "added" or a is None:
        return f"[green]{_si(b, metric, unit=False)} (new)[/]"
    if row.status == "removed" or b is None:
        return f"[red]{_si(a, metric, unit=False)} (gone)[/]"
    if a == b:
        return _si(b, metric, unit=False)
    rel = row.relative(metric)
    grew = b > a
    style = "red" if grew else "green"
    if metric == "time":
        style = "yellow" if grew else "cyan"  # time is noisy: not the same alarm colour
    return f"{_si(a, metric, unit=False)} → {_si(b, metric, unit=False)} [{style}]{_pct(rel)}[/]"


def _print_diff(label_a, label_b, doc_a, doc_b, total, visible, rows, shown) -> None:
    from rich.table import Table

    console = _console()
    console.print(
        f"A: {label_a}  {doc_a.get('model', '?')}\nB: {label_b}  {doc_b.get('model', '?')}"
    )
    machine_a, machine_b = doc_a.get("machine"), doc_b.get("machine")
    if "time" in shown and machine_a and machine_b and machine_a != machine_b:
        console.print(
            "[yellow]note: the runs come from different machines; time is not comparable.[/]"
        )
    counts = {s: sum(r.status == s for r in rows) for s in ("changed", "added", "removed", "same")}
    table = Table(
        title_justify="left",
        title=(
            f"{counts['changed']} changed, {counts['added']} added, {counts['removed']} removed, "
            f"{counts['same']} unchanged modules"
        ),
    )
    table.add_column("module")
    table.add_column("type")
    headers = {
        "flops": "FLOPs",
        "macs": "MACs",
        "bytes": "bytes (B)",
        "params": "params",
        "activations": "activations",
        "time": "time",
    }
    for m in shown:
        table.add_column(headers[m], justify="right", no_wrap=True)
    table.add_row("[bold](total)[/]", "", *[_cell(total, m) for m in shown], end_section=True)
    for r in visible:
        indent = "  " * max(r.depth, 0)
        name = r.path or "(model)"
        type_text = r.type or ""
        if r.type_a and r.type_b and r.type_a != r.type_b:
            type_text = f"{r.type_a} → {r.type_b}"
        table.add_row(f"{indent}{name}", type_text, *[_cell(r, m) for m in shown])
    console.print(table)


def export(
    run: str = typer.Argument(..., help="Run id, latest, latest~N or @MODEL."),
    fmt: str = typer.Option("json", "--format", "-f", help="json or csv (one line per module)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write here instead of stdout.", callback=output_file
    ),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Export a stored run as JSON (the full document) or CSV (its modules)."""
    from flopwise.store import Store
    from flopwise.store.refs import resolve_run_id

    with Store(db, create=False, readonly=True) as store:
        text = store.export(resolve_run_id(store, run), fmt=fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``history``, ``diff`` and ``export`` to the ``flopwise`` command."""
    app.command("history")(history)
    app.command("diff")(diff)
    app.command("export")(export)


__all__ = ["register", "history", "diff", "export", "ThresholdExceeded"]
