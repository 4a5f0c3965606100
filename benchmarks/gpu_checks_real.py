"""GPU check (issue 10): hf:tiny-mixtral in bfloat16 counts the same on real CUDA tensors as
on meta tensors.

A section of the shared GPU script (benchmarks/gpu_check.py calls :func:`check_moe_bf16`);
also runs alone:

    python benchmarks/gpu_checks_real.py [OUT_DIR]      # default benchmarks/results

Writes ``OUT_DIR/moe_bf16.json``: both totals, whether each figure is equal, the per-op
records that differ (if any), and the real run's op trace (op, module, input shapes and
dtypes, flops) so a CUDA-only difference can be turned into a test fixture. Without CUDA it
writes and returns ``{"check": "moe_bf16", "skipped": "..."}`` and runs nothing.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import torch

SPEC = "hf:tiny-mixtral"
FIGURES = ("flops", "macs", "bytes_read", "bytes_written", "activations", "ops")


def _totals(prof: Any) -> dict[str, Any]:
    return {
        **{k: getattr(prof.totals, k) for k in FIGURES},
        "complete": prof.complete,
        "tensors": prof.mode["tensors"],
        "device": prof.mode["device"],
    }


def _op_key(rec: Any) -> tuple:
    return (
        rec.op,
        rec.module_path,
        tuple((tuple(t.shape), str(t.dtype).removeprefix("torch.")) for t in rec.inputs),
        rec.flops,
        rec.bytes_read,
        rec.bytes_written,
    )


def _trace(prof: Any) -> list[dict[str, Any]]:
    return [
        {
            "op": r.op,
            "module": r.module_path,
            "inputs": [[list(t.shape), str(t.dtype).removeprefix("torch.")] for t in r.inputs],
            "flops": r.flops,
            "macs": r.macs,
            "bytes_read": r.bytes_read,
            "bytes_written": r.bytes_written,
        }
        for r in prof.ops
    ]


def check_moe_bf16(out_dir: str | Path, device: str = "cuda") -> dict[str, Any]:
    """Profile ``hf:tiny-mixtral`` in bfloat16 on real ``device`` tensors and on meta
    tensors (what ``flopwise profile --device meta`` does) and record both totals to
    ``out_dir/moe_bf16.json``. ``device="cpu"`` runs the same check without a GPU (used
    by the tests). Returns the document written."""
    import flopwise
    from flopwise.pipeline import load

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "moe_bf16.json"
    doc: dict[str, Any] = {"check": "moe_bf16", "model": SPEC, "dtype": "bfloat16"}
    if device == "cuda" and not torch.cuda.is_available():
        doc["skipped"] = "no CUDA device"
        path.write_text(json.dumps(doc, indent=2) + "\n")
        return doc

    model, args, kwargs, _ = load(SPEC, [], device, "bfloat16")
    real = flopwise.profile(model, *args, kwargs=kwargs)
    del model, args, kwargs
    meta_model, meta_args, meta_kwargs, _ = load(SPEC, [], "meta", "bfloat16")
    meta = flopwise.profile(meta_model, *meta_args, kwargs=meta_kwargs)

    doc["real"] = _totals(real)
    doc["meta"] = _totals(meta)
    doc["equal"] = {k: doc["real"][k] == doc["meta"][k] for k in FIGURES}
    doc["all_equal"] = all(doc["equal"].values())
    if device == "cuda":
        doc["gpu"] = torch.cuda.get_device_name()
    doc["torch"] = torch.__version__
    real_ops, meta_ops = Counter(map(_op_key, real.ops)), Counter(map(_op_key, meta.ops))

    def listed(diff: Counter) -> list[dict[str, Any]]:
        return [
            {"op": k[0], "module": k[1], "inputs": k[2], "flops": k[3], "calls": n}
            for k, n in diff.items()
        ]

    doc["only_real"] = listed(real_ops - meta_ops)
    doc["only_meta"] = listed(meta_ops - real_ops)
    doc["real_trace"] = _trace(real)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results"
    result = check_moe_bf16(target)
    summary = {k: result.get(k) for k in ("skipped", "real", "meta", "all_equal") if k in result}
    print(json.dumps(summary, indent=2))
