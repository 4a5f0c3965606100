"""``flopwise llm MODEL_CONFIG``: analytic prefill/decode/training/reranking cost of a
transformer from its config alone (no weights, no forward pass)."""

from __future__ import annotations

import math
from typing import Any

import typer

from flopwise.commands._options import (
    ChoiceOption,
    DeviceOption,
    FormatOption,
    GpusOption,
    HardwareOption,
    OptimizerOption,
    PipelineParallelOption,
    SequenceParallelOption,
    TensorParallelOption,
    ThreadsOption,
    ZeroOption,
)
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps


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
    hardware: str | None = HardwareOption(
        help="Hardware profile for roofline times (e.g. h100, a100, l4); with --measure "
        "default host (the measured device's profile)"
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
    optimizer: str | None = OptimizerOption(),
    zero: int = ZeroOption(),
    gpus: int = GpusOption(),
    tp: int = TensorParallelOption(),
    pp: int = PipelineParallelOption(),
    sequence_parallel: bool = SequenceParallelOption(),
    step_time: float | None = typer.Option(
        None, help="With --train and --hardware: measured seconds per step, for MFU"
    ),
    rerank: str | None = ChoiceOption(
        None,
        "pointwise",
        "listwise",
        "setwise",
        names=("--rerank",),
        help="Reranking cost per query (E2R-FLOPs): pointwise/listwise/setwise",
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
    setwise_method: str = ChoiceOption(
        "bubble", "bubble", "heap", help="--rerank setwise: bubble sort or heapsort"
    ),
    heap_order: str = ChoiceOption(
        "reversed",
        "reversed",
        "sorted",
        help="--setwise-method heap: relevance order the heapsort is run on (reversed: the "
        "first stage's order is the LLM's reversed; sorted: the same)",
    ),
    convention: str = ChoiceOption(
        "flopwise",
        "flopwise",
        "paper",
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
    threads: int | None = ThreadsOption(),
    fmt: str = FormatOption("table", "json"),
) -> None:
    """Prefill and decode cost of a transformer from its config: FLOPs, bytes, KV cache,
    memory, roofline times; training and reranking costs on request; measured TTFT/TPOT
    with --measure."""
    from flopwise.pipeline import llm as api

    _refuse_unused(
        window_mode=window_mode,
        convention=convention,
        train=train,
        hardware=hardware,
        rerank=rerank,
        recompute=recompute,
        step_time=step_time,
        metric=metric,
    )
    training = api.TrainingRequest(
        recompute=recompute,
        optimizer=optimizer or "adamw",  # the default: unset and adamw alike
        zero=zero,
        gpus=gpus,
        tp=tp,
        pp=pp,
        sequence_parallel=sequence_parallel,
        step_time=step_time,
    )
    if not train:
        _refuse_training_memory_options(training)
    options = _measure_options(
        measure,
        device=device,
        repeats=repeats,
        warmup=warmup,
        threads=threads,
        energy=energy,
        train=train,
        unmeasured={
            "--rerank": rerank is not None,
            "--recompute": recompute,
            "--step-time": step_time is not None,
            "--weight-dtype": weight_dtype is not None,
            "--kv-dtype": kv_dtype is not None,
        },
    )
    request = api.LLMRequest(
        model,
        batch=batch,
        prompt=prompt,
        gen=gen,
        dtype=dtype,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        hardware=hardware,
        window_mode=window_mode,
        beyond_context=beyond_context,
        train=training if train else None,
        rerank=_rerank_request(
            rerank,
            candidates=candidates,
            query_tokens=query_tokens,
            doc_tokens=doc_tokens,
            template_tokens=template_tokens,
            output_tokens=output_tokens,
            window=window,
            stride=stride,
            set_size=set_size,
            top_k=top_k,
            method=setwise_method,
            order=heap_order,
            convention=convention,
            metric=metric,
        ),
    )
    try:
        result = api.run_llm(request, options, device=device)
    except api.BadLLMArgument as exc:
        raise _as_option(exc) from exc
    _write(result, fmt, ops)


# The --rerank options by their RerankRequest field, where that differs from the option.
_RERANK_OPTION = {"method": "setwise_method", "order": "heap_order"}


def _rerank_request(style: str | None, **options: Any) -> Any:
    """The RerankRequest of ``--rerank STYLE``; without it, None, refusing in one line the
    --rerank options given (a value other than the default) that would be ignored."""
    from flopwise.pipeline.llm import RerankRequest

    if style is not None:
        return RerankRequest(style, **options)
    default = RerankRequest("pointwise")
    given = [
        "--" + _RERANK_OPTION.get(k, k).replace("_", "-")
        for k, v in options.items()
        if v != getattr(default, k)
    ]
    if given:
        raise FlopwiseError(f"{', '.join(given)}: only used with --rerank STYLE; add --rerank")
    return None


def _write(result: Any, fmt: str, with_ops: bool) -> None:
    """Print the result as ``fmt`` (table or json) on stdout."""
    from flopwise.report.json import llm_document
    from flopwise.report.llm import render_llm

    if fmt == "json":
        typer.echo(dumps(llm_document(result, with_ops)))
    else:
        typer.echo(render_llm(result, with_ops), nl=False)


def _as_option(exc) -> FlopwiseError:
    """The API's error with its field named as the command-line option (``doc_tokens`` →
    ``--doc-tokens``); fields that are no option (``prompt + gen``) keep their words."""
    field = exc.field
    if field.isidentifier():
        field = "--" + field.replace("_", "-")
    return FlopwiseError(f"{field} = {exc.value!r}: {exc.requirement}")


def _refuse_training_memory_options(training: Any) -> None:
    """Without --train, refuse the options only training memory uses, naming those given."""
    from flopwise.pipeline.llm import TrainingRequest

    default = TrainingRequest()
    names = ("optimizer", "zero", "gpus", "tp", "pp", "sequence_parallel")
    given = [n for n in names if getattr(training, n) != getattr(default, n)]
    if given:
        options = ", ".join("--" + n.replace("_", "-") for n in given)
        raise FlopwiseError(f"{options}: only used with --train (training memory); add --train")


def _measure_options(
    measure: bool,
    *,
    device: str,
    repeats: int,
    warmup: int,
    threads: int | None,
    energy: bool,
    train: bool,
    unmeasured: dict[str, bool],
) -> Any:
    """The MeasureOptions of a --measure run (None without --measure), refusing in one line
    what --measure cannot honour and the measuring options given without it."""
    from flopwise.pipeline.llm import MeasureOptions

    if not measure:
        if device != "auto" or repeats != 5 or warmup != 1 or energy or threads is not None:
            raise FlopwiseError(
                "--device, --threads, --energy, --repeats and --warmup are only used with --measure"
            )
        return None
    # --measure times the model as built at --dtype (inference, or with --train plain
    # training steps)
    given = [option for option, on in unmeasured.items() if on]
    if given:
        raise FlopwiseError(
            f"{given[0]} is not measured: --measure times the model built at --dtype "
            "(prefill and decode, or with --train plain training steps); drop one of them"
        )
    if repeats < 1 or warmup < 0:
        raise FlopwiseError("--repeats must be >= 1 and --warmup >= 0")
    if energy and train:
        raise FlopwiseError(
            "--energy measures generation (prefill and decode), not --train steps; drop one of them"
        )
    return MeasureOptions(repeats=repeats, warmup=warmup, threads=threads, energy=energy)


def _refuse_unused(
    *, window_mode, convention, train, hardware, rerank, recompute, step_time, metric
) -> None:
    """Refuse, in one line, an option this run would silently ignore or cannot take
    (checked before the config is read, so the message is about the option)."""
    if window_mode not in ("skip", "mask"):
        raise FlopwiseError(f"--window-mode = {window_mode!r}: must be skip or mask")
    if rerank is None and convention != "flopwise":
        raise FlopwiseError(f"--convention = {convention!r}: applies to --rerank only")
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
