"""``flopwise fit-alpha`` as text: the fitted α constants, what constrained them, and how
well MACs and α-MACs track the measured times (rendering only; the fit is
:mod:`flopwise.pipeline.fit_alpha`'s)."""

from __future__ import annotations

import io
import math
from typing import Any

from rich.console import Console
from rich.table import Table

from flopwise.report.console import stdout_is_terminal, table_width
from flopwise.report.device import describe_device

__all__ = ["alpha_fit_table"]


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def _constants_table(result: dict[str, Any]) -> Table:
    c = result["constants"]
    params = Table(title="constants  α = ((S_K + β·(S − S_K)) / S)^γ,  S_K = ln K + 1")
    for col in ("kernel class", "β", "γ", "layers", "distinct S", "distinct K", "note"):
        params.add_column(col, justify="left" if col in ("kernel class", "note") else "right")
    for key, label in (("k1", "K = 1"), ("k_gt1", "K > 1")):
        info = result["classes"][key]
        note = ""
        if not info["fitted"]:
            note = "no layers: prior kept"
        elif info["at_search_edge"]:
            note = "β at search edge"
        elif info["distinct_S"] < 3:
            note = "few distinct S: weakly constrained"
        params.add_row(
            label,
            f"{c[key]['beta']:.4g}",
            f"{c[key]['gamma']:.4g}",
            str(info["rows"]),
            str(info["distinct_S"]),
            str(info["distinct_K"]),
            note,
        )
    return params


def _proxies_table(result: dict[str, Any]) -> Table:
    proxies = Table(title=f"proxy vs measured time over {result['layers']} layers")
    for col in ("proxy", "Pearson", "Spearman", "Kendall τ-b", "log-log R²"):
        proxies.add_column(col, justify="left" if col == "proxy" else "right")
    rows = (
        ("MACs", result["quality"]["macs"]),
        ("α-MACs, fitted constants", result["quality"]["alpha_macs"]),
        ("α-MACs, authors' constants", result["default_quality"]["alpha_macs"]),
    )
    for name, q in rows:
        proxies.add_row(
            name, _fmt(q["pearson"]), _fmt(q["spearman"]), _fmt(q["kendall"]), _fmt(q["loglog_r2"])
        )
    return proxies


def alpha_fit_table(result: dict[str, Any]) -> str:
    """A fit-alpha document (schema ``flopwise.fit_alpha/1``) as rich tables, for stdout:
    styled on a terminal, plain and unwrapped off one."""
    styled = stdout_is_terminal()
    console = Console(record=True, file=io.StringIO(), width=table_width(), force_terminal=styled)
    console.print(f"[bold]α-FLOPs fit[/bold]: {result['source']}")
    if result.get("device"):
        console.print(f"timed on {describe_device(result['device'])}")
    console.print(_constants_table(result))
    spm = result["constants"].get("seconds_per_mac")
    if spm:
        console.print(
            f"time scale: {spm * 1e12:.4g} ps per α-MAC "
            f"({result['alpha_macs_per_second'] / 1e9:.4g} α-GMAC/s); "
            "predicted time = scale · α · MACs"
        )
    console.print(_proxies_table(result))
    q = result["quality"]
    if "predicted_mape" in q:
        console.print(
            f"time predicted from α-MACs: MAPE {q['predicted_mape'] * 100:.1f}% "
            f"(MACs with one fitted scale: {q['macs_only_mape'] * 100:.1f}%)"
        )
    h = result.get("held_out")
    if h:
        console.print(
            f"held out (each of {h['folds']} plots predicted by a fit that never saw it): "
            f"Pearson {_fmt(h['pearson'])}, Spearman {_fmt(h['spearman'])}, "
            f"MAPE {h['mape'] * 100:.1f}%; MACs with one scale: Pearson "
            f"{_fmt(h['macs_pearson'])}, MAPE {h['macs_mape'] * 100:.1f}%"
        )
    return console.export_text(styles=styled)
