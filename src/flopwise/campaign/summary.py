"""The table printed at the end of a campaign: jobs per action and device, by status."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.table import Table

from flopwise.campaign.runner import CampaignResult
from flopwise.errors import FlopwiseError
from flopwise.store.metrics import measured_latency

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


def _blank_row(model: str, inputs: list[str]) -> dict[str, Any]:
    return {
        "model": model,
        "inputs": " ".join(inputs) or "(default)",
        "flops": None,
        "macs": None,
        "params": None,
        "count_status": None,
        "peak_memory": None,
        "memory_status": None,
        "latency": {},
        "energy": {},
        "energy_estimated": set(),
        "predicted": {},
        "predict_method": {},
        "status": {},
        "jobs": {},
        "accuracy": None,
    }


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _absorb(row: dict[str, Any], section: dict[str, Any], doc: dict[str, Any]) -> None:
    """Add one stored job (its ``campaign`` section and document) to its row."""
    action, device, status = section["action"], section["device"], section["status"]
    totals = doc.get("totals") or {}
    if action == "count":
        row["count_status"] = status
        row["fallback"] = doc.get("fallback")
        row.update(
            flops=totals.get("flops"),
            macs=totals.get("macs"),
            params=totals.get("params"),
            bytes=(totals.get("bytes_read") or 0) + (totals.get("bytes_written") or 0)
            if totals
            else None,
        )
        return
    if action == "memory":
        row["memory_status"] = status
        peak = doc.get("peak_bytes")
        row["peak_memory"] = int(peak) if _number(peak) is not None else None
        return
    row["jobs"].setdefault(device, {})[action] = status
    if action == "predict":
        row["predicted"][device] = _number(doc.get("predicted_s"))
        if isinstance(doc.get("method"), str):
            row["predict_method"][device] = doc["method"]
        return
    # A timing job (measure, energy): one failure marks the device's status failed.
    if row["status"].get(device) != "failed":
        row["status"][device] = status
    latency = measured_latency(doc)
    if latency is not None and (action == "measure" or device not in row["latency"]):
        row["latency"][device] = latency  # measure's own timing beats energy's
    energy = doc.get("energy") or {}
    joules = _number(energy.get("joules_per_run"))
    if joules is not None:
        row["energy"][device] = joules
        if not energy.get("measured"):
            row["energy_estimated"].add(device)
    measured = (doc.get("measured") or {}).get("latency")
    if isinstance(measured, dict) and measured.get("trustworthy") is False:
        row.setdefault("noisy", set()).add(device)


def campaign_rows(store, name: str, plan_hash: str | None = None) -> list[dict]:
    """The newest stored result of every job of campaign ``name`` (of ``plan_hash`` if
    given, else of the newest plan that ran under that name), one dict per model × inputs:
    ``model``, ``inputs``, ``flops``, ``macs``, ``params``, ``count_status``,
    ``peak_memory`` (bytes, the memory action's predicted peak) and ``memory_status``; per
    device kind ``latency[device]`` (median seconds, of the measure job, else of the energy
    job), ``energy[device]`` (joules per run; the device is in ``energy_estimated`` when no
    reader measured it), ``predicted[device]`` (the predict action's seconds) and
    ``predict_method[device]`` (how they were predicted),
    ``status[device]`` (of the timing jobs: failed if one failed) and
    ``jobs[device][action]`` (each job's status)."""
    from flopwise.campaign.runner import parse_label, stored_jobs

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
        inputs = section["job"]["inputs"]
        row = rows.setdefault((info.model, tuple(inputs)), _blank_row(info.model, inputs))
        if isinstance(section.get("accuracy"), int | float):
            row["accuracy"] = float(section["accuracy"])
        _absorb(row, section, doc)
    return sorted(rows.values(), key=lambda r: (r["model"], r["inputs"]))


def _device_cells(row: dict, device: str, columns: dict[str, bool]) -> list[str]:
    """The cells of ``row`` on ``device`` (latency, GFLOP/s, then predicted and energy
    where ``columns`` has them); ``-`` where no job of the row is stored there (not run
    yet: the counts still show)."""
    from flopwise.report.units import seconds

    jobs = row["jobs"].get(device, {})
    timed = {a: s for a, s in jobs.items() if a != "predict"}
    latency = row["latency"].get(device)
    if not timed:
        cells = ["-", "-"]
    elif latency is None:
        cells = [row["status"].get(device) or "-", "-"]
    else:
        rate = row["flops"] / latency if row["flops"] else None
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
        cells.append("failed" if failed else "-" if joules is None else f"{joules:.3g} J{mark}")
    return cells


def _count_cells(row: dict, memory: bool) -> list[str]:
    from flopwise.report.units import si

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


def campaign_tables(rows: list[dict], name: str) -> list[Table]:
    """One rich table per device kind that has timed or predicted jobs (model, inputs,
    FLOPs, MACs, params, the predicted peak memory where the plan asked for it, latency,
    GFLOP/s, and the predicted latency and energy per run where there are some; every row
    of the campaign, ``-`` where nothing ran on the device), or the counts alone when no
    job ran on a device."""
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
            "predicted": any(device in r["predicted"] for r in rows),
            "energy": any("energy" in r["jobs"].get(device, {}) for r in rows),
        }
        if device:
            table.add_column("latency", justify="right", no_wrap=True)
            table.add_column("GFLOP/s", justify="right")
            if columns["predicted"]:
                table.add_column("predicted", justify="right", no_wrap=True)
            if columns["energy"]:
                table.add_column("energy/run", justify="right", no_wrap=True)
        for row in rows:
            cells = _count_cells(row, memory)
            if device:
                cells += _device_cells(row, device, columns)
            table.add_row(*cells)
        table.caption = _caption(rows, device)
        tables.append(table)
    return tables


def _caption(rows: list[dict], device: str | None) -> str | None:
    """The footnotes a table's marks need."""
    notes = []
    if device and any(device in r.get("noisy", ()) for r in rows):
        notes.append("* spread above the trust threshold (busy machine?): re-run to confirm")
    methods = sorted({r["predict_method"][device] for r in rows if device in r["predict_method"]})
    if methods:
        notes.append(f"predicted by: {', '.join(methods)} (flopwise predict)")
    if device and any(device in r["energy_estimated"] for r in rows):
        notes.append("~ energy estimated (no power reader: a CPU-time power model)")
    if any(r.get("fallback") for r in rows):
        notes.append("† counted on real CPU tensors (a data-dependent op fails on meta)")
    return "\n".join(notes) or None


#: Proxies correlated with latency in :func:`proxy_table`.
PROXIES = ("flops", "macs", "bytes", "params")


def proxy_correlations(rows: list[dict]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """Per device: ``{proxy: (spearman, kendall_tau_b, n)}`` of each proxy against the
    measured latency over the rows that have both (a device with fewer than 3 such rows is
    left out: two points always correlate)."""
    from flopwise.analysis.stats import kendall_tau_b, spearman

    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    devices = sorted({d for r in rows for d in r["latency"]})
    for device in devices:
        per: dict[str, tuple[float, float, int]] = {}
        for proxy in PROXIES:
            pairs = [
                (r[proxy], r["latency"][device])
                for r in rows
                if r.get(proxy) is not None and r["latency"].get(device) is not None
            ]
            if len(pairs) >= 3:
                xs, ys = zip(*pairs, strict=True)
                per[proxy] = (spearman(xs, ys), kendall_tau_b(xs, ys), len(pairs))
        if per:
            out[device] = per
    return out


def device_agreement(rows: list[dict]) -> list[tuple[str, str, float, int]]:
    """For each pair of devices, Spearman's correlation of their latencies over the rows
    timed on both: does the ranking of models carry over from one device to the other?"""
    from itertools import combinations

    from flopwise.analysis.stats import spearman

    devices = sorted({d for r in rows for d in r["latency"]})
    out = []
    for a, b in combinations(devices, 2):
        pairs = [
            (r["latency"][a], r["latency"][b])
            for r in rows
            if r["latency"].get(a) is not None and r["latency"].get(b) is not None
        ]
        if len(pairs) >= 3:
            xs, ys = zip(*pairs, strict=True)
            out.append((a, b, spearman(xs, ys), len(pairs)))
    return out


def proxy_table(rows: list[dict], name: str) -> Table | None:
    """How well each proxy ranks the models' latency per device (Spearman ρ, Kendall τ-b),
    and how well one device's ranking predicts another's; None without timings."""
    correlations = proxy_correlations(rows)
    agreement = device_agreement(rows)
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


def pareto_fronts(rows: list[dict]) -> dict[str, dict[str, Any]]:
    """The Pareto front of each device kind's timed rows.

    The cost is the energy per run (joules) when any row on that device has one, else the
    median latency. The benefit is the accuracy when any row has one (the plan's
    ``[accuracy]`` table), else the FLOPs: then the front holds the models no other model
    beats with both more FLOPs (more compute, the usual stand-in for capacity) and a
    lower cost. Rows lacking the cost or the benefit are left out (``left_out`` counts
    them). Per device: ``{"cost": "energy"|"latency", "benefit": "accuracy"|"flops",
    "front": [row, ...] sorted by cost, "n": rows compared, "left_out": int}``; each
    front row is ``{"model", "inputs", "cost", "benefit"}``.
    """
    from flopwise.analysis.compare import pareto_front

    benefit = "accuracy" if any(r.get("accuracy") is not None for r in rows) else "flops"
    out: dict[str, dict[str, Any]] = {}
    for device in sorted({d for r in rows for d in r["latency"]}):
        timed = [r for r in rows if r["latency"].get(device) is not None]
        if not timed:
            continue
        has_energy = any(r.get("energy", {}).get(device) is not None for r in timed)
        cost = "energy" if has_energy else "latency"
        points = {}
        for r in timed:
            c, b = r.get(cost, {}).get(device), r.get(benefit)
            if c is not None and b is not None:
                points[f"{r['model']} {r['inputs']}"] = (r, float(c), float(b))
        names = pareto_front([(name, c, b) for name, (_, c, b) in points.items()])
        out[device] = {
            "cost": cost,
            "benefit": benefit,
            "front": [
                {
                    "model": points[n][0]["model"],
                    "inputs": points[n][0]["inputs"],
                    "cost": points[n][1],
                    "benefit": points[n][2],
                }
                for n in names
            ],
            "n": len(points),
            "left_out": len(timed) - len(points),
        }
    return out


def pareto_tables(rows: list[dict], name: str) -> list[Table]:
    """One rich table per device kind: its Pareto front (:func:`pareto_fronts`)."""
    from flopwise.report.units import seconds, si

    tables = []
    for device, front in pareto_fronts(rows).items():
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


def load_campaign_rows(name: str, db: Any = None) -> list[dict]:
    """:func:`campaign_rows` of campaign ``name`` in the results database at ``db`` (None:
    the default one), opened read-only."""
    from flopwise.store import Store

    with Store(db, create=False, readonly=True) as store:
        return campaign_rows(store, name)


# -- the stored timings a calibration fits on --------------------------------------------


def campaign_kinds(name: str, db: Path | None = None) -> dict[str, list[int]]:
    """The stored run ids of campaign ``name``'s successful timings, by device kind: the
    newest ``ok`` measure run of every job key (whatever plan hash it ran under) that
    carries a latency."""
    from flopwise.campaign.runner import parse_label, stored_jobs
    from flopwise.store import Store

    out: dict[str, list[int]] = {}
    with Store(db, create=False, readonly=True) as store:
        for runs in stored_jobs(store, name).values():
            ok = [r for r in runs if parse_label(r.label)["status"] == "ok"]
            if not ok or ok[0].kind != "measure":
                continue
            doc = store.get(ok[0].id)
            if measured_latency(doc) is not None:
                out.setdefault(doc["campaign"]["device"], []).append(ok[0].id)
    return out


def campaign_device_kind(kinds: list[str], device: str) -> str:
    """The campaign device kind ``--device`` selects among ``kinds``: ``auto`` the only one,
    ``cpu`` the CPU, ``cuda``/``cuda:N`` the only GPU kind. Raises when that is ambiguous
    or absent."""
    if device == "cpu":
        wanted = [k for k in kinds if k == "cpu"]
    elif device.startswith("cuda"):
        wanted = [k for k in kinds if k != "cpu"]
    else:
        wanted = list(kinds)
    if len(wanted) != 1:
        have = ", ".join(sorted(kinds)) or "none"
        raise FlopwiseError(
            f"--device {device} selects {len(wanted)} of the campaign's timed device kinds "
            f"({have}); give --device cpu or --device cuda to pick one"
        )
    return wanted[0]


def campaign_timings(
    name: str, db: Path | None = None, device: str = "auto"
) -> tuple[str, list[int], list[dict[str, Any]]]:
    """The device kind ``device`` selects (:func:`campaign_device_kind`), and the run ids
    and documents of campaign ``name``'s timings on it, oldest first."""
    from flopwise.store import Store

    by_kind = campaign_kinds(name, db)
    if not by_kind:
        raise FlopwiseError(
            f'campaign {name!r} has no stored timings (a plan with actions = ["measure"])'
        )
    kind = campaign_device_kind(list(by_kind), device)
    ids = sorted(by_kind[kind])
    with Store(db, create=False, readonly=True) as store:
        return kind, ids, [store.get(i) for i in ids]
