"""Every option's help reaches ``--help`` whole.

typer renders help with rich markup, which swallows anything that looks like a markup tag,
such as a literal ``[default: 3]`` written inside a help string: the help then loses its
default silently. Defaults that a help string states itself are written ``(default: X)``."""

from __future__ import annotations

import re

import click
import pytest
import typer
from rich.text import Text
from typer.testing import CliRunner

from flopwise.cli import app

ROOT = typer.main.get_command(app)


def _commands(group: click.Command, prefix: tuple[str, ...] = ()):
    """(argv prefix, command) of every sub-command, nested groups included."""
    for name, command in getattr(group, "commands", {}).items():
        yield (*prefix, name), command
        yield from _commands(command, (*prefix, name))


COMMANDS = sorted(_commands(ROOT), key=lambda item: item[0])


def _helps(command: click.Command):
    for param in command.params:
        help_text = getattr(param, "help", None)
        if help_text:
            yield param, help_text


def _rendered_help(argv: tuple[str, ...]) -> str:
    # Wide enough that rich never wraps a help line; whitespace is normalised anyway.
    result = CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_every_command_is_covered() -> None:
    names = {argv[0] for argv, _ in COMMANDS}
    assert {"profile", "sweep", "memory", "llm", "history"} <= names


@pytest.mark.parametrize(("argv", "command"), COMMANDS, ids=[" ".join(a) for a, _ in COMMANDS])
def test_no_help_text_is_swallowed_by_markup(argv: tuple[str, ...], command) -> None:
    for param, help_text in _helps(command):
        # An escaped "\\[" is deliberate: it renders as "[".
        intended = help_text.replace("\\[", "[")
        assert Text.from_markup(help_text).plain == intended, (
            f"{' '.join(argv)} {param.name}: rich markup eats part of {help_text!r}; "
            "write a default as (default: X)"
        )


@pytest.mark.parametrize(("argv", "command"), COMMANDS, ids=[" ".join(a) for a, _ in COMMANDS])
def test_stated_defaults_reach_help(argv: tuple[str, ...], command) -> None:
    shown = _rendered_help(argv)
    for param, help_text in _helps(command):
        for stated in re.findall(r"\(default: [^)]*\)", help_text):
            assert " ".join(stated.split()) in shown, f"{' '.join(argv)} {param.name}: {stated}"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("profile",), "with --measure for the whole command (default: 10 s)"),
        (("profile",), "Module tree depth shown in the table (default: 3)"),
        (("profile",), "Grid region for gCO2e with --energy (default: world)"),
        (("profile",), "Power usage effectiveness for gCO2e with --energy (default: 1)"),
        (("profile",), "Hardware profile for the roofline with --measure (default: host)"),
        (("profile",), "Rows of --format csv: modules or ops (default: modules)"),
        (("sweep",), "Seconds of timing for the whole command (default: "),
        (("profile",), "hf:ORG/NAME[@REVISION], hf:path/config.json"),
    ],
)
def test_known_defaults_are_shown(argv: tuple[str, ...], expected: str) -> None:
    assert expected in _rendered_help(argv)
