"""Checks shared by the sub-commands' options: each refuses a bad value in one line (a
usage error, exit 2) before any work starts, naming the option and the value."""

from __future__ import annotations

import math
from pathlib import Path

import typer


def seconds_budget(value: float | None) -> float | None:
    """``--budget``: a finite number of seconds above zero (``nan`` would never end a timing
    loop, ``inf`` never stops it)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a finite number of seconds > 0, got {value}")
    return value


def non_negative(value: int | None) -> int | None:
    """``--depth`` and other counts: ``>= 0``."""
    if value is not None and value < 0:
        raise typer.BadParameter(f"must be >= 0, got {value}")
    return value


def finite(value: float | None) -> float | None:
    """A measured or given figure that must be a finite number."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite number, got {value}")
    return value


def positive(value: float | None) -> float | None:
    """A finite number above zero (``--step-time``, ``--pue`` ...)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a finite number > 0, got {value}")
    return value


def output_file(value: Path | None) -> Path | None:
    """``--output FILE``: its folder must exist and the path must not be a folder, so a typo
    in a CI path fails before the work, not after it."""
    if value is None:
        return None
    path = value.expanduser()
    if path.is_dir():
        raise typer.BadParameter(f"{value} is a folder; give a file name")
    if not path.parent.is_dir():
        raise typer.BadParameter(f"the folder {path.parent} does not exist")
    return path
