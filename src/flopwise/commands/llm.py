"""``flopwise llm MODEL_CONFIG``: analytic prefill/decode/training/reranking cost of a
transformer from its config alone (no weights, no forward pass)."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

import typer

from flopwise.commands._options import DeviceOption
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps


class LLMFormat(str, Enum):
    table = "table"
    json = "json"


class RerankStyle(str, Enum):
    pointwise = "pointwise"
    listwise = "listwise"
    setwise = "setwise"


class SetwiseMethod(str, Enum):
    bubble = "bubble"
    heap = "heap"


class HeapOrder(str, Enum):
    reversed = "reversed"
    sorted = "sorted"


class Convention(str, Enum):
    flopwise = "flopwise"
    paper = "paper"


def register(app: typer.Typer) -> None:
    app.command("llm")(llm_command)


def llm_command(
    model: str = typer.Argument(
        ..., help="Built-in config name (llama-3-8b, mixtral-8x7b, ...) or a path to config.json"
    ),
    batch: int = typer.Option(1, "--batch", "-b", help="Sequences processed together"),
    prompt: int = typer.Option(512, "--prompt", "-p", help="Prompt tokens per sequence"),
    gen: int = typer.Option(128, "--gen", "-g", help="Generated tokens per sequence"),
    dtype: str = typer.Option("bfloat16", help="Compute/activation dtype (picks the peak)"),
    weight_dtype: str | None = typer.Option(
        None, help="Weight storage dtype, e.g. int8, int4, float8 (bytes only; default: --dtype)"
    ),
    kv_dtype: str | None = typer.Option(
        None, help="KV cache dtype, e.g. float8, int8 (bytes only; default: --dtype)"
    ),
    hardware: str | None = typer.Option(
        None, "--hardware", help="Hardware profile for roofline times (e.g. h100, a100, l4)"
    ),
    window_mode: str = typer.Option(
        "skip",
        help="Sliding-window attention: skip (kernel skips out-of-window pairs) or mask "
        "(HF SDPA with an explicit mask: dense, counted as the capture engine does)",
    ),
    ops: bool = typer.Option(True, "--ops/--no-ops", help="Per-op tables for prefill and decode"),
    train: bool = typer.Option(
        False, "--train", help="Training flops per step (batch × prompt tokens)"
    ),
    recompute: bool = typer.Option(False, help="With --train: full activation recomputation"),
    optimizer: str = typer.Option(
        "adamw", "--optimizer", help="With --train: sgd, sgd-momentum, adam, adamw (memory)"
    ),
    zero: int = typer.Option(0, "--zero", help="With --train: ZeRO stage 0-3 (memory)"),
    gpus: int = typer.Option(1, "--gpus", help="With --train: GPUs in total, dp = gpus/(tp·pp)"),
    tp: int = typer.Option(1, "--tp", help="With --train: tensor-parallel degree (memory)"),
    pp: int = typer.Option(1, "--pp", help="With --train: pipeline-parallel degree (memory)"),
    sequence_parallel: bool = typer.Option(
        False, "--sequence-parallel", help="With --train and --tp: sequence parallelism (memory)"
    ),
    step_time: float | None = typer.Option(
        None, help="With --train and --hardware: measured seconds per step, for MFU"
    ),
    rerank: RerankStyle | None = typer.Option(
        None, "--rerank", help="Reranking cost per query (E2R-FLOPs): pointwise/listwise/setwise"
    ),
    candidates: int = typer.Option(100, help="--rerank: documents per query"),
    query_tokens: int = typer.Option(32, help="--rerank: query tokens"),
    doc_tokens: int = typer.Option(128, help="--rerank: tokens per document"),
    template_tokens: int = typer.Option(64, help="--rerank: prompt template tokens"),
    output_tokens: int | None = typer.Option(
        None, help="--rerank: output tokens per call (default 1; listwise 3 per document)"
    ),
    window: int = typer.Option(20, help="--rerank listwise: documents per window"),
    stride: int = typer.Option(10, help="--rerank listwise: window stride"),
    set_size: int = typer.Option(4, help="--rerank setwise: documents compared per call"),
    top_k: int = typer.Option(10, help="--rerank setwise: documents to rank to the top"),
    setwise_method: SetwiseMethod = typer.Option(
        SetwiseMethod.bubble, help="--rerank setwise: bubble sort or heapsort"
    ),
    heap_order: HeapOrder = typer.Option(
        HeapOrder.reversed,
        help="--setwise-method heap: relevance order the heapsort is run on (reversed: the "
        "first stage's order is the LLM's reversed; sorted: the same)",
    ),
    convention: Convention = typer.Option(
        Convention.flopwise,
        help="--rerank: flopwise (exact count) or paper (the E2R-FLOPs closed form, shown "
        "beside the exact count)",
    ),
    beyond_context: bool = typer.Option(
        False,
        "--beyond-context",
        help="Count sequences longer than the config's max_position_embeddings instead of "
        "refusing them",
    ),
    metric: float | None = typer.Option(
        None, help="--rerank: ranking metric value (e.g. NDCG@10) for RPP"
    ),
    measure: bool = typer.Option(
        False,
        "--measure",
        help="Also build the model with random weights on --device and time prefill (TTFT) "
        "and decode steps (TPOT), beside the roofline of that device's host profile",
    ),
    device: str = DeviceOption(),
    energy: bool = typer.Option(
        False,
        "--energy",
        help="With --measure: joules per prefill, per decode token and per generated token "
        "(NVML on CUDA, RAPL on the CPU, else a labelled power-model estimate)",
    ),
    repeats: int = typer.Option(5, help="--measure: timed generations"),
    warmup: int = typer.Option(1, help="--measure: untimed generations first"),
    fmt: LLMFormat = typer.Option(LLMFormat.table, "--format", "-f", help="table or json"),
) -> None:
    """Prefill and decode cost of a transformer from its config: FLOPs, bytes, KV cache,
    memory, roofline times; training and reranking costs on request; measured TTFT/TPOT
    with --measure."""
    from flopwise.llm import BadLLMArgument, estimate, load_spec

    if window_mode not in ("skip", "mask"):
        raise FlopwiseError(f"--window-mode = {window_mode!r}: must be skip or mask")
    if rerank is None and convention != Convention.flopwise:
        raise FlopwiseError(f"--convention = {convention.value!r}: applies to --rerank only")
    _refuse_unused(
        train=train,
        hardware=hardware,
        rerank=rerank,
        recompute=recompute,
        step_time=step_time,
        metric=metric,
    )
    parallel = {"--optimizer": optimizer != "adamw", "--zero": zero != 0, "--gpus": gpus != 1}
    parallel.update({"--tp": tp != 1, "--pp": pp != 1, "--sequence-parallel": sequence_parallel})
    if not train and any(parallel.values()):
        given = ", ".join(k for k, v in parallel.items() if v)
        raise FlopwiseError(f"{given}: only used with --train (training memory); add --train")
    memory_hardware = hardware  # the profile name as given, before --measure resolves it
    dev = None
    if measure:
        from flopwise.pipeline import resolve_device, resolve_hardware

        _refuse_with_measure(
            rerank=rerank,
            recompute=recompute,
            step_time=step_time,
            weight_dtype=weight_dtype,
            kv_dtype=kv_dtype,
        )
        if repeats < 1 or warmup < 0:
            raise FlopwiseError("--repeats must be >= 1 and --warmup >= 0")
        if energy and train:
            raise FlopwiseError(
                "--energy measures generation (prefill and decode), not --train steps; "
                "drop one of them"
            )
        dev = resolve_device(device, timing=True)
        hardware = resolve_hardware(hardware or "host", dev)
    elif device != "auto" or repeats != 5 or warmup != 1 or energy:
        raise FlopwiseError(
            "--device, --energy, --repeats and --warmup are only used with --measure"
        )
    spec = load_spec(model)
    try:
        est = estimate(
            spec,
            batch=batch,
            prompt=prompt,
            gen=gen,
            dtype=dtype,
            weight_dtype=weight_dtype,
            kv_dtype=kv_dtype,
            hardware=hardware,
            window_mode=window_mode,
            beyond_context=beyond_context,
        )
    except BadLLMArgument as exc:
        raise _as_option(exc) from exc
    except ValueError as exc:
        raise FlopwiseError(str(exc)) from exc
    training = training_memory = None
    if train:
        from flopwise.llm import training_cost

        training = training_cost(spec, batch, prompt, recompute)
        training_memory = _training_memory(
            model,
            batch=batch,
            seq=prompt,
            dtype=dtype,
            recompute=recompute,
            optimizer=optimizer,
            zero=zero,
            gpus=gpus,
            tp=tp,
            pp=pp,
            sequence_parallel=sequence_parallel,
            hardware=memory_hardware,
        )
    reranking = None
    if rerank is not None:
        from flopwise.llm import rerank_cost

        try:
            reranking = rerank_cost(
                spec,
                rerank.value,
                candidates=candidates,
                query_tokens=query_tokens,
                doc_tokens=doc_tokens,
                template_tokens=template_tokens,
                output_tokens=output_tokens,
                window=window,
                stride=stride,
                set_size=set_size,
                top_k=top_k,
                method=setwise_method.value,
                order=heap_order.value,
                convention=convention.value,
                beyond_context=beyond_context,
            )
        except BadLLMArgument as exc:
            raise _as_option(exc) from exc
    measured = measured_training = None
    if dev is not None and training is not None:
        from flopwise.pipeline import measure_training

        measured_training = measure_training(
            model,
            batch=batch,
            seq=prompt,
            training=training,
            peak_flops=est.roofline.peak_flops if est.roofline else None,
            device=dev,
            dtype=dtype,
            warmup=warmup,
            repeats=repeats,
        )
    elif dev is not None:
        from flopwise.pipeline import measure_llm

        measured = measure_llm(
            model,
            batch=batch,
            prompt=prompt,
            gen=gen,
            device=dev,
            dtype=dtype,
            roofline=est.roofline,
            warmup=warmup,
            repeats=repeats,
            energy=energy,
        )
    if fmt == LLMFormat.json:
        doc = _json(est, training, reranking, metric, step_time, ops)
        if measured is not None:
            doc["measured"] = measured.to_dict()
        if measured_training is not None:
            doc["measured_training"] = measured_training
        if training_memory is not None:
            doc["training_memory"] = training_memory
        typer.echo(dumps(doc))
        return
    _render(est, training, reranking, metric, step_time, ops)
    if training_memory is not None:
        from flopwise.report.memory import llm_memory_table

        typer.echo(llm_memory_table(training_memory), nl=False)
    if measured is not None:
        _render_measured(measured.to_dict())
    if measured_training is not None:
        _render_measured_training(measured_training)


def _training_memory(
    model: str,
    *,
    batch: int,
    seq: int,
    dtype: str,
    recompute: bool,
    optimizer: str,
    zero: int,
    gpus: int,
    tp: int,
    pp: int,
    sequence_parallel: bool,
    hardware: str | None,
) -> dict[str, Any]:
    """Per-GPU training memory of a micro-batch of ``batch`` × ``seq`` tokens: the same
    document as ``flopwise memory hf:NAME --train`` (memory/llm.py's closed forms), with
    the largest micro-batch that fits when ``hardware`` states its memory."""
    from flopwise.pipeline import OPTIMIZERS, hardware_capacity, run_llm_memory

    if optimizer not in OPTIMIZERS:
        raise FlopwiseError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
    if hardware is not None:
        try:
            hardware_capacity(hardware)
        except FlopwiseError:  # a profile with no stated capacity: no fit verdict
            hardware = None
    return run_llm_memory(
        model,
        train=True,
        optimizer=optimizer,
        micro_batch=batch,
        seq=seq,
        zero=zero,
        gpus=gpus,
        tp=tp,
        pp=pp,
        sequence_parallel=sequence_parallel,
        recompute="full" if recompute else "none",
        # float32 compute trains in full precision; any 16-bit dtype in mixed precision
        mixed_precision=dtype not in ("float32", "fp32"),
        hardware=hardware,
    )


def _as_option(exc) -> FlopwiseError:
    """The API's error with its field named as the command-line option (``doc_tokens`` →
    ``--doc-tokens``); fields that are no option (``prompt + gen``) keep their words."""
    field = exc.field
    if field.isidentifier():
        field = "--" + field.replace("_", "-")
    return FlopwiseError(f"{field} = {exc.value!r}: {exc.requirement}")


def _refuse_with_measure(*, rerank, recompute, step_time, weight_dtype, kv_dtype) -> None:
    """--measure times the model as built at --dtype (inference, or with --train plain
    training steps): options it cannot honour are refused in one line."""
    for given, option in (
        (rerank is not None, "--rerank"),
        (recompute, "--recompute"),
        (step_time is not None, "--step-time"),
        (weight_dtype is not None, "--weight-dtype"),
        (kv_dtype is not None, "--kv-dtype"),
    ):
        if given:
            raise FlopwiseError(
                f"{option} is not measured: --measure times the model built at --dtype "
                "(prefill and decode, or with --train plain training steps); drop one of them"
            )


def _refuse_unused(*, train, hardware, rerank, recompute, step_time, metric) -> None:
    """Refuse, in one line, an option this run would silently ignore (checked before the
    config is read, so the message is about the option)."""
    if metric is not None and rerank is None:
        raise FlopwiseError(
            "--metric is only used with --rerank (it gives RPP); add --rerank STYLE"
        )
    if metric is not None and not math.isfinite(metric):
        raise FlopwiseError(f"--metric must be a finite number (got {metric})")
    if recompute and not train:
        raise FlopwiseError("--recompute is only used with --train; add --train")
    if step_time is not None:
        if not train or hardware is None:
            raise FlopwiseError(
                "--step-time is only used with --train and --hardware (MFU = model FLOPs / "
                "(step time x peak)); add them or drop --step-time"
            )
        if not (math.isfinite(step_time) and step_time > 0):
            raise FlopwiseError(
                f"--step-time must be a finite number of seconds > 0 (got {step_time})"
            )


def _json(est, training, reranking, metric, step_time, with_ops: bool) -> dict[str, Any]:
    from flopwise.llm.estimate import estimate_to_dict

    out = estimate_to_dict(est, with_ops)
    if training is not None:
        out["training"] = {
            "batch": training.batch,
            "seq": training.seq,
            "forward_flops": training.forward,
            "backward_flops": training.backward,
            "recompute_flops": training.recompute,
            "step_flops": training.step,
            "model_flops": training.model_flops,
            "flops_per_token": training.per_token,
            "forward_matmul_flops": training.forward_matmul,
            "six_n": training.six_n,
            "kaplan": training.kaplan,
            "megatron": training.megatron,
            "palm": training.palm,
        }
        if step_time and est.roofline:
            from flopwise.llm import mfu

            out["training"]["mfu"] = mfu(training.model_flops, step_time, est.roofline.peak_flops)
            out["training"]["hfu"] = mfu(training.step, step_time, est.roofline.peak_flops)
    if reranking is not None:
        out["rerank"] = {
            "style": reranking.style,
            "method": reranking.method or None,
            "convention": reranking.convention,
            "calls": reranking.calls,
            "docs_per_call": {str(k): v for k, v in reranking.docs_per_call},
            "prompt_tokens": reranking.prompt_tokens,
            "output_tokens": reranking.output_tokens,
            "flops_per_call": reranking.flops_per_call,
            "flops_per_query": reranking.flops_per_query,
            "exact_flops_per_query": reranking.exact_flops_per_query,
            "qpp": reranking.qpp,
            "rpp": reranking.rpp(metric) if metric is not None else None,
        }
    return out


# ---------------------------------------------------------------------------------------
# rendering (no computation below: only formatting of the estimate's numbers)


def _fl(x: float) -> str:
    from flopwise.report.units import si

    return si(x, "FLOPs")


def _by(x: float) -> str:
    from flopwise.report.units import si

    return si(x, "B")


def _count(x: int) -> str:
    """A parameter count in words: ``8.03 billion``."""
    for scale, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if x >= scale:
            return f"{x / scale:.3g} {word}"
    return str(x)


def _s(x: float | None) -> str:
    from flopwise.report.units import seconds

    return "-" if x is None else seconds(x)


def _render(est, training, reranking, metric, step_time, with_ops: bool) -> None:
    from rich.table import Table

    from flopwise.llm.ops import flops_breakdown
    from flopwise.report.console import stdout_console
    from flopwise.report.units import si

    console = stdout_console()  # piped: whole numbers, not `7.22…` at 80 columns
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

    phases = [("prefill", est.prefill)]
    if est.decode_first is not None:
        phases.append((f"decode step 1 (ctx {est.decode_first.context})", est.decode_first))
    if est.decode_last is not None and est.decode and est.decode.steps > 1:
        phases.append(
            (f"decode step {est.decode.steps} (ctx {est.decode_last.context})", est.decode_last)
        )
    roof = est.roofline
    times = {}
    if roof is not None:
        times = {"prefill": roof.prefill}
        if est.decode_first is not None:
            times[phases[1][0]] = roof.decode_first
        if len(phases) > 2:
            times[phases[2][0]] = roof.decode_last

    t = Table(title="Cost per phase (FLOPs = 2·MACs + other ops)", title_justify="left")
    t.add_column("", no_wrap=True)
    for name, _ in phases:
        t.add_column(name, justify="right", no_wrap=True)
    if est.decode is not None:
        t.add_column(f"{est.decode.steps} decode steps", justify="right", no_wrap=True)

    def row(label: str, values: list[str], total: str | None = None) -> None:
        t.add_row(label, *values, *([total or ""] if est.decode is not None else []))

    d = est.decode
    row("new tokens", [str(ph.tokens) for _, ph in phases], str(est.batch * d.steps) if d else None)
    row("FLOPs", [_fl(ph.flops) for _, ph in phases], _fl(d.flops) if d else None)
    row("MACs", [si(ph.macs, "MACs") for _, ph in phases], si(d.macs, "MACs") if d else None)
    row(
        "matmul FLOPs (2·MACs)",
        [_fl(ph.matmul_flops) for _, ph in phases],
        _fl(2 * d.macs) if d else None,
    )
    row("weights read", [_by(ph.weight_bytes) for _, ph in phases])
    row("KV cache read", [_by(ph.kv_read) for _, ph in phases])
    row("KV cache written", [_by(ph.kv_written) for _, ph in phases])
    row("activations read+written", [_by(ph.act_bytes) for _, ph in phases])
    row("bytes moved (unfused)", [_by(ph.bytes) for _, ph in phases], _by(d.bytes) if d else None)
    row("arithmetic intensity", [f"{ph.intensity:.1f} FLOPs/B" for _, ph in phases])
    if roof is not None:
        row(
            "roofline time (per op)",
            [_s(times[n].seconds) for n, _ in phases],
            _s(d.seconds) if d else None,
        )
        row(
            "roofline time (fused)",
            [_s(times[n].fused_seconds) for n, _ in phases],
            _s(d.fused_seconds) if d else None,
        )
        row("bound (fused)", [times[n].bound for n, _ in phases])
    console.print(t)

    m = Table(title="Memory", title_justify="left")
    m.add_column("")
    m.add_column("size", justify="right")
    m.add_row(f"weights ({prec.weights})", _by(est.weight_bytes))
    m.add_row(f"KV cache per token ({prec.kv}, per sequence)", _by(est.kv_bytes_per_token))
    m.add_row(f"KV cache at full length (batch {est.batch})", _by(est.kv_cache_bytes))
    m.add_row("largest prefill op activations (one layer)", _by(est.activation_peak_bytes))
    m.add_row("footprint (weights + KV + activations)", _by(est.memory_bytes))
    if est.roofline is not None and est.roofline.device_memory:
        fits = "fits" if est.roofline.fits else "does NOT fit"
        m.add_row(
            f"device memory ({est.roofline.hardware})", f"{_by(est.roofline.device_memory)}, {fits}"
        )
    console.print(m)

    if roof is not None:
        r = Table(title=f"Roofline on {roof.hardware}", title_justify="left")
        r.add_column("")
        r.add_column("value", justify="right")
        r.add_row(f"peak ({prec.compute})", si(roof.peak_flops, "FLOP/s"))
        r.add_row("memory bandwidth", si(roof.bandwidth, "B/s"))
        r.add_row("ridge point", f"{roof.ridge:.1f} FLOPs/B")
        r.add_row("time to first token (TTFT)", _s(roof.ttft))
        if roof.tpot is not None:
            r.add_row("time per output token (TPOT, mean)", _s(roof.tpot))
        if roof.decode_tokens_per_s:
            r.add_row("decode throughput", f"{roof.decode_tokens_per_s:,.0f} tokens/s")
        r.add_row("end to end", _s(roof.end_to_end_s))
        unit = "sequences/s" if est.spec.kind == "encoder" else "tokens/s"
        r.add_row("throughput end to end", f"{roof.tokens_per_s:,.0f} {unit}")
        crit = (
            "never (KV reads grow as fast as FLOPs)"
            if roof.critical_batch is None
            else str(roof.critical_batch)
        )
        if est.spec.kind != "encoder":
            r.add_row(f"decode compute-bound from batch (ctx {est.prompt + est.gen})", crit)
            r.add_row(
                "decode compute-bound from batch (ctx → 0)",
                "never" if roof.critical_batch_no_kv is None else str(roof.critical_batch_no_kv),
            )
        console.print(r)

    if with_ops:
        for name, ph in phases[:2]:
            _op_table(console, f"Per op: {name} (summed over layers)", ph, times.get(name) and roof)

    b = flops_breakdown(est.prefill.ops)
    extra = ", ".join(
        f"{k.replace('_', ' ')} {_fl(v)}" for k, v in b.items() if k != "matmul" and v
    )
    console.print(
        f"prefill: matmuls {_fl(b['matmul'])} (closed forms count these); the full count adds {extra}"
    )

    if training is not None:
        tr = Table(
            title=f"Training step: batch {training.batch} × {training.seq} tokens"
            + (" (full recomputation)" if training.recompute else ""),
            title_justify="left",
        )
        tr.add_column("")
        tr.add_column("per step", justify="right")
        tr.add_column("per token", justify="right")
        n = training.tokens
        for label, v in (
            ("forward", training.forward),
            ("backward", training.backward),
            ("recomputation", training.recompute),
            ("total (counted)", training.step),
            ("6·N", training.six_n),
            ("6·N + attention (Kaplan)", training.kaplan),
            ("Megatron closed form", training.megatron),
            ("PaLM MFU numerator 6·N + 12·L·H·Q·T", training.palm),
        ):
            tr.add_row(label, _fl(v), _fl(v / n))
        if step_time and roof is not None:
            from flopwise.llm import mfu

            tr.add_row("MFU", f"{mfu(training.model_flops, step_time, roof.peak_flops):.1%}", "")
            tr.add_row(
                "HFU (with recomputation)",
                f"{mfu(training.step, step_time, roof.peak_flops):.1%}",
                "",
            )
        console.print(tr)

    if reranking is not None:
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
            rr.add_row(
                "FLOPs per query, flopwise's exact count", _fl(reranking.exact_flops_per_query)
            )
        rr.add_row("QPP (queries per PetaFLOP)", f"{reranking.qpp:.4g}")
        if metric is not None:
            rr.add_row("RPP (metric per PetaFLOP)", f"{reranking.rpp(metric):.4g}")
        console.print(rr)

    console.print(
        "[dim]conventions: a multiply-add = 2 FLOPs; attention FLOPs = 2·MACs + 6·P over "
        "attended pairs P; causal: P = B·H·Σ_i min(i+1, Lk) (GQA costs as MHA per query "
        "head); elementwise steps per docs/conventions.md; bytes: unfused per op (attention "
        "fused), weights/KV/activations at their dtypes; roofline: per-op max(FLOPs/peak, "
        "bytes/bandwidth) summed, fused = max(FLOPs/peak, (weights+KV)/bandwidth)[/dim]"
    )
    for note in est.notes:
        console.print(f"[dim]note: {note}[/dim]")


def _render_measured(doc: dict[str, Any]) -> None:
    """The measured TTFT/TPOT beside the roofline (formatting only)."""
    from rich.markup import escape
    from rich.table import Table

    from flopwise.report.console import stdout_console
    from flopwise.report.device import describe_device

    console = stdout_console()
    t = Table(
        title=f"Measured on {describe_device(doc['device'])} ({doc['dtype']}, "
        f"{doc['timing']['ttft']['repeats']} repeats after {doc['timing']['ttft']['warmup']} "
        f"warm-up; floor: {doc['roofline_hardware']})",
        title_justify="left",
    )
    for col in ("", "measured (median)", "spread", "roofline floor", "gap", "host", "device"):
        t.add_column(col, justify="left" if not col else "right", no_wrap=True)
    t.add_column("bound")
    for ph in doc["phases"]:
        gap = ph["gap"]
        t.add_row(
            ph["name"],
            _s(ph["measured_s"]),
            f"{ph['spread']:.0%}",
            _s(ph["roofline_floor_s"]),
            "-" if gap is None else f"{gap:.3g}x" + (" (floor beaten!)" if gap < 1 else ""),
            _s(ph["host_s"]),
            _s(ph["device_s"]),
            ph["bound"],
        )
    console.print(t)
    console.print(
        "[dim]TTFT: prefill + first token; TPOT: mean of the gen - 1 decode steps; gap = "
        "measured / roofline floor; host = wall time outside device kernels[/dim]"
    )
    for note in doc["notes"]:
        console.print(f"[dim]note: {escape(note)}[/dim]")
    if doc.get("energy"):
        _render_energy(console, doc["energy"])


def _render_energy(console, e: dict[str, Any]) -> None:
    """Joules per prefill / decode token / generated token, labelled (formatting only)."""
    from rich.markup import escape
    from rich.table import Table

    from flopwise.report.units import si_fine as _si

    t = Table(title=f"Energy: {escape(e['label'])}", title_justify="left")
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("per prefill (whole batch)", _si(e["joules_per_prefill"], "J"))
    t.add_row("per prompt token", _si(e["joules_per_prompt_token"], "J"))
    if e["joules_per_decode_step"] is not None:
        t.add_row("per decode step (whole batch)", _si(e["joules_per_decode_step"], "J"))
        t.add_row("per decode token", _si(e["joules_per_decode_token"], "J"))
    t.add_row("per generated token (prefill + decode)", _si(e["joules_per_generated_token"], "J"))
    t.add_row("average power, prefill", _si(e["prefill_power_w"], "W"))
    if e["decode_power_w"] is not None:
        t.add_row("average power, decode", _si(e["decode_power_w"], "W"))
    t.add_row(
        "windows",
        f"{e['prefills_per_window']} prefills in {_si(e['prefill_window_s'], 's')}"
        + (
            f"; {e['decode_windows']} x {e['decode_steps_per_window']} decode steps, "
            f"{_si(e['decode_window_s'], 's')} each"
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


def _render_measured_training(doc: dict[str, Any]) -> None:
    """The measured training step and its MFU by both definitions (formatting only)."""
    from rich.table import Table

    from flopwise.report.console import stdout_console
    from flopwise.report.device import describe_device
    from flopwise.report.units import si

    console = stdout_console()
    step = doc["step"]
    t = Table(
        title=f"Measured training step on {describe_device(doc['device'])} ({doc['dtype']}, "
        f"batch {doc['batch']} × {doc['seq']} tokens; {doc['what']})",
        title_justify="left",
    )
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("step time (median)", _s(step["median_s"]))
    t.add_row("spread", f"{max(step['cv'], step['rel_iqr']):.0%} (n={step['repeats']})")
    mfu = doc["mfu"]
    if mfu is not None:
        t.add_row("peak", si(mfu["peak_flops"], "FLOP/s"))
        t.add_row("MFU, PaLM (6N + 12·L·H·Q·T per token)", f"{mfu['mfu_palm']:.2%}")
        t.add_row("MFU, flopwise count (every op, fwd + bwd)", f"{mfu['mfu_counted']:.2%}")
    console.print(t)
    if not step["trustworthy"]:
        console.print(f"[dim]note: step: {step['reason']}[/dim]")


def _op_table(console, title: str, phase, roof) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in ("op", "layers", "FLOPs", "weights", "activations", "KV cache", "FLOPs/B"):
        t.add_column(col, justify="left" if col == "op" else "right", no_wrap=True)
    if roof:
        t.add_column("bound", justify="right", no_wrap=True)
    for op in phase.ops:
        name = f"{op.stack}.{op.name}" if op.stack else op.name
        cells = [
            name,
            str(op.layers),
            _fl(op.flops),
            _by(op.weight_bytes),
            _by(op.act_read + op.act_written),
            _by(op.kv_read + op.kv_written),
            "-" if not op.bytes else f"{op.intensity:.1f}",
        ]
        if roof:
            cells.append(op.bound(roof.peak_flops, roof.bandwidth))
        t.add_row(*cells)
    console.print(t)
