"""The counted figures sweep and compare read off one Profile: the one place those
pipelines touch the profile's fields, so a change of the result model is adapted here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flopwise.analysis.alpha import AlphaConstants, alpha_totals
from flopwise.profile import Profile


@dataclass(frozen=True)
class ModelCounts:
    """A model's counted cost at one input: integers, except the α figures (α · flops of the
    conv/dense layers plus every other op's plain flops, and likewise MACs)."""

    params: int
    flops: int
    macs: int
    alpha_flops: float
    alpha_macs: float
    bytes: int
    activations: int
    complete: bool
    inputs: list[dict[str, Any]]

    def costs(self) -> dict[str, int | float]:
        """The cost fields a sweep point and a compare row share, by their field names."""
        return {
            "flops": self.flops,
            "macs": self.macs,
            "alpha_flops": self.alpha_flops,
            "alpha_macs": self.alpha_macs,
            "bytes": self.bytes,
            "activations": self.activations,
        }


def model_counts(prof: Profile, constants: AlphaConstants) -> ModelCounts:
    """The totals of ``prof`` with its α figures under ``constants``."""
    at = alpha_totals(prof, constants)
    t = prof.totals
    return ModelCounts(
        params=int(t.params),
        flops=int(t.flops),
        macs=int(t.macs),
        alpha_flops=at["alpha_flops"] + at["other_flops"],
        alpha_macs=at["alpha_macs"] + at["other_macs"],
        bytes=int(t.bytes_read + t.bytes_written),
        activations=int(t.activations),
        complete=prof.complete,
        inputs=prof.inputs,
    )
