"""Renderer of a diffusion generation's cost (``flopwise diffusion``): per component and
total, as text lines. Render only: every number comes from the cost document."""

from __future__ import annotations

from typing import Any

from flopwise.units import si


def generation_table(cost: dict[str, Any]) -> str:
    """Per-component and total cost as text lines."""
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
