"""The rich tables of a campaign: jobs per action and device at the end of a run
(``flopwise campaign``), and the stored results, proxy correlations and Pareto fronts of
``flopwise report --campaign``. Rendering only: the numbers come from
``flopwise.campaign.summary``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from flopwise.units import seconds, si

__all__ = [
    "campaign_tables",
    "dry_run_lines",
    "duration",
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
    table = Table(
        title=f"campaign {plan.name} · plan {plan.hash} · {result.wall_s:.1f} s{state}",
        title_justify="left",
    )
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


def campaign_tables(rows: list[dict], name: str) -> list[Table]:
    """One rich table per device kind that has timings (model, inputs, FLOPs, MACs, params,
    latency), plus the counts alone when no job measured anything."""
    devices = sorted({d for r in rows for d in r["status"]})
    noisy_seen = False
    tables = []
    for device in devices or [None]:
        title = f"campaign {name}" + (f" · {device}" if device else " · counts")
        table = Table(title=title, title_justify="left")
        table.add_column("model", no_wrap=True)
        table.add_column("inputs", no_wrap=True)
        for col in ("FLOPs", "MACs", "params"):
            table.add_column(col, justify="right")
        if device:
            table.add_column("latency", justify="right", no_wrap=True)
            table.add_column("GFLOP/s", justify="right")
        for row in rows:
            cells = [row["model"], row["inputs"]]
            cells += [
                "-" if row[k] is None else si(row[k], "").strip()
                for k in ("flops", "macs", "params")
            ]
            if row["count_status"] == "failed":
                cells[2] = "failed"
            if device:
                status, latency = row["status"].get(device), row["latency"].get(device)
                if status is None:
                    continue
                if status == "failed" or latency is None:
                    cells += [status or "-", "-"]
                else:
                    rate = row["flops"] / latency if row["flops"] else None
                    mark = "*" if device in row.get("noisy", ()) else ""
                    noisy_seen = noisy_seen or bool(mark)
                    cells += [seconds(latency) + mark, "-" if rate is None else f"{rate / 1e9:.3g}"]
            table.add_row(*cells)
        if device and noisy_seen:
            table.caption = "* spread above the trust threshold (busy machine?): re-run to confirm"
        tables.append(table)
    return tables


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
    table = Table(title=f"campaign {name} · rank correlation with latency", title_justify="left")
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
        table = Table(
            title=f"campaign {name} · {device} · Pareto front, {cost} against {against}",
            title_justify="left",
        )
        table.add_column("model", no_wrap=True)
        table.add_column("inputs", no_wrap=True)
        table.add_column("latency" if cost == "latency" else "energy/run", justify="right")
        table.add_column("accuracy" if benefit == "accuracy" else "FLOPs", justify="right")
        for p in front["front"]:
            c = seconds(p["cost"]) if cost == "latency" else f"{p['cost']:.4g} J"
            b = f"{p['benefit']:.4g}" if benefit == "accuracy" else si(p["benefit"], "").strip()
            table.add_row(p["model"], p["inputs"], c, b)
        caption = f"{len(front['front'])} of {front['n']} model × input rows on the front"
        if front["left_out"]:
            caption += f"; {front['left_out']} without {cost} or {benefit} left out"
        table.caption = caption
        tables.append(table)
    return tables


def dry_run_lines(dry: Any, limit: int) -> list[str]:
    """The lines of ``flopwise campaign PLAN --dry-run`` for a ``DryRun``: the first
    ``limit`` jobs still to run (all when ``limit`` <= 0), then the counts and the
    estimated duration with what it is based on."""
    plan, todo = dry.plan, dry.todo
    shown = todo if limit <= 0 else todo[:limit]
    lines = [f"{job.key}  {job.describe()}" for job in shown]
    if len(shown) < len(todo):
        lines.append(f"... {len(todo) - len(shown)} more (--show 0 lists all)")
    known = dry.known
    basis = (
        f"{len(known)} job(s) timed by earlier runs, the rest guessed: " if known else "guessed: "
    )
    lines.append(
        f"campaign {plan.name} (plan {plan.hash}): {len(plan.jobs)} jobs, {len(dry.done)} already "
        f"stored, {len(todo)} to run; estimated {duration(dry.estimate_s)} on this machine "
        f"with {dry.workers} worker(s) ({basis}counts ~{dry.count_s:g} s each, packed; timings "
        f"their budget + {dry.measure_overhead_s:g} s, one at a time)"
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
