"""The pipeline behind ``flopwise diffusion``: the cost of one image generation."""

from __future__ import annotations

from typing import Any

from flopwise.profile import profile


def generation_cost(name: str, steps: int = 50, guidance: bool = True) -> dict[str, Any]:
    """Cost of generating one image with the diffusion pipeline ``name`` (``sd15``,
    ``sdxl``, ``pixart-alpha``), per component and in total: each text encoder once, the
    denoiser ``steps`` times, the VAE decoder once
    (:func:`flopwise.sources.diffusion.generation_parts`).

    Classifier-free guidance (``guidance``) doubles the batch of every denoiser step and,
    where the pipeline encodes the empty negative prompt (SD 1.5, PixArt-α; not SDXL, whose
    pipeline zeroes it), of the text encoders. Each component is counted once on meta tensors at its batch; its
    total is the per-call count times its calls. Returns ``{"pipeline", "steps",
    "guidance", "components": [...], "total": {...}}``; each component has ``name``,
    ``model``, ``inputs``, ``calls``, ``params``, ``complete``, ``per_call`` and ``total``
    (flops, macs, bytes).
    """
    from flopwise.sources.diffusion import generation_parts
    from flopwise.sources.specs import make_inputs

    components = []
    total = {"flops": 0, "macs": 0, "bytes": 0}
    for part in generation_parts(name, steps=steps, guidance=guidance):
        part.module.eval()
        args, kwargs = make_inputs(part.inputs, "meta")
        prof = profile(part.module, *args, kwargs={**kwargs, **part.kwargs})
        t = prof.totals
        per_call = {"flops": t.flops, "macs": t.macs, "bytes": t.bytes_read + t.bytes_written}
        part_total = {k: v * part.calls for k, v in per_call.items()}
        for key in total:
            total[key] += part_total[key]
        components.append(
            {
                "name": part.name,
                "model": part.model,
                "inputs": [str(s) for s in part.inputs] + _describe(part.kwargs),
                "calls": part.calls,
                "params": sum(p.numel() for owner in part.owners for p in owner.parameters()),
                "complete": prof.complete,
                "per_call": per_call,
                "total": part_total,
            }
        )
    return {
        "pipeline": name,
        "steps": steps,
        "guidance": guidance,
        "components": components,
        "total": total,
    }


def _describe(kwargs: dict[str, Any]) -> list[str]:
    """Input-spec-like text for constant keyword tensors, one level of dicts flattened
    (SDXL's ``added_cond_kwargs`` -> ``text_embeds=2x1280``, ``time_ids=2x6``)."""
    flat: dict[str, Any] = {}
    for key, value in kwargs.items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return [f"{k}={'x'.join(map(str, v.shape))}" for k, v in flat.items() if hasattr(v, "shape")]
