"""The campaign driver: skip what is stored, run the rest through an executor, retry
failures, and write every result to the store as it arrives (the driver is the one writer).

Each job becomes one run in the store, of kind ``measure`` (the timing actions: measure,
energy) or ``profile`` (count, memory, predict), whose document (a profile, a
``flopwise.memory/1`` or a ``flopwise.predict/1`` document) carries a ``campaign`` section (name, plan hash, job key, action, device, host,
status, attempts, error) and whose label is ``campaign:NAME:PLAN_HASH:JOB_KEY:STATUS``
(:func:`run_label`), so a re-run finds what is done without loading documents.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from flopwise.campaign.executors import Executor
from flopwise.campaign.plan import ESTIMATE_COUNT_S, ESTIMATE_MEASURE_OVERHEAD_S, Job, Plan
from flopwise.errors import FlopwiseError
from flopwise.store import Store

LABEL_PREFIX = "campaign:"
FAILURE_SCHEMA = "flopwise.campaign-failure/1"


def run_label(name: str, plan_hash: str, job_key: str, status: str) -> str:
    """The store label of a campaign run."""
    return f"{LABEL_PREFIX}{name}:{plan_hash}:{job_key}:{status}"


def parse_label(label: str | None) -> dict[str, str] | None:
    """The fields of a :func:`run_label`, or None for a run outside any campaign."""
    if not label or not label.startswith(LABEL_PREFIX):
        return None
    parts = label[len(LABEL_PREFIX) :].split(":")
    if len(parts) != 4:
        return None
    return dict(zip(("name", "plan_hash", "job_key", "status"), parts, strict=True))


def stored_jobs(store: Store, name: str, plan_hash: str | None = None) -> dict[str, list[Any]]:
    """Runs of campaign ``name`` (and ``plan_hash`` if given) by job key, newest first; each
    a :class:`~flopwise.store.RunInfo`."""
    out: dict[str, list[Any]] = {}
    for info in store.list_runs(limit=None):
        fields = parse_label(info.label)
        if fields is None or fields["name"] != name:
            continue
        if plan_hash is not None and fields["plan_hash"] != plan_hash:
            continue
        out.setdefault(fields["job_key"], []).append(info)
    return out


def campaign_names(store: Store) -> list[str]:
    """The names of every campaign with a run in ``store``, sorted."""
    names = {f["name"] for i in store.list_runs(limit=None) if (f := parse_label(i.label))}
    return sorted(names)


def no_such_campaign(store: Store, name: str) -> FlopwiseError:
    """The error for a campaign ``name`` that ``store`` holds no run of: it names the
    campaigns it does hold (a typo shows at once)."""
    known = campaign_names(store)
    if not known:
        return FlopwiseError(
            f"no campaign {name!r}: no campaign has been stored in {store.path} yet "
            "(flopwise campaign PLAN.toml)"
        )
    return FlopwiseError(f"no campaign {name!r} in {store.path}; known: {', '.join(known)}")


def done_keys(store: Store, plan: Plan) -> set[str]:
    """Job keys of ``plan`` already stored successfully under its plan hash."""
    done = set()
    for key, runs in stored_jobs(store, plan.name, plan.hash).items():
        if any(parse_label(r.label)["status"] == "ok" for r in runs):
            done.add(key)
    return done


def known_durations(store: Store, name: str, keys: set[str]) -> dict[str, float]:
    """Seconds each of ``keys`` took when it last succeeded in campaign ``name`` (under any
    plan hash: a job key does not depend on the plan), for the dry-run estimate."""
    out: dict[str, float] = {}
    for key, runs in stored_jobs(store, name).items():
        if key not in keys:
            continue
        for info in runs:  # newest first
            if parse_label(info.label)["status"] != "ok":
                continue
            elapsed = store.get(info.id).get("campaign", {}).get("elapsed_s")
            if isinstance(elapsed, int | float):
                out[key] = float(elapsed)
                break
    return out


@dataclass
class Outcome:
    """What became of one job in this run of the campaign."""

    job: Job
    status: str  # "ok", "failed" or "skipped" (already stored)
    attempts: int = 0
    error: str | None = None
    run_id: int | None = None
    host: str | None = None
    elapsed_s: float | None = None


@dataclass
class CampaignResult:
    """Every job's outcome, in plan order, and whether Ctrl-C cut the run short."""

    plan: Plan
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    interrupted: bool = False
    wall_s: float = 0.0

    def count(self, status: str) -> int:
        """How many jobs ended with ``status``."""
        return sum(1 for o in self.outcomes.values() if o.status == status)

    @property
    def remaining(self) -> int:
        """Jobs of the plan with no outcome (not run because of an interruption)."""
        return len(self.plan.jobs) - len(self.outcomes)


#: ``progress(done, failed, remaining)`` after every finished job.
ProgressFn = Callable[[int, int, int], None]


def run_campaign(
    plan: Plan,
    store: Store,
    executor: Executor,
    *,
    retries: int | None = None,
    progress: ProgressFn | None = None,
    poll_s: float = 0.5,
) -> CampaignResult:
    """Run ``plan`` through ``executor``, storing each job's result as it arrives.

    Jobs already stored with the same plan hash and job key and status ok are skipped. A job
    that fails (raises, crashes its worker, times out) is submitted again until it has had
    ``retries + 1`` attempts (default: the plan's ``retries``), then stored with its error;
    the campaign goes on. Ctrl-C (KeyboardInterrupt) closes the executor and returns with
    ``interrupted=True``: every job finished before it is already stored.
    """
    retries = plan.retries if retries is None else retries
    result = CampaignResult(plan=plan)
    start = time.monotonic()
    skip = done_keys(store, plan)
    todo = []
    for job in plan.jobs:
        if job.key in skip:
            result.outcomes[job.key] = Outcome(job=job, status="skipped")
        else:
            todo.append(job)
    attempts: Counter[str] = Counter()
    ok = failed = 0
    try:
        for job in todo:
            executor.submit(job)
        if progress:
            progress(ok, failed, len(todo))
        while executor.outstanding():
            for job, res in executor.poll(poll_s):
                attempts[job.key] += 1
                if not res.get("ok") and attempts[job.key] <= retries:
                    executor.submit(job)
                    continue
                outcome = _record(store, plan, job, res, attempts[job.key])
                result.outcomes[job.key] = outcome
                if outcome.status == "ok":
                    ok += 1
                else:
                    failed += 1
                if progress:
                    progress(ok, failed, len(todo) - ok - failed)
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        executor.close()
        result.wall_s = time.monotonic() - start
    return result


def _record(store: Store, plan: Plan, job: Job, res: dict[str, Any], attempts: int) -> Outcome:
    """Store one job's final result (success or failure) and return its outcome."""
    status = "ok" if res.get("ok") else "failed"
    section = {
        "name": plan.name,
        "plan_hash": plan.hash,
        "plan_jobs": len(plan.jobs),  # so a report can say how much of the plan is stored
        "job_key": job.key,
        "job": job.to_dict(),
        "action": job.action,
        "device": job.device,
        "host": res.get("host"),
        "status": status,
        "attempts": attempts,
        "elapsed_s": res.get("elapsed_s"),
        "error": res.get("error"),
    }
    accuracy = plan.accuracy_of(job)
    if accuracy is not None:  # the plan's [accuracy] table, read back by the report
        section["accuracy"] = accuracy
    if status == "ok":
        doc = dict(res["document"])
        doc["model"] = job.label  # a grid point is its own model in tables and history
    else:
        section["traceback"] = res.get("traceback")
        doc = {
            "schema": FAILURE_SCHEMA,
            "model": job.label,
            "inputs": list(job.inputs),
            "complete": False,
        }
    doc["campaign"] = section
    machine = res.get("machine")
    if machine is not None:
        machine = {**machine, "host": res.get("host")}
    run_id = store.save_profile(
        doc,
        kind="measure" if job.timing else "profile",
        machine=machine,
        label=run_label(plan.name, plan.hash, job.key, status),
    )
    return Outcome(
        job=job,
        status=status,
        attempts=attempts,
        error=res.get("error"),
        run_id=run_id,
        host=res.get("host"),
        elapsed_s=res.get("elapsed_s"),
    )


def run_plan_file(
    plan: Plan,
    db: str | os.PathLike[str] | None,
    executor: Executor,
    **kwargs: Any,
) -> CampaignResult:
    """:func:`run_campaign` into the results database at ``db`` (None: the default one)."""
    with Store(db) as store:
        return run_campaign(plan, store, executor, **kwargs)


def plan_progress(
    plan: Plan, db: str | os.PathLike[str] | None
) -> tuple[set[str], dict[str, float], dict[str, float]]:
    """For a dry run: the job keys of ``plan`` already done, the known durations of the
    others (:func:`known_durations`) and the FLOPs-scaled ones (:func:`scaled_durations`);
    all empty when there is no database yet."""
    from flopwise.store import StoreError

    try:
        with Store(db, create=False, readonly=True) as store:
            done = done_keys(store, plan)
            known = known_durations(store, plan.name, {j.key for j in plan.jobs} - done)
            todo = [j for j in plan.jobs if j.key not in done and j.key not in known]
            return done, known, scaled_durations(store, plan, todo)
    except StoreError:  # no database yet: nothing is done, nothing is known
        return set(), {}, {}


#: Stored timings of a device needed before its FLOPs line is trusted for an estimate.
MIN_TIMINGS_TO_SCALE = 3


def scaled_durations(store: Store, plan: Plan, todo: list[Job]) -> dict[str, float]:
    """Seconds for the timing jobs of ``todo`` whose count is stored: the least-squares
    line seconds = a + b·FLOPs through this campaign's stored timing jobs on the same
    device (at least :data:`MIN_TIMINGS_TO_SCALE`), at the job's counted FLOPs. A resumed
    campaign's timings left are its largest models; a flat guess would miss by hours."""
    by_key = {j.key: j for j in plan.jobs}
    flops_of: dict[tuple, int] = {}  # (model, params, inputs, dtype) -> counted FLOPs
    points: dict[str, list[tuple[float, float]]] = {}  # device -> [(flops, seconds)]
    for key, runs in stored_jobs(store, plan.name).items():
        job = by_key.get(key)
        ok = [r for r in runs if parse_label(r.label)["status"] == "ok"]
        if job is None or not ok or not (job.timing or job.action == "count"):
            continue
        flops = ok[0].flops  # the store's index has the totals: no document to load
        if not isinstance(flops, int):
            continue
        flops_of[_sibling(job)] = flops
        if not job.timing:
            continue
        elapsed = (store.get(ok[0].id).get("campaign") or {}).get("elapsed_s")
        if isinstance(elapsed, int | float):
            points.setdefault(job.device, []).append((float(flops), float(elapsed)))
    out: dict[str, float] = {}
    for job in todo:
        flops = flops_of.get(_sibling(job))
        line = _flops_line(points.get(job.device, []))
        if job.timing and flops is not None and line is not None:
            out[job.key] = line[0] + line[1] * flops
    return out


def _sibling(job: Job) -> tuple:
    """What a count and a timing job of the same model and inputs share."""
    return (job.model, job.params, job.inputs, job.dtype)


def _flops_line(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(a, b) of the least-squares line seconds = a + b·FLOPs, or None with too few
    points, no spread in FLOPs, or a slope that is not positive (no trend to follow)."""
    n = len(points)
    if n < MIN_TIMINGS_TO_SCALE:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    if slope <= 0:
        return None
    return mean_y - slope * mean_x, slope


@dataclass
class DryRun:
    """What ``flopwise campaign PLAN --dry-run`` reports: the jobs of ``plan`` still to run
    (``todo``), the keys already stored (``done``), the durations earlier runs measured
    (``known``, by job key), those scaled by FLOPs from the stored timings (``scaled``),
    and the estimated seconds for ``todo`` with ``workers`` workers; ``count_s`` and
    ``measure_overhead_s`` are the guesses used for the other jobs."""

    plan: Plan
    todo: list[Job]
    done: set[str]
    known: dict[str, float]
    scaled: dict[str, float]
    workers: int
    estimate_s: float
    count_s: float = ESTIMATE_COUNT_S
    measure_overhead_s: float = ESTIMATE_MEASURE_OVERHEAD_S


def dry_run(plan: Plan, db: str | os.PathLike[str] | None, workers: int | None) -> DryRun:
    """The :class:`DryRun` of ``plan`` against the results database at ``db``; ``workers``
    None means the CPU count, at most 8."""
    done, known, scaled = plan_progress(plan, db)
    todo = [j for j in plan.jobs if j.key not in done]
    n = workers or min(os.cpu_count() or 1, 8)
    estimate = replace(plan, jobs=todo).estimate_s(n, {**scaled, **known})
    return DryRun(
        plan=plan,
        todo=todo,
        done=done,
        known=known,
        scaled=scaled,
        workers=n,
        estimate_s=estimate,
    )
