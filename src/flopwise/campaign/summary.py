"""What a campaign's results add up to: jobs per action and device by status, the stored
results per model × inputs, proxy correlations and Pareto fronts (rendered by
``flopwise.report.campaign``)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _take_counts(row: dict[str, Any], totals: dict[str, Any]) -> None:
    """Set the row's FLOPs, MACs, params and bytes from a profile's ``totals``."""
    row.update(
        flops=totals.get("flops"),
        macs=totals.get("macs"),
        params=totals.get("params"),
        bytes=(totals.get("bytes_read") or 0) + (totals.get("bytes_written") or 0)
        if totals
        else None,
    )


def _absorb(row: dict[str, Any], section: dict[str, Any], doc: dict[str, Any]) -> None:
    """Add one stored job (its ``campaign`` section and document) to its row."""
    action, device, status = section["action"], section["device"], section["status"]
    totals = doc.get("totals") or {}
    if action == "count":
        row["count_status"] = status
        row["fallback"] = doc.get("fallback")
        _take_counts(row, totals)
        return
    if action in ("measure", "energy") and row["count_status"] is None and totals:
        # A timed profile counts too (flopwise profile --measure): its counts fill a row
        # the plan has no count job for; a count job's, stored or not yet, takes precedence.
        row["count_status"] = status
        _take_counts(row, totals)
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
        if status == "ok" and _number(doc.get("flops")) is not None:
            # the prediction counted the model (the same counts as a count job; no MACs or
            # params): kept aside, used only where no count or timed profile gives counts
            row["predict_counts"] = {"flops": doc["flops"], "bytes": doc.get("bytes")}
        return
    # A timing job (measure, energy): one failure marks the device's status failed.
    if row["status"].get(device) != "failed":
        row["status"][device] = status
    latency = measured_latency(doc)
    if latency is not None and (action == "measure" or device not in row["latency"]):
        row["latency"][device] = latency  # measure's own timing beats energy's
        # the '*' of the report marks the timing shown, whichever job it came from
        measured = (doc.get("measured") or {}).get("latency")
        noisy = isinstance(measured, dict) and measured.get("trustworthy") is False
        (set.add if noisy else set.discard)(row.setdefault("noisy", set()), device)
    energy = doc.get("energy") or {}
    joules = _number(energy.get("joules_per_run"))
    if joules is not None:
        row["energy"][device] = joules
        if not energy.get("measured"):
            row["energy_estimated"].add(device)


def _counts_of_predictions(row: dict[str, Any]) -> None:
    """A row no count job (nor timed profile) counted takes the FLOPs and bytes its predict
    jobs counted; MACs and params, which a predict document does not carry, stay None."""
    counts = row.pop("predict_counts", None)
    if counts is None or row["count_status"] is not None:
        return
    row.update(flops=counts["flops"], bytes=counts["bytes"], count_status="ok")


def campaign_rows(store, name: str, plan_hash: str | None = None) -> list[dict]:
    """The newest stored result of every job of campaign ``name`` (of ``plan_hash`` if
    given, else of the newest plan that ran under that name), one dict per model × inputs:
    ``model``, ``inputs``, ``flops``, ``macs``, ``params``, ``count_status`` (the count
    job's; with none, a timed profile's or the predict jobs', which give FLOPs and bytes),
    ``peak_memory`` (bytes, the memory action's predicted peak) and ``memory_status``; per
    device kind ``latency[device]`` (median seconds, of the measure job, else of the energy
    job), ``energy[device]`` (joules per run; the device is in ``energy_estimated`` when no
    reader measured it), ``predicted[device]`` (the predict action's seconds) and
    ``predict_method[device]`` (how they were predicted),
    ``status[device]`` (of the timing jobs: failed if one failed),
    ``jobs[device][action]`` (each job's status) and ``flops_per_second[device]``
    (achieved FLOP/s: :func:`flops_per_second`)."""
    runs = _plan_runs(store, name, plan_hash)
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
    for row in rows.values():
        _counts_of_predictions(row)
        row["flops_per_second"] = flops_per_second(row)
    return sorted(rows.values(), key=lambda r: (_natural(r["model"]), _natural(r["inputs"])))


def _natural(text: str) -> list[Any]:
    """A sort key that orders the numbers in ``text`` by value: ``mlp(width=4)`` before
    ``mlp(width=16)``, batch 8 before batch 16."""
    # re.split with a group alternates text and digits: text at even places, digits at odd.
    return [int(t) if i % 2 else t for i, t in enumerate(re.split(r"(\d+)", text))]


def _plan_runs(store, name: str, plan_hash: str | None) -> dict[str, list[Any]]:
    """:func:`~flopwise.campaign.runner.stored_jobs` of campaign ``name`` under
    ``plan_hash``, or, when None, under the plan of the newest run of that name."""
    from flopwise.campaign.runner import parse_label, stored_jobs

    runs = stored_jobs(store, name, plan_hash)
    if runs and plan_hash is None:
        newest = max((r for rs in runs.values() for r in rs), key=lambda r: r.id)
        runs = stored_jobs(store, name, parse_label(newest.label)["plan_hash"])
    return runs


def job_coverage(store, name: str, plan_hash: str | None = None) -> dict[str, Any]:
    """How much of campaign ``name``'s plan (``plan_hash``, else the newest one) is stored:
    ``plan_hash``; ``jobs``, the plan's job count (None for runs stored before campaigns
    recorded it); ``stored``, the job keys with a run; ``ok`` and ``failed``, those whose
    newest run has that status."""
    from flopwise.campaign.runner import parse_label

    runs = _plan_runs(store, name, plan_hash)
    newest = [infos[0] for infos in runs.values()]
    statuses = [parse_label(info.label)["status"] for info in newest]
    jobs = None
    if newest:
        section = store.get(max(newest, key=lambda r: r.id).id).get("campaign", {})
        jobs = section.get("plan_jobs")
        plan_hash = section.get("plan_hash", plan_hash)
    return {
        "plan_hash": plan_hash,
        "jobs": jobs if isinstance(jobs, int) else None,
        "stored": len(newest),
        "ok": statuses.count("ok"),
        "failed": statuses.count("failed"),
    }


def failed_jobs(store, name: str, plan_hash: str | None = None) -> list[dict[str, Any]]:
    """The jobs of campaign ``name``'s plan (``plan_hash``, else the newest) whose newest run
    failed, in natural order: ``model``, ``inputs``, ``action``, ``device``, ``attempts``
    and ``error`` (its first line; the traceback stays in the stored run)."""
    from flopwise.campaign.runner import parse_label

    out = []
    for infos in _plan_runs(store, name, plan_hash).values():
        if parse_label(infos[0].label)["status"] != "failed":
            continue
        section = store.get(infos[0].id)["campaign"]
        error = str(section.get("error") or "(no error recorded)")
        out.append(
            {
                "model": infos[0].model,
                "inputs": " ".join(section["job"]["inputs"]) or "(default)",
                "action": section["action"],
                "device": section["device"],
                "attempts": section.get("attempts"),
                "error": error.strip().splitlines()[0] if error.strip() else error,
            }
        )
    return sorted(out, key=lambda f: (_natural(f["model"]), _natural(f["inputs"]), f["action"]))


def table_coverage(rows: list[dict]) -> dict[str | None, dict[str, int]]:
    """How many of ``rows`` (model × inputs) have each table's figures: under ``None`` (the
    counts) ``rows``, ``counted`` (a count ok), ``count failed``; under each device kind
    with jobs, ``rows``, ``timed`` (a latency), ``timing failed`` (a timing job failed and
    no latency) and ``not timed`` (no timing job stored there yet)."""
    out: dict[str | None, dict[str, int]] = {
        None: {
            "rows": len(rows),
            "counted": sum(r["count_status"] == "ok" for r in rows),
            "count failed": sum(r["count_status"] == "failed" for r in rows),
        }
    }
    for device in sorted({d for r in rows for d in r["jobs"]}):
        timed = sum(r["latency"].get(device) is not None for r in rows)
        failed = sum(
            r["latency"].get(device) is None and r["status"].get(device) == "failed" for r in rows
        )
        out[device] = {
            "rows": len(rows),
            "timed": timed,
            "timing failed": failed,
            "not timed": len(rows) - timed - failed,
        }
    return out


def flops_per_second(row: dict[str, Any]) -> dict[str, float]:
    """Achieved FLOP/s per device kind of a campaign row: its counted FLOPs over each
    device's median latency (seconds); no entry where the row has no FLOPs (none counted,
    or zero) or no latency on that device."""
    flops = row.get("flops")
    if not flops:
        return {}
    return {device: flops / latency for device, latency in row["latency"].items()}


#: Proxies correlated with latency in :func:`proxy_correlations`.
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


def load_campaign_rows(name: str, db: Any = None) -> list[dict]:
    """:func:`campaign_rows` of campaign ``name`` in the results database at ``db`` (None:
    the default one), opened read-only."""
    from flopwise.store import Store

    with Store(db, create=False, readonly=True) as store:
        return campaign_rows(store, name)


@dataclass
class CampaignSummary:
    """What ``flopwise report --campaign NAME`` shows: the stored rows
    (:func:`campaign_rows`), each proxy's rank correlation with latency per device
    (:func:`proxy_correlations`), the devices' agreement (:func:`device_agreement`) and
    the Pareto fronts (:func:`pareto_fronts`)."""

    name: str
    rows: list[dict]
    correlations: dict[str, dict[str, tuple[float, float, int]]]
    agreement: list[tuple[str, str, float, int]]
    fronts: dict[str, dict[str, Any]]
    #: :func:`job_coverage`: how much of the plan is stored.
    jobs: dict[str, Any]
    #: :func:`table_coverage`: how many rows each table has figures for.
    coverage: dict[str | None, dict[str, int]]
    #: :func:`failed_jobs`: the jobs whose newest run failed, with their errors.
    failures: list[dict[str, Any]]


def campaign_summary(name: str, db: Any = None) -> CampaignSummary:
    """The :class:`CampaignSummary` of campaign ``name`` in the results database at ``db``
    (None: the default one); raises :class:`FlopwiseError` when nothing of it is stored,
    naming the campaigns that are."""
    from flopwise.campaign.runner import no_such_campaign
    from flopwise.store import Store

    with Store(db, create=False, readonly=True) as store:
        rows = campaign_rows(store, name)
        if not rows:
            raise no_such_campaign(store, name)
        jobs = job_coverage(store, name)
        failures = failed_jobs(store, name)
    return CampaignSummary(
        name=name,
        rows=rows,
        correlations=proxy_correlations(rows),
        agreement=device_agreement(rows),
        fronts=pareto_fronts(rows),
        jobs=jobs,
        coverage=table_coverage(rows),
        failures=failures,
    )


# -- the stored timings a calibration fits on --------------------------------------------


def campaign_kinds(name: str, db: Path | None = None) -> dict[str, list[int]]:
    """The stored run ids of campaign ``name``'s successful timings, by device kind: one per
    model × inputs × device × dtype (whatever plan hash it ran under), the newest ``ok``
    timing that carries a latency, a ``measure`` job's before an ``energy`` job's (as the
    report's latency), so a model timed by both is one sample, not two. Raises when no
    run of campaign ``name`` is stored at all."""
    from flopwise.campaign.runner import no_such_campaign, parse_label, stored_jobs
    from flopwise.store import Store

    best: dict[tuple, tuple[tuple[bool, int], int, str]] = {}
    with Store(db, create=False, readonly=True) as store:
        jobs = stored_jobs(store, name)
        if not jobs:
            raise no_such_campaign(store, name)
        for runs in jobs.values():
            ok = [r for r in runs if parse_label(r.label)["status"] == "ok"]
            if not ok or ok[0].kind != "measure":  # the store's kind of every timing job
                continue
            doc = store.get(ok[0].id)
            if measured_latency(doc) is None:
                continue
            section = doc["campaign"]
            job, device = section["job"], section["device"]
            where = (ok[0].model, tuple(job["inputs"]), device, job.get("dtype"))
            rank = (section["action"] == "measure", ok[0].id)
            if where not in best or rank > best[where][0]:
                best[where] = (rank, ok[0].id, device)
    out: dict[str, list[int]] = {}
    for _, run_id, device in best.values():
        out.setdefault(device, []).append(run_id)
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
