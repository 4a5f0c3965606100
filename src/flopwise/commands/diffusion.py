"""``flopwise diffusion PIPELINE``: the cost of one generated image, per component."""

from __future__ import annotations

import json

import typer


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
    fmt: str = typer.Option("table", "--format", "-f", help="table or json"),
) -> None:
    """Count a whole generation: text encoder once, denoiser per step, VAE decoder once."""
    from flopwise.errors import FlopwiseError
    from flopwise.pipeline import generation_cost

    if fmt not in ("table", "json"):
        raise FlopwiseError(f"--format must be table or json (got {fmt!r})")
    cost = generation_cost(pipeline, steps=steps, guidance=guidance)
    if fmt == "json":
        typer.echo(json.dumps(cost, indent=2))
        return
    typer.echo(render(cost))


def render(cost: dict) -> str:
    """Per-component and total cost as text lines."""
    from flopwise.report.units import si

    cfg = "with classifier-free guidance (batch 2)" if cost["guidance"] else "without guidance"
    lines = [f"{cost['pipeline']}: one image, {cost['steps']} steps, {cfg}"]
    header = f"{'component':<16}{'model':<22}{'calls':>6}{'per call':>16}{'total':>16}  inputs"
    lines.append(header)
    for c in cost["components"]:
        lines.append(
            f"{c['name']:<16}{c['model']:<22}{c['calls']:>6}"
            f"{si(c['per_call']['macs'], 'MACs'):>16}{si(c['total']['macs'], 'MACs'):>16}"
            f"  {', '.join(c['inputs'])}"
        )
    t = cost["total"]
    lines.append(
        f"total  {si(t['macs'], 'MACs')} ({t['macs']:,} MACs)  ·  {si(t['flops'], 'FLOPs')}"
        f" ({t['flops']:,} FLOPs)  ·  {si(t['bytes'], 'B')} unfused traffic"
    )
    return "\n".join(lines)
