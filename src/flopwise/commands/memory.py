"""``flopwise memory MODEL``: peak memory of a step, its breakdown, and whether it fits."""

from __future__ import annotations

import json
from enum import Enum

import typer

from flopwise.errors import FlopwiseError


class MemoryFormat(str, Enum):
    table = "table"
    json = "json"
    html = "html"


def register(app: typer.Typer) -> None:
    app.command("memory")(memory_command)


def memory_command(
    model: str = typer.Argument(
        ..., help="torchvision:NAME, timm:NAME, file.py:factory, ... or hf:NAME (closed forms)"
    ),
    inputs: list[str] = typer.Option([], "--input", "-i", help="Input spec, repeatable"),
    batch: int | None = typer.Option(None, "--batch", "-b", help="Batch size (leading dim)"),
    train: bool = typer.Option(False, "--train", help="Forward + backward (+ optimizer step)"),
    optimizer: str | None = typer.Option(
        None, "--optimizer", help="With --train: sgd, sgd-momentum, adam, adamw"
    ),
    hardware: str | None = typer.Option(
        None, "--hardware", help="Say whether it fits, and the largest batch (e.g. a100-80gb)"
    ),
    device: str = typer.Option("meta", help="meta (no data) or cpu (real tensors)"),
    dtype: str = typer.Option("float32", help="Model dtype"),
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
    seq: int = typer.Option(2048, help="hf: sequence length (tokens per sample)"),
    zero: int = typer.Option(0, "--zero", help="hf: ZeRO stage 0-3"),
    gpus: int = typer.Option(1, "--gpus", help="hf: GPUs in total (dp = gpus / (tp·pp))"),
    tp: int = typer.Option(1, "--tp", help="hf: tensor-parallel degree"),
    pp: int = typer.Option(1, "--pp", help="hf: pipeline-parallel degree"),
    sequence_parallel: bool = typer.Option(False, "--sequence-parallel", help="hf: with --tp"),
    recompute: str = typer.Option("none", help="hf: activation recomputation none|selective|full"),
    fp32: bool = typer.Option(False, "--fp32", help="hf: full fp32 instead of mixed precision"),
    depth: int = typer.Option(2, help="Module tree depth shown"),
    fmt: MemoryFormat = typer.Option(
        MemoryFormat.table, "--format", "-f", help="table, json, or html (timeline chart)"
    ),
    output: str | None = typer.Option(
        None, "--output", "-o", help="Write to this file instead of stdout (needed for html)"
    ),
) -> None:
    """Peak memory of one inference or training step, split into parameters, buffers,
    gradients, optimizer state, tensors kept for backward and temporaries."""
    from flopwise.pipeline import OPTIMIZERS
    from flopwise.report.memory import llm_memory_table, memory_table

    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise FlopwiseError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
    if fmt is MemoryFormat.html and output is None:
        raise FlopwiseError("--format html writes a page: give --output FILE.html")
    if model.startswith("hf:") and not capture:
        from flopwise.pipeline import run_llm_memory

        if fmt is MemoryFormat.html:
            raise FlopwiseError(
                "--format html draws the op-stream timeline; hf: closed forms have none "
                "(add --capture, or use -f table/json)"
            )

        if recompute not in ("none", "selective", "full"):
            raise FlopwiseError("--recompute must be none, selective or full")
        doc = run_llm_memory(
            model,
            train=train,
            optimizer=optimizer or "adamw",
            micro_batch=batch or 1,
            seq=seq,
            zero=zero,
            gpus=gpus,
            tp=tp,
            pp=pp,
            sequence_parallel=sequence_parallel,
            recompute=recompute,
            mixed_precision=not fp32,
            hardware=hardware,
        )
        text = (
            json.dumps(doc, indent=2) + "\n" if fmt is MemoryFormat.json else llm_memory_table(doc)
        )
        _emit(text, output)
        return
    from flopwise.pipeline import run_memory

    mp = run_memory(
        model,
        inputs,
        device=device,
        dtype=dtype,
        batch=batch,
        train=train,
        optimizer=optimizer,
        hardware=hardware,
        granularity=granularity,
        measure=measure,
        checkpoint=[p.strip() for p in checkpoint.split(",") if p.strip()] if checkpoint else None,
        accumulate=accumulate,
        amp=amp,
    )
    if fmt is MemoryFormat.json:
        _emit(json.dumps(mp.to_dict(), indent=2) + "\n", output)
    elif fmt is MemoryFormat.html:
        from flopwise.report.html import render_memory_html

        _emit(render_memory_html(mp), output)
    else:
        _emit(memory_table(mp, depth=depth), output)


def _emit(text: str, output: str | None) -> None:
    """Print ``text``, or write it to ``output`` and say where."""
    if output is None:
        typer.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    typer.echo(f"wrote {output}")
