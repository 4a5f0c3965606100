"""The rich tables of a campaign: jobs per action and device at the end of a run
(``flopwise campaign``), and the stored results, proxy correlations and Pareto fronts of
``flopwise report --campaign``. Rendering only: the numbers come from
``flopwise.campaign.summary``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from flopwise.units import seconds, si, si_fine

__all__ = [
    "campaign_tables",
    "dry_run_lines",
    "duration",
    "failures_table",
    "jobs_line",
    "pareto_tables",
    "proxy_table",
    "summary_table",
]

_COUNTS = ("jobs", "ok", "skipped", "failed", "not run")


def summary_table(result: Any, counts: Mapping[tuple[str, str], Mapping[str, int]]) -> Table:
    """One row per action × device of ``counts`` (``summary_counts``: jobs run now (ok),
    already stored (skipped), failed and not run (an interruption)) and a total row, titled
    with ``result``'s plan, wall time and whether it was interrupted."""
    plan = result.plan
    state = " (interrupted)" if result.interrupted else ""
    title = f"campaign {plan.name} · plan {plan.hash} · {result.wall_s:.1f} s{state}"
    table = Table(title=title, title_justify="left", min_width=len(title))
    table.add_column("action")
    table.add_column("device")
    for name in _COUNTS:
        table.add_column(name, justify="right")
    total = dict.fromkeys(_COUNTS, 0)
    for (action, device), row in counts.items():
        table.add_row(action, device, *(str(row[k]) for k in total))
        for k in total:
            total[k] += row[k]
    table.add_section()
    table.add_row("all", "", *(str(total[k]) for k in total))
    return table


def _device_cells(row: dict, device: str, columns: dict[str, bool]) -> list[str]:
    """The cells of ``row`` on ``device`` (latency, GFLOP/s, then predicted and energy
    where ``columns`` has them); ``-`` where no job of the row is stored there (not run
    yet: the counts still show)."""
    jobs = row["jobs"].get(device, {})
    timed = {a: s for a, s in jobs.items() if a != "predict"}
    latency = row["latency"].get(device)
    cells: list[str] = []
    if not columns["latency"]:
        pass
    elif not timed:
        cells = ["-", "-"]
    elif latency is None:
        cells = [row["status"].get(device) or "-", "-"]
    else:
        rate = row["flops_per_second"].get(device)
        mark = "*" if device in row.get("noisy", ()) else ""
        cells = [seconds(latency) + mark, "-" if rate is None else f"{rate / 1e9:.3g}"]
    if columns["predicted"]:
        predicted = row["predicted"].get(device)
        failed = jobs.get("predict") == "failed"
        cells.append("failed" if failed else "-" if predicted is None else seconds(predicted))
    if columns["energy"]:
        joules = row["energy"].get(device)
        mark = "~" if device in row["energy_estimated"] else ""
        failed = jobs.get("energy") == "failed"
        cells.append("failed" if failed else "-" if joules is None else si_fine(joules, "J") + mark)
    return cells


def _count_cells(row: dict, memory: bool) -> list[str]:
    cells = [row["model"], row["inputs"]]
    cells += [
        "-" if row[k] is None else si(row[k], "").strip() for k in ("flops", "macs", "params")
    ]
    if row["count_status"] == "failed":
        cells[2] = "failed"
    elif row.get("fallback"):
        cells[2] += "†"
    if memory:
        peak = row["peak_memory"]
        cells.append(
            "failed"
            if row["memory_status"] == "failed"
            else "-"
            if peak is None
            else si(peak, "B").strip()
        )
    return cells


def jobs_line(jobs: Mapping[str, Any], name: str) -> str:
    """One line: how much of campaign ``name``'s plan is stored (``job_coverage``)."""
    stored = f"{jobs['stored']} of {jobs['jobs']}" if jobs["jobs"] else f"{jobs['stored']}"
    line = (
        f"campaign {name} · plan {jobs['plan_hash']} · {stored} jobs stored: "
        f"{jobs['ok']} ok, {jobs['failed']} failed"
    )
    if jobs["jobs"] and jobs["stored"] < jobs["jobs"]:
        line += f"; {jobs['jobs'] - jobs['stored']} not run yet (run the plan again to finish)"
    return line


def campaign_tables(
    rows: list[dict], name: str, coverage: Mapping[str | None, Mapping[str, int]] | None = None
) -> list[Table]:
    """One rich table per device kind that has timed or predicted jobs (model, inputs,
    FLOPs, MACs, params, the predicted peak memory where the plan asked for it, latency,
    GFLOP/s, and the predicted latency and energy per run where there are some; every row
    of the campaign, ``-`` where nothing ran on the device), or the counts alone when no
    job ran on a device. Each caption states the units of its columns and, with
    ``coverage`` (``table_coverage``), how many rows have figures."""
    devices = sorted({d for r in rows for d in r["jobs"]})
    memory = any(r["memory_status"] is not None for r in rows)
    tables = []
    for device in devices or [None]:
        title = f"campaign {name}" + (f" · {device}" if device else " · counts")
        table = Table(title=title, title_justify="left")
        table.add_column("model", no_wrap=True)
        table.add_column("inputs", no_wrap=True)
        for col in ("FLOPs", "MACs", "params") + (("peak mem",) if memory else ()):
            table.add_column(col, justify="right")
        columns = {
            # a plan that only predicts there never times: no latency column of "-"
            "latency": any(set(r["jobs"].get(device, {})) - {"predict"} for r in rows),
            "predicted": any(device in r["predicted"] for r in rows),
            "energy": any("energy" in r["jobs"].get(device, {}) for r in rows),
        }
        if device and columns["latency"]:
            table.add_column("latency", justify="right", no_wrap=True)
            table.add_column("GFLOP/s", justify="right")
        if device:
            if columns["predicted"]:
                table.add_column("predicted", justify="right", no_wrap=True)
            if columns["energy"]:
                table.add_column("energy/run", justify="right", no_wrap=True)
        for row in rows:
            cells = _count_cells(row, memory)
            if device:
                cells += _device_cells(row, device, columns)
            table.add_row(*cells)
        table.caption = _caption(rows, device, memory, columns, coverage)
        tables.append(table)
    return tables


def _units(device: str | None, memory: bool, columns: Mapping[str, bool]) -> str:
    """What each column of a table is per, and how the derived one is had."""
    per_pass = ["FLOPs", "MACs"] + (["peak mem (predicted)"] if memory else [])
    timed = bool(device) and columns["latency"]
    if device:
        per_pass += ["latency (median)"] if timed else []
        per_pass += ["predicted latency"] if columns["predicted"] else []
        per_pass += ["energy/run"] if columns["energy"] else []
    units = f"per forward pass: {', '.join(per_pass)}"
    return units + ("; GFLOP/s = FLOPs ÷ latency" if timed else "")


#: How :func:`_coverage_note` words each count of ``table_coverage``.
_NOT_TIMED = {"timing failed": "failed", "not timed": "not timed yet"}


def _coverage_note(device: str | None, counts: Mapping[str, int]) -> str:
    """``2 of 3 rows timed on cpu (1 failed)``, or for the counts ``3 of 3 rows counted``."""
    if device is None:
        failed = f" ({counts['count failed']} failed)" if counts["count failed"] else ""
        return f"{counts['counted']} of {counts['rows']} rows counted{failed}"
    rest = [f"{counts[k]} {words}" for k, words in _NOT_TIMED.items() if counts[k]]
    more = f" ({', '.join(rest)})" if rest else ""
    return f"{counts['timed']} of {counts['rows']} rows timed on {device}{more}"


def _caption(
    rows: list[dict],
    device: str | None,
    memory: bool,
    columns: Mapping[str, bool],
    coverage: Mapping[str | None, Mapping[str, int]] | None,
) -> str:
    """The units of the table's columns, how many rows have figures, and the footnotes its
    marks need."""
    notes = [_units(device, memory, columns)]
    if coverage is not None:
        notes.append(_coverage_note(None, coverage[None]))
        if device is not None and device in coverage and columns["latency"]:
            notes[-1] += "; " + _coverage_note(device, coverage[device])
    if device and any(device in r.get("noisy", ()) for r in rows):
        notes.append("* spread above the trust threshold (busy machine?): re-run to confirm")
    methods = sorted({r["predict_method"][device] for r in rows if device in r["predict_method"]})
    if methods:
        notes.append(f"predicted by: {', '.join(methods)} (flopwise predict)")
    if device and any(device in r["energy_estimated"] for r in rows):
        notes.append("~ energy estimated (no power reader: a CPU-time power model)")
    if any(r.get("fallback") for r in rows):
        notes.append("† counted on real CPU tensors (a data-dependent op fails on meta)")
    return "\n".join(notes)


def proxy_table(
    correlations: Mapping[str, Mapping[str, tuple[float, float, int]]],
    agreement: list[tuple[str, str, float, int]],
    name: str,
) -> Table | None:
    """How well each proxy ranks the models' latency per device (Spearman ρ, Kendall τ-b:
    ``proxy_correlations``), and how well one device's ranking predicts another's
    (``device_agreement``); None without timings."""
    if not correlations and not agreement:
        return None
    title = f"campaign {name} · rank correlation with latency"
    table = Table(title=title, title_justify="left", min_width=len(title))
    table.caption = "n: model × input rows timed; 1: the same order, -1: reversed"
    for col, justify in (
        ("device", "left"),
        ("against", "left"),
        ("Spearman ρ", "right"),
        ("Kendall τ-b", "right"),
        ("n", "right"),
    ):
        table.add_column(col, justify=justify)
    for device, per in correlations.items():
        for proxy, (rho, tau, n) in per.items():
            table.add_row(device, proxy, f"{rho:.3f}", f"{tau:.3f}", str(n))
    for a, b, rho, n in agreement:
        table.add_row(a, f"latency on {b}", f"{rho:.3f}", "", str(n))
    return table


def pareto_tables(fronts: Mapping[str, Mapping[str, Any]], name: str) -> list[Table]:
    """One rich table per device kind: its Pareto front (``pareto_fronts``)."""
    tables = []
    for device, front in fronts.items():
        cost, benefit = front["cost"], front["benefit"]
        against = "FLOPs" if benefit == "flops" else benefit
        title = f"campaign {name} · {device} · Pareto front, {cost} against {against}"
        table = Table(title=title, title_justify="left", min_width=len(title))
        table.add_column("model", no_wrap=True)
        table.add_column("inputs", no_wrap=True)
        table.add_column("latency" if cost == "latency" else "energy/run", justify="right")
        table.add_column("accuracy" if benefit == "accuracy" else "FLOPs", justify="right")
        for p in front["front"]:
            c = seconds(p["cost"]) if cost == "latency" else si_fine(p["cost"], "J", 4)
            b = f"{p['benefit']:.4g}" if benefit == "accuracy" else si(p["benefit"], "").strip()
            table.add_row(p["model"], p["inputs"], c, b)
        caption = f"{len(front['front'])} of {front['n']} model × input rows on the front"
        if front["left_out"]:
            caption += f"; {front['left_out']} without {cost} or {benefit} left out"
        table.caption = caption
        tables.append(table)
    return tables


def failures_table(failures: list[Mapping[str, Any]], name: str) -> Table | None:
    """The failed jobs (``failed_jobs``) and the first line of each error; None if none."""
    if not failures:
        return None
    title = f"campaign {name} · failed jobs"
    table = Table(title=title, title_justify="left", min_width=len(title))
    for col in ("model", "inputs", "job", "attempts", "error"):
        table.add_column(col, justify="right" if col == "attempts" else "left")
    for f in failures:
        attempts = "-" if f["attempts"] is None else str(f["attempts"])
        job = f"{f['action']}@{f['device']}"
        table.add_row(f["model"], f["inputs"], job, attempts, f["error"])
    table.caption = (
        f"{len(failures)} failed job(s), tried again when the plan runs again; "
        "the tracebacks are in the stored runs (flopwise history)"
    )
    return table


def dry_run_lines(dry: Any, limit: int) -> list[str]:
    """The lines of ``flopwise campaign PLAN --dry-run`` for a ``DryRun``: the first
    ``limit`` jobs still to run (all when ``limit`` <= 0), then the counts and the
    estimated duration with what it is based on."""
    plan, todo = dry.plan, dry.todo
    shown = todo if limit <= 0 else todo[:limit]
    lines = [f"{job.key}  {job.describe()}" for job in shown]
    if len(shown) < len(todo):
        lines.append(f"... {len(todo) - len(shown)} more (--show 0 lists all)")
    parts = [
        f"{n} job(s) {how}"
        for n, how in (
            (len(dry.known), "timed by earlier runs"),
            (len(dry.scaled), "scaled by their counted FLOPs from the stored timings"),
        )
        if n
    ]
    guesses = (
        f"counts ~{dry.count_s:g} s each, packed; timings their budget + "
        f"{dry.measure_overhead_s:g} s, one at a time"
    )
    if len(dry.known) + len(dry.scaled) < len(todo):
        parts.append(f"the rest guessed: {guesses}" if parts else f"guessed: {guesses}")
    lines.append(
        f"campaign {plan.name} (plan {plan.hash}): {len(plan.jobs)} jobs, {len(dry.done)} already "
        f"stored, {len(todo)} to run; estimated {duration(dry.estimate_s)} on this machine "
        f"with {dry.workers} worker(s) ({', '.join(parts)})"
    )
    return lines


def duration(seconds: float) -> str:
    """Whole seconds as ``1 h 05 min``, ``3 min 07 s`` or ``42 s``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
