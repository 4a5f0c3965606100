"""The versioned JSON document of a profile (schema ``flopwise.profile/1``): the one place
that writes a :class:`~flopwise.profile.Profile` and its sections as that document
(:func:`profile_document`) and reads a document back into the same types
(:func:`profile_from_document`)."""

from __future__ import annotations

from dataclasses import asdict, fields
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


# --- flopwise memory: the document of an op-stream memory profile (``flopwise.memory/1``) ----

MEMORY_SCHEMA = "flopwise.memory/1"


def memory_document(mp: Any, curve: bool = True) -> dict[str, Any]:
    """The JSON document of ``flopwise memory`` for a
    :class:`~flopwise.memory.result.MemoryProfile` (schema ``flopwise.memory/1``; integers
    stay integers): peak, breakdown, phases and modules, the live-bytes curve when
    ``curve``, then ``step_flops`` and the ``checkpoint``, ``measured`` and ``fit``
    sections where the profile has them (``fit.largest_batch`` only when searched)."""
    doc: dict[str, Any] = {
        "schema": MEMORY_SCHEMA,
        "model": mp.model,
        "mode": _memory_mode_dict(mp.mode),
        "units": {"*_bytes": "bytes", "bytes": "bytes", "positions": "op-record index"},
        "allocator_granularity_bytes": mp.granularity,
        "peak_bytes": mp.peak.bytes,
        "step_peak_bytes": mp.step_peak_bytes,
        "baseline_bytes": mp.baseline_bytes,
        "baseline_by_category": mp.baseline_by_category,
        "final_bytes": mp.final_bytes,
        "peak": asdict(mp.peak),
        "phases": mp.phases,
        "phase_peak_bytes": mp.phase_peaks,
        "modules": [asdict(m) for m in mp.modules],
    }
    if curve:
        doc["curve_bytes"] = mp.curve
    doc["step_flops"] = mp.step_flops
    for key in ("checkpoint", "measured"):
        section = getattr(mp, key)
        if section is not None:
            doc[key] = asdict(section)
    if mp.fit is not None:
        fit = asdict(mp.fit)
        if fit["largest_batch"] is None:  # not searched: no key, as before the typed fit
            del fit["largest_batch"]
        doc["fit"] = fit
    return doc


def _memory_mode_dict(mode: Any) -> dict[str, Any]:
    """``mode`` of the memory document: the traced step's fields, then ``batch`` and
    ``dtype`` when the pipeline filled them (``dtype`` set)."""
    out = asdict(mode)
    if mode.dtype is None:
        del out["batch"], out["dtype"]
    return out


# --- flopwise memory hf:NAME: the closed-form LLM memory document (``flopwise.memory-llm/1``) --

LLM_MEMORY_SCHEMA = "flopwise.memory-llm/1"


def llm_memory_document(mem: Any) -> dict[str, Any]:
    """The JSON document of ``flopwise memory hf:NAME`` (and ``flopwise llm --train``'s
    ``training_memory``) for a :class:`~flopwise.memory.llm.LLMMemory`: ``training`` (the
    closed forms' fields, ``peak_bytes``, ``units`` and their sources) or ``inference``,
    then ``fit`` with a hardware profile (its largest batch named ``largest_micro_batch``
    when training, ``largest_batch`` at inference), and ``notes`` (e.g. a sequence counted
    beyond the model's context). Bytes; fractions stay floats."""
    from flopwise.memory.llm import INFERENCE_NOTE, TRAINING_SOURCES

    doc: dict[str, Any] = {"schema": LLM_MEMORY_SCHEMA, "model": mem.model, "units": "bytes"}
    if mem.training is not None:
        t = mem.training
        doc["training"] = {**asdict(t), "peak_bytes": t.peak_bytes, "units": "bytes"}
        doc["training"]["sources"] = list(TRAINING_SOURCES)
    if mem.inference is not None:
        doc["inference"] = {**asdict(mem.inference), "note": INFERENCE_NOTE}
    if mem.fit is not None:
        fit = asdict(mem.fit)
        if mem.training is not None:
            fit["largest_micro_batch"] = fit.pop("largest_batch")
        doc["fit"] = fit
    doc["notes"] = list(mem.notes)
    return doc


# --- flopwise llm: the document of an LLM estimate (schema ``flopwise.llm/1``) ---------------

LLM_SCHEMA = "flopwise.llm/1"


def llm_document(result: Any, with_ops: bool = True) -> dict[str, Any]:
    """The JSON document of ``flopwise llm`` for an
    :class:`~flopwise.llm.result.LLMResult`: the estimate (:func:`estimate_to_dict`) with
    ``roofline.largest_batch`` when the device states its memory, then ``training``, ``rerank``, ``measured``, ``measured_training`` and ``training_memory``
    where the result has them. ``with_ops``: per-op rows of prefill and decode step 1."""
    doc = estimate_to_dict(result.estimate, with_ops)
    if result.largest_batch is not None:  # after roofline.fits: the same device's memory
        doc["roofline"]["largest_batch"] = result.largest_batch
    if result.training is not None:
        doc["training"] = _llm_training_dict(result)
    if result.reranking is not None:
        doc["rerank"] = _llm_rerank_dict(result.reranking, result.rpp)
    if result.measured is not None:
        doc["measured"] = result.measured.to_dict()
    if result.measured_training is not None:
        doc["measured_training"] = result.measured_training
    if result.training_memory is not None:
        doc["training_memory"] = llm_memory_document(result.training_memory)
    return doc


def estimate_to_dict(e: Any, with_ops: bool = True) -> dict[str, Any]:
    """An :class:`~flopwise.llm.LLMEstimate` as a JSON-ready dict, schema
    ``flopwise.llm/1`` (integers stay integers)."""
    from flopwise.llm.estimate import CONVENTION

    prec, params = e.precision, e.params
    out: dict[str, Any] = {
        "schema": LLM_SCHEMA,
        "model": _llm_model_dict(e.spec),
        "inputs": {"batch": e.batch, "prompt": e.prompt, "gen": e.gen},
        "precision": {"compute": prec.compute, "weights": prec.weights, "kv": prec.kv},
        "convention": {**CONVENTION, "window_mode": e.window_mode},
        "params": {
            "total": params.total,
            "active": params.active,
            "embedding": params.embedding,
            "non_embedding": params.non_embedding,
        },
        "memory": {
            "weight_bytes": e.weight_bytes,
            "kv_bytes_per_token": e.kv_bytes_per_token,
            "kv_cache_bytes": e.kv_cache_bytes,
            "activation_peak_bytes": e.activation_peak_bytes,
            "total_bytes": e.memory_bytes,
        },
        "prefill": phase_to_dict(e.prefill, with_ops),
        "decode_first": phase_to_dict(e.decode_first, with_ops) if e.decode_first else None,
        "decode_last": phase_to_dict(e.decode_last, False) if e.decode_last else None,
        "decode": None if e.decode is None else _llm_decode_dict(e.decode),
        "total_flops": e.total_flops,
        "notes": list(e.notes),
    }
    if e.roofline is not None:
        out["roofline"] = _llm_roofline_dict(e.roofline)
    return out


def phase_to_dict(phase: Any, with_ops: bool = True) -> dict[str, Any]:
    """A :class:`~flopwise.llm.PhaseCost` as plain data (integers stay integers)."""
    out: dict[str, Any] = {
        "name": phase.name,
        "tokens": phase.tokens,
        "context": phase.context,
        "flops": phase.flops,
        "macs": phase.macs,
        "matmul_flops": phase.matmul_flops,
        "breakdown": phase.breakdown,
        "weight_bytes": phase.weight_bytes,
        "act_bytes": phase.act_bytes,
        "kv_read": phase.kv_read,
        "kv_written": phase.kv_written,
        "bytes": phase.bytes,
        "fused_bytes": phase.fused_bytes,
        "intensity": phase.intensity,
    }
    if with_ops:
        out["ops"] = [_llm_op_dict(op) for op in phase.ops]
    return out


# The attributes each LLM result object is written with, in the document's order.
_LLM_OP_FIELDS = (
    "name", "group", "category", "stack", "layers", "flops", "macs", "weight_bytes",
    "act_read", "act_written", "kv_read", "kv_written",
)  # fmt: skip
_LLM_DECODE_FIELDS = ("steps", "flops", "macs", "bytes", "fused_bytes", "seconds")
_LLM_TIME_FIELDS = ("seconds", "fused_seconds", "compute_seconds", "memory_seconds", "bound")


def _fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def _llm_op_dict(op: Any) -> dict[str, Any]:
    return _fields(op, _LLM_OP_FIELDS)


def _llm_model_dict(s: Any) -> dict[str, Any]:
    moe = s.moe
    return {
        "name": s.name,
        "kind": s.kind,
        "layers": s.layers,
        "hidden": s.hidden,
        "heads": s.heads,
        "kv_heads": s.kv_heads,
        "head_dim": s.head_dim,
        "intermediate": s.intermediate,
        "vocab": s.vocab,
        "attention": s.attention_style,
        "sliding_window": s.sliding_window,
        "moe": None
        if moe is None
        else {
            "experts": moe.num_experts,
            "top_k": moe.top_k,
            "expert_intermediate": moe.expert_intermediate,
            "shared_intermediate": moe.shared_intermediate,
        },
    }


def _llm_decode_dict(d: Any) -> dict[str, Any]:
    return _fields(d, _LLM_DECODE_FIELDS)


def _llm_time_dict(t: Any) -> dict[str, Any] | None:
    return None if t is None else _fields(t, _LLM_TIME_FIELDS)


def _llm_roofline_dict(r: Any) -> dict[str, Any]:
    return {
        "hardware": r.hardware,
        "peak_flops": r.peak_flops,
        "bandwidth": r.bandwidth,
        "ridge_flops_per_byte": r.ridge,
        "prefill": _llm_time_dict(r.prefill),
        "decode_first": _llm_time_dict(r.decode_first),
        "decode_last": _llm_time_dict(r.decode_last),
        "ttft_s": r.ttft,
        "tpot_s": r.tpot,
        "decode_tokens_per_s": r.decode_tokens_per_s,
        "end_to_end_s": r.end_to_end_s,
        "tokens_per_s": r.tokens_per_s,
        "critical_batch": r.critical_batch,
        "critical_batch_no_kv": r.critical_batch_no_kv,
        "device_memory": r.device_memory,
        "fits": r.fits,
    }


def _llm_training_dict(result: Any) -> dict[str, Any]:
    t = result.training
    out = {
        "batch": t.batch,
        "seq": t.seq,
        "forward_flops": t.forward,
        "backward_flops": t.backward,
        "recompute_flops": t.recompute,
        "step_flops": t.step,
        "model_flops": t.model_flops,
        "flops_per_token": t.per_token,
        "forward_matmul_flops": t.forward_matmul,
        "six_n": t.six_n,
        "kaplan": t.kaplan,
        "megatron": t.megatron,
        "palm": t.palm,
    }
    if result.mfu is not None:
        out.update(mfu=result.mfu, hfu=result.hfu)
    return out


def _llm_rerank_dict(r: Any, rpp: float | None) -> dict[str, Any]:
    return {
        "style": r.style,
        "method": r.method or None,
        "convention": r.convention,
        "calls": r.calls,
        "docs_per_call": {str(k): v for k, v in r.docs_per_call},
        "prompt_tokens": r.prompt_tokens,
        "output_tokens": r.output_tokens,
        "flops_per_call": r.flops_per_call,
        "flops_per_query": r.flops_per_query,
        "exact_flops_per_query": r.exact_flops_per_query,
        "qpp": r.qpp,
        "rpp": rpp,
    }
