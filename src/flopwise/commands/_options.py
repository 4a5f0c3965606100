"""Checks shared by the sub-commands' options: each refuses a bad value in one line (a
usage error, exit 2) before any work starts, naming the option and the value."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer


def seconds_budget(value: float | None) -> float | None:
    """``--budget``: a finite number of seconds above zero (``nan`` would never end a timing
    loop, ``inf`` never stops it)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a finite number of seconds > 0, got {value}")
    return value


def non_negative(value: int | None) -> int | None:
    """``--depth`` and other counts: ``>= 0``."""
    if value is not None and value < 0:
        raise typer.BadParameter(f"must be >= 0, got {value}")
    return value


def finite(value: float | None) -> float | None:
    """A measured or given figure that must be a finite number."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite number, got {value}")
    return value


def positive(value: float | None) -> float | None:
    """A finite number above zero (``--step-time``, ``--pue`` ...)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a finite number > 0, got {value}")
    return value


#: The one rule of every option that names a file a command writes (said in its help).
OUTPUT_RULE = "missing folders are created"


def output_file(value: Path | None) -> Path | None:
    """``--output FILE``: the path must not be a folder, and its folder must exist or be
    makeable (the nearest existing folder on the way is a folder, not a file), so a path that
    can never be written fails before the work, not after it. A missing folder is made when
    the file is written (:func:`write_output`), as ``mkdir -p`` would."""
    if value is None:
        return None
    path = value.expanduser()
    if path.is_dir():
        raise typer.BadParameter(f"{value} is a folder; give a file name")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        if ancestor == path.parent:
            raise typer.BadParameter(f"{ancestor} is a file, not a folder")
        raise typer.BadParameter(f"cannot make the folder {path.parent}: {ancestor} is a file")
    return path


def write_output(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, making its missing folders first: the rule every
    command that writes a file follows (:data:`OUTPUT_RULE`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


DEVICE_HELP = (
    "Device the model runs on: cpu, cuda[:N], meta (no weights allocated), fake, or auto "
    "(cpu when timing, meta when only counting)"
)


def device_name(value: str) -> str:
    """``--device``: one of auto, cpu, cuda, cuda:N, meta, fake (whether it can be used for
    this run is checked by the API, which knows whether the run times the model)."""
    from flopwise.pipeline import DEVICE_CHOICES, valid_device_name

    if not valid_device_name(value):
        raise typer.BadParameter(
            f"must be one of {', '.join(DEVICE_CHOICES)} or cuda:N, got {value!r}"
        )
    return value


def DeviceOption(help: str = DEVICE_HELP) -> Any:  # noqa: N802, A002 - reads like typer.Option
    """The one ``--device`` option of every command that runs a model: same name, default
    and check everywhere; ``help`` only where the device means something else (predict)."""
    return typer.Option("auto", "--device", help=help, callback=device_name)


# The options several commands share: one declaration each, so the name, default and
# meaning are the same everywhere (issue 13). A command that needs one calls the factory as
# the parameter's default, e.g. ``threads: int | None = ThreadsOption()``.


def threads_count(value: int | None) -> int | None:
    """``--threads``: a whole number of torch CPU threads >= 1 (unset: torch's current
    count, which is what every command used before it was given)."""
    if value is not None and value < 1:
        raise typer.BadParameter(f"must be >= 1, got {value}")
    return value


def ThreadsOption() -> Any:  # noqa: N802
    """``--threads N``: torch CPU threads while the command runs; default torch's count."""
    return typer.Option(
        None,
        "--threads",
        help="torch CPU threads while timing (default: torch's current count)",
        callback=threads_count,
    )


def BudgetOption(default_s: float, what: str = "timing", default_text: str | None = None) -> Any:  # noqa: N802
    """``--budget SECONDS``: the wall-clock seconds the whole command may spend on
    ``what`` (never per point or per model); unset means ``default_s`` (or what
    ``default_text`` says when the default depends on the run)."""
    default = default_text or f"{default_s:g} s"
    return typer.Option(
        None,
        "--budget",
        help=f"Seconds of {what} for the whole command (default: {default})",
        callback=seconds_budget,
    )


def one_of(*allowed: str):
    """A callback that accepts exactly one of ``allowed`` (case as written)."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in allowed:
            raise typer.BadParameter(f"must be one of {', '.join(allowed)}, got {value!r}")
        return value

    return check


def ChoiceOption(default: str | None, *allowed: str, help: str, names: tuple[str, ...] = ()) -> Any:  # noqa: N802, A002
    """A string option that takes one of ``allowed`` (a usage error otherwise), shown as
    ``[a|b|c]``; ``names`` are its flags when they differ from the parameter's name."""
    return typer.Option(
        default,
        *names,
        metavar="[" + "|".join(allowed) + "]",
        help=help,
        callback=one_of(*allowed),
    )


def FormatOption(*allowed: str, default: str | None = None) -> Any:  # noqa: N802
    """``--format/-f``: one of the formats this command renders (the first is the
    default unless ``default`` is given); any other value is a usage error."""
    return ChoiceOption(
        default or allowed[0],
        *allowed,
        names=("--format", "-f"),
        help="Output format: " + ", ".join(allowed),
    )


def OutputOption(help: str = "Write to this file instead of stdout") -> Any:  # noqa: N802, A002
    """``--output/-o FILE``: checked before any work (not a folder, its folder makeable);
    its help states the folder rule after ``help``."""
    return typer.Option(
        None, "--output", "-o", help=f"{help} ({OUTPUT_RULE})", callback=output_file
    )


INPUT_HELP = (
    "Input spec, repeatable: 1x3x224x224, input_ids=1x128:int64; "
    "input_ids=1x704@32000*576 puts token 32000 at the first 576 positions (image tokens)"
)


def InputOption(help: str = INPUT_HELP) -> Any:  # noqa: N802, A002
    """``--input/-i SPEC``, repeatable; none means the model's default input."""
    return typer.Option([], "--input", "-i", help=help)


def HardwareOption(default: str | None = None, help: str | None = None) -> Any:  # noqa: N802, A002
    """``--hardware NAME``: a hardware profile (``flopwise hardware --list``); ``host`` is
    this machine's measured profile."""
    return typer.Option(
        default,
        "--hardware",
        help=help
        or "Hardware profile: host (this machine, measured) or a name from "
        "`flopwise hardware --list` (h100, a100-80gb, ...)",
    )


# The training-memory options of ``flopwise memory hf:NAME --train`` and ``flopwise llm
# --train`` (the ZeRO and Korthikanti et al. closed forms). Their values are checked in one
# place, by the API (flopwise.memory.llm.check_parallelism), so the Python API refuses the
# same values with the same one-line message.

_TRAINING = "LLM training memory per GPU (with --train): "


def OptimizerOption() -> Any:  # noqa: N802
    """``--optimizer NAME``: the optimizer whose state the training memory counts."""
    return typer.Option(
        None,
        "--optimizer",
        metavar="[sgd|sgd-momentum|adam|adamw]",
        help="With --train: the optimizer whose state the memory counts (default: adamw for "
        "an LLM config; none for a captured model's step)",
    )


def ZeroOption() -> Any:  # noqa: N802
    """``--zero STAGE``: ZeRO stage 0-3 (0: no sharding)."""
    return typer.Option(0, "--zero", help=_TRAINING + "ZeRO stage 0-3 (0: no sharding)")


def GpusOption() -> Any:  # noqa: N802
    """``--gpus N``: GPUs in total; data parallel = gpus / (tp·pp)."""
    return typer.Option(
        1, "--gpus", help=_TRAINING + "GPUs in total, a multiple of tp·pp (dp = gpus / (tp·pp))"
    )


def TensorParallelOption() -> Any:  # noqa: N802
    """``--tp N``: tensor-parallel degree."""
    return typer.Option(1, "--tp", help=_TRAINING + "tensor-parallel degree")


def PipelineParallelOption() -> Any:  # noqa: N802
    """``--pp N``: pipeline-parallel degree."""
    return typer.Option(1, "--pp", help=_TRAINING + "pipeline-parallel degree")


def SequenceParallelOption() -> Any:  # noqa: N802
    """``--sequence-parallel``: sequence parallelism beside tensor parallelism."""
    return typer.Option(
        False, "--sequence-parallel", help=_TRAINING + "sequence parallelism (with --tp)"
    )
