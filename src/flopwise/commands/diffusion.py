"""``flopwise diffusion PIPELINE``: the cost of one generated image, per component."""

from __future__ import annotations

import json

import typer

from flopwise.commands._options import FormatOption


def register(app: typer.Typer) -> None:
    app.command("diffusion")(diffusion_command)


def diffusion_command(
    pipeline: str = typer.Argument(..., help="Diffusion pipeline: sd15, sdxl or pixart-alpha"),
    steps: int = typer.Option(50, "--steps", help="Denoising steps"),
    guidance: bool = typer.Option(
        True,
        "--guidance/--no-guidance",
        help="Classifier-free guidance: the denoiser and text encoder run at batch 2",
    ),
    fmt: str = FormatOption("table", "json"),
) -> None:
    """Count a whole generation: text encoder once, denoiser per step, VAE decoder once."""
    from flopwise.pipeline import generation_cost

    cost = generation_cost(pipeline, steps=steps, guidance=guidance)
    if fmt == "json":
        typer.echo(json.dumps(cost, indent=2))
        return
    from flopwise.report.diffusion import generation_table

    typer.echo(generation_table(cost))
