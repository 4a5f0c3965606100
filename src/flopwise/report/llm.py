"""The text report of ``flopwise llm``: tables of an :class:`~flopwise.llm.result.LLMResult`
(cost per phase, memory, roofline, per-op tables, training, reranking, measured generation,
energy and training steps). Render only: every number comes from the result."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flopwise.report.console import stdout_console
from flopwise.report.device import describe_device
from flopwise.units import seconds, si, si_fine

if TYPE_CHECKING:
    from flopwise.llm.estimate import LLMEstimate, PhaseCost, PhaseTime, Roofline
    from flopwise.llm.rerank import RerankCost
    from flopwise.llm.result import LLMResult
    from flopwise.llm.training import TrainingCost

__all__ = ["render_llm"]

CONVENTIONS = (
    "[dim]conventions: a multiply-add = 2 FLOPs; attention FLOPs = 2·MACs + 6·P over "
    "attended pairs P; causal: P = B·H·Σ_i min(i+1, Lk) (GQA costs as MHA per query "
    "head); elementwise steps per docs/conventions.md; bytes: unfused per op (attention "
    "fused), weights/KV/activations at their dtypes; roofline: per-op max(FLOPs/peak, "
    "bytes/bandwidth) summed, fused = max(FLOPs/peak, (weights+KV)/bandwidth)[/dim]"
)


def render_llm(result: LLMResult, with_ops: bool = True) -> str:
    """The whole text report, as printed to stdout (as wide as
    :func:`~flopwise.report.console.stdout_console` makes it): the estimate's tables, then
    the training memory, the measured generation and the measured training step where the
    result has them. ``with_ops``: per-op tables of prefill and the first decode step."""
    from flopwise.report.memory import llm_memory_table

    text = _captured(lambda console: _estimate_tables(console, result, with_ops))
    if result.training_memory is not None:
        text += llm_memory_table(result.training_memory)
    if result.measured is not None:
        text += _captured(lambda console: _measured(console, result.measured.to_dict()))
    if result.measured_training is not None:
        doc = result.measured_training
        text += _captured(lambda console: _measured_training(console, doc))
    return text


def _captured(draw: Callable[[Console], None]) -> str:
    """What ``draw`` prints on a stdout console, as a string."""
    console = stdout_console()  # piped: whole numbers, not `7.22…` at 80 columns
    with console.capture() as capture:
        draw(console)
    return capture.get()


def _fl(x: float) -> str:
    return si(x, "FLOPs")


def _by(x: float) -> str:
    return si(x, "B")


def _s(x: float | None) -> str:
    return seconds(x, missing="-")


def _count(x: int) -> str:
    """A parameter count in words: ``8.03 billion``."""
    for scale, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if x >= scale:
            return f"{x / scale:.3g} {word}"
    return str(x)


def _estimate_tables(console: Console, result: LLMResult, with_ops: bool) -> None:
    est = result.estimate
    _header(console, est)
    phases = _phases(est)
    times = _phase_times(est, phases)
    console.print(_phase_table(est, phases, times))
    console.print(_memory_table(est, result.largest_batch))
    if est.roofline is not None:
        console.print(_roofline_table(est, est.roofline))
    if with_ops:
        for name, ph in phases[:2]:
            console.print(_op_table(f"Per op: {name} (summed over layers)", ph, times.get(name)))
    b = est.prefill.breakdown
    extra = ", ".join(
        f"{k.replace('_', ' ')} {_fl(v)}" for k, v in b.items() if k != "matmul" and v
    )
    console.print(
        f"prefill: matmuls {_fl(b['matmul'])} (closed forms count these); the full count adds {extra}"
    )
    if result.training is not None:
        console.print(_training_table(result.training, result.mfu, result.hfu))
    if result.reranking is not None:
        console.print(_rerank_table(result.reranking, result.rpp))
    console.print(CONVENTIONS)
    for note in est.notes:
        console.print(f"[dim]note: {note}[/dim]")


def _header(console: Console, est: LLMEstimate) -> None:
    s, p = est.spec, est.params
    arch = f"{s.kind}, {s.layers} layers, hidden {s.hidden}, {s.heads} heads, {s.attention_style}"
    if s.moe:
        arch += f", MoE {s.moe.num_experts} experts top-{s.moe.top_k}"
    if s.sliding_window:
        arch += f", sliding window {s.sliding_window}"
    console.print(f"[bold]{s.name}[/bold]: {arch}")
    params = f"{_count(p.total)} parameters"
    if p.active != p.total:
        params += f" in total, {_count(p.active)} active per token"
    prec = est.precision
    console.print(
        f"{params}; batch {est.batch}, prompt {est.prompt} tokens, gen {est.gen} tokens; "
        f"compute {prec.compute}, weights {prec.weights}, KV cache {prec.kv}"
    )


def _phases(est: LLMEstimate) -> list[tuple[str, PhaseCost]]:
    """The phases shown as columns: prefill, decode step 1 and the last decode step."""
    phases = [("prefill", est.prefill)]
    if est.decode_first is not None:
        phases.append((f"decode step 1 (ctx {est.decode_first.context})", est.decode_first))
    if est.decode_last is not None and est.decode and est.decode.steps > 1:
        phases.append(
            (f"decode step {est.decode.steps} (ctx {est.decode_last.context})", est.decode_last)
        )
    return phases


def _phase_times(est: LLMEstimate, phases: list[tuple[str, PhaseCost]]) -> dict[str, PhaseTime]:
    """Each shown phase's roofline time, by column name (empty without a roofline)."""
    roof = est.roofline
    if roof is None:
        return {}
    times = {"prefill": roof.prefill}
    if est.decode_first is not None:
        times[phases[1][0]] = roof.decode_first
    if len(phases) > 2:
        times[phases[2][0]] = roof.decode_last
    return times


def _phase_table(
    est: LLMEstimate, phases: list[tuple[str, PhaseCost]], times: dict[str, PhaseTime]
) -> Table:
    t = Table(title="Cost per phase (FLOPs = 2·MACs + other ops)", title_justify="left")
    t.add_column("", no_wrap=True)
    for name, _ in phases:
        t.add_column(name, justify="right", no_wrap=True)
    d = est.decode
    if d is not None:
        t.add_column(f"{d.steps} decode steps", justify="right", no_wrap=True)

    def row(label: str, values: list[str], total: str | None = None) -> None:
        t.add_row(label, *values, *([total or ""] if d is not None else []))

    shown = [ph for _, ph in phases]
    row("new tokens", [str(ph.tokens) for ph in shown], str(est.decode_tokens) if d else None)
    row("FLOPs", [_fl(ph.flops) for ph in shown], _fl(d.flops) if d else None)
    row("MACs", [si(ph.macs, "MACs") for ph in shown], si(d.macs, "MACs") if d else None)
    row(
        "matmul FLOPs (2·MACs)",
        [_fl(ph.matmul_flops) for ph in shown],
        _fl(d.matmul_flops) if d else None,
    )
    row("weights read", [_by(ph.weight_bytes) for ph in shown])
    row("KV cache read", [_by(ph.kv_read) for ph in shown])
    row("KV cache written", [_by(ph.kv_written) for ph in shown])
    row("activations read+written", [_by(ph.act_bytes) for ph in shown])
    row("bytes moved (unfused)", [_by(ph.bytes) for ph in shown], _by(d.bytes) if d else None)
    row("arithmetic intensity", [f"{ph.intensity:.1f} FLOPs/B" for ph in shown])
    if times:
        roof = [times[name] for name, _ in phases]
        row("roofline time (per op)", [_s(x.seconds) for x in roof], _s(d.seconds) if d else None)
        row(
            "roofline time (fused)",
            [_s(x.fused_seconds) for x in roof],
            _s(d.fused_seconds) if d else None,
        )
        row("bound (fused)", [x.bound for x in roof])
    return t


def _memory_table(est: LLMEstimate, largest_batch: int | None = None) -> Table:
    prec = est.precision
    m = Table(title="Memory", title_justify="left")
    m.add_column("")
    m.add_column("size", justify="right")
    m.add_row(f"weights ({prec.weights})", _by(est.weight_bytes))
    m.add_row(f"KV cache per token ({prec.kv}, per sequence)", _by(est.kv_bytes_per_token))
    m.add_row(f"KV cache at full length (batch {est.batch})", _by(est.kv_cache_bytes))
    m.add_row("largest prefill op activations (one layer)", _by(est.activation_peak_bytes))
    m.add_row("footprint (weights + KV + activations)", _by(est.memory_bytes))
    roof = est.roofline
    if roof is not None and roof.device_memory:
        fits = "fits" if roof.fits else "does NOT fit"
        m.add_row(f"device memory ({roof.hardware})", f"{_by(roof.device_memory)}, {fits}")
    elif roof is not None:
        m.add_row(f"device memory ({roof.hardware})", "not stated by the profile: no fit")
    if largest_batch is not None:
        encoder = est.spec.kind == "encoder"  # one forward: the prompt only
        tokens = f"{est.prompt} tokens" if encoder else f"{est.prompt} + {est.gen} tokens"
        m.add_row(f"largest batch that fits ({tokens})", f"{largest_batch:,}")
    return m


def _roofline_table(est: LLMEstimate, roof: Roofline) -> Table:
    r = Table(title=f"Roofline on {roof.hardware}", title_justify="left")
    r.add_column("")
    r.add_column("value", justify="right")
    r.add_row(f"peak ({est.precision.compute})", si(roof.peak_flops, "FLOP/s"))
    r.add_row("memory bandwidth", si(roof.bandwidth, "B/s"))
    r.add_row("ridge point", f"{roof.ridge:.1f} FLOPs/B")
    r.add_row("time to first token (TTFT)", _s(roof.ttft))
    if roof.tpot is not None:
        r.add_row("time per output token (TPOT, mean)", _s(roof.tpot))
    if roof.decode_tokens_per_s:
        r.add_row("decode throughput", f"{roof.decode_tokens_per_s:,.0f} tokens/s")
    r.add_row("end to end", _s(roof.end_to_end_s))
    unit = "sequences/s" if est.spec.kind == "encoder" else "tokens/s"
    throughput = (
        "- (--gen 0: no tokens generated)"
        if roof.tokens_per_s is None
        else f"{roof.tokens_per_s:,.0f} {unit}"
    )
    r.add_row("throughput end to end", throughput)
    if est.spec.kind != "encoder":
        crit = (
            "never (KV reads grow as fast as FLOPs)"
            if roof.critical_batch is None
            else str(roof.critical_batch)
        )
        # where Roofline.critical_batch is priced: a decoder's step at prompt + gen keys; an
        # encoder-decoder's at its gen decoder tokens, cross-attending the prompt
        ctx = (
            f"ctx {est.gen}, source {est.prompt}"
            if est.spec.kind == "encoder-decoder"
            else f"ctx {est.prompt + est.gen}"
        )
        r.add_row(f"decode compute-bound from batch ({ctx})", crit)
        r.add_row(
            "decode compute-bound from batch (ctx → 0)",
            "never" if roof.critical_batch_no_kv is None else str(roof.critical_batch_no_kv),
        )
    return r


def _training_table(training: TrainingCost, mfu: float | None, hfu: float | None) -> Table:
    tr = Table(
        title=f"Training step: batch {training.batch} × {training.seq} tokens"
        + (" (full recomputation)" if training.recompute else ""),
        title_justify="left",
    )
    tr.add_column("")
    tr.add_column("per step", justify="right")
    tr.add_column("per token", justify="right")
    per_token = training.per_token_flops
    for label, name in (
        ("forward", "forward"),
        ("backward", "backward"),
        ("recomputation", "recompute"),
        ("total (counted)", "step"),
        ("6·N", "six_n"),
        ("6·N + attention (Kaplan)", "kaplan"),
        ("Megatron closed form", "megatron"),
        ("PaLM MFU numerator 6·N + 12·L·H·Q·T", "palm"),
    ):
        tr.add_row(label, _fl(getattr(training, name)), _fl(per_token[name]))
    if mfu is not None:
        tr.add_row("MFU", f"{mfu:.1%}", "")
        tr.add_row("HFU (with recomputation)", f"{hfu:.1%}", "")
    return tr


def _rerank_table(reranking: RerankCost, rpp: float | None) -> Table:
    style = reranking.style + (f" {reranking.method} sort" if reranking.method else "")
    paper = reranking.convention == "paper"
    rr = Table(title=f"Reranking (E2R-FLOPs): {style}", title_justify="left")
    rr.add_column("")
    rr.add_column("value", justify="right")
    rr.add_row("convention", "the paper's formula" if paper else "flopwise's exact count")
    rr.add_row("LLM calls per query", str(reranking.calls))
    if len(reranking.docs_per_call) > 1:
        rr.add_row(
            "documents shown (calls)",
            ", ".join(f"{k} ({v})" for k, v in reranking.docs_per_call),
        )
    rr.add_row("prompt tokens per full call", str(reranking.prompt_tokens))
    rr.add_row("output tokens per call", str(reranking.output_tokens))
    rr.add_row("FLOPs per full call", _fl(reranking.flops_per_call))
    rr.add_row("FLOPs per query", _fl(reranking.flops_per_query))
    if paper:
        rr.add_row("FLOPs per query, flopwise's exact count", _fl(reranking.exact_flops_per_query))
    rr.add_row("QPP (queries per PetaFLOP)", f"{reranking.qpp:.4g}")
    if rpp is not None:
        rr.add_row("RPP (metric per PetaFLOP)", f"{rpp:.4g}")
    return rr


def _op_table(title: str, phase: PhaseCost, time: PhaseTime | None) -> Table:
    """One row per op of ``phase``; with the phase's roofline ``time``, each op's bound."""
    t = Table(title=title, title_justify="left")
    for col in ("op", "layers", "FLOPs", "weights", "activations", "KV cache", "FLOPs/B"):
        t.add_column(col, justify="left" if col == "op" else "right", no_wrap=True)
    if time:
        t.add_column("bound", justify="right", no_wrap=True)
    for i, op in enumerate(phase.ops):
        name = f"{op.stack}.{op.name}" if op.stack else op.name
        cells = [
            name,
            str(op.layers),
            _fl(op.flops),
            _by(op.weight_bytes),
            _by(op.act_bytes),
            _by(op.kv_bytes),
            "-" if not op.bytes else f"{op.intensity:.1f}",
        ]
        if time:
            cells.append(time.op_bounds[i])
        t.add_row(*cells)
    return t


def _measured(console: Console, doc: dict[str, Any]) -> None:
    """The measured TTFT/TPOT beside the roofline."""
    timing = doc["timing"]["ttft"]
    t = Table(
        title=f"Measured on {describe_device(doc['device'])} ({doc['dtype']}, "
        f"{timing['repeats']} repeats after {timing['warmup']} "
        f"warm-up; floor: {doc['roofline_hardware']})",
        title_justify="left",
    )
    cols = ("", "measured (median)", "spread", "device time", "roofline floor", "gap")
    for col in (*cols, "outside kernels", "kernels"):
        t.add_column(col, justify="left" if not col else "right", no_wrap=True)
    t.add_column("bound")
    for ph in doc["phases"]:
        gap = ph["gap"]
        t.add_row(
            ph["name"],
            _s(ph["measured_s"]),
            f"{ph['spread']:.0%}",
            _device_time(ph),
            _s(ph["roofline_floor_s"]),
            "-" if gap is None else f"{gap:.3g}x" + (" (floor beaten!)" if gap < 1 else ""),
            _s(ph["host_s"]),
            _s(ph["device_s"]),
            ph["bound"],
        )
    console.print(t)
    console.print(
        "[dim]TTFT: prefill + first token; TPOT: mean of the gen - 1 decode steps; gap = "
        "measured / roofline floor; measured = host wall time between device "
        "synchronisations; device time = "
        + escape(doc["timing"].get("device_timer", "-"))
        + "; kernels = kernel busy time (profiler, CUDA), outside kernels = measured - "
        "kernels[/dim]"
    )
    for note in doc["notes"]:
        console.print(f"[dim]note: {escape(note)}[/dim]")
    if doc.get("energy"):
        _energy(console, doc["energy"])


def _device_time(ph: dict[str, Any]) -> str:
    """A phase's device time with its spread (absent from documents written before it)."""
    if ph.get("device_time_s") is None:
        return "-"
    spread = ph.get("device_time_spread")
    return _s(ph["device_time_s"]) + ("" if spread is None else f" ({spread:.0%})")


def _energy(console: Console, e: dict[str, Any]) -> None:
    """Joules per prefill / decode token / generated token, labelled."""
    t = Table(title=f"Energy: {escape(e['label'])}", title_justify="left")
    t.add_column("")
    t.add_column("value", justify="right")
    for label, value, unit in _energy_rows(e):
        t.add_row(label, si_fine(value, unit))
    t.add_row(
        "windows",
        f"{e['prefills_per_window']} prefills in {si_fine(e['prefill_window_s'], 's')}"
        + (
            f"; {e['decode_windows']} x {e['decode_steps_per_window']} decode steps, "
            f"{si_fine(e['decode_window_s'], 's')} each"
            if e["decode_windows"]
            else ""
        ),
    )
    console.print(t)
    if e.get("model"):
        console.print(f"[dim]power model: {escape(e['model'])}[/dim]")
    for label, lines in (
        ("flag", e["flags"]),
        ("note", e["notes"]),
        ("not used", e["unavailable"]),
    ):
        for line in lines:
            console.print(f"[dim]{label}: {escape(line)}[/dim]")


def _energy_rows(e: dict[str, Any]) -> Iterator[tuple[str, float, str]]:
    """The energy table's value rows, decode rows only when there was a decode step."""
    yield "per prefill (whole batch)", e["joules_per_prefill"], "J"
    yield "per prompt token", e["joules_per_prompt_token"], "J"
    if e["joules_per_decode_step"] is not None:
        yield "per decode step (whole batch)", e["joules_per_decode_step"], "J"
        yield "per decode token", e["joules_per_decode_token"], "J"
    yield "per generated token (prefill + decode)", e["joules_per_generated_token"], "J"
    yield "average power, prefill", e["prefill_power_w"], "W"
    if e["decode_power_w"] is not None:
        yield "average power, decode", e["decode_power_w"], "W"


def _measured_training(console: Console, doc: dict[str, Any]) -> None:
    """The measured training step and its MFU by both definitions."""
    step = doc["step"]
    t = Table(
        title=f"Measured training step on {describe_device(doc['device'])} ({doc['dtype']}, "
        f"batch {doc['batch']} × {doc['seq']} tokens; {doc['what']})",
        title_justify="left",
    )
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("step time (median, host wall)", _s(step["median_s"]))
    t.add_row("spread", f"{step['spread']:.0%} (n={step['repeats']})")
    dev = doc.get("step_device")
    if dev is not None:
        t.add_row(f"step device time (median, {doc['device_timer']})", _s(dev["median_s"]))
        t.add_row("device time spread", f"{dev['spread']:.0%} (n={dev['repeats']})")
    mfu = doc["mfu"]
    if mfu is not None:
        t.add_row("peak", si(mfu["peak_flops"], "FLOP/s"))
        t.add_row("MFU, PaLM (6N + 12·L·H·Q·T per token)", f"{mfu['mfu_palm']:.2%}")
        t.add_row("MFU, flopwise count (every op, fwd + bwd)", f"{mfu['mfu_counted']:.2%}")
    console.print(t)
    if not step["trustworthy"]:
        console.print(f"[dim]note: step: {step['reason']}[/dim]")
