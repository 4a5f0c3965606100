"""The versioned JSON document of a profile (schema ``flopwise.profile/1``): the one place
that writes a :class:`~flopwise.profile.Profile` and its sections as that document
(:func:`profile_document`) and reads a document back into the same types
(:func:`profile_from_document`)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import flopwise
from flopwise.errors import FlopwiseError
from flopwise.profile import ModuleStats, Profile, Totals, UncountedOp
from flopwise.sections import (
    Alpha,
    Energy,
    Measured,
    Section,
    Source,
    Stages,
    TrainingClosedForms,
)

SCHEMA = "flopwise.profile/1"

#: The optional top-level sections, in document order (after the count and its notes,
#: before ``measured``): document key (= Profile attribute) -> section type.
SECTIONS: dict[str, type[Section]] = {
    "source": Source,
    "alpha": Alpha,
    "training_closed_forms": TrainingClosedForms,
    "energy": Energy,
    "stages": Stages,
}

UNITS = {
    "flops": "FLOPs (2 per multiply-add)",
    "macs": "MACs",
    "bytes_read": "bytes",
    "bytes_written": "bytes",
    "params": "elements",
    "activations": "elements",
    "intensity": "FLOPs per byte",
    "alpha_macs": "α-MACs (MACs scaled by α; the α-FLOPs paper's unit)",
}


def profile_document(p: Profile) -> dict[str, Any]:
    """Everything a profile knows, as JSON-ready data; integers stay integers."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "flopwise_version": flopwise.__version__,
        "model": p.model,
        "inputs": p.inputs,
        "mode": p.mode,
        "convention": p.convention,
        "units": dict(UNITS),
        "totals": {**p.totals.as_dict(), "intensity": round(p.totals.intensity, 6)},
        "modules": [
            {
                **m.as_dict(),
                "intensity": round(m.intensity, 6),
                **(
                    {"alpha_macs": p.alpha.per_module.get(m.path, 0.0)}
                    if p.alpha is not None
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
    if p.notes:
        doc["notes"] = list(p.notes)
    for key in SECTIONS:
        section = getattr(p, key)
        if section is not None:
            doc[key] = section.to_dict()
    if p.measured is not None:
        doc["measured"] = p.measured.to_dict()
    return doc


def profile_from_document(doc: dict[str, Any]) -> Profile:
    """The Profile a ``flopwise.profile/1`` document describes, with the same section types
    :func:`profile_document` writes from: ``profile_document(profile_from_document(d))``
    equals ``d`` for a document this version wrote. Op records are not part of the
    document, so ``ops`` is empty."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise FlopwiseError(f"not a {SCHEMA} document (schema {got!r})")
    rows = doc.get("modules") or []
    try:
        prof = _counted_profile(doc, rows)
    except (KeyError, TypeError, AttributeError) as exc:
        raise FlopwiseError(f"a {SCHEMA} document without a readable count ({exc})") from exc
    for key, kind in SECTIONS.items():
        if isinstance(doc.get(key), dict):
            setattr(prof, key, kind.from_dict(doc[key]))
    if prof.alpha is not None:
        prof.alpha.per_module = {m["path"]: m["alpha_macs"] for m in rows if "alpha_macs" in m}
    if isinstance(doc.get("measured"), dict):
        prof.measured = Measured.from_dict(doc["measured"])
    return prof


def _counted_profile(doc: dict[str, Any], rows: list[dict[str, Any]]) -> Profile:
    """The count part of a document (no sections yet)."""
    # Derived figures (intensity, alpha_macs) and keys of other writers are not fields.
    return Profile(
        model=doc["model"],
        inputs=list(doc.get("inputs") or []),
        mode=dict(doc.get("mode") or {}),
        ops=[],
        modules=[ModuleStats(**_known(ModuleStats, m)) for m in rows],
        totals=Totals(**_known(Totals, doc["totals"])),
        uncounted=[UncountedOp(**_known(UncountedOp, u)) for u in doc.get("uncounted") or []],
        convention=dict(doc.get("convention") or {}),
        incomplete_reasons=list(doc.get("incomplete_reasons") or []),
        notes=list(doc.get("notes") or []),
    )


def _known(kind: type, row: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in row.items() if k in names}


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
