"""Checks that need a GPU, run as one short script on a CUDA machine.

    PYTHONPATH=src python3 benchmarks/gpu_check.py                 # all sections, CUDA
    PYTHONPATH=src python3 benchmarks/gpu_check.py --device cpu    # dry run of the logic

Each section is a function ``check_*(out_dir)`` that writes its own JSON file under
``out_dir`` (default ``benchmarks/results/gpu_check``) and returns its result document.
Sections run independently: one that fails or crashes records its error and the next runs.
Without CUDA the script says so and exits 0 (nothing to check). It exits 1 when any
section fails (a counted figure differs from the independently computed integer, or an
acceptance line of issue 11 is missed).

The summary of every section goes into ``gpu_<device>.md`` (``<device>`` the GPU's name,
e.g. ``gpu_nvidia_h200.md``) in the result folder and, on CUDA, in ``benchmarks/results/``
(``--results``): figures come only from the sections' documents; a section that failed
writes its error there instead. The whole run is estimated at about 9-10 minutes on an
H200 (the memory section about 2, capped at 5; predict about 3-4: untimed on a GPU so
far); each results file is rewritten after every section, so a run cut short keeps what
it finished. ``--only`` runs a subset; the results folder keeps ``gpu_<device>.json``
beside the markdown, so a later call adds its sections to those an earlier call recorded
(each section shows when it ran).

On the lent machine (10 minutes per command at most), in two calls that each fit:

    PYTHONPATH=src python3 benchmarks/gpu_check.py --out "$OUT" --only moe_bf16 memory sdpa_backends gpu_roofline
    PYTHONPATH=src python3 benchmarks/gpu_check.py --out "$OUT" --only device_commands predict

copying the first call's ``gpu_<device>.json`` from ``$OUT`` into benchmarks/results/
of the checkout before the second call (``$OUT`` starts empty on every call; the results
folder travels with the checkout), then the second call's ``gpu_<device>.md``/``.json``
and ``memory_<device>.md`` likewise.

Sections:
- ``check_moe_bf16`` (gpu_checks_real.py): hf:tiny-mixtral in bf16, real CUDA tensors
  against meta, every total equal.
- ``check_gpu_roofline`` (gpu_checks_hw.py): host:cuda:0 ceilings, resnet50 batch 32
  floors never beaten and at least 40% of measured, device-time coverage, hf:tiny-llama
  verdict (about 2 minutes).
- ``check_sdpa_backends``: every SDPA backend (flash, memory-efficient, cuDNN, math) in
  bf16 and fp16, causal or not, with and without grouped-query attention, under
  ``no_grad``, ``inference_mode`` and autograd (forward + backward), each counted by
  flopwise and compared with the integer computed here from the definition.
- ``check_device_commands`` (gpu_checks_devices.py): sweep, compare, llm --measure (tiny-llama
  and llama-3-8b at batch 1, prompt 512, gen 32) and llm --train --measure (gpt2) on
  ``--device cuda``, each output naming the device and its peak memory; on CUDA the measured
  TTFT/TPOT have a device time by CUDA events beside the host wall time (about 1.5 minutes).
- ``check_predict`` (gpu_checks_predict.py): ``predict --calibrate --device cuda`` and the
  leave-one-model-out MAPE on issue 11's whole GPU zoo, in float32 (default TF32) and in
  bfloat16, 20 s of timing per dtype (about 3-4 minutes, most of it building the models
  and counting them on meta tensors).
- ``check_memory`` (gpu_checks_memory.py): ``flopwise memory`` predicted against
  ``torch.cuda.max_memory_allocated`` and PyTorch's MemTracker on the same step for
  resnet18, resnet50, mobilenet_v2, vit_b_16, bert-base and gpt2, inference and training,
  batch 1 and 32, with the workspace settings pinned (``CUBLAS_WORKSPACE_CONFIG`` set here
  before CUDA starts, cuDNN benchmark off) and stated; also writes
  ``memory_<device>.md`` (issue 14; about 2 minutes, at most 5: cases not started by
  then are skipped, and the file says so).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "gpu_check"
DEFAULT_RESULTS = HERE / "results"
#: Where ``main`` copies results files on CUDA (``--results``).
RESULTS_DIR = DEFAULT_RESULTS

# ---------------------------------------------------------------------------------------
# SDPA backends


def _pairs(batch: int, heads: int, lq: int, lk: int, causal: bool) -> int:
    """Attended pairs by brute force: True entries of the mask PyTorch applies."""
    mask = torch.ones(lq, lk)
    if causal:
        mask = mask.tril()  # is_causal: top-left alignment, query i sees keys 0..i
    return batch * heads * int(mask.sum().item())


class _OpNames(TorchDispatchMode):
    """Names of the ATen ops reaching a dispatch mode: which kernel PyTorch really ran."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func.__name__.split(".")[0])
        return func(*args, **(kwargs or {}))


# backend → op whose presence proves it ran (the math backend shows its softmax)
_PROOF = {
    "FLASH_ATTENTION": "_scaled_dot_product_flash_attention",
    "EFFICIENT_ATTENTION": "_scaled_dot_product_efficient_attention",
    "CUDNN_ATTENTION": "_scaled_dot_product_cudnn_attention",
    "MATH": "_safe_softmax",
}
_CPU_PROOF = {"FLASH_ATTENTION": "_scaled_dot_product_flash_attention_for_cpu", "MATH": "bmm"}
_GRAD_MODES = {
    "no_grad": torch.no_grad,
    "inference_mode": torch.inference_mode,
    "autograd": torch.enable_grad,
}


def _sdpa_case(
    device: str,
    backend_name: str,
    dtype: torch.dtype,
    causal: bool,
    gqa: bool,
    grad_mode: str,
    dropout_p: float,
    shape: tuple[int, int, int, int, int],
) -> dict[str, Any]:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    import flopwise

    batch, heads, lq, lk, e = shape
    kv_heads = heads // 2 if gqa else heads
    backend = getattr(SDPBackend, backend_name)
    grad = grad_mode == "autograd"
    gen = torch.Generator(device=device).manual_seed(0)

    def tensor(*size: int) -> torch.Tensor:
        t = torch.randn(*size, device=device, dtype=dtype, generator=gen)
        return t.requires_grad_(grad)

    q = tensor(batch, heads, lq, e)
    k = tensor(batch, kv_heads, lk, e)
    v = tensor(batch, kv_heads, lk, e)

    def call() -> torch.Tensor:
        return F.scaled_dot_product_attention(
            q, k, v, is_causal=causal, dropout_p=dropout_p, enable_gqa=gqa
        )

    case: dict[str, Any] = {
        "backend": backend_name,
        "dtype": str(dtype).removeprefix("torch."),
        "causal": causal,
        "gqa": gqa,
        "grad_mode": grad_mode,
        "dropout_p": dropout_p,
        "shape": {"B": batch, "Hq": heads, "Hk": kv_heads, "Lq": lq, "Lk": lk, "E": e},
    }
    proof = (_PROOF if device == "cuda" else _CPU_PROOF)[backend_name]
    try:
        # Which kernel runs (seen under no_grad: under inference_mode the call is whole).
        with sdpa_kernel(backend), torch.no_grad(), _OpNames() as seen:
            call()
        case["kernel_ran"] = proof in seen.names
        with sdpa_kernel(backend), _GRAD_MODES[grad_mode](), flopwise.count() as c:
            out = call()
            if grad:
                out.float().sum().backward()
    except RuntimeError as exc:  # the backend refuses this dtype/shape/GQA combination
        case["status"] = "unsupported"
        case["reason"] = str(exc).splitlines()[0][:300]
        return case
    p = _pairs(batch, heads, lq, lk, causal)
    dropout = p if dropout_p > 0 else 0
    macs = p * (e + e)
    expected = {"macs": macs, "flops": 2 * macs + 6 * p + dropout}
    ops = c.profile.ops
    fwd = [r for r in ops if r.phase == "forward" and "scaled_dot_product" in r.op]
    counted = {"macs": sum(r.macs for r in fwd), "flops": sum(r.flops for r in fwd)}
    case.update(expected=expected, counted=counted, attention_records=len(fwd))
    ok = counted == expected and len(fwd) == 1
    if grad:
        bmacs = 2 * p * (e + e)
        case["expected_backward"] = {"macs": bmacs, "flops": 2 * bmacs + 3 * p + dropout}
        bwd = [r for r in ops if r.phase == "backward" and (r.flops or r.macs)]
        case["counted_backward"] = {
            "macs": sum(r.macs for r in bwd),
            "flops": sum(r.flops for r in bwd),
            "ops": sorted({r.op for r in bwd}),
        }
        ok = (
            ok
            and {k: case["counted_backward"][k] for k in ("macs", "flops")}
            == case["expected_backward"]
        )
    case["complete"] = c.profile.complete
    case["status"] = "ok" if ok and case["kernel_ran"] and c.profile.complete else "MISMATCH"
    return case


def check_sdpa_backends(
    out_dir: Path,
    device: str = "cuda",
    shapes: list[tuple[int, int, int, int, int]] | None = None,
) -> dict[str, Any]:
    """Count every SDPA backend × dtype × causal × GQA × grad mode and compare with the
    formula integer; write ``sdpa_backends.json`` under ``out_dir``. ``shapes`` are
    (B, Hq, Lq, Lk, E); by default the issue's 2×4×128×64 and one with Lk < Lq."""
    if device == "cuda":
        backends = list(_PROOF)
        dtypes = [torch.bfloat16, torch.float16]
    else:  # dry run: the CPU flash kernel and the math backend
        backends = list(_CPU_PROOF)
        dtypes = [torch.bfloat16]
    shapes = shapes or [(2, 4, 128, 128, 64), (2, 4, 128, 96, 64)]
    cases = []
    started = time.time()
    for backend in backends:
        for dtype in dtypes:
            for shape in shapes:
                for causal in (False, True):
                    for gqa in (False, True):
                        for grad_mode in _GRAD_MODES:
                            # dropout only where it is applied: training (autograd)
                            for dropout_p in (0.0, 0.1) if grad_mode == "autograd" else (0.0,):
                                try:
                                    case = _sdpa_case(
                                        device,
                                        backend,
                                        dtype,
                                        causal,
                                        gqa,
                                        grad_mode,
                                        dropout_p,
                                        shape,
                                    )
                                except Exception:  # a flopwise failure is a finding
                                    case = {
                                        "backend": backend,
                                        "dtype": str(dtype),
                                        "causal": causal,
                                        "gqa": gqa,
                                        "grad_mode": grad_mode,
                                        "dropout_p": dropout_p,
                                        "status": "ERROR",
                                        "error": traceback.format_exc()[-2000:],
                                    }
                                cases.append(case)
    summary: dict[str, int] = {}
    for case in cases:
        summary[case["status"]] = summary.get(case["status"], 0) + 1
    doc = {
        "section": "sdpa_backends",
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "seconds": round(time.time() - started, 1),
        "summary": summary,
        "cases": cases,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sdpa_backends.json").write_text(json.dumps(doc, indent=1) + "\n")
    return doc


# ---------------------------------------------------------------------------------------


# Each section returns (ok, one summary line, markdown lines for the results file).
Section = tuple[bool, str, list[str]]


def _moe_bf16(out_dir: Path, device: str) -> Section:
    from gpu_checks_real import check_moe_bf16

    doc = check_moe_bf16(out_dir, device=device)
    if "skipped" in doc:
        return True, f"skipped: {doc['skipped']}", []
    line = f"real {doc['real']} vs meta {doc['meta']}"
    return bool(doc["all_equal"]), line, [f"- all totals equal: {doc['all_equal']}"]


def _gpu_roofline(out_dir: Path, device: str) -> Section:
    if device != "cuda":
        return True, "skipped: needs CUDA", []
    from gpu_checks_hw import _markdown, check_gpu_roofline

    doc = check_gpu_roofline(out_dir)
    body = _markdown(doc).splitlines()[1:]  # its own title dropped: the section names it
    return doc["status"] in ("pass", "skipped"), f"status {doc['status']}", body


def _sdpa_backends(out_dir: Path, device: str) -> Section:
    doc = check_sdpa_backends(out_dir, device=device)
    bad = [c for c in doc["cases"] if c["status"] not in ("ok", "unsupported")]
    for case in bad:
        print("  ", json.dumps({k: v for k, v in case.items() if k != "shape"}))
    line = f"{doc['summary']} in {doc['seconds']} s"
    return not bad, line, [f"- cases by status: {doc['summary']} ({len(bad)} bad)"]


def _device_commands(out_dir: Path, device: str) -> Section:
    from gpu_checks_devices import check_device_commands, markdown

    doc = check_device_commands(out_dir, device=device)
    for problem in doc["problems"]:
        print("  ", problem)
    return not doc["problems"], f"{len(doc['runs'])} commands run on {device}", markdown(doc)


def _predict(out_dir: Path, device: str) -> Section:
    from gpu_checks_predict import check_predict, markdown

    doc = check_predict(out_dir, device=device)
    for problem in doc["problems"]:
        print("  ", problem)
    mape = doc.get("lomo_mape") or {}
    line = "leave-one-model-out MAPE " + (
        ", ".join(f"{m:.1%} ({dtype})" for dtype, m in mape.items()) or "none (no zoo figure)"
    )
    return not doc["problems"], line, markdown(doc)


def _memory(out_dir: Path, device: str) -> Section:
    from gpu_checks_memory import check_memory, markdown, results_file, results_name

    doc = check_memory(out_dir, device=device)
    for problem in doc["problems"]:
        print("  ", problem)
    if device == "cuda":  # memory_<device>.md beside gpu_<device>.md in the repository
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / results_name(doc)).write_text(results_file(doc))
    return not doc["problems"], f"{len(doc['cases'])} configurations", markdown(doc)


# Cheapest first, so a run cut short by its time limit still brings back results. The
# roofline section measures the GPU's ceilings that predict's calibration then reuses.
SECTIONS = {
    "moe_bf16": _moe_bf16,
    "memory": _memory,
    "sdpa_backends": _sdpa_backends,
    "gpu_roofline": _gpu_roofline,
    "device_commands": _device_commands,
    "predict": _predict,
}


def device_slug(device: str) -> str:
    """``NVIDIA H200`` → ``nvidia_h200`` (``cpu`` for the dry run): the results file's name."""
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def results_markdown(device: str, outcomes: list[dict[str, Any]]) -> str:
    """The results file: one part per section run, its status, time and lines (or error)."""
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu (dry run)"
    lines = [
        f"# GPU check: {name}",
        "",
        f"- when: {when}; torch {torch.__version__}; command: "
        "`PYTHONPATH=src python3 benchmarks/gpu_check.py --out $OUT`",
        "- every figure below comes from the run's JSON documents (same folder); a failed "
        "section shows its error",
    ]
    for o in outcomes:
        status = "ok" if o["ok"] else "FAILED"
        run = f", run {o['when']}" if o.get("when") else ""
        head = f"## {o['name']}: {status} ({o['seconds']:.0f} s{run})"
        lines += ["", head, "", f"- {o['line']}"]
        lines += o["lines"]
        if o.get("error"):
            lines += ["", "```", o["error"].rstrip(), "```"]
    return "\n".join(lines) + "\n"


def merged_outcomes(previous: list[dict[str, Any]], current: list[dict[str, Any]]):
    """This run's sections, plus those an earlier run of the same device recorded and this
    one did not run (``--only`` splits the check over several calls, each under the
    device's per-call limit), in the order of ``SECTIONS``."""
    by_name = {o["name"]: o for o in previous} | {o["name"]: o for o in current}
    return [by_name[name] for name in SECTIONS if name in by_name]


def _record(args: argparse.Namespace, outcomes: list[dict[str, Any]]) -> None:
    """Write the results file (and its JSON) after a section: a run cut short by its time
    limit keeps what it finished; on CUDA also into the repository's results folder,
    merged with the sections an earlier run recorded."""
    stem = f"gpu_{device_slug(args.device)}"
    args.out.mkdir(parents=True, exist_ok=True)
    folders = [args.out]
    if args.device == "cuda":
        args.results.mkdir(parents=True, exist_ok=True)
        folders.append(args.results)
    for folder in folders:
        earlier = folder / f"{stem}.json"
        previous = json.loads(earlier.read_text()) if earlier.is_file() else []
        merged = merged_outcomes(previous, outcomes)
        earlier.write_text(json.dumps(merged, indent=1) + "\n")
        (folder / f"{stem}.md").write_text(results_markdown(args.device, merged))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result folder")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--only", nargs="*", choices=list(SECTIONS), help="sections to run")
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help="also write gpu_<device>.md here (CUDA runs only; default benchmarks/results)",
    )
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing to check (skipped).")
        return 0
    global RESULTS_DIR
    RESULTS_DIR = args.results
    sys.path.insert(0, str(HERE))  # the section modules beside this script
    if args.device == "cuda":
        # Pinned before any cuBLAS handle exists (read once, at the first one): the
        # memory section's workspace is then the same on every run, and stated.
        from gpu_checks_memory import PINNED_CUBLAS_WORKSPACE

        os.environ["CUBLAS_WORKSPACE_CONFIG"] = PINNED_CUBLAS_WORKSPACE
    outcomes = []
    for name in args.only or list(SECTIONS):
        started = time.perf_counter()
        error = None
        try:
            ok, line, lines = SECTIONS[name](args.out, args.device)
        except Exception:  # one broken section must not hide the others' results
            error = traceback.format_exc()
            print(error, file=sys.stderr)
            ok, line, lines = False, "crashed (error below)", []
        seconds = time.perf_counter() - started
        outcomes.append(
            {
                "name": name,
                "ok": ok,
                "line": line,
                "lines": lines,
                "seconds": seconds,
                "error": error,
                "when": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            }
        )
        print(f"{name}: {'ok' if ok else 'FAILED'}: {line} ({seconds:.0f} s)", flush=True)
        _record(args, outcomes)
    return 0 if all(o["ok"] for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
