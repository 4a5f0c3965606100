"""The versioned JSON document of a profile (schema ``flopwise.profile/1``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import flopwise

if TYPE_CHECKING:
    from flopwise.profile import Profile

SCHEMA = "flopwise.profile/1"


def profile_document(p: Profile) -> dict[str, Any]:
    """Everything a profile knows, as JSON-ready data; integers stay integers."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "flopwise_version": flopwise.__version__,
        "model": p.model,
        "inputs": p.inputs,
        "mode": p.mode,
        "convention": p.convention,
        "units": {
            "flops": "FLOPs (2 per multiply-add)",
            "macs": "MACs",
            "bytes_read": "bytes",
            "bytes_written": "bytes",
            "params": "elements",
            "activations": "elements",
            "intensity": "FLOPs per byte",
            "alpha_macs": "α-MACs (MACs scaled by α; the α-FLOPs paper's unit)",
        },
        "totals": {**p.totals.as_dict(), "intensity": round(p.totals.intensity, 6)},
        "modules": [
            {
                **m.as_dict(),
                "intensity": round(m.intensity, 6),
                **(
                    {"alpha_macs": p.extra["alpha_modules"].get(m.path, 0.0)}
                    if "alpha_modules" in p.extra
                    else {}
                ),
            }
            for m in p.modules
        ],
        "uncounted": [
            {
                "op": u.op,
                "calls": u.calls,
                "output_elements": u.output_elements,
                "module_paths": u.module_paths,
            }
            for u in p.uncounted
        ],
        "complete": p.complete,
        "incomplete_reasons": list(p.incomplete_reasons),
        "coverage": {
            "ops": p.totals.ops,
            "uncounted_ops": len(p.uncounted),
            "uncounted_calls": p.totals.uncounted_calls,
        },
    }
    doc.update({k: v for k, v in p.extra.items() if k != "alpha_modules"})
    if p.measured is not None:
        doc["measured"] = p.measured
    return doc


def op_rows(p: Profile) -> list[dict[str, Any]]:
    """One flat dict per op record (for CSV and DataFrames)."""
    return [
        {
            "index": r.index,
            "op": r.op,
            "module_path": r.module_path,
            "module_type": r.module_type,
            "phase": r.phase,
            "status": r.status,
            "category": r.category,
            "flops": r.flops,
            "macs": r.macs,
            "activations": r.activations,
            "bytes_read": r.bytes_read,
            "bytes_written": r.bytes_written,
            "input_shapes": ";".join(t.describe() for t in r.inputs),
            "output_shapes": ";".join(t.describe() for t in r.outputs),
        }
        for r in p.ops
    ]
