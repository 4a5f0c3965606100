"""GPU check: every command that runs a model, on ``--device cuda`` (issue 11's acceptance).

Runs through the CLI, as a user would, each with ``--format json``:

- ``sweep torchvision:resnet18 --dim batch=1,8,32``
- ``compare`` on resnet18, mobilenet_v2 and resnet50
- ``llm tiny-llama --measure`` and, on CUDA, ``llm llama-3-8b --measure --batch 1 --prompt
  512 --gen 32`` (measured TTFT/TPOT beside the roofline, host vs device)
- ``llm gpt2 --train --measure`` (PaLM MFU beside flopwise's count)

and checks the structure (each output names the device; on CUDA a peak memory and a device
time; gaps are measured / floor), never a timing value. ``--device cpu`` is a dry run on
tiny sizes. Writes ``device_commands.json`` in the result folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any


def _cli_json(*argv: str) -> dict[str, Any]:
    from flopwise.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(list(argv))
    if code != 0:
        raise RuntimeError(f"flopwise {' '.join(argv)} exited {code}")
    return json.loads(buf.getvalue())


def _device_ok(block: dict[str, Any], device: str) -> list[str]:
    problems = []
    if not str(block.get("name", "")).startswith(device):
        problems.append(f"device {block.get('name')!r}, expected {device}")
    if device == "cuda" and not block.get("peak_memory_bytes"):
        problems.append("no CUDA peak memory")
    return problems


def check_device_commands(out_dir: Path, device: str = "cuda") -> dict[str, Any]:
    """Run the commands on ``device``; returns (and writes) the result document."""
    gpu = device == "cuda"
    quiet = ("--no-progress",)
    runs: dict[str, Any] = {}
    problems: list[str] = []

    def run(name: str, *argv: str) -> dict[str, Any] | None:
        t0 = time.perf_counter()
        try:
            doc = _cli_json(*argv)
        except Exception as exc:  # one failed command must not hide the others
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            return None
        runs[name] = {"argv": list(argv), "seconds": round(time.perf_counter() - t0, 1)}
        return doc

    batches = "batch=1,8,32" if gpu else "batch=1,2"
    sweep = run(
        "sweep", "sweep", "torchvision:resnet18", "--device", device, "--dim", batches,
        "--budget", "1", "-f", "json", "--no-save", *quiet,
    )  # fmt: skip
    if sweep is not None:
        problems += [f"sweep: {p}" for p in _device_ok(sweep["device"], device)]
        runs["sweep"]["device"] = sweep["device"]
        runs["sweep"]["seconds_per_point"] = {p["value"]: p["seconds"] for p in sweep["points"]}

    models = ("torchvision:resnet18", "torchvision:mobilenet_v2", "torchvision:resnet50")
    compare = run(
        "compare", "compare", *(models if gpu else models[:2]), "--device", device,
        "--budget", "6" if gpu else "2", "-f", "json", "--no-save", *quiet,
    )  # fmt: skip
    if compare is not None:
        problems += [f"compare: {p}" for p in _device_ok(compare["device"], device)]
        runs["compare"]["device"] = compare["device"]
        runs["compare"]["median_s"] = {r["label"]: r["median_s"] for r in compare["rows"]}

    llms = [("llm_tiny", "tiny-llama", "1", "64", "8")]
    if gpu:
        llms.append(("llm_llama3_8b", "llama-3-8b", "1", "512", "32"))
    for name, model, batch, prompt, gen in llms:
        doc = run(
            name, "llm", model, "--measure", "--device", device, "--batch", batch,
            "--prompt", prompt, "--gen", gen, "--repeats", "3", "--no-ops", "-f", "json",
        )  # fmt: skip
        if doc is None:
            continue
        m = doc["measured"]
        problems += [f"{name}: {p}" for p in _device_ok(m["device"], device)]
        for ph in m["phases"]:
            if gpu and ph["device_s"] is None:
                problems.append(f"{name}: {ph['name']} has no kernel time on CUDA")
            if gpu and ph.get("device_time_method") != "cuda events":
                problems.append(f"{name}: {ph['name']} device time is not by CUDA events")
            if (
                ph["gap"] is not None
                and abs(ph["gap"] * ph["roofline_floor_s"] - ph["measured_s"]) > 1e-12
            ):
                problems.append(f"{name}: {ph['name']} gap is not measured / floor")
        runs[name]["device"] = m["device"]
        runs[name]["roofline_hardware"] = m["roofline_hardware"]
        runs[name]["phases"] = m["phases"]
        runs[name]["notes"] = m["notes"]
        runs[name]["device_timer"] = m["timing"].get("device_timer")

    train = run(
        "llm_train", "llm", "gpt2" if gpu else "tiny-gpt2", "--train", "--measure", "--device",
        device, "--batch", "8" if gpu else "1", "--prompt", "512" if gpu else "16",
        "--repeats", "3", "--no-ops", "-f", "json",
    )  # fmt: skip
    if train is not None:
        mt = train["measured_training"]
        problems += [f"llm_train: {p}" for p in _device_ok(mt["device"], device)]
        step_dev = mt.get("step_device") or {}
        runs["llm_train"].update(
            device=mt["device"],
            step=mt["step"]["median_s"],
            step_device=step_dev.get("median_s"),
            mfu=mt["mfu"],
        )

    doc = {"device": device, "problems": problems, "runs": runs}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "device_commands.json").write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e3:.3f} ms"


def markdown(doc: dict[str, Any]) -> list[str]:
    """The results-file lines of this section (figures from ``doc`` only)."""
    runs = doc["runs"]
    lines = [f"- problems: {len(doc['problems'])}", *(f"  - {p}" for p in doc["problems"])]
    for name in ("sweep", "compare"):
        if name in runs:
            r = runs[name]
            lines.append(
                f"- `{' '.join(r['argv'][:3])} ...` on {r['device'].get('name')} "
                f"(peak memory {r['device'].get('peak_memory_bytes')} B), {r['seconds']} s"
            )
    for r in runs.values():
        if "phases" not in r:
            continue
        lines += [
            "",
            f"`flopwise {' '.join(r['argv'])}` on {r['device'].get('name')} (floor: "
            f"{r['roofline_hardware']}; device time: {r['device_timer']})",
            "",
            "| phase | measured (host wall) | device (events) | kernels | roofline floor "
            "| gap | bound |",
            "|---|---|---|---|---|---|---|",
        ]
        for ph in r["phases"]:
            gap = ph["gap"]
            lines.append(
                f"| {ph['name']} | {_ms(ph['measured_s'])} | {_ms(ph.get('device_time_s'))} "
                f"| {_ms(ph['device_s'])} | {_ms(ph['roofline_floor_s'])} "
                f"| {'-' if gap is None else f'{gap:.2f}x'} | {ph['bound']} |"
            )
    if "llm_train" in runs:
        r = runs["llm_train"]
        mfu = r.get("mfu") or {}
        palm, counted = mfu.get("mfu_palm"), mfu.get("mfu_counted")
        lines.append(
            f"- `flopwise {' '.join(r['argv'])}`: step {_ms(r['step'])} (device "
            f"{_ms(r.get('step_device'))}); MFU PaLM "
            f"{'-' if palm is None else f'{palm:.1%}'}, flopwise count "
            f"{'-' if counted is None else f'{counted:.1%}'}"
        )
    return lines
