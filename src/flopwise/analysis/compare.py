"""Comparing models: one row per model, how well each cost proxy tracks measured time, and
the Pareto front of accuracy against time.

Pure functions over numbers already counted and measured (:mod:`flopwise.pipeline.compare`
does the counting and timing). A *proxy* is any per-model cost figure (params, flops, α-flops,
activations, bytes); its correlation with the measured median time (Pearson, Spearman,
Kendall τ-b, log-log R², from :mod:`flopwise.analysis.stats`) says how far it can be
trusted to rank or size latency on this machine.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flopwise.analysis.stats import correlation_table
from flopwise.store.profile_doc import positive

__all__ = [
    "PROXIES",
    "CompareRow",
    "proxy_correlations",
    "pareto_front",
    "best_proxy",
    "parse_accuracies",
    "match_accuracies",
    "comparison_plot",
]

#: The proxies (row attributes) correlated with time, in table order; their labels are the
#: report's (flopwise.report.compare).
PROXIES: tuple[str, ...] = ("params", "flops", "alpha_flops", "activations", "bytes")


@dataclass
class CompareRow:
    """One model (and its inputs) in a comparison.

    Counts are integers (``alpha_flops`` is a float, ``None`` when α could not be computed);
    ``median_s`` / ``spread`` / ``repeats`` / ``trustworthy`` come from the interleaved
    timing (``None`` without measurement); ``energy_j`` is joules per run when measured,
    with ``energy_method``; ``accuracy`` when the user gave one.
    """

    name: str
    spec: str
    inputs: list[dict[str, Any]]
    params: int
    flops: int
    macs: int
    activations: int
    bytes: int
    alpha_flops: float | None = None
    alpha_macs: float | None = None
    complete: bool = True
    median_s: float | None = None
    min_s: float | None = None
    spread: float | None = None
    repeats: int | None = None
    trustworthy: bool | None = None
    reason: str | None = None
    energy_j: float | None = None
    energy_method: str | None = None
    accuracy: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def proxy(self, key: str) -> float | None:
        value = getattr(self, key)
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spec": self.spec,
            "inputs": self.inputs,
            "params": self.params,
            "flops": self.flops,
            "macs": self.macs,
            "alpha_flops": self.alpha_flops,
            "alpha_macs": self.alpha_macs,
            "activations": self.activations,
            "bytes": self.bytes,
            "complete": self.complete,
            "median_s": self.median_s,
            "min_s": self.min_s,
            "spread": self.spread,
            "repeats": self.repeats,
            "trustworthy": self.trustworthy,
            "reason": self.reason,
            "energy_j": self.energy_j,
            "energy_method": self.energy_method,
            "accuracy": self.accuracy,
            **({"extra": self.extra} if self.extra else {}),
        }


def proxy_correlations(
    rows: Sequence[CompareRow],
    proxies: Iterable[str] | None = None,
    *,
    target: str = "median_s",
) -> dict[str, dict[str, float]]:
    """Pearson, Spearman, Kendall τ-b and log-log R² of each proxy with ``target``
    (measured median seconds by default) over the rows that have both.

    Returns ``{proxy: {"pearson", "spearman", "kendall", "loglog_r2", "n"}}``; empty when
    fewer than 3 rows are usable (two points always correlate perfectly). A proxy missing
    on some rows is correlated over the rest; a constant one gives NaN.
    """
    keys = list(proxies) if proxies is not None else list(PROXIES)
    out: dict[str, dict[str, float]] = {}
    for key in keys:
        pairs = [
            (r.proxy(key), getattr(r, target))
            for r in rows
            if r.proxy(key) is not None and getattr(r, target) is not None
        ]
        pairs = [(x, y) for x, y in pairs if math.isfinite(x) and math.isfinite(y)]
        if len(pairs) < 3:
            continue
        xs, ys = zip(*pairs, strict=True)
        table = correlation_table({key: list(xs)}, list(ys))[key]
        table["n"] = len(pairs)
        out[key] = table
    return out


def best_proxy(correlations: Mapping[str, Mapping[str, float]], by: str = "spearman") -> str | None:
    """The proxy with the highest ``by`` statistic (NaN never wins); None if none."""
    best, best_value = None, -math.inf
    for key, stats in correlations.items():
        value = stats.get(by, math.nan)
        if value is not None and math.isfinite(value) and value > best_value:
            best, best_value = key, value
    return best


def pareto_front(points: Sequence[tuple[str, float, float]]) -> list[str]:
    """Names of the points no other point dominates, sorted by cost.

    A point is ``(name, cost, accuracy)``; lower cost and higher accuracy are better. A
    point is dominated when another is at least as good on both and strictly better on
    one. Exact duplicates are all kept. Points with a NaN are ignored.
    """
    clean = [(n, float(c), float(a)) for n, c, a in points if math.isfinite(c) and math.isfinite(a)]
    front = []
    for name, cost, acc in clean:
        dominated = any(
            (c2 <= cost and a2 >= acc) and (c2 < cost or a2 > acc) for _, c2, a2 in clean
        )
        if not dominated:
            front.append((cost, -acc, name))
    return [name for _, _, name in sorted(front)]


def parse_accuracies(items: Iterable[str]) -> dict[str, float]:
    """``["resnet50=76.1", "torchvision:mobilenet_v2=71.9"]`` → ``{name: value}``.

    The name is everything before the last ``=``; raises ``ValueError`` on a missing ``=``
    or a value that is not a number.
    """
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip():
            raise ValueError(f"--accuracy expects NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--accuracy {item!r}: {value!r} is not a number") from None
    return out


def _aliases(spec: str, name: str) -> set[str]:
    names = {spec, name}
    for text in (spec, name):
        tail = text.rpartition(":")[2]
        names.add(tail)
        names.add(tail.rsplit("/", 1)[-1].removesuffix(".json"))
    return {n for n in names if n}


def match_accuracies(
    rows: Sequence[CompareRow], accuracies: Mapping[str, float]
) -> tuple[dict[int, float], list[str]]:
    """Map ``--accuracy`` names onto rows: a name matches a row's spec, its name, or the
    part after the source prefix (``resnet50`` for ``torchvision:resnet50``).

    Returns ``({row index: accuracy}, [names that matched no row])``. A name matching
    several rows (the same model with other inputs) applies to each.
    """
    matched: dict[int, float] = {}
    unmatched = []
    for key, value in accuracies.items():
        hits = [i for i, r in enumerate(rows) if key in _aliases(r.spec, r.name)]
        if not hits:
            unmatched.append(key)
        for i in hits:
            matched[i] = value
    return matched, unmatched


# --------------------------------------------------------------------------------------------
# what the report's comparison charts draw (from a comparison document, stored ones included)


def _document_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's rows (``models`` or ``rows``) with ``model`` (the row's label, model
    or name), ``time_s`` (``time_s``, else ``median_s``) and ``bytes`` (``bytes``, else
    read + written) filled in."""
    out = []
    for r in comparison.get("models") or comparison.get("rows") or []:
        if not isinstance(r, dict):
            continue
        row = dict(r)
        if "bytes" not in row and ("bytes_read" in row or "bytes_written" in row):
            row["bytes"] = (row.get("bytes_read") or 0) + (row.get("bytes_written") or 0)
        row["model"] = str(row.get("label") or row.get("model") or row.get("name") or "?")
        if positive(row.get("time_s")) is None and positive(row.get("median_s")) is not None:
            row["time_s"] = float(row["median_s"])
        out.append(row)
    return out


def _document_front(comparison: dict[str, Any], rows: list[dict[str, Any]], cost: str) -> list:
    """The document's own front (``pareto`` as a list or ``{"front": [...]}``, else the rows
    flagged ``pareto``), else :func:`pareto_front` of ``rows`` against ``cost``."""
    given = comparison.get("pareto")
    if isinstance(given, dict):
        given = given.get("front")
    if isinstance(given, list):
        return [str(g) for g in given]
    flagged = [str(r["model"]) for r in rows if r.get("pareto") is True]
    if flagged:
        return flagged
    return pareto_front([(str(r["model"]), float(r[cost]), float(r["accuracy"])) for r in rows])


def comparison_plot(comparison: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the report's comparison charts draw; None without a comparison document.

    ``rows``: every row (see :func:`_document_rows`); ``timed``: those with a positive
    ``time_s``; ``pareto``: ``{"cost", "rows", "front"}``, the rows with an accuracy placed
    against measured time (``cost`` ``"time_s"``, when two timed rows have accuracies) or
    else against FLOPs (``"flops"``), and the names on the front (the document's own when
    it carries one; an empty list with fewer than two rows).
    """
    if not comparison:
        return None
    rows = _document_rows(comparison)
    timed = [r for r in rows if positive(r.get("time_s"))]
    acc_rows = [r for r in timed if isinstance(r.get("accuracy"), int | float)]
    cost = "time_s"
    if len(acc_rows) < 2:
        cost = "flops"
        acc_rows = [
            r
            for r in rows
            if isinstance(r.get("accuracy"), int | float) and positive(r.get("flops"))
        ]
    front = _document_front(comparison, acc_rows, cost) if len(acc_rows) >= 2 else []
    return {
        "rows": rows,
        "timed": timed,
        "pareto": {"cost": cost, "rows": acc_rows, "front": front},
    }
