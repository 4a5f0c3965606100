"""``flopwise report``: render a saved document or a stored run as one self-contained HTML file
(and, with ``--plots DIR``, each chart as SVG and PNG)."""

from __future__ import annotations

from pathlib import Path

import typer

from flopwise.commands._options import OUTPUT_RULE, output_file, write_output

_DB_HELP = "Results database for run ids (default: $FLOPWISE_DB or the user data dir)."


def _plots_folder(value: Path | None) -> Path | None:
    """``--plots DIR``: a folder (made if missing), never an existing file; checked before
    the report is written."""
    if value is not None and value.exists() and not value.is_dir():
        raise typer.BadParameter(f"{value} is a file; give a folder for the chart files")
    return value


def report(
    source: str | None = typer.Argument(
        None,
        metavar="INPUT",
        help="A profile/sweep/compare JSON file, or a stored run (12, latest, latest~1, @MODEL).",
    ),
    output: Path = typer.Option(
        Path("report.html"),
        "--output",
        "-o",
        help=f"HTML file to write ({OUTPUT_RULE})",
        callback=output_file,
    ),
    plots: Path | None = typer.Option(
        None,
        "--plots",
        help="Also write every chart as SVG (and PNG with matplotlib) into this folder "
        f"({OUTPUT_RULE})",
        callback=_plots_folder,
    ),
    sweep: str | None = typer.Option(
        None, "--sweep", help="A sweep document (file or run) to include."
    ),
    compare: str | None = typer.Option(
        None, "--compare", help="A comparison document (file or run) to include."
    ),
    png: bool = typer.Option(True, "--png/--no-png", help="With --plots: PNG files too."),
    title: str | None = typer.Option(None, "--title", help="Page title."),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    campaign: str | None = typer.Option(
        None,
        "--campaign",
        help="Print a stored campaign's per-device tables and Pareto fronts instead.",
    ),
) -> None:
    """Render an HTML report (works offline: no network, no external files), or with
    --campaign NAME the per-device tables of a campaign."""
    if campaign is not None:
        _campaign_report(campaign, db)
        return
    if source is None:
        raise typer.BadParameter("give INPUT (a JSON file or a stored run) or --campaign NAME")
    from flopwise.pipeline import html_report, report_chart_list
    from flopwise.pipeline.report import load_report_documents
    from flopwise.report.plots import write_plots

    doc, sweep_doc, compare_doc = load_report_documents(source, sweep=sweep, compare=compare, db=db)
    html = html_report(doc, sweep=sweep_doc, comparison=compare_doc, title=title)
    write_output(output, html)
    typer.echo(f"wrote {output} ({len(html.encode()) / 1024:.0f} KiB)")
    if plots is not None:
        charts = report_chart_list(doc, sweep=sweep_doc, comparison=compare_doc)
        written = write_plots(charts, plots, png=png)
        pngs = sum(p.suffix == ".png" for p in written)
        note = "" if pngs or not png else " (no PNG: matplotlib is not installed)"
        typer.echo(f"wrote {len(written)} plot files to {plots}{note}")


def _campaign_report(name: str, db: Path | None) -> None:
    from flopwise.campaign.summary import campaign_summary
    from flopwise.report.campaign import (
        campaign_tables,
        failures_table,
        jobs_line,
        pareto_tables,
        proxy_table,
    )
    from flopwise.report.console import stdout_console

    summary = campaign_summary(name, db)
    console = stdout_console()
    console.print(jobs_line(summary.jobs, name), highlight=False)
    for table in campaign_tables(summary.rows, name, summary.coverage):
        console.print(table)
    correlations = proxy_table(summary.correlations, summary.agreement, name)
    if correlations is not None:
        console.print(correlations)
    for table in pareto_tables(summary.fronts, name):
        console.print(table)
    failures = failures_table(summary.failures, name)
    if failures is not None:
        console.print(failures)


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``flopwise`` command."""
    app.command("report")(report)
