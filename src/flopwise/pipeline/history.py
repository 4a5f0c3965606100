"""The results store as an API: list, load, diff, export and save runs.

What ``flopwise history``, ``diff``, ``export`` and ``report`` do, callable from Python; the
commands only parse their options, call one function here and render what it returns
(:mod:`flopwise.report.history`). A run is named as the user types it: ``12``, ``latest``,
``latest~N``, ``@MODEL`` or a JSON file (a file never opens the database).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flopwise.errors import FlopwiseError
from flopwise.store import (
    RUN_KINDS,
    RunDiff,
    RunInfo,
    RunList,
    Store,
    check_thresholds,
    default_db_path,
    diff_documents,
    diff_totals,
    load_document,
    parse_threshold,
    resolve_run_id,
)
from flopwise.store.metrics import METRICS

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "RUN_KINDS",
    "RunDiff",
    "RunList",
    "diff_runs",
    "export_run",
    "list_runs",
    "load_run",
    "parse_metrics",
    "save_run",
]

DbPath = str | os.PathLike[str] | None

#: What ``flopwise diff`` shows when no ``--metric`` is given (time only when measured).
DEFAULT_METRICS = ("flops", "bytes", "params", "time")


def list_runs(
    model: str | None = None, *, db: DbPath = None, limit: int = 30, kind: str | None = None
) -> RunList:
    """The newest ``limit`` runs (of exactly ``model``, or a ``*``/``?`` glob; of ``kind``).

    A database that does not exist yet holds no runs (it is not created by looking).
    """
    if kind is not None and kind not in RUN_KINDS:
        raise FlopwiseError(f"--kind {kind!r} is not a run kind; use one of {', '.join(RUN_KINDS)}")
    if limit < 1:
        raise FlopwiseError(f"--limit must be >= 1 (got {limit})")
    path = Path(db).expanduser() if db is not None else default_db_path()
    runs: list[RunInfo] = []
    if path.exists():
        with Store(path, readonly=True) as store:
            runs = store.list_runs(model=model, limit=limit, kind=kind)
    return RunList(runs=runs, db=path, model=model)


def load_run(ref: str, db: DbPath = None) -> tuple[dict[str, Any], str]:
    """The document ``ref`` names (a run or a JSON file) and a short label for it."""
    return load_document(ref, db)


def export_run(ref: str, *, fmt: str = "json", db: DbPath = None) -> str:
    """A stored run as text: ``json`` (the full document) or ``csv`` (one line per module)."""
    with Store(db, create=False, readonly=True) as store:
        return store.export(resolve_run_id(store, ref), fmt=fmt)


def save_run(doc: dict[str, Any], kind: str, db: DbPath = None) -> int:
    """Save ``doc`` as a run of ``kind`` (profile, measure, sweep, compare); its run id."""
    with Store(db) as store:
        return store.save_profile(doc, kind=kind)


def parse_metrics(requested: Sequence[str] | None) -> list[str]:
    """``["flops,bytes", "time"]`` → ``["flops", "bytes", "time"]``; unknown names fail."""
    if not requested:
        return list(DEFAULT_METRICS)
    out: list[str] = []
    for item in requested:
        for name in item.split(","):
            name = name.strip()
            if name not in METRICS:
                raise FlopwiseError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
            if name not in out:
                out.append(name)
    return out


def diff_runs(
    run_a: str,
    run_b: str,
    *,
    db: DbPath = None,
    metrics: Sequence[str] | None = None,
    fail_over: Sequence[str] = (),
    per_module: bool = False,
    show_all: bool = False,
    depth: int | None = None,
) -> RunDiff:
    """What changed per module from ``run_a`` to ``run_b`` and which ``fail_over`` gates
    (``flops=1%``, ``params=0``) it breaks, totals only unless ``per_module``.

    Without ``metrics``, time is shown only when either run measured it.
    """
    thresholds = [parse_threshold(t) for t in fail_over]
    shown = parse_metrics(metrics)
    doc_a, label_a = load_document(run_a, db)
    doc_b, label_b = load_document(run_b, db)
    rows = diff_documents(doc_a, doc_b)
    total = diff_totals(doc_a, doc_b)
    if not metrics:
        shown = [m for m in shown if m != "time" or total.a.get("time") or total.b.get("time")]
    visible = [
        r for r in rows if (show_all or r.status != "same") and (depth is None or r.depth <= depth)
    ]
    return RunDiff(
        label_a=label_a,
        label_b=label_b,
        doc_a=doc_a,
        doc_b=doc_b,
        total=total,
        rows=rows,
        visible=visible,
        metrics=shown,
        thresholds=thresholds,
        violations=check_thresholds(doc_a, doc_b, thresholds, per_module=per_module),
    )
