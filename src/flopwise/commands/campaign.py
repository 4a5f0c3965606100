"""``flopwise campaign PLAN.toml``: run a plan of models × inputs × actions × devices on
this machine (a process pool) or a Ray cluster, resumably, into the results store."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import typer

from flopwise.commands._options import non_negative

_DB_HELP = "Results database (default: $FLOPWISE_DB or the user data dir)."


class ExecutorName(str, Enum):
    local = "local"
    ray = "ray"


def register(app: typer.Typer) -> None:
    """Add ``campaign`` to the ``flopwise`` command."""
    app.command("campaign")(campaign_command)


def campaign_command(
    plan_file: Path = typer.Argument(..., metavar="PLAN.toml", help="The campaign plan."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List the jobs and an estimated duration; run nothing."
    ),
    executor: ExecutorName = typer.Option(
        ExecutorName.local, "--executor", help="local (process pool) or ray (a Ray cluster)."
    ),
    address: str = typer.Option(
        "auto",
        "--address",
        help="With --executor ray: auto (the running cluster), HOST:PORT, ray://HOST:PORT, "
        "or local (a throw-away Ray on this machine).",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help="Local worker processes for counting jobs (default: plan, else CPUs).",
        callback=non_negative,
    ),
    retries: int | None = typer.Option(
        None,
        "--retries",
        help="Retries of a failing job before its error is recorded (default: plan, else 2).",
        callback=non_negative,
    ),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    limit: int = typer.Option(
        50, "--show", help="With --dry-run: jobs listed (0: all).", callback=non_negative
    ),
) -> None:
    """Run a campaign plan; re-running it skips the jobs already stored."""
    from rich.console import Console

    from flopwise.campaign.plan import load_plan
    from flopwise.report.console import stdout_console

    plan = load_plan(plan_file)
    n_workers = workers or plan.workers
    console = Console(stderr=True)
    out = stdout_console()
    if dry_run:
        _dry_run(plan, db, n_workers, limit)
        return

    from flopwise.campaign.executors import LocalExecutor, RayExecutor
    from flopwise.campaign.runner import run_plan_file

    if executor is ExecutorName.ray:
        runner = RayExecutor(address=address, timeout_s=plan.timeout_s)
    else:
        runner = LocalExecutor(workers=n_workers, timeout_s=plan.timeout_s)
    typer.echo(
        f"campaign {plan.name} (plan {plan.hash}): {len(plan.jobs)} jobs; {runner.describe()}",
        err=True,
    )
    with _Progress(console, enabled=sys.stderr.isatty()) as progress:
        result = run_plan_file(plan, db, runner, retries=retries, progress=progress)
    from flopwise.campaign.summary import summary_counts
    from flopwise.report.campaign import summary_table

    out.print(summary_table(result, summary_counts(result)))
    failed = [o for o in result.outcomes.values() if o.status == "failed"]
    for outcome in failed[:20]:
        typer.echo(f"failed {outcome.job.describe()}: {outcome.error}")
    if len(failed) > 20:
        typer.echo(f"... and {len(failed) - 20} more failed jobs")
    if result.interrupted:
        typer.echo(
            f"interrupted: {result.remaining} job(s) not finished; "
            "everything finished is stored; run the same command again to resume",
            err=True,
        )
        raise typer.Exit(130)
    if failed:
        # A script or CI job must see that not everything it asked for was computed.
        typer.echo(
            f"{len(failed)} job(s) failed (stored with their errors); run the same command "
            "again to retry them",
            err=True,
        )
        raise typer.Exit(1)


def _dry_run(plan, db: Path | None, workers: int | None, limit: int) -> None:
    from flopwise.campaign.runner import dry_run
    from flopwise.report.campaign import dry_run_lines

    for line in dry_run_lines(dry_run(plan, db, workers), limit):
        typer.echo(line)


class _Progress:
    """A rich progress line on stderr (jobs done/failed/remaining and ETA); silent when
    stderr is not a terminal, where one line per finished job would flood a log.

    The ETA is the jobs left at the mean rate of the whole run so far: timing jobs take
    minutes each, longer than rich's default 30-second rate window, which would leave the
    ETA blank for the whole campaign. ``clock`` (seconds) is for tests."""

    #: Seconds of history the rate is taken over: in effect the whole run.
    RATE_WINDOW_S = 7 * 24 * 3600.0

    def __init__(self, console, enabled: bool, clock: Callable[[], float] | None = None) -> None:
        self.enabled = enabled
        self.console = console
        self.clock = clock
        self._bar = None
        self._task = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]campaign"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                speed_estimate_period=self.RATE_WINDOW_S,
                get_time=self.clock,
            )
            self._bar.__enter__()
        return self

    def __call__(self, done: int, failed: int, remaining: int) -> None:
        if self._bar is None:
            return
        status = f"{done} done · {failed} failed · {remaining} left"
        total = done + failed + remaining
        if self._task is None:
            self._task = self._bar.add_task("campaign", total=total, status=status)
        self._bar.update(self._task, completed=done + failed, total=total, status=status)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
