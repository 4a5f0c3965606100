"""The table printed at the end of a campaign: jobs per action and device, by status."""

from __future__ import annotations

from collections import defaultdict

from rich.table import Table

from flopwise.campaign.runner import CampaignResult

_STATUSES = ("ok", "skipped", "failed")


def summary_counts(result: CampaignResult) -> dict[tuple[str, str], dict[str, int]]:
    """``{(action, device): {"jobs", "ok", "skipped", "failed", "not run"}}`` in plan order."""
    rows: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("jobs", *_STATUSES, "not run"), 0)
    )
    for job in result.plan.jobs:
        row = rows[(job.action, job.device)]
        row["jobs"] += 1
        outcome = result.outcomes.get(job.key)
        row[outcome.status if outcome else "not run"] += 1
    return dict(rows)


def summary_table(result: CampaignResult) -> Table:
    """A rich table: one row per action × device with jobs run now (ok), already stored
    (skipped), failed and not run (an interruption), and a total row."""
    plan = result.plan
    state = " (interrupted)" if result.interrupted else ""
    table = Table(
        title=f"campaign {plan.name} · plan {plan.hash} · {result.wall_s:.1f} s{state}",
        title_justify="left",
    )
    table.add_column("action")
    table.add_column("device")
    for name in ("jobs", "ok", "skipped", "failed", "not run"):
        table.add_column(name, justify="right")
    counts = summary_counts(result)
    total = dict.fromkeys(("jobs", *_STATUSES, "not run"), 0)
    for (action, device), row in counts.items():
        table.add_row(action, device, *(str(row[k]) for k in total))
        for k in total:
            total[k] += row[k]
    table.add_section()
    table.add_row("all", "", *(str(total[k]) for k in total))
    return table


def campaign_rows(store, name: str, plan_hash: str | None = None) -> list[dict]:
    """The newest stored result of every job of campaign ``name`` (of ``plan_hash`` if
    given, else of the newest plan that ran under that name), one dict per model × inputs:
    ``model``, ``inputs``, ``flops``, ``macs``, ``params``, ``count_status``, and per device
    kind ``latency[device]`` (median seconds) and ``status[device]``."""
    from flopwise.campaign.runner import parse_label, stored_jobs
    from flopwise.store.metrics import measured_latency

    runs = stored_jobs(store, name, plan_hash)
    if not runs:
        return []
    if plan_hash is None:  # the newest plan: the one of the newest run
        newest = max((r for rs in runs.values() for r in rs), key=lambda r: r.id)
        plan_hash = parse_label(newest.label)["plan_hash"]
        runs = stored_jobs(store, name, plan_hash)
    rows: dict[tuple, dict] = {}
    for infos in runs.values():
        info = infos[0]  # newest first
        doc = store.get(info.id)
        section = doc["campaign"]
        job = section["job"]
        key = (info.model, tuple(job["inputs"]))
        row = rows.setdefault(
            key,
            {
                "model": info.model,
                "inputs": " ".join(job["inputs"]) or "(default)",
                "flops": None,
                "macs": None,
                "params": None,
                "count_status": None,
                "latency": {},
                "status": {},
            },
        )
        totals = doc.get("totals") or {}
        if section["action"] == "count":
            row["count_status"] = section["status"]
            row.update(
                flops=totals.get("flops"), macs=totals.get("macs"), params=totals.get("params")
            )
        else:
            row["status"][section["device"]] = section["status"]
            row["latency"][section["device"]] = measured_latency(doc)
            latency = (doc.get("measured") or {}).get("latency")
            if isinstance(latency, dict) and latency.get("trustworthy") is False:
                row.setdefault("noisy", set()).add(section["device"])
    return sorted(rows.values(), key=lambda r: (r["model"], r["inputs"]))


def campaign_tables(rows: list[dict], name: str) -> list[Table]:
    """One rich table per device kind that has timings (model, inputs, FLOPs, MACs, params,
    latency), plus the counts alone when no job measured anything."""
    from flopwise.report.units import seconds, si

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
