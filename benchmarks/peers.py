"""flopwise next to the other FLOP/MAC counters, on the same models, in one run.

    nice -n 10 python benchmarks/peers.py run            # everything (~15 min on 2 cores)
    python benchmarks/peers.py run --models resnet50 --tools flopwise thop
    python benchmarks/peers.py render                    # peers.json -> peers.md again

Every (tool, model) pair runs in a fresh subprocess (``peers.py worker TOOL MODEL``) that
builds the model with random weights (seed 0, nothing downloaded), counts once as a warm-up
(this run also collects the tool's per-op or per-module breakdown), then counts three more
times and keeps the median wall time. Peak memory is ``ru_maxrss`` at the end of the worker
minus ``ru_maxrss`` of the same worker right after it imported the tool and built the model
and its inputs (the baseline); both are recorded.

Every tool's headline number is normalised to MACs (see ``TOOL_INFO``) and compared with
flopwise's MACs on real tensors. For every pair off by more than 1% the breakdowns are
diffed (per ATen op for the dispatch-level tools, per module type for the hook-based ones)
to show where the difference comes from.

This module imports only the standard library at top level: the pure helpers are tested by
tests/test_benchmark_peers_smoke.py without torch or any peer installed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
THRESHOLD = 0.01  # pairs off by more than this fraction are flagged and explained
WORKER_TIMEOUT = 300  # seconds per (tool, model) subprocess
TIMED_RUNS = 3

# --------------------------------------------------------------------------------------
# What each tool reports, and how its headline number becomes MACs.
# --------------------------------------------------------------------------------------

TOOL_INFO: dict[str, dict[str, str]] = {
    "flopwise": {
        "label": "flopwise",
        "package": "flopwise",
        "api": "flopwise.profile(model, *args, tensors='real').totals.macs",
        "unit": "MACs of contraction ops (matmul family, conv, attention, grouped mm); "
        "FLOPs reported separately",
        "to_macs": "as reported",
    },
    "flop_counter": {
        "label": "FlopCounterMode",
        "package": "torch",
        "api": "torch.utils.flop_counter.FlopCounterMode(display=False); get_total_flops()",
        "unit": "FLOPs = 2 per multiply-add, contraction ops only",
        "to_macs": "FLOPs / 2",
    },
    "fvcore": {
        "label": "fvcore",
        "package": "fvcore",
        "api": "fvcore.nn.FlopCountAnalysis(model, args).total()",
        "unit": "'flops' = one per multiply-add (i.e. MACs), plus its norm/upsample/pool handlers",
        "to_macs": "as reported",
    },
    "ptflops_pytorch": {
        "label": "ptflops (pytorch)",
        "package": "ptflops",
        "api": "ptflops.get_model_complexity_info(..., backend='pytorch', as_strings=False)[0]",
        "unit": "MACs ('GMac'); also adds one per element for ReLU/BN/norm/pool/softmax/add/mul",
        "to_macs": "as reported",
    },
    "ptflops_aten": {
        "label": "ptflops (aten)",
        "package": "ptflops",
        "api": "ptflops.get_model_complexity_info(..., backend='aten', as_strings=False)[0]",
        "unit": "MACs of aten mm/matmul/addmm/bmm/convolution",
        "to_macs": "as reported",
    },
    "thop": {
        "label": "thop",
        "package": "thop",
        "api": "thop.profile(model, inputs=args)[0]",
        "unit": "MACs ('ops'), per registered module type; plus one per element for norms/acts/pools",
        "to_macs": "as reported",
    },
    "calflops": {
        "label": "calflops",
        "package": "calflops",
        "api": "calflops.calculate_flops(model, args=..., output_as_string=False)[1]",
        "unit": "returns (flops, macs, params); the macs value is used",
        "to_macs": "the macs value",
    },
    "deepspeed": {
        "label": "DeepSpeed",
        "package": "deepspeed",
        "api": "deepspeed.profiling.flops_profiler.FlopsProfiler: start_profile(); forward; "
        "get_total_macs(); end_profile()",
        "unit": "MACs (get_total_macs)",
        "to_macs": "as reported",
    },
    "torchinfo": {
        "label": "torchinfo",
        "package": "torchinfo",
        "api": "torchinfo.summary(model, input_data=args, verbose=0).total_mult_adds",
        "unit": "'mult-adds' = MACs, from parameter counts × output size of leaf modules",
        "to_macs": "as reported",
    },
}
TOOLS = list(TOOL_INFO)
PEERS = [t for t in TOOLS if t != "flopwise"]

# Model cases: name -> (group, input description). Builders live in _build_case.
MODELS: dict[str, tuple[str, str]] = {
    "resnet18": ("torchvision", "1×3×224×224"),
    "resnet50": ("torchvision", "1×3×224×224"),
    "mobilenet_v2": ("torchvision", "1×3×224×224"),
    "efficientnet_b0": ("torchvision", "1×3×224×224"),
    "convnext_tiny": ("torchvision", "1×3×224×224"),
    "vit_b_16": ("torchvision", "1×3×224×224"),
    "swin_t": ("torchvision", "1×3×224×224"),
    "bert-base": ("transformers", "input_ids 1×128"),
    "gpt2": ("transformers", "input_ids 1×128"),
    "llama-small": ("transformers", "input_ids 1×512"),
    "mixtral-small": ("transformers", "input_ids 1×128"),
    "sdpa": ("torch", "q, k, v 1×12×1024×64"),
}

# Big configs counted by flopwise on meta tensors (acceptance: < 30 s, < 2 GiB peak RSS).
BIG_CONFIGS: dict[str, dict[str, Any]] = {
    "llama-2-7b": {
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32000,
        "max_position_embeddings": 4096,
    },
    "llama-3-70b": {
        "hidden_size": 8192,
        "intermediate_size": 28672,
        "num_hidden_layers": 80,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "max_position_embeddings": 8192,
        "rope_theta": 500000.0,
    },
}
BIG_TOKENS = 2048
BIG_LIMITS = {"seconds": 30.0, "rss_gib": 2.0}

# Why each peer is off, established from the breakdown diffs of the recorded run (the
# automatic per-op / per-module-type evidence is printed next to these notes).
TOOL_NOTES: dict[str, str] = {
    "flop_counter": (
        "Dispatch-level like flopwise, so it sees every ATen op, but its formula table "
        "(torch 2.14.1) has only `mm`, `addmm`, `bmm`, `baddbmm`, `_scaled_mm`, convolution "
        "and the CUDA attention kernels (`_scaled_dot_product_{flash,efficient,cudnn}_attention`"
        ", `_flash/_efficient_attention_forward`). Every other op counts 0, silently: the CPU "
        "attention kernel `_scaled_dot_product_flash_attention_for_cpu` (all SDPA on CPU), the "
        "fused `_native_multi_head_attention` that `nn.MultiheadAttention` runs under no_grad "
        "(vit_b_16 loses its QKV/out projections and attention matmuls, 6.29 GMACs), and "
        "`_grouped_mm` (MoE experts). On gpt2 the missing causal attention is 0.15 GMACs, 0.95%, "
        "just under the 1% flag."
    ),
    "fvcore": (
        "Traces with `torch.jit` and counts per JIT op (one 'flop' per MAC). It has no handler "
        "for `aten::scaled_dot_product_attention`, `aten::_native_multi_head_attention` or "
        "`aten::_grouped_mm`, so attention and MoE experts count 0 (it lists them as "
        "unsupported ops in a log warning). In the other direction it adds its batch_norm, "
        "layer_norm and adaptive_avg_pool handlers' counts to the same total, so CNNs with "
        "cheap convolutions come out high (mobilenet_v2 +4.5%, efficientnet_b0 +4.1%)."
    ),
    "ptflops_pytorch": (
        "Module hooks plus patched torch functions. It has its own `nn.MultiheadAttention` "
        "formula, so vit_b_16 is right (to 0.2%), but it adds one 'MAC' per element (two for "
        "affine norms) for BatchNorm, ReLU, pooling, GELU, softmax, add and mul (resnet50 "
        "+1.1%, mobilenet_v2 +6.5%). Its `F.linear` patch is commented out in 0.7.5, so "
        "linears called functionally are lost: swin_t's `ShiftedWindowAttention` calls "
        "`F.linear` for qkv and proj (only its q·kᵀ and attn·v matmuls come back through the "
        "patched `Tensor.matmul`, 0.15 GMACs). `F.scaled_dot_product_attention` is not "
        "patched (attention 0 in every transformers model) and nothing sees `_grouped_mm`."
    ),
    "ptflops_aten": (
        "A dispatch mode with formulas for `mm`, `matmul`, `addmm`, `bmm` and convolution "
        "only: the same blind spots as FlopCounterMode (CPU SDPA kernel, "
        "`_native_multi_head_attention`, `_grouped_mm`). Its addmm and convolution formulas "
        "also add the bias elements as MACs (+0.009 GMACs on vit_b_16)."
    ),
    "thop": (
        "Forward hooks on a fixed list of `nn` module types, nothing else. Everything outside "
        "that list counts 0: transformers' `Conv1D` (gpt2's qkv, proj and MLP, −10.87 GMACs), "
        "functional `F.linear`/`matmul`/SDPA (swin_t's `ShiftedWindowAttention`, attention in "
        "every transformers model), `nn.MultiheadAttention` (not in its table, and the fused "
        "path bypasses the `out_proj` Linear) and MoE experts. Norms count 4 per element "
        "(`2·numel`, doubled when affine): resnet50 +1.1%, mobilenet_v2 +8.9%."
    ),
    "calflops": (
        "A fork of DeepSpeed's profiler (module hooks plus patched `torch.nn.functional` and "
        "tensor methods). It does not patch `F.scaled_dot_product_attention`, so attention "
        "counts 0 in every SDPA model, the fused MHA fast path is invisible (vit_b_16 0.642×) "
        "and `_grouped_mm` experts count 0. It crashes with `StopIteration` on a module "
        "without parameters (`next(model.parameters())` to find the device)."
    ),
    "deepspeed": (
        "Patches `F.scaled_dot_product_attention`, but with a dense formula that ignores "
        "`is_causal`: non-causal attention (bert-base, the sdpa case) is exact, causal "
        "attention is counted twice over (llama-small attention 1.07 vs 0.54 GMACs, 1.036×; "
        "gpt2 +0.15 GMACs, 1.009×, just under the flag; mixtral's attention 2×). The fused "
        "MHA fast path (vit_b_16) and `_grouped_mm` experts are invisible to it."
    ),
    "torchinfo": (
        "Its 'mult-adds' are parameter counts × output size of leaf modules, not a count of "
        "the computation. A Linear gets `params × output_size[0]` (the batch dimension only), "
        "so any Linear over a sequence or token grid is undercounted by that length: "
        "vit_b_16's 197 tokens (0.0099×), bert's 128 (0.0098×), llama-small's 512 (0.003×), "
        "convnext_tiny's MLP Linears over 56×56 to 7×7 positions (0.072×). A module whose class name "
        "contains 'Conv' gets `params × batch × ∏ output dims after the second`: for "
        "transformers' `Conv1D` (a linear layer with output [B, T, C]) that is params × C "
        "instead of params × T, so gpt2 is 10.2× too high. Embedding lookups count their "
        "parameters; parameter-free ops (attention, SDPA) count 0."
    ),
}

# What the run shows about flopwise itself (kept next to the numbers it explains).
FLOPWISE_NOTES = (
    "On the causal transformers (gpt2, llama-small, mixtral-small) flopwise's fake and meta "
    "counts are higher than its real count by exactly the masked half of the attention "
    "(gpt2: 0.150 GMACs = dense 0.302 − causal 0.152). transformers' mask code "
    "(`masking_utils`) only skips the causal mask when the tensors it inspects are not being "
    "traced, and its `is_tracing()` counts FakeTensors as tracing: on fake/meta inputs it "
    "passes SDPA an explicit causal mask (with the KV heads repeated) instead of "
    "`is_causal=True`, and per the conventions an explicit mask counts dense. The real-tensor "
    "count is the causal one; the 7B/70B meta figures below therefore include dense "
    "attention (Llama-2-7B at 2048 tokens: +0.55 TMACs, 3.9%).\n\n"
    "Peak memory of the first `flopwise.profile` call includes torch's lazy import of its "
    "tracing stack (`torch._dynamo`, sympy, …; about 160 MiB, FlopCounterMode about 80 MiB). "
    "It shows in the sdpa row, where the model itself needs almost nothing; for the "
    "transformers models transformers has already imported it before the baseline."
)

# --------------------------------------------------------------------------------------
# Pure helpers (tested without torch).
# --------------------------------------------------------------------------------------


def to_macs(tool: str, value: float | int | None) -> int | None:
    """A tool's headline number in MACs (FlopCounterMode reports 2 FLOPs per MAC)."""
    if value is None:
        return None
    if tool not in TOOL_INFO:
        raise KeyError(f"unknown tool {tool!r}")
    if tool == "flop_counter":
        return int(round(value / 2))
    return int(round(value))


def ratio(value: int | None, reference: int | None) -> float | None:
    """value / reference, None when either is missing or the reference is 0."""
    if value is None or not reference:
        return None
    return value / reference


def is_off(r: float | None, threshold: float = THRESHOLD) -> bool:
    """True when a ratio differs from 1 by more than ``threshold``."""
    return r is not None and abs(r - 1.0) > threshold


def gmacs(macs: int | None, digits: int = 2) -> str:
    """``1234567890`` -> ``"1.23"`` (GMACs), ``None`` -> ``"—"``."""
    if macs is None:
        return "—"
    return f"{macs / 1e9:.{digits}f}"


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "—"
    if r == 0:
        return "0"
    if r >= 10 or r < 0.01:
        return f"{r:.3g}"
    return f"{r:.3f}"


def median_time(times: Iterable[float]) -> float:
    return float(statistics.median(list(times)))


def rss_delta_kib(baseline_kib: int, peak_kib: int) -> int:
    """Peak RSS above the baseline, never negative (ru_maxrss is a high-water mark)."""
    return max(0, int(peak_kib) - int(baseline_kib))


def one_line(exc: BaseException | str, limit: int = 160) -> str:
    """An exception as one short line: ``TypeError: message`` (first line, truncated)."""
    if isinstance(exc, BaseException):
        msg = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {msg[0] if msg else ''}".rstrip(": ")
    else:
        lines = [s for s in str(exc).strip().splitlines() if s.strip()]
        text = lines[0] if lines else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_op(name: str) -> str:
    """``aten.mm.default`` / ``aten::mm`` -> ``aten.mm`` (drop the overload)."""
    name = str(name).replace("::", ".")
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "aten" and len(parts) > 2 else name


def exclusive_from_inclusive(inclusive: Mapping[str, int]) -> dict[str, int]:
    """Per-module self counts from inclusive (subtree) counts keyed by dotted path.

    The root is ``""``. A module's self count is its subtree count minus the subtree counts
    of its direct children present in the mapping.
    """
    children: dict[str, int] = {}
    for path, value in inclusive.items():
        if path == "":
            continue
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        children[parent] = children.get(parent, 0) + int(value)
    return {p: int(v) - children.get(p, 0) for p, v in inclusive.items()}


def aggregate(per_key: Mapping[str, int], key_of: Callable[[str], str]) -> dict[str, int]:
    """Sum ``per_key`` values under ``key_of(key)`` (e.g. module path -> module type)."""
    out: dict[str, int] = {}
    for k, v in per_key.items():
        kk = key_of(k)
        out[kk] = out.get(kk, 0) + int(v)
    return out


def diff_breakdown(
    peer: Mapping[str, int], ours: Mapping[str, int], top: int = 4, min_macs: int = 1_000_000
) -> list[dict[str, Any]]:
    """Largest differences between two breakdowns with the same keys (op or module type).

    Returns up to ``top`` rows ``{"key", "peer", "flopwise", "diff"}`` sorted by |diff|,
    leaving out differences below ``min_macs``.
    """
    rows = []
    for key in set(peer) | set(ours):
        p, o = int(peer.get(key, 0)), int(ours.get(key, 0))
        if abs(p - o) >= min_macs:
            rows.append({"key": key, "peer": p, "flopwise": o, "diff": p - o})
    rows.sort(key=lambda r: (-abs(r["diff"]), r["key"]))
    return rows[:top]


def evidence_line(rows: list[dict[str, Any]], kind: str) -> str:
    """Diff rows as one markdown line: ``MultiheadAttention: 0.00 vs 6.29 GMACs; ...``."""
    if not rows:
        return "no single " + kind + " accounts for ≥ 1 MMAC of the difference"
    parts = []
    for r in rows:
        parts.append(f"`{r['key']}` {gmacs(r['peer'], 3)} vs {gmacs(r['flopwise'], 3)}")
    return f"by {kind} (peer vs flopwise GMACs): " + "; ".join(parts)


def mib(kib: int | None) -> str:
    return "—" if kib is None else f"{kib / 1024:.0f}"


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    if s < 0.1:
        return f"{s * 1000:.0f} ms"
    return f"{s:.2f} s"


# --------------------------------------------------------------------------------------
# Markdown rendering (pure: a results dict in, text out).
# --------------------------------------------------------------------------------------


def _cell(res: Mapping[str, Any] | None, ref: int | None) -> str:
    if res is None:
        return "not run"
    status = res.get("status")
    if status == "unavailable":
        return "n/a"
    if status != "ok" or res.get("macs") is None:
        return "error"
    r = ratio(res["macs"], ref)
    text = f"{gmacs(res['macs'])} ({fmt_ratio(r)}×)"
    return f"**{text}**" if is_off(r) else text


def render_markdown(data: Mapping[str, Any]) -> str:
    meta = data.get("meta", {})
    results: dict[str, dict[str, Any]] = data.get("results", {})
    models = [m for m in data.get("models", list(MODELS)) if m in results]
    tools = data.get("tools", TOOLS)
    versions = meta.get("versions", {})
    out: list[str] = []
    w = out.append
    w("# flopwise vs other counters")
    w("")
    w(
        f"Measured {meta.get('date', '?')} on {meta.get('machine', '?')} "
        f"(torch {versions.get('torch', '?')}, {meta.get('threads', '?')} torch thread(s) per "
        f"worker, {meta.get('jobs', '?')} worker(s) at a time), all tools in one run:"
    )
    w("")
    w("```")
    w(meta.get("command", "nice -n 10 python benchmarks/peers.py run"))
    w("```")
    w("")
    w("Versions: " + ", ".join(f"{TOOL_INFO[t]['label']} {versions.get(t, '?')}" for t in tools))
    w("")
    w(
        "Random weights (seed 0), nothing downloaded; HF models from `*Config` objects with "
        "`attn_implementation='sdpa'`, `use_cache=False`, inputs passed positionally. "
        "Every cell is the tool's headline number converted to **GMACs** and, in brackets, "
        "its ratio to flopwise's MACs on the same real CPU tensors. **Bold** = off by more "
        "than 1%. `error` = the tool raised or returned nothing (message below)."
    )
    w("")
    # --- totals table
    header = "| model | input | " + " | ".join(TOOL_INFO[t]["label"] for t in tools) + " |"
    w(header)
    w("|" + "---|" * (len(tools) + 2))
    for m in models:
        row = results[m]
        ref = (row.get("flopwise") or {}).get("macs")
        cells = []
        for t in tools:
            res = row.get(t)
            if t == "flopwise" and res and res.get("status") == "ok":
                cells.append(gmacs(res["macs"]))
            else:
                cells.append(_cell(res, ref))
        w(f"| {m} | {MODELS.get(m, ('', '?'))[1]} | " + " | ".join(cells) + " |")
    w("")
    unavailable = [
        (t, (results[m].get(t) or {}).get("error"))
        for m in models[:1]
        for t in tools
        if (results[m].get(t) or {}).get("status") == "unavailable"
    ]
    for t, err in unavailable:
        w(f"- {TOOL_INFO[t]['label']}: not installable here: {err}")
    if unavailable:
        w("")
    # --- flopwise consistency
    fw_notes = []
    for m in models:
        fw = results[m].get("flopwise") or {}
        extra = fw.get("extra") or {}
        if fw.get("status") != "ok":
            fw_notes.append(f"- {m}: flopwise failed: {fw.get('error')}")
            continue
        kinds = {"real": fw.get("macs"), **extra.get("macs_by_tensors", {})}
        if len(set(kinds.values())) > 1:
            fw_notes.append(
                f"- {m}: real / fake / meta MACs differ: "
                + ", ".join(f"{k} {v:,}" for k, v in kinds.items())
            )
        if extra.get("complete") is False:
            fw_notes.append(f"- {m}: flopwise lists uncounted ops: {extra.get('uncounted')}")
    w("flopwise itself: every count above was also repeated on fake and meta tensors.")
    w("")
    if fw_notes:
        out.extend(fw_notes)
    else:
        w("- real, fake and meta tensors give the same MACs on every model; no op uncounted.")
    w("")
    if fw_notes and data.get("flopwise_notes", FLOPWISE_NOTES):
        w(data.get("flopwise_notes", FLOPWISE_NOTES))
        w("")
    # --- units
    w("## What each tool reports")
    w("")
    w("| tool | API used | unit | to MACs |")
    w("|---|---|---|---|")
    for t in tools:
        info = TOOL_INFO[t]
        w(f"| {info['label']} | `{info['api']}` | {info['unit']} | {info['to_macs']} |")
    w("")
    # --- time and memory
    w("## Counting time and peak memory")
    w("")
    w(
        "Time: median of 3 counts in the same process after one warm-up count (the warm-up "
        "also collects the breakdown used below). Memory: each (tool, model) runs in a fresh "
        "subprocess; the cell is `ru_maxrss` at the end minus `ru_maxrss` right after the "
        "subprocess imported the tool and built the model and inputs (MiB). The machine is "
        "shared, so times are indicative (±20%); compare within a row."
    )
    w("")
    w("| model | " + " | ".join(TOOL_INFO[t]["label"] for t in tools) + " |")
    w("|" + "---|" * (len(tools) + 1))
    for m in models:
        cells = []
        for t in tools:
            res = results[m].get(t) or {}
            if res.get("status") != "ok":
                cells.append("—")
            else:
                cells.append(
                    f"{fmt_seconds(res.get('time_median'))} / {mib(res.get('rss_delta_kib'))} MiB"
                )
        w(f"| {m} | " + " | ".join(cells) + " |")
    w("")
    big = data.get("big", {})
    if big:
        w(f"### Big configs on meta tensors (flopwise, 1×{BIG_TOKENS} tokens)")
        w("")
        w(
            "Built with `with torch.device('meta'): AutoModelForCausalLM.from_config(cfg)`, "
            "counted with `flopwise.profile(model, input_ids, tensors='meta')` in a fresh "
            f"subprocess. Acceptance: under {BIG_LIMITS['seconds']:.0f} s and under "
            f"{BIG_LIMITS['rss_gib']:.0f} GiB peak RSS (absolute `ru_maxrss` of the process)."
        )
        w("")
        w("| config | params | GMACs | counting time | peak RSS | RSS above model build | ok |")
        w("|---|---|---|---|---|---|---|")
        for name, res in big.items():
            if res.get("status") != "ok":
                w(f"| {name} | — | — | — | — | — | error: {res.get('error')} |")
                continue
            ok = (
                res["seconds"] < BIG_LIMITS["seconds"]
                and res["rss_peak_kib"] / 2**20 < BIG_LIMITS["rss_gib"]
            )
            w(
                f"| {name} | {res['params'] / 1e9:.2f} B | {gmacs(res['macs'], 1)} | "
                f"{res['seconds']:.1f} s | {res['rss_peak_kib'] / 2**20:.2f} GiB | "
                f"{mib(res['rss_delta_kib'])} MiB | {'yes' if ok else '**no**'} |"
            )
        w("")
    # --- discrepancies
    w("## Where each peer is wrong, and by how much")
    w("")
    w(
        "Every pair off by more than 1%, with the evidence: the largest differences between "
        "the peer's own breakdown and flopwise's records (per ATen op for FlopCounterMode and "
        "ptflops-aten, per module type, self counts, for the others)."
    )
    w("")
    for t in tools:
        if t == "flopwise":
            continue
        lines = []
        for m in models:
            res = results[m].get(t) or {}
            ref = (results[m].get("flopwise") or {}).get("macs")
            if res.get("status") == "error":
                lines.append(f"- **{m}**: fails: `{res.get('error')}`")
                continue
            if res.get("status") != "ok":
                continue
            r = ratio(res.get("macs"), ref)
            if not is_off(r):
                continue
            ev = res.get("evidence") or ""
            lines.append(
                f"- **{m}**: {gmacs(res['macs'])} vs {gmacs(ref)} GMACs "
                f"({fmt_ratio(r)}×, {(res['macs'] - ref) / 1e9:+.2f} GMACs). {ev}"
            )
        if not lines and t not in TOOL_NOTES:
            continue
        w(f"### {TOOL_INFO[t]['label']}")
        w("")
        if t in TOOL_NOTES:
            w(TOOL_NOTES[t])
            w("")
        out.extend(lines or ["- within 1% of flopwise on every model."])
        w("")
    return "\n".join(out).rstrip() + "\n"


def attach_evidence(data: dict[str, Any]) -> None:
    """Fill ``evidence`` for every peer result off by > 1% from the stored breakdowns."""
    for row in data.get("results", {}).values():
        fw = row.get("flopwise") or {}
        fwb = fw.get("breakdown") or {}
        for t, res in row.items():
            if t == "flopwise" or not res or res.get("status") != "ok":
                continue
            if not is_off(ratio(res.get("macs"), fw.get("macs"))):
                res["evidence"] = ""
                continue
            res["evidence"] = build_evidence(res.get("breakdown") or {}, fwb)


def build_evidence(peer_b: Mapping[str, Any], fw_b: Mapping[str, Any]) -> str:
    kind = peer_b.get("kind")
    parts = []
    if kind == "op":
        rows = diff_breakdown(peer_b.get("items", {}), fw_b.get("by_op", {}))
        parts.append(evidence_line(rows, "ATen op"))
    elif kind == "module_type":
        rows = diff_breakdown(peer_b.get("items", {}), fw_b.get("by_module_type", {}))
        parts.append(evidence_line(rows, "module type"))
    if peer_b.get("unsupported"):
        parts.append("skipped ops it has no handler for: " + ", ".join(peer_b["unsupported"]))
    if peer_b.get("note"):
        parts.append(peer_b["note"])
    return ". ".join(parts) + ("." if parts else "")


# --------------------------------------------------------------------------------------
# Everything below needs torch (imported lazily).
# --------------------------------------------------------------------------------------


def _build_case(name: str) -> tuple[Any, tuple[Any, ...]]:
    """(model in eval mode, positional inputs), random weights, seed 0."""
    import torch

    torch.manual_seed(0)
    group = MODELS[name][0]
    if group == "torchvision":
        import torchvision

        model = torchvision.models.get_model(name, weights=None)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
        return model.eval(), (x,)
    if group == "torch":

        class SDPA(torch.nn.Module):
            def forward(self, query, key, value):
                return torch.nn.functional.scaled_dot_product_attention(query, key, value)

        g = torch.Generator().manual_seed(1)
        q, k, v = (torch.randn(1, 12, 1024, 64, generator=g) for _ in range(3))
        return SDPA().eval(), (q, k, v)
    import transformers

    common = {"use_cache": False}
    if name == "bert-base":
        cfg, auto, seq = transformers.BertConfig(), transformers.AutoModel, 128
    elif name == "gpt2":
        cfg, auto, seq = transformers.GPT2Config(**common), transformers.AutoModelForCausalLM, 128
    elif name == "llama-small":
        cfg = transformers.LlamaConfig(
            vocab_size=32000,
            hidden_size=512,
            intermediate_size=1408,
            num_hidden_layers=4,
            num_attention_heads=8,
            num_key_value_heads=2,
            max_position_embeddings=2048,
            **common,
        )
        auto, seq = transformers.AutoModelForCausalLM, 512
    elif name == "mixtral-small":
        cfg = transformers.MixtralConfig(
            vocab_size=32000,
            hidden_size=512,
            intermediate_size=1024,
            num_hidden_layers=4,
            num_attention_heads=8,
            num_key_value_heads=2,
            num_local_experts=8,
            num_experts_per_tok=2,
            max_position_embeddings=2048,
            **common,
        )
        auto, seq = transformers.AutoModelForCausalLM, 128
    else:
        raise KeyError(name)
    model = auto.from_config(cfg, attn_implementation="sdpa")
    ids = torch.randint(0, cfg.vocab_size, (1, seq), generator=torch.Generator().manual_seed(1))
    return model.eval(), (ids,)


CACHE = Path(os.environ.get("FLOPWISE_PEERS_CACHE", "/tmp/flopwise-peers-cache"))
UNCACHED = {"sdpa"}  # cheap to build, and its class lives in __main__


def _cache_path(name: str) -> Path:
    return CACHE / f"{name}.pt"


def prepare(name: str) -> None:
    """Build a model once and pickle (model, inputs) so workers skip the slow random init."""
    import torch

    with _quiet():
        model, args = _build_case(name)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = _cache_path(name).with_suffix(".tmp")
    torch.save((model, args), tmp)
    tmp.replace(_cache_path(name))


def _load_case(name: str) -> tuple[Any, tuple[Any, ...]]:
    """The cached model (built by ``prepare`` with the same seed) or a fresh build."""
    import torch

    path = _cache_path(name)
    if name not in UNCACHED and path.exists():
        model, args = torch.load(path, weights_only=False)
        return model.eval(), tuple(args)
    return _build_case(name)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for t, info in TOOL_INFO.items():
        try:
            out[t] = metadata.version(info["package"])
        except metadata.PackageNotFoundError:
            out[t] = "not installed"
    for pkg in ("torch", "torchvision", "transformers"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def _maxrss_kib() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def _paths_types(model: Any) -> tuple[dict[int, str], dict[str, str]]:
    ids = {}
    types = {}
    for path, mod in model.named_modules():
        ids.setdefault(id(mod), path)
        types[path] = type(mod).__name__
    return ids, types


def _by_type(model: Any, per_path: Mapping[str, int]) -> dict[str, int]:
    _, types = _paths_types(model)
    return {k: v for k, v in aggregate(per_path, lambda p: types.get(p, "?")).items() if v}


@contextlib.contextmanager
def _quiet():
    """Swallow the tools' prints (ptflops prints its errors to stdout)."""
    buf = io.StringIO()
    with (
        contextlib.redirect_stdout(buf),
        contextlib.redirect_stderr(buf),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield buf


class ToolFailed(Exception):
    pass


# Each counter: count(model, args, diag) -> (raw headline number, breakdown dict or None).
# With diag=True it also returns the tool's breakdown (used on the warm-up call only).


def _count_flopwise(model, args, diag):
    import flopwise

    p = flopwise.profile(model, *args, tensors="real")
    if not diag:
        return p.totals.macs, None
    by_op: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for r in p.ops:
        if r.macs:
            by_op[short_op(r.op)] = by_op.get(short_op(r.op), 0) + r.macs
            by_type[r.module_type] = by_type.get(r.module_type, 0) + r.macs
    extra: dict[str, Any] = {
        "flops": p.totals.flops,
        "params": p.totals.params,
        "complete": p.complete,
        "uncounted": [f"{u.op} ×{u.calls}" for u in p.uncounted],
    }
    return p.totals.macs, {"by_op": by_op, "by_module_type": by_type, "extra": extra}


def _flopwise_other_tensors(model, args) -> dict[str, Any]:
    """flopwise's MACs on fake and meta tensors (run after the memory reading)."""
    import flopwise

    out: dict[str, Any] = {"macs_by_tensors": {}}
    for kind in ("fake", "meta"):
        try:
            out["macs_by_tensors"][kind] = flopwise.profile(model, *args, tensors=kind).totals.macs
        except Exception as e:  # noqa: BLE001 - recorded, not raised
            out["macs_by_tensors"][kind] = None
            out[f"{kind}_error"] = one_line(e)
    return out


def _count_flop_counter(model, args, diag):
    from torch.utils.flop_counter import FlopCounterMode

    mode = FlopCounterMode(display=False)
    with mode:
        model(*args)
    total = mode.get_total_flops()
    if not diag:
        return total, None
    items = {short_op(str(k)): v // 2 for k, v in mode.get_flop_counts()["Global"].items()}
    return total, {"kind": "op", "items": items}


def _count_fvcore(model, args, diag):
    from fvcore.nn import FlopCountAnalysis

    fca = FlopCountAnalysis(model, args)
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    total = fca.total()
    if not diag:
        return total, None
    per_path = exclusive_from_inclusive({k: int(v) for k, v in fca.by_module().items()})
    unsupported = sorted(fca.unsupported_ops())
    interesting = [
        op
        for op in unsupported
        if any(s in op for s in ("attention", "scaled_dot", "grouped_mm", "einsum", "baddbmm"))
    ]
    return total, {
        "kind": "module_type",
        "items": _by_type(model, per_path),
        "unsupported": interesting,
        "by_operator": {k: int(v) for k, v in fca.by_operator().items()},
    }


def _ptflops_call(model, args, backend, diag):
    import ptflops

    if len(args) == 1:
        arg = args[0]

        def construct(_res):
            return arg

    else:
        names = ("query", "key", "value")

        def construct(_res):
            return dict(zip(names, args, strict=True))

    ost = io.StringIO()
    with _quiet() as buf:
        macs, _params = ptflops.get_model_complexity_info(
            model,
            tuple(args[0].shape[1:]),
            input_constructor=construct,
            as_strings=False,
            print_per_layer_stat=diag,
            ost=ost,
            backend=backend,
        )
    if macs is None:
        text = buf.getvalue()
        lines = [s for s in text.splitlines() if s.strip()]
        msg = next((lines[i + 1] for i, s in enumerate(lines) if "exception" in s), None)
        raise ToolFailed(one_line(msg or (lines[-1] if lines else "returned None")))
    return macs


def _count_ptflops_pytorch(model, args, diag):
    if not diag:
        return _ptflops_call(model, args, "pytorch", False), None
    import ptflops.pytorch_engine as eng

    captured: dict[str, int] = {}
    ids, _ = _paths_types(model)
    original = eng.print_model_with_flops

    def grab(m, total_flops, *a, **k):
        for mod in m.modules():
            if eng.is_supported_instance(mod) and hasattr(mod, "__flops__"):
                path = ids.get(id(mod), "?")
                captured[path] = captured.get(path, 0) + int(mod.__flops__)
        captured["<functional>"] = int(total_flops) - sum(captured.values())

    eng.print_model_with_flops = grab
    try:
        macs = _ptflops_call(model, args, "pytorch", True)
    finally:
        eng.print_model_with_flops = original
    functional = captured.pop("<functional>", 0)
    items = _by_type(model, captured)
    items["(torch.* / F.* calls, not per module)"] = functional
    note = (
        f"{gmacs(functional, 3)} GMACs of its total come from patched torch functions "
        "(matmul, F.linear, F.relu, softmax, add, mul, …) outside its module hooks"
    )
    return macs, {"kind": "module_type", "items": items, "note": note}


def _count_ptflops_aten(model, args, diag):
    if not diag:
        return _ptflops_call(model, args, "aten", False), None
    import ptflops.aten_engine as eng

    holder: list[Any] = []
    base = eng.FlopCounterMode

    class Recording(base):  # type: ignore[misc, valid-type]
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            holder.append(self)

    eng.FlopCounterMode = Recording
    try:
        macs = _ptflops_call(model, args, "aten", True)
    finally:
        eng.FlopCounterMode = base
    items = {short_op(str(k)): int(v) for k, v in holder[-1].flop_counts["Global"].items()}
    return macs, {"kind": "op", "items": items}


def _count_thop(model, args, diag):
    import thop

    with _quiet():
        if not diag:
            ops, _params = thop.profile(model, inputs=args, verbose=False)
            return ops, None
        ops, _params, layers = thop.profile(model, inputs=args, verbose=False, ret_layer_info=True)
    inclusive: dict[str, int] = {"": int(ops)}

    def walk(prefix: str, d: Mapping[str, Any]) -> None:
        for name, entry in d.items():
            path = f"{prefix}.{name}" if prefix else name
            inclusive[path] = int(entry[0])
            if len(entry) > 2 and entry[2]:
                walk(path, entry[2])

    walk("", layers)
    return ops, {
        "kind": "module_type",
        "items": _by_type(model, exclusive_from_inclusive(inclusive)),
    }


def _count_calflops(model, args, diag):
    import calflops

    kwargs = dict(
        args=list(args), print_results=False, print_detailed=False, output_as_string=False
    )
    if not diag:
        with _quiet():
            _flops, macs, _params = calflops.calculate_flops(model, **kwargs)
        return macs, None
    from calflops.calculate_pipline import CalFlopsPipline

    ids, _ = _paths_types(model)
    per_path: dict[str, int] = {}
    original = CalFlopsPipline.end_flops_calculate

    def end(self):
        for mod in self.model.modules():
            v = int(getattr(mod, "__macs__", 0) or 0)
            if v:
                per_path[ids.get(id(mod), "?")] = v
        return original(self)

    CalFlopsPipline.end_flops_calculate = end
    try:
        with _quiet():
            _flops, macs, _params = calflops.calculate_flops(model, **kwargs)
    finally:
        CalFlopsPipline.end_flops_calculate = original
    return macs, {"kind": "module_type", "items": _by_type(model, per_path)}


def _count_deepspeed(model, args, diag):
    from deepspeed.profiling.flops_profiler import FlopsProfiler

    with _quiet():
        prof = FlopsProfiler(model)
        prof.start_profile()
        try:
            model(*args)
            macs = prof.get_total_macs(as_string=False)
            per_path: dict[str, int] = {}
            if diag:
                ids, _ = _paths_types(model)
                for mod in model.modules():
                    v = int(getattr(mod, "__macs__", 0) or 0)
                    if v:
                        per_path[ids.get(id(mod), "?")] = v
        finally:
            prof.end_profile()
    if not diag:
        return macs, None
    return macs, {"kind": "module_type", "items": _by_type(model, per_path)}


def _count_torchinfo(model, args, diag):
    import torchinfo

    with _quiet():
        stats = torchinfo.summary(model, input_data=list(args), verbose=0, depth=100)
    total = stats.total_mult_adds
    if not diag:
        return total, None
    ids, _ = _paths_types(model)
    per_path: dict[str, int] = {}
    for layer in stats.summary_list:
        if layer.is_leaf_layer and layer.macs:
            path = ids.get(id(layer.module), "?")
            per_path[path] = per_path.get(path, 0) + int(layer.macs)
    return total, {"kind": "module_type", "items": _by_type(model, per_path)}


COUNTERS: dict[str, Callable[[Any, tuple[Any, ...], bool], tuple[Any, Any]]] = {
    "flopwise": _count_flopwise,
    "flop_counter": _count_flop_counter,
    "fvcore": _count_fvcore,
    "ptflops_pytorch": _count_ptflops_pytorch,
    "ptflops_aten": _count_ptflops_aten,
    "thop": _count_thop,
    "calflops": _count_calflops,
    "deepspeed": _count_deepspeed,
    "torchinfo": _count_torchinfo,
}


def _import_tool(tool: str) -> None:
    import importlib

    name = {"flop_counter": "torch.utils.flop_counter", "ptflops_pytorch": "ptflops",
            "ptflops_aten": "ptflops", "deepspeed": "deepspeed.profiling.flops_profiler",
            "fvcore": "fvcore.nn"}.get(tool, tool)  # fmt: skip
    with _quiet():
        importlib.import_module(name)


def worker(tool: str, model_name: str, threads: int) -> dict[str, Any]:
    """Run one (tool, model) pair in this (fresh) process; returns the result record."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(threads)
    res: dict[str, Any] = {"tool": tool, "model": model_name}
    phases: dict[str, float] = {}
    res["phase_seconds"] = phases
    t_phase = time.perf_counter()
    try:
        _import_tool(tool)
    except Exception as e:  # noqa: BLE001
        res.update(status="unavailable", error=one_line(e))
        return res
    phases["import"] = round(time.perf_counter() - t_phase, 2)
    t_phase = time.perf_counter()
    with _quiet():
        model, args = _load_case(model_name)
    phases["build"] = round(time.perf_counter() - t_phase, 2)
    res["rss_baseline_kib"] = _maxrss_kib()
    count = COUNTERS[tool]
    try:
        with torch.no_grad():
            t_phase = time.perf_counter()
            raw, breakdown = count(model, args, True)
            phases["warm_up"] = round(time.perf_counter() - t_phase, 2)
            times = []
            for _ in range(TIMED_RUNS):
                t0 = time.perf_counter()
                raw_again, _ = count(model, args, False)
                times.append(time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 - a failing tool is a result
        res.update(status="error", error=one_line(e), rss_peak_kib=_maxrss_kib())
        return res
    res["rss_peak_kib"] = _maxrss_kib()
    res["rss_delta_kib"] = rss_delta_kib(res["rss_baseline_kib"], res["rss_peak_kib"])
    if raw is None:
        res.update(status="error", error="returned no count")
        return res
    res.update(
        status="ok",
        raw=raw,
        macs=to_macs(tool, raw),
        raw_repeat_equal=bool(raw_again == raw),
        times=times,
        time_median=median_time(times),
    )
    if breakdown is not None:
        extra = breakdown.pop("extra", None)
        if extra is not None:
            res["extra"] = extra
        res["breakdown"] = breakdown
    if tool == "flopwise":
        with torch.no_grad():
            res.setdefault("extra", {}).update(_flopwise_other_tensors(model, args))
    return res


def worker_big(name: str) -> dict[str, Any]:
    """flopwise on a big config, built on meta, counted on meta (fresh process)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers

    import flopwise

    cfg = transformers.LlamaConfig(**BIG_CONFIGS[name], use_cache=False)
    t0 = time.perf_counter()
    with _quiet(), torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa")
    build_s = time.perf_counter() - t0
    ids = torch.zeros(1, BIG_TOKENS, dtype=torch.long)
    base = _maxrss_kib()
    t0 = time.perf_counter()
    try:
        p = flopwise.profile(model, ids, tensors="meta")
    except Exception as e:  # noqa: BLE001
        return {"status": "error", "error": one_line(e)}
    seconds = time.perf_counter() - t0
    peak = _maxrss_kib()
    return {
        "status": "ok",
        "macs": p.totals.macs,
        "flops": p.totals.flops,
        "params": p.totals.params,
        "complete": p.complete,
        "build_seconds": build_s,
        "seconds": seconds,
        "rss_baseline_kib": base,
        "rss_peak_kib": peak,
        "rss_delta_kib": rss_delta_kib(base, peak),
    }


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def _spawn(argv: list[str], timeout: int, expect_result: bool = True) -> dict[str, Any]:
    cmd = ["nice", "-n", "10", sys.executable, str(Path(__file__).resolve()), *argv]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "error", "error": f"timed out after {timeout} s"}
    if not expect_result and proc.returncode == 0:
        return {"status": "ok"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = [s for s in proc.stderr.splitlines() if s.strip()]
    return {"status": "error", "error": one_line(tail[-1] if tail else f"exit {proc.returncode}")}


#: The distribution each tool's package comes from (``pip install -e '.[bench]'`` has them).
TOOL_MODULES = {
    "flopwise": "flopwise",
    "flop_counter": "torch",
    "fvcore": "fvcore",
    "ptflops_pytorch": "ptflops",
    "ptflops_aten": "ptflops",
    "thop": "thop",
    "calflops": "calflops",
    "deepspeed": "deepspeed",
    "torchinfo": "torchinfo",
}


def missing_tools(tools: Iterable[str]) -> dict[str, str]:
    """``{tool: package}`` for the tools whose package is not installed here (looked up
    without importing it)."""
    import importlib.util

    return {t: TOOL_MODULES[t] for t in tools if importlib.util.find_spec(TOOL_MODULES[t]) is None}


def keep_old_where_unavailable(
    new: dict[str, dict[str, Any]], old: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``new`` results, except that a pair whose tool was unavailable in this run keeps its
    previous result: a missing package must not replace a measured count with n/a."""
    out = {m: dict(row) for m, row in new.items()}
    for model, row in out.items():
        for tool, res in row.items():
            before = (old.get(model) or {}).get(tool)
            if res.get("status") == "unavailable" and before:
                row[tool] = dict(before)
    return out


def run(args: argparse.Namespace) -> None:
    from concurrent.futures import ThreadPoolExecutor

    models = args.models or list(MODELS)
    tools = args.tools or TOOLS
    missing = missing_tools(tools)
    if missing:
        packages = sorted(set(missing.values()))
        sys.exit(
            f"peers.py: not installed: {', '.join(packages)} (needed by "
            f"{', '.join(missing)}). Install the peers with pip install -e '.[bench]', or "
            f"pick the tools you have with --tools. Nothing was run; {args.out} is unchanged."
        )
    out_json = Path(args.out) / "peers.json"
    data: dict[str, Any] = {"results": {}, "big": {}}
    previous = json.loads(out_json.read_text()) if out_json.exists() else {}
    if args.merge and previous:
        data = json.loads(out_json.read_text())
    started = time.perf_counter()
    pairs = [(t, m) for m in models for t in tools]

    def one(pair):
        t, m = pair
        t0 = time.perf_counter()
        res = _spawn(["worker", t, m, "--threads", str(args.threads)], WORKER_TIMEOUT)
        res.setdefault("tool", t)
        res.setdefault("model", m)
        res["wall_seconds"] = round(time.perf_counter() - t0, 1)
        print(
            f"{m:>15} {t:>16} {res.get('status'):>11} "
            f"{gmacs(res.get('macs'), 3):>8} GMACs  {res['wall_seconds']:6.1f} s  "
            f"{res.get('error') or ''}",
            flush=True,
        )
        return res

    def build(m):
        if m in UNCACHED:
            return
        t0 = time.perf_counter()
        res = _spawn(["prepare", m], WORKER_TIMEOUT, expect_result=False)
        print(f"{m:>15} {'(build)':>16} {res.get('status'):>11} {time.perf_counter() - t0:.1f} s")

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(build, models))
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for res in pool.map(one, pairs):
            data["results"].setdefault(res["model"], {})[res["tool"]] = res
    if not args.no_big:
        for name in BIG_CONFIGS:
            res = _spawn(["big", name], 600)
            print(f"{name:>15} {'flopwise/meta':>16} {json.dumps(res)}", flush=True)
            data["big"][name] = res
    cmd = "nice -n 10 python benchmarks/peers.py " + " ".join(sys.argv[1:])
    data["models"] = [m for m in MODELS if m in data["results"]]
    data["tools"] = [t for t in TOOLS if any(t in r for r in data["results"].values())]
    data["meta"] = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": cmd.strip(),
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"{os.cpu_count()} logical CPUs, Linux {platform.release()}".replace("  ", " "),
        "python": platform.python_version(),
        "versions": _versions(),
        "threads": args.threads,
        "jobs": args.jobs,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    data["results"] = keep_old_where_unavailable(data["results"], previous.get("results", {}))
    attach_evidence(data)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    (Path(args.out) / "peers.md").write_text(render_markdown(data))
    print(f"wrote {out_json} and peers.md in {data['meta']['total_seconds']} s")


def render(args: argparse.Namespace) -> None:
    path = Path(args.out) / "peers.json"
    data = json.loads(path.read_text())
    attach_evidence(data)
    path.write_text(json.dumps(data, indent=1) + "\n")
    (Path(args.out) / "peers.md").write_text(render_markdown(data))
    print(f"wrote {Path(args.out) / 'peers.md'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_run = sub.add_parser("run", help="run every (tool, model) pair and write the results")
    p_run.add_argument("--models", nargs="*", choices=list(MODELS))
    p_run.add_argument("--tools", nargs="*", choices=TOOLS)
    p_run.add_argument("--jobs", type=int, default=2, help="workers at a time (default 2)")
    p_run.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p_run.add_argument("--out", default=str(RESULTS))
    p_run.add_argument("--merge", action="store_true", help="update an existing peers.json")
    p_run.add_argument("--no-big", action="store_true", help="skip the 7B/70B meta runs")
    p_render = sub.add_parser("render", help="peers.json -> peers.md")
    p_render.add_argument("--out", default=str(RESULTS))
    p_worker = sub.add_parser("worker")
    p_worker.add_argument("tool", choices=TOOLS)
    p_worker.add_argument("model", choices=list(MODELS))
    p_worker.add_argument("--threads", type=int, default=1)
    p_prep = sub.add_parser("prepare")
    p_prep.add_argument("model", choices=list(MODELS))
    p_big = sub.add_parser("big")
    p_big.add_argument("name", choices=list(BIG_CONFIGS))
    a = parser.parse_args(argv)
    if a.cmd == "run":
        run(a)
    elif a.cmd == "render":
        render(a)
    elif a.cmd == "worker":
        print("RESULT " + json.dumps(worker(a.tool, a.model, a.threads)), flush=True)
    elif a.cmd == "prepare":
        prepare(a.model)
    elif a.cmd == "big":
        print("RESULT " + json.dumps(worker_big(a.name)), flush=True)


if __name__ == "__main__":
    main()
