"""The shared option types of the commands and the one MeasureOptions of the API."""

from __future__ import annotations

import pytest
import torch
import typer
from typer.testing import CliRunner

from flopwise.commands._options import (
    BudgetOption,
    FormatOption,
    ThreadsOption,
)
from flopwise.errors import FlopwiseError
from flopwise.measure.options import MeasureOptions, torch_threads


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def run(
        fmt: str = FormatOption("table", "json"),
        threads: int | None = ThreadsOption(),
        budget: float | None = BudgetOption(2.0),
    ) -> None:
        typer.echo(f"{fmt} {threads} {budget}")

    return app


@pytest.mark.parametrize(
    ("argv", "code", "text"),
    [
        ([], 0, "table None None"),
        (["-f", "json", "--threads", "3", "--budget", "1.5"], 0, "json 3 1.5"),
        (["-f", "csv"], 2, "must be one of table, json"),
        (["--threads", "0"], 2, "must be >= 1"),
        (["--budget", "nan"], 2, "finite number of seconds"),
    ],
)
def test_shared_options_accept_and_refuse(argv, code, text):
    result = CliRunner().invoke(_app(), argv)
    assert result.exit_code == code, result.output
    assert text in result.output


def test_measure_options_refuse_nonsense():
    for bad in ({"repeats": 0}, {"budget_s": 0.0}, {"threads": 0}, {"pue": -1.0}):
        with pytest.raises(FlopwiseError):
            MeasureOptions(**bad)
    assert MeasureOptions(repeats=5).sample_budget_s is None
    assert MeasureOptions(budget_s=3.0).sample_budget_s == 3.0


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before
    with torch_threads(None) as n:
        assert n == before
