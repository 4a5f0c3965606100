"""Golden outputs of the documented examples that do not time anything.

Every README and docs/*.md example command whose output depends only on counting (profile on
meta tensors, ``llm``, ``predict`` without calibration, ``hardware --list/--show``, a sweep
with ``--no-measure``, the documented input errors) is run in-process, its output normalised
for volatile fields (versions, timestamps, run ids, temporary paths), and compared with the
copy kept in ``tests/golden/``. ``tests/test_golden.py`` runs the same comparison under pytest.

    PYTHONPATH=src python scripts/record_golden.py            # compare, print what differs
    PYTHONPATH=src python scripts/record_golden.py --write    # (re)record every case
    PYTHONPATH=src python scripts/record_golden.py --write --only llm_llama3_8b_no_ops

Re-record only when a change of output is intended (a formula fix, a new notes line), and
say so in the commit message: these files are what "behaviour unchanged" is checked against.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "tests" / "golden"
REGENERATE = "PYTHONPATH=src python scripts/record_golden.py --write"

# Rich tables wrap at the console width; fix it so the text does not depend on the terminal.
COLUMNS = "120"
# Outputs that state torch's thread count (sweep) are recorded with this many threads.
THREADS = 2

# The config shown in docs/llm.md ("$ cat qwen2.5-7b.json").
QWEN_CONFIG = {
    "model_type": "qwen2",
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "vocab_size": 152064,
    "max_position_embeddings": 32768,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
}

_QWEN_RERANK = [
    "--prompt", "200", "--gen", "1", "--template-tokens", "68", "--query-tokens", "32",
    "--doc-tokens", "100", "--convention", "paper", "--candidates", "100",
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One documented command. ``formats`` are the outputs recorded: "table" runs the
    command as written, "json" adds ``-f json``; "error" records stderr and the exit code of
    a command the docs show failing. ``source`` says where the example is documented."""

    name: str
    argv: tuple[str, ...]
    source: str
    formats: tuple[str, ...] = ("table", "json")
    slow: bool = False
    files: dict[str, Any] = field(default_factory=dict)


CASES: tuple[Case, ...] = (
    Case(
        "profile_resnet50_depth1",
        ("profile", "torchvision:resnet50", "--depth", "1", "--no-save"),
        "README.md: What it prints",
    ),
    Case(
        "profile_resnet50",
        ("profile", "torchvision:resnet50", "--no-save"),
        "README.md: quick start (default depth; its JSON is the same as --depth 1)",
        formats=("table",),
    ),
    Case(
        "profile_llama3_8b_depth2",
        ("profile", "hf:llama-3-8b", "--depth", "2", "--no-save"),
        "README.md: What it prints",
        slow=True,  # an 8B-parameter graph: ~2,400 ops captured twice
    ),
    Case(
        "llm_llama3_8b_no_ops",
        (
            "llm",
            "llama-3-8b",
            "--batch",
            "1",
            "--prompt",
            "512",
            "--gen",
            "128",
            "--hardware",
            "h100",
            "--no-ops",
        ),
        "README.md: LLM costs from a config",
    ),  # fmt: skip
    Case(
        "llm_llama3_8b",
        (
            "llm",
            "llama-3-8b",
            "--batch",
            "1",
            "--prompt",
            "512",
            "--gen",
            "128",
            "--hardware",
            "h100",
        ),
        "docs/llm.md",
    ),  # fmt: skip
    Case(
        "llm_llama3_8b_batch64_no_ops",
        (
            "llm",
            "llama-3-8b",
            "--batch",
            "64",
            "--prompt",
            "512",
            "--gen",
            "128",
            "--hardware",
            "h100",
            "--no-ops",
        ),
        "docs/llm.md",
    ),  # fmt: skip
    Case(
        "llm_qwen_rerank_pointwise",
        ("llm", "{qwen2.5-7b.json}", "--rerank", "pointwise", *_QWEN_RERANK),
        "docs/llm.md: rerankers (E2R-FLOPs)",
        files={"qwen2.5-7b.json": QWEN_CONFIG},
    ),
    Case(
        "llm_qwen_rerank_setwise_heap",
        (
            "llm",
            "{qwen2.5-7b.json}",
            "--no-ops",
            "--rerank",
            "setwise",
            "--setwise-method",
            "heap",
            *_QWEN_RERANK,
            "--metric",
            "0.7",
        ),
        "docs/llm.md: rerankers (E2R-FLOPs)",
        files={"qwen2.5-7b.json": QWEN_CONFIG},
    ),  # fmt: skip
    Case(
        "llm_error_context",
        ("llm", "tiny-llama"),
        "docs/llm.md: Input checks",
        formats=("error",),
    ),
    Case(
        "llm_error_stride",
        (
            "llm",
            "tiny-llama",
            "--prompt",
            "8",
            "--gen",
            "1",
            "--rerank",
            "listwise",
            "--stride",
            "0",
        ),
        "docs/llm.md: Input checks",
        formats=("error",),
    ),  # fmt: skip
    Case(
        "predict_resnet50_h100",
        ("predict", "torchvision:resnet50", "--hardware", "h100"),
        "docs/predict.md (no calibration on this machine: the roofline floor)",
    ),
    Case("hardware_list", ("hardware", "--list"), "docs/measure.md"),
    Case("hardware_show_h100", ("hardware", "--show", "h100"), "docs/measure.md"),
    Case(
        "sweep_resnet18_no_measure",
        (
            "sweep",
            "torchvision:resnet18",
            "--dim",
            "batch=1,2,4",
            "--dim",
            "resolution=128,224",
            "--no-measure",
            "--no-save",
        ),
        "docs/sweep.md (the example's counts, without its timing)",
    ),  # fmt: skip
)

# JSON keys whose values change from run to run or machine to machine.
VOLATILE_KEYS = frozenset(
    {
        "flopwise_version",
        "torch_version",
        "python_version",
        "version_torch",
        "created",
        "created_at",
        "timestamp",
        "run_id",
        "hostname",
        "machine_id",
    }
)
_VOLATILE = "<volatile>"


def _normalise_text(text: str, tmp: str) -> str:
    """Replace the temporary directory, versions and timestamps in free text."""
    text = text.replace(tmp, "<tmp>")
    text = re.sub(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?", "<time>", text
    )
    text = re.sub(r"saved as run \d+", "saved as run <id>", text)
    # Trailing spaces come from rich padding; they carry no information.
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _normalise_json(value: Any, tmp: str) -> Any:
    """The document with volatile fields replaced by a marker and temporary paths hidden."""
    if isinstance(value, dict):
        return {
            k: (_VOLATILE if k in VOLATILE_KEYS else _normalise_json(v, tmp))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normalise_json(v, tmp) for v in value]
    if isinstance(value, str):
        return value.replace(tmp, "<tmp>")
    return value


@contextlib.contextmanager
def _isolated_env(tmp: Path) -> Iterator[None]:
    """No user store, cache, hardware profiles, host α constants or thread count leak into
    the output."""
    import torch

    overrides = {
        "FLOPWISE_DB": str(tmp / "results.sqlite"),
        "FLOPWISE_CACHE_DIR": str(tmp / "cache"),
        "FLOPWISE_HARDWARE_DIR": str(tmp / "hardware"),
        "XDG_CACHE_HOME": str(tmp / "xdg-cache"),
        "XDG_CONFIG_HOME": str(tmp / "xdg-config"),
        "XDG_DATA_HOME": str(tmp / "xdg-data"),
        "COLUMNS": COLUMNS,
        "NO_COLOR": "1",
    }
    removed = ("FORCE_COLOR", "TTY_COMPATIBLE", "FLOPWISE_DEBUG")
    saved = {k: os.environ.get(k) for k in (*overrides, *removed)}
    os.environ.update(overrides)
    for k in removed:
        os.environ.pop(k, None)
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_case(case: Case, fmt: str) -> str:
    """Run one case in this process and return its normalised output as text."""
    from flopwise.cli import main

    with tempfile.TemporaryDirectory(prefix="flopwise-golden-") as tmpdir:
        tmp = Path(tmpdir)
        for name, content in case.files.items():
            (tmp / name).write_text(json.dumps(content))
        argv = [re.sub(r"\{(.+)\}", lambda m: str(tmp / m.group(1)), a) for a in case.argv]
        if fmt == "json":
            if "--depth" in argv:  # a table option; the JSON holds every depth
                at = argv.index("--depth")
                del argv[at : at + 2]
            argv += ["--format", "json"]
        out, err = io.StringIO(), io.StringIO()
        with (
            _isolated_env(tmp),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            rc = main(argv)
        if fmt == "error":
            if rc == 0:
                raise AssertionError(f"{case.name}: documented as an error but exited 0")
            return _normalise_text(f"exit code {rc}\n{err.getvalue()}", tmpdir)
        if rc != 0:
            raise AssertionError(f"{case.name} ({fmt}) exited {rc}: {err.getvalue()}")
        if fmt == "json":
            doc = _normalise_json(json.loads(out.getvalue()), tmpdir)
            return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        return _normalise_text(out.getvalue(), tmpdir)


def golden_path(case: Case, fmt: str) -> Path:
    suffix = "json" if fmt == "json" else "txt"
    tag = ".error" if fmt == "error" else ""
    return GOLDEN_DIR / f"{case.name}{tag}.{suffix}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_differences(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Where two documents differ: integers, strings and structure exactly, floats to a
    relative 1e-9 (their last digits move with summation order, not with behaviour)."""
    both_numbers = _is_number(expected) and _is_number(actual)
    if not both_numbers and type(expected) is not type(actual):
        return [f"{where}: {expected!r} != {actual!r}"]
    if isinstance(expected, dict):
        out = []
        for k in sorted(set(expected) | set(actual)):
            if k not in actual:
                out.append(f"{where}.{k}: missing (expected {expected[k]!r:.80})")
            elif k not in expected:
                out.append(f"{where}.{k}: new key ({actual[k]!r:.80})")
            else:
                out += json_differences(expected[k], actual[k], f"{where}.{k}")
        return out
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return [f"{where}: length {len(expected)} != {len(actual)}"]
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in json_differences(e, a, f"{where}[{i}]")
        ]
    if isinstance(expected, float) or isinstance(actual, float):
        if isinstance(expected, int) != isinstance(actual, int):  # 3 vs 3.0: a type change
            return [f"{where}: {expected!r} != {actual!r} (int vs float)"]
        if not math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12):
            return [f"{where}: {expected!r} != {actual!r}"]
        return []
    return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]


def compare(case: Case, fmt: str, actual: str) -> list[str]:
    """Differences between ``actual`` and the recorded output (empty: the same)."""
    path = golden_path(case, fmt)
    if not path.exists():
        return [f"{path.relative_to(ROOT)} does not exist"]
    expected = path.read_text()
    if fmt == "json":
        return json_differences(json.loads(expected), json.loads(actual))
    if expected == actual:
        return []
    import difflib

    diff = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), "recorded", "now", lineterm="", n=1
    )
    return list(diff)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="record instead of comparing")
    parser.add_argument("--only", action="append", default=[], help="case name (repeatable)")
    args = parser.parse_args(argv)
    unknown = set(args.only) - {c.name for c in CASES}
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    failed = 0
    for case in CASES:
        if args.only and case.name not in args.only:
            continue
        for fmt in case.formats:
            actual = run_case(case, fmt)
            path = golden_path(case, fmt)
            if args.write:
                path.write_text(actual)
                print(f"wrote {path.relative_to(ROOT)}")
                continue
            diffs = compare(case, fmt, actual)
            status = "same" if not diffs else f"DIFFERS ({len(diffs)})"
            print(f"{case.name} [{fmt}]: {status}")
            for line in diffs[:40]:
                print(f"    {line}")
            failed += bool(diffs)
    if failed and not args.write:
        print(f"{failed} output(s) differ; if intended: {REGENERATE} [--only NAME]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
