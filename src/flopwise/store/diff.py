"""What changed between two runs: pure functions over two ``flopwise.profile/1`` documents.

:func:`diff_documents` matches modules by path and returns one :class:`ModuleDiff` per module
of either document; :func:`diff_totals` does the same for the whole model;
:func:`check_thresholds` turns ``--fail-over flops=1%`` style limits into the violations a
CI gate fails on. Nothing here touches the database or the terminal.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from flopwise.errors import FlopwiseError
from flopwise.store.metrics import (
    INTEGER_METRICS,
    METRICS,
    Number,
    module_metrics,
    total_metrics,
    with_module_times,
)

#: Metrics whose change makes a module "changed" (time varies run to run, so it does not).
COUNT_METRICS: tuple[str, ...] = tuple(m for m in METRICS if m != "time")

TOTAL_PATH = "(total)"


class DiffError(FlopwiseError):
    """A threshold that does not parse, or a gated metric that a run does not carry."""


@dataclass(frozen=True, slots=True)
class ModuleDiff:
    """One module (or the totals) in two runs.

    ``status`` is ``"added"`` (only in B), ``"removed"`` (only in A), ``"changed"`` (a count
    metric or the type differs) or ``"same"``. ``a``/``b`` map each metric of
    :data:`~flopwise.store.metrics.METRICS` to its value (``None`` when absent).
    """

    path: str
    type_a: str | None
    type_b: str | None
    depth: int
    status: str
    a: dict[str, Number | None] = field(default_factory=dict)
    b: dict[str, Number | None] = field(default_factory=dict)

    @property
    def type(self) -> str | None:
        """The module's type in B (or in A for a removed module)."""
        return self.type_b if self.type_b is not None else self.type_a

    def delta(self, metric: str) -> Number | None:
        """``b - a`` for a metric (a missing side counts as 0 for added/removed modules)."""
        a, b = self.a.get(metric), self.b.get(metric)
        if a is None and b is None:
            return None
        if a is None or b is None:
            if self.status not in ("added", "removed"):
                return None
            a, b = a or 0, b or 0
        return b - a

    def relative(self, metric: str) -> float | None:
        """``(b - a) / a``; ``inf`` when a metric grows from 0, ``None`` when unknown."""
        a, b = self.a.get(metric), self.b.get(metric)
        if a is None or b is None:
            return math.inf if (a is None and b) else None
        if a == 0:
            return 0.0 if b == 0 else math.copysign(math.inf, b)
        return (b - a) / abs(a)

    def changed(self, metric: str) -> bool:
        """Whether a metric differs between A and B."""
        delta = self.delta(metric)
        return delta is not None and delta != 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``inf`` relative changes become ``None``)."""

        def finite(x: float | None) -> float | None:
            return x if x is None or math.isfinite(x) else None

        return {
            "path": self.path,
            "type": self.type,
            "type_a": self.type_a,
            "type_b": self.type_b,
            "depth": self.depth,
            "status": self.status,
            "a": dict(self.a),
            "b": dict(self.b),
            "delta": {m: self.delta(m) for m in METRICS},
            "relative": {m: finite(self.relative(m)) for m in METRICS},
        }


def _status(a: dict[str, Any] | None, b: dict[str, Any] | None, ma: dict, mb: dict) -> str:
    if a is None:
        return "added"
    if b is None:
        return "removed"
    if a.get("type") != b.get("type"):
        return "changed"
    if any(ma[m] != mb[m] for m in COUNT_METRICS):
        return "changed"
    return "same"


def diff_documents(a: dict[str, Any], b: dict[str, Any]) -> list[ModuleDiff]:
    """Per-module differences between document ``a`` (before) and ``b`` (after).

    Modules are matched by ``path``. The result follows B's module order, with modules that
    only A has inserted after their closest preceding A-neighbour that B also has.
    """
    a, b = with_module_times(a), with_module_times(b)
    mods_a = {str(m.get("path", "")): m for m in a.get("modules") or ()}
    mods_b = {str(m.get("path", "")): m for m in b.get("modules") or ()}
    order: list[str] = list(mods_b)
    # Place A-only modules right after the previous A path that is already placed.
    placed = set(order)
    previous: str | None = None
    for path in mods_a:
        if path not in placed:
            index = order.index(previous) + 1 if previous is not None else 0
            # keep successive removed modules in A's order
            while index < len(order) and order[index] not in mods_b:
                index += 1
            order.insert(index, path)
            placed.add(path)
        previous = path
    rows = []
    for path in order:
        ra, rb = mods_a.get(path), mods_b.get(path)
        ma = module_metrics(ra) if ra is not None else dict.fromkeys(METRICS)
        mb = module_metrics(rb) if rb is not None else dict.fromkeys(METRICS)
        ref = rb if rb is not None else ra
        depth = ref.get("depth")
        rows.append(
            ModuleDiff(
                path=path,
                type_a=None if ra is None else ra.get("type"),
                type_b=None if rb is None else rb.get("type"),
                depth=int(depth) if isinstance(depth, int) else path.count(".") + (path != ""),
                status=_status(ra, rb, ma, mb),
                a=ma,
                b=mb,
            )
        )
    return rows


def diff_totals(a: dict[str, Any], b: dict[str, Any]) -> ModuleDiff:
    """The whole-model difference (totals plus measured end-to-end time)."""
    ta, tb = total_metrics(with_module_times(a)), total_metrics(with_module_times(b))
    changed = any(ta[m] != tb[m] for m in COUNT_METRICS)
    return ModuleDiff(
        path=TOTAL_PATH,
        type_a=str(a.get("model", "")) or None,
        type_b=str(b.get("model", "")) or None,
        depth=-1,
        status="changed" if changed else "same",
        a=ta,
        b=tb,
    )


@dataclass(frozen=True, slots=True)
class Threshold:
    """A limit on growth: ``relative`` (a fraction, from ``"1%"``) or an absolute amount."""

    metric: str
    limit: float
    relative: bool

    def __str__(self) -> str:
        if self.relative:
            return f"{self.metric}={self.limit * 100:g}%"
        return f"{self.metric}={self.limit:g}"

    def exceeded(self, row: ModuleDiff) -> bool | None:
        """Whether ``row`` grows by more than the limit (``None`` if the metric is missing)."""
        a, b = row.a.get(self.metric), row.b.get(self.metric)
        if a is None or b is None:
            return None
        if self.relative:
            rel = row.relative(self.metric)
            return rel is not None and rel > self.limit
        return (b - a) > self.limit


_THRESHOLD = re.compile(r"^\s*([a-z_]+)\s*=\s*([-+0-9.eE]+)\s*(%?)\s*$")


def parse_threshold(text: str) -> Threshold:
    """Parse ``METRIC=N%`` (relative growth) or ``METRIC=N`` (absolute growth, in the
    metric's unit: flops, bytes, seconds...). ``METRIC`` is one of
    :data:`~flopwise.store.metrics.METRICS`."""
    match = _THRESHOLD.match(text)
    if not match:
        raise DiffError(f"bad threshold {text!r}; expected METRIC=N% or METRIC=N, e.g. flops=1%")
    metric, number, percent = match.groups()
    if metric not in METRICS:
        raise DiffError(f"unknown metric {metric!r} in {text!r}; choose from {', '.join(METRICS)}")
    try:
        value = float(number)
    except ValueError:
        raise DiffError(f"bad number {number!r} in threshold {text!r}") from None
    if value < 0 or not math.isfinite(value):
        raise DiffError(f"threshold {text!r} must be a non-negative number")
    return Threshold(metric, value / 100 if percent else value, relative=bool(percent))


@dataclass(frozen=True, slots=True)
class Violation:
    """A metric that grew by more than its threshold (on the totals or on one module)."""

    threshold: Threshold
    row: ModuleDiff

    @property
    def metric(self) -> str:
        """The gated metric's name."""
        return self.threshold.metric

    def describe(self) -> str:
        """One line: ``flops grew 12.50% (4.09e9 -> 4.60e9) > 1% [(total)]``."""
        m = self.metric
        a, b = self.row.a.get(m), self.row.b.get(m)
        rel = self.row.relative(m)
        rel_text = "from 0" if rel is not None and math.isinf(rel) else f"{(rel or 0) * 100:+.2f}%"
        fmt = "{:,}" if m in INTEGER_METRICS else "{:.6g}"
        return (
            f"{m} grew {rel_text} ({fmt.format(a)} -> {fmt.format(b)}), "
            f"over the limit {self.threshold} [{self.row.path or '(root)'}]"
        )


def check_thresholds(
    a: dict[str, Any],
    b: dict[str, Any],
    thresholds: list[Threshold],
    *,
    per_module: bool = False,
) -> list[Violation]:
    """Growth from ``a`` to ``b`` beyond each threshold, on the totals (and on every module
    present in both runs when ``per_module``). A gated metric that either run lacks on its
    totals raises :class:`DiffError`: a CI gate must not pass because data is missing."""
    total = diff_totals(a, b)
    violations = []
    for threshold in thresholds:
        exceeded = threshold.exceeded(total)
        if exceeded is None:
            missing = "A" if total.a.get(threshold.metric) is None else "B"
            raise DiffError(
                f"cannot gate on {threshold.metric}: run {missing} has no {threshold.metric}"
                + (" (measure it with --measure)" if threshold.metric == "time" else "")
            )
        if exceeded:
            violations.append(Violation(threshold, total))
        if per_module:
            for row in diff_documents(a, b):
                if row.status in ("added", "removed"):
                    continue
                if threshold.exceeded(row):
                    violations.append(Violation(threshold, row))
    return violations


@dataclass(frozen=True)
class RunDiff:
    """Two runs compared module by module, and the ``--fail-over`` gates they break."""

    label_a: str
    label_b: str
    doc_a: dict[str, Any]
    doc_b: dict[str, Any]
    total: ModuleDiff
    rows: list[ModuleDiff]  # every module
    visible: list[ModuleDiff]  # the modules to show (changed, within the depth)
    metrics: list[str]  # the metrics to show
    thresholds: list[Threshold]
    violations: list[Violation]

    @property
    def counts(self) -> dict[str, int]:
        """Modules per status: changed, added, removed, same."""
        return {
            s: sum(r.status == s for r in self.rows)
            for s in ("changed", "added", "removed", "same")
        }

    @property
    def other_machine(self) -> bool:
        """Whether time is shown for runs from two different machines (not comparable)."""
        a, b = self.doc_a.get("machine"), self.doc_b.get("machine")
        return "time" in self.metrics and bool(a and b and a != b)

    def to_dict(self) -> dict[str, Any]:
        """``flopwise diff -f json``."""
        return {
            "a": self.label_a,
            "b": self.label_b,
            "total": self.total.to_dict(),
            "modules": [r.to_dict() for r in self.visible],
            "thresholds": [str(t) for t in self.thresholds],
            "violations": [v.describe() for v in self.violations],
        }
