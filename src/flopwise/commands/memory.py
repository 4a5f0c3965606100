"""``flopwise memory MODEL``: peak memory of a step, its breakdown, and whether it fits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from flopwise.commands._options import (
    FormatOption,
    GpusOption,
    HardwareOption,
    InputOption,
    OptimizerOption,
    OutputOption,
    PipelineParallelOption,
    SequenceParallelOption,
    TensorParallelOption,
    ZeroOption,
    write_output,
)
from flopwise.errors import FlopwiseError


def register(app: typer.Typer) -> None:
    app.command("memory")(memory_command)


def memory_command(
    model: str = typer.Argument(
        ..., help="torchvision:NAME, timm:NAME, file.py:factory, ... or hf:NAME (closed forms)"
    ),
    inputs: list[str] = InputOption("Input spec, repeatable"),
    batch: int | None = typer.Option(None, "--batch", "-b", help="Batch size (leading dim)"),
    train: bool = typer.Option(False, "--train", help="Forward + backward (+ optimizer step)"),
    optimizer: str | None = OptimizerOption(),
    hardware: str | None = HardwareOption(
        help="Say whether it fits, and the largest batch (e.g. a100-80gb)"
    ),
    device: str = typer.Option("meta", help="meta (no data) or cpu (real tensors)"),
    dtype: str | None = typer.Option(
        None,
        help="Model dtype (default float32; hf: closed forms: bfloat16/float16 mixed "
        "precision, the default, or float32 as --fp32)",
    ),
    granularity: int | None = typer.Option(
        None, help="Allocator rounding in bytes (default: 512 on GPUs, 64 on CPU)"
    ),
    measure: bool = typer.Option(
        False, "--measure", help="With --device cpu: the CPU allocator's measured peak beside"
    ),
    checkpoint: str | None = typer.Option(
        None, "--checkpoint", help="With --train: modules to checkpoint, e.g. layer4,encoder.layers"
    ),
    accumulate: int = typer.Option(
        1,
        "--accumulate",
        help="With --train: micro-batches per optimizer step (gradient accumulation)",
    ),
    amp: str | None = typer.Option(
        None, "--amp", help="Mixed precision: forward under autocast to bfloat16 or float16"
    ),
    capture: bool = typer.Option(
        False, "--capture", help="hf: models: run the op stream instead of the closed forms"
    ),
    seq: int | None = typer.Option(
        None, help="hf: sequence length (tokens per sample; default 2048)"
    ),
    beyond_context: bool = typer.Option(
        False,
        "--beyond-context",
        help="hf: count a --seq beyond the config's max_position_embeddings instead of refusing it",
    ),
    zero: int = ZeroOption(),
    gpus: int = GpusOption(),
    tp: int = TensorParallelOption(),
    pp: int = PipelineParallelOption(),
    sequence_parallel: bool = SequenceParallelOption(),
    recompute: str = typer.Option("none", help="hf: activation recomputation none|selective|full"),
    fp32: bool = typer.Option(False, "--fp32", help="hf: full fp32 instead of mixed precision"),
    depth: int = typer.Option(2, help="Module tree depth shown"),
    fmt: str = FormatOption("table", "json", "html"),
    output: Path | None = OutputOption(
        "Write to this file instead of stdout (needed for html: the timeline chart)"
    ),
) -> None:
    """Peak memory of one inference or training step, split into parameters, buffers,
    gradients, optimizer state, tensors kept for backward and temporaries."""
    if fmt == "html" and output is None:
        raise FlopwiseError("--format html writes a page: give --output FILE.html")
    closed = dict(seq=seq, zero=zero, gpus=gpus, tp=tp, pp=pp, recompute=recompute)
    closed.update(sequence_parallel=sequence_parallel, fp32=fp32, beyond_context=beyond_context)
    if model.startswith("hf:") and not capture:
        if fmt == "html":
            raise FlopwiseError(
                "--format html draws the op-stream timeline; hf: closed forms have none "
                "(add --capture, or use -f table/json)"
            )
        stream = dict(input=inputs, device=device != "meta", granularity=granularity)
        stream.update(measure=measure, checkpoint=checkpoint, accumulate=accumulate != 1, amp=amp)
        _refuse_unused(stream, "the op stream (not hf: closed forms; add --capture)")
        if not train:
            _refuse_unused(
                {"optimizer": optimizer, **_training_only(closed)}, "--train (training memory)"
            )
        text = _llm_memory(model, train, optimizer, batch, hardware, fmt, dtype, closed)
    else:
        from flopwise.pipeline import run_memory

        _refuse_unused(
            {**_training_only(closed), "seq": seq, "fp32": fp32, "beyond_context": beyond_context},
            "hf: closed forms (not the op stream: drop --capture, or give an hf:NAME)",
        )
        mp = run_memory(
            model,
            inputs,
            device=device,
            dtype=dtype or "float32",
            batch=batch,
            train=train,
            optimizer=optimizer,
            hardware=hardware,
            granularity=granularity,
            measure=measure,
            checkpoint=[p.strip() for p in checkpoint.split(",") if p.strip()]
            if checkpoint
            else None,
            accumulate=accumulate,
            amp=amp,
        )
        text = _render(mp, fmt, depth)
    _emit(text, output)


def _training_only(closed: dict[str, Any]) -> dict[str, Any]:
    """The closed-form options that only training memory uses, each true when given (a
    value other than its default)."""
    return {
        "zero": closed["zero"] != 0,
        "gpus": closed["gpus"] != 1,
        "tp": closed["tp"] != 1,
        "pp": closed["pp"] != 1,
        "sequence_parallel": closed["sequence_parallel"],
        "recompute": closed["recompute"] != "none",
    }


def _refuse_unused(given: dict[str, Any], only_for: str) -> None:
    """Refuse in one line the options in ``given`` that were set (truthy) but that this run
    would ignore: they are used only by ``only_for``."""
    named = [f"--{name.replace('_', '-')}" for name, value in given.items() if value]
    if named:
        raise FlopwiseError(f"{', '.join(named)}: only used with {only_for}")


def _llm_memory(
    model: str,
    train: bool,
    optimizer: str | None,
    batch: int | None,
    hardware: str | None,
    fmt: str,
    dtype: str | None,
    closed: dict[str, Any],
) -> str:
    """An ``hf:`` model's per-GPU memory by the closed forms, rendered in ``fmt``."""
    from flopwise.pipeline import run_llm_memory
    from flopwise.pipeline.memory import llm_mixed_precision
    from flopwise.report.json import llm_memory_document
    from flopwise.report.memory import llm_memory_table

    options = dict(closed)
    options["mixed_precision"] = llm_mixed_precision(dtype, options.pop("fp32"))
    options["seq"] = 2048 if options["seq"] is None else options["seq"]
    mem = run_llm_memory(
        model,
        train=train,
        optimizer=optimizer or "adamw",
        micro_batch=1 if batch is None else batch,
        hardware=hardware,
        **options,
    )
    if fmt == "json":
        return json.dumps(llm_memory_document(mem), indent=2) + "\n"
    return llm_memory_table(mem)


def _render(mp: Any, fmt: str, depth: int) -> str:
    """An op-stream memory profile in ``fmt`` (renderers only)."""
    if fmt == "json":
        from flopwise.report.json import memory_document

        return json.dumps(memory_document(mp), indent=2) + "\n"
    if fmt == "html":
        from flopwise.report.html import render_memory_html

        return render_memory_html(mp)
    from flopwise.report.memory import memory_table

    return memory_table(mp, depth=depth)


def _emit(text: str, output: Path | None) -> None:
    """Print ``text``, or write it to ``output`` and say where."""
    if output is None:
        typer.echo(text, nl=False)
        return
    write_output(output, text)
    typer.echo(f"wrote {output}")
