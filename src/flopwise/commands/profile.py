"""``flopwise profile MODEL``: count (and optionally measure) one model."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from flopwise.commands._options import (
    BudgetOption,
    DeviceOption,
    FormatOption,
    HardwareOption,
    InputOption,
    OutputOption,
    non_negative,
    positive,
    write_output,
)
from flopwise.errors import FlopwiseError

FORMATS = ("table", "json", "csv", "html")


def register(app: typer.Typer) -> None:
    app.command("profile")(profile_command)


def profile_command(
    model: str = typer.Argument(
        ...,
        # "\\[" keeps rich markup from taking "[@REVISION]" for a tag and dropping it.
        help="torchvision:NAME, timm:NAME, hf:NAME, hf:ORG/NAME\\[@REVISION], hf:path/config.json, file.py:factory or package.module:factory",
    ),
    inputs: list[str] = InputOption(),
    device: str = DeviceOption(),
    dtype: str = typer.Option("float32", help="Model dtype: float32, bfloat16, float16 ..."),
    train: bool = typer.Option(
        False, "--train", help="Count forward + backward (real autograd ops)"
    ),
    measure: bool = typer.Option(False, "--measure", help="Also time the model on this machine"),
    repeats: int | None = typer.Option(
        None, help="Timed repeats with --measure (default: as many as --budget allows)"
    ),
    budget: float | None = BudgetOption(10.0, "timing with --measure"),
    energy: bool = typer.Option(
        False, "--energy", help="With --measure: energy per run and per item"
    ),
    grid: str | None = typer.Option(
        None, help="Grid region for gCO2e with --energy (default: world)"
    ),
    pue: float | None = typer.Option(
        None,
        help="Power usage effectiveness for gCO2e with --energy (default: 1)",
        callback=positive,
    ),
    hardware: str | None = HardwareOption(
        help="Hardware profile for the roofline with --measure (default: host)"
    ),
    stages: bool = typer.Option(
        False, "--stages", help="With --measure: also time preprocessing, copies and postprocessing"
    ),
    depth: int | None = typer.Option(
        None, help="Module tree depth shown in the table (default: 3)", callback=non_negative
    ),
    fmt: str = FormatOption(*FORMATS),
    level: str | None = typer.Option(
        None, help="Rows of --format csv: modules or ops (default: modules)"
    ),
    output: Path | None = OutputOption(),
    save: bool = typer.Option(True, "--save/--no-save", help="Keep the run in the results store"),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Progress bars while measuring"
    ),
    trust_remote_code: bool = typer.Option(
        False,
        "--trust-remote-code",
        help="Run the Python code of an hf: repository whose config needs it (auto_map)",
    ),
) -> None:
    """Count FLOPs, MACs, params, activations and bytes of every op and module."""
    from flopwise.pipeline import MeasureOptions, run_profile

    _refuse_unused(
        measure,
        energy,
        fmt,
        stages=stages,
        repeats=repeats,
        budget=budget,
        hardware=hardware,
        energy_flag=energy,
        grid=grid,
        pue=pue,
        level=level,
        depth=depth,
    )
    if repeats is not None and repeats < 1:
        raise FlopwiseError(f"--repeats must be >= 1 (got {repeats})")
    timing = MeasureOptions(
        repeats=repeats,
        budget_s=10.0 if budget is None else budget,
        hardware=hardware or "host",
        energy=energy,
        grid=grid or "world",
        pue=1.0 if pue is None else pue,
        stages=stages,
        progress=progress and sys.stderr.isatty(),
    )
    show_spinner = progress and sys.stderr.isatty() and not measure
    with _spinner(f"counting {model} ({device} tensors)", show_spinner):
        prof = run_profile(
            model,
            inputs,
            device=device,
            dtype=dtype,
            train=train,
            measure=timing if measure else None,
            trust_remote_code=trust_remote_code,
        )
    if save:  # first: a bad --output or a failing renderer must not lose a measured run
        _save(prof)
    text = render(prof, fmt, depth=3 if depth is None else depth, level=level or "modules")
    if output is not None:
        write_output(output, text)
        typer.echo(f"wrote {output} ({fmt})", err=True)
    else:
        typer.echo(text, nl=not text.endswith("\n"))


def _refuse_unused(measure: bool, energy: bool, fmt: str, **given: object) -> None:
    """Refuse, in one line, an option this run would silently ignore."""
    needs = {
        "stages": ("--stages", "--measure", measure),
        "repeats": ("--repeats", "--measure", measure),
        "budget": ("--budget", "--measure", measure),
        "hardware": ("--hardware", "--measure (it sets the roofline of measured ops)", measure),
        "energy_flag": ("--energy", "--measure", measure),
        "grid": ("--grid", "--energy", energy),
        "pue": ("--pue", "--energy", energy),
        "level": ("--level", "--format csv", fmt == "csv"),
        "depth": ("--depth", "--format table", fmt == "table"),
    }
    for key, value in given.items():
        option, needed, present = needs[key]
        if value not in (None, False) and not present:
            raise FlopwiseError(
                f"{option} is only used with {needed}; drop it or add {needed.split(' (')[0]}"
            )
    if given.get("repeats") is not None and given.get("budget") is not None:
        raise FlopwiseError("give --repeats or --budget, not both (--repeats overrides --budget)")
    level = given.get("level")
    if level is not None and level not in ("modules", "ops"):
        raise FlopwiseError(f"--level must be modules or ops (got {level!r})")


def _spinner(message: str, enabled: bool):
    """A status line on stderr while a big model builds and counts (silent when piped)."""
    import contextlib

    if not enabled:
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def render(prof, fmt: str, depth: int, level: str) -> str:
    """The profile in the chosen format (renderers only)."""
    if fmt == "json":
        return prof.to_json() + "\n"
    if fmt == "csv":
        from flopwise.report.frames import to_csv

        return to_csv(prof, level)
    if fmt == "html":
        from flopwise.pipeline import html_report

        return html_report(prof.to_dict())
    from flopwise.report.console import table_width
    from flopwise.report.table import render_text

    return render_text(prof, depth=depth, width=table_width(160))


def _save(prof) -> None:
    """Store the run; a store failure is a warning, never a lost result."""
    from flopwise.commands.saving import save_run

    save_run(prof.to_dict(), "measure" if prof.measured else "profile")
