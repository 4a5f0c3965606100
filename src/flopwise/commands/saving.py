"""Keeping a command's result in the results store (``flopwise history``)."""

from __future__ import annotations

from typing import Any

import typer


def save_run(doc: dict[str, Any], kind: str) -> int | None:
    """Save ``doc`` as a run of ``kind`` in the default store and say so on stderr.

    Returns the run id, or None when it could not be saved: a store failure (read-only or
    foreign database, full disk) is one warning line on stderr, never a lost result, so
    commands call this *before* writing their output.
    """
    from flopwise.pipeline.history import save_run as save

    try:
        run_id = save(doc, kind)
    except Exception as exc:  # the printed result matters more than the archive
        typer.echo(f"warning: could not save the run: {exc}", err=True)
        return None
    typer.echo(f"saved as run {run_id} (flopwise history)", err=True)
    return run_id
