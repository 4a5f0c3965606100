"""Consoles for what the commands print: the terminal's width on a terminal, and off one (a
pipe, a file, a CI log) wide enough that no value is cut to ``7.22…`` or wrapped."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console

# Off a terminal nothing reads the width; any cell shorter than this prints whole.
UNBOUNDED = 10_000


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (a person reading), not a pipe or a file."""
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def table_width(terminal: int | None = None) -> int:
    """Columns for text rendered for stdout: ``terminal`` (default: the terminal's own
    width) on a terminal, :data:`UNBOUNDED` off one."""
    if not stdout_is_terminal():
        return UNBOUNDED
    return terminal or Console().width


def stdout_console(**kwargs: Any) -> Console:
    """A Console printing to stdout, as wide as :func:`table_width` says."""
    if stdout_is_terminal():
        return Console(**kwargs)
    return Console(width=UNBOUNDED, **kwargs)
