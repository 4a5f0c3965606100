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
