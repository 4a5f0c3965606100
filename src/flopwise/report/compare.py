"""``flopwise compare`` rendered: the models table, the proxies' correlations, the Pareto
front and notes as text, and one CSV row per model.

Both read the ``flopwise.compare/1`` document (``CompareResult.to_dict()``, or a stored
run)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from rich.console import Console
from rich.table import Table

from flopwise.report.console import table_width
from flopwise.report.device import describe_device
from flopwise.units import count, seconds, si

#: Labels of the proxies the comparison correlates with time (its ``correlations`` keys).
PROXY_LABELS = {
    "params": "params",
    "flops": "FLOPs",
    "alpha_flops": "α-FLOPs",
    "activations": "activations",
    "bytes": "bytes",
}

CSV_COLUMNS = (
    "label",
    "spec",
    "inputs",
    "params",
    "flops",
    "macs",
    "alpha_flops",
    "alpha_macs",
    "activations",
    "bytes",
    "complete",  # false: uncounted ops, the counts are lower bounds (the table's "*")
    "median_s",
    "min_s",
    "spread",
    "repeats",
    "trustworthy",
    "energy_j",
    "energy_method",
    "accuracy",
    "pareto",
)


def _si(value: float | None, unit: str) -> str:
    return si(value, unit, missing="-")


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.3f}"


def _shapes(inputs: list[dict[str, Any]]) -> str:
    return "; ".join("x".join(str(s) for s in d.get("shape", [])) for d in inputs)


def _models_table(doc: dict[str, Any]) -> Table:
    """One row per model: counts, then (when present) time, energy, accuracy and Pareto."""
    rows = doc["rows"]
    show_energy = any(r["energy_j"] is not None for r in rows)
    show_acc = any(r["accuracy"] is not None for r in rows)
    measured = any(r["median_s"] is not None for r in rows)
    front = set((doc.get("pareto") or {}).get("front") or [])
    title = "models" + (f", timed on {describe_device(doc['device'])}" if measured else "")
    table = Table(title=title, title_justify="left")
    cols = ["model", "inputs", "params", "FLOPs", "α-FLOPs", "activations", "bytes"]
    if measured:
        cols += ["time (median)", "spread"]
    if show_energy:
        cols.append("energy / run")
    if show_acc:
        cols += ["accuracy", "Pareto"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("model", "inputs") else "right")
    for r in rows:
        cells = [
            r["label"] + ("" if r["complete"] else " *"),
            _shapes(r["inputs"]),
            count(r["params"], "params"),
            _si(r["flops"], "FLOPs"),
            _si(r["alpha_flops"], "FLOPs"),
            _si(r["activations"], "").strip(),
            _si(r["bytes"], "B"),
        ]
        if measured:
            cells.append(seconds(r["median_s"]) if r["median_s"] is not None else "-")
            flag = "" if r["trustworthy"] in (True, None) else " !"
            cells.append(f"{r['spread']:.0%}{flag}" if r["spread"] is not None else "-")
        if show_energy:
            cells.append(_si(r["energy_j"], "J"))
        if show_acc:
            cells.append(f"{r['accuracy']:g}" if r["accuracy"] is not None else "-")
            cells.append("yes" if r["label"] in front else "")
        table.add_row(*cells)
    return table


def _correlations_table(doc: dict[str, Any]) -> Table:
    corr = doc["correlations"]
    ct = Table(
        title=f"correlation of each proxy with measured time ({next(iter(corr.values()))['n']} models)",
        title_justify="left",
    )
    for c in ("proxy", "Pearson", "Spearman", "Kendall τ-b", "log-log R²"):
        ct.add_column(c, justify="left" if c == "proxy" else "right")
    for key, st in corr.items():
        label = PROXY_LABELS.get(key, key) + (" (best)" if key == doc.get("best_proxy") else "")
        ct.add_row(label, *(_num(st[k]) for k in ("pearson", "spearman", "kendall", "loglog_r2")))
    return ct


def render_table(doc: dict[str, Any]) -> str:
    """The comparison as text: the models table, the correlations (when timed), the Pareto
    front (when accuracies were given), the conventions and notes."""
    console = Console(record=True, width=table_width(160), file=io.StringIO())
    console.print(_models_table(doc))
    if doc.get("correlations"):
        console.print(_correlations_table(doc))
    pareto = doc.get("pareto")
    if pareto:
        console.print(
            f"Pareto front (accuracy vs {pareto['cost']}): "
            + (" → ".join(pareto["front"]) if pareto["front"] else "none"),
            highlight=False,
        )
    rows = doc["rows"]
    measured = any(r["median_s"] is not None for r in rows)
    conv = doc["convention"]
    console.print(
        f"FLOPs: {conv['flops']}; α-FLOPs: {conv['alpha_flops']}; bytes: {conv['bytes']}"
        + (f"; time: {conv['time']} (! = noisy)" if measured else ""),
        highlight=False,
    )
    methods = sorted({r["energy_method"] for r in rows if r.get("energy_method")})
    if methods:
        console.print(f"energy: joules per run, {'; '.join(methods)}", highlight=False)
    for note in doc["notes"]:
        console.print(f"note: {note}", highlight=False)
    return console.export_text()


def render_csv(doc: dict[str, Any]) -> str:
    """One CSV row per model; integer counts stay integers, times in seconds."""
    front = set((doc.get("pareto") or {}).get("front") or [])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in doc["rows"]:
        values = []
        for k in CSV_COLUMNS:
            if k == "inputs":
                values.append(
                    ";".join(
                        f"{d.get('name')}={'x'.join(str(s) for s in d.get('shape', []))}"
                        for d in r["inputs"]
                    )
                )
            elif k == "pareto":
                values.append("yes" if r["label"] in front else "")
            elif k == "complete":
                values.append("true" if r.get("complete", True) else "false")
            else:
                v = r.get(k)
                values.append("" if v is None else v)
        writer.writerow(values)
    return buf.getvalue()
