"""GPU acceptance of floors, per-module device time and the host/device verdict (issue 11).

    python benchmarks/gpu_checks_hw.py [--out benchmarks/results]     # ~1.5-2 min on an H200

:func:`check_gpu_roofline` is what benchmarks/gpu_check.py calls. On a machine with CUDA it

1. measures this GPU's ceilings (``host:cuda:0``: GEMM per dtype incl. TF32, copy
   bandwidth with its L2 ladder, launch overhead) and merges them into the cached profile
   (each ceiling the best of all measurements);
2. profiles ``torchvision:resnet50`` at batch 32 with ``--measure`` on that profile and
   checks: the model's floor (waterline) and every module's floor at or under its measured
   time, no profile errors, the floor at least 40% of the measured time (a floor loosened by
   inflated peaks does not count), no efficiency above 100%, and per-module device time
   covering 85-115% of the uninstrumented end-to-end time (CUDA events);
3. profiles ``hf:tiny-llama`` (batch 1, 128 tokens) and checks the verdict says
   host/launch-bound with host op time covering 85-115% of the end-to-end time.

It writes ``gpu_roofline_<gpu>.json`` and ``.md`` into ``out_dir`` and returns the same
document. Without CUDA it writes a "skipped" document and returns at once.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"
CEILINGS_BUDGET_S = 30.0
RESNET_BUDGET_S = 12.0
LLM_BUDGET_S = 6.0
#: The floor must explain at least this much of the measured time.
MIN_FLOOR_SHARE = 0.40
COVERAGE_BAND = (0.85, 1.15)


def _check(name: str, ok: bool, value: Any, want: str) -> dict[str, Any]:
    return {"check": name, "ok": bool(ok), "value": value, "want": want}


def roofline_checks(measured: dict[str, Any]) -> list[dict[str, Any]]:
    """The resnet50 checks on a ``profile --measure`` document's ``measured`` block (pure:
    tested on CPU with a hand-made document)."""
    roof = measured["roofline"]
    summ = roof["summary"]
    floor_s, time_s = summ["waterline_s"], summ["measured_s"]
    beaten = [
        {"path": m["path"], "time_s": m["time_s"], "floor_s": m["floor_s"]}
        for m in roof["modules"]
        if m.get("time_s") and m["time_s"] < m["floor_s"]
    ]
    effs = [
        e
        for e in [summ.get("efficiency")]
        + [m.get("efficiency") for m in roof["modules"]]
        + [o.get("efficiency") for o in roof["ops"]]
        if e is not None
    ]
    cov = measured.get("device_coverage")
    lo, hi = COVERAGE_BAND
    return [
        _check("model floor <= measured", floor_s <= time_s, [floor_s, time_s], "floor <= time"),
        _check("every module floor <= measured", not beaten, beaten[:10], "no module beaten"),
        _check(
            "no profile errors",
            not roof.get("profile_errors"),
            len(roof.get("profile_errors") or []),
            "0",
        ),
        _check(
            f"floor >= {MIN_FLOOR_SHARE:.0%} of measured",
            time_s > 0 and floor_s / time_s >= MIN_FLOOR_SHARE,
            floor_s / time_s if time_s else None,
            f">= {MIN_FLOOR_SHARE}",
        ),
        _check(
            "no efficiency > 100%", all(e <= 1.0 for e in effs), max(effs, default=None), "<= 1"
        ),
        _check(
            "per-module device time coverage",
            cov is not None and lo <= cov <= hi,
            cov,
            f"{lo}-{hi}",
        ),
    ]


def llm_checks(measured: dict[str, Any]) -> list[dict[str, Any]]:
    """The tiny-llama checks: host/launch-bound, host time (the model's host wall: ATen ops
    and the Python issuing them) covering the end-to-end time within the band."""
    verdict = measured.get("verdict") or {}
    cov = measured.get("host_wall_coverage")
    lo, hi = COVERAGE_BAND
    return [
        _check(
            "verdict host/launch-bound",
            verdict.get("bound") == "host/launch-bound",
            verdict.get("bound"),
            "host/launch-bound",
        ),
        _check("host time coverage", cov is not None and lo <= cov <= hi, cov, f"{lo}-{hi}"),
    ]


def _profile(spec: str, inputs: list[str], budget: float) -> dict[str, Any]:
    from flopwise.pipeline import MeasureOptions, run_profile

    started = time.perf_counter()
    prof = run_profile(spec, inputs, device="cuda", measure=MeasureOptions(budget_s=budget))
    m = prof.to_dict()["measured"]  # the document block the checks read
    roof = m["roofline"]
    peaks: dict[str, int] = {}
    for o in roof["ops"]:
        if o.get("flops"):
            peaks[o.get("peak") or "?"] = peaks.get(o.get("peak") or "?", 0) + o["calls"]
    return {
        "model": spec,
        "inputs": inputs,
        "elapsed_s": time.perf_counter() - started,
        "hardware": m["hardware"]["name"],
        "latency_median_s": m["latency"]["median_s"],
        "latency_cv": m["latency"].get("cv"),
        "waterline_s": roof["summary"]["waterline_s"],
        "efficiency": roof["summary"]["efficiency"],
        "math_modes": roof["summary"].get("math_modes"),
        "op_calls_by_peak": peaks,
        "coverage": m.get("coverage"),
        "host_coverage": m.get("host_coverage"),
        "host_wall_coverage": m.get("host_wall_coverage"),
        "profiler_overhead": m.get("profiler_overhead"),
        "device_coverage": m.get("device_coverage"),
        "verdict": m.get("verdict"),
        "profile_errors": roof.get("profile_errors"),
        "remeasured": roof.get("remeasured"),
        "warnings": m.get("warnings"),
        "_measured": m,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def _markdown(doc: dict[str, Any]) -> str:
    lines = [f"# GPU roofline check ({doc.get('gpu', 'no GPU')})", "", f"- when: {doc['when']}"]
    if doc["status"] == "skipped":
        return "\n".join([*lines, f"- skipped: {doc['reason']}", ""])
    lines += [
        f"- torch {doc['torch']}, status **{doc['status']}**, {doc['elapsed_s']:.0f} s",
        "- ceilings (host:cuda:0): "
        + ", ".join(f"{k} {v / 1e12:.1f} TFLOP/s" for k, v in doc["ceilings"]["peaks"].items())
        + f"; copy {doc['ceilings']['bandwidth'] / 1e12:.2f} TB/s",
        "",
        "| model | median | floor | efficiency | device cov. | host op cov. | host wall cov. "
        "| verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"].values():
        eff = r["efficiency"]
        lines.append(
            f"| {r['model']} {' '.join(r['inputs'])} | {r['latency_median_s'] * 1e3:.3f} ms "
            f"| {r['waterline_s'] * 1e3:.3f} ms | {'-' if eff is None else f'{eff:.1%}'} "
            f"| {r['device_coverage'] or 0:.0%} | {r['host_coverage'] or 0:.0%} "
            f"| {r['host_wall_coverage'] or 0:.0%} "
            f"| {(r['verdict'] or {}).get('bound')} |"
        )
    lines += ["", "| check | ok | value | want |", "|---|---|---|---|"]
    for c in doc["checks"]:
        lines.append(
            f"| {c['check']} | {'yes' if c['ok'] else '**NO**'} | {c['value']} | {c['want']} |"
        )
    return "\n".join(lines) + "\n"


def check_gpu_roofline(out_dir: str | Path = RESULTS) -> dict[str, Any]:
    """Run the checks (see the module docstring), write JSON + markdown into ``out_dir``,
    return the document (``status``: ``pass``, ``fail`` or ``skipped``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc: dict[str, Any] = {"schema": "flopwise.gpu_roofline_check/1", "when": when}
    if not torch.cuda.is_available():
        doc.update(status="skipped", reason="torch.cuda.is_available() is False")
        stem = "gpu_roofline_none"
    else:
        from flopwise.measure import hardware as hw

        started = time.perf_counter()
        gpu = hw.device_name("cuda:0")
        doc.update(gpu=gpu, torch=torch.__version__)
        prof = hw.measure_host_profile(CEILINGS_BUDGET_S, device="cuda:0", progress=False)
        path = hw.save_profile(prof)
        merged = hw.HardwareProfile.load(path)
        doc["ceilings"] = {
            "peaks": merged.peak_flops,
            "bandwidth": merged.memory_bandwidth,
            "bandwidth_curve": merged.details.get("bandwidth_curve"),
            "launch_overhead_s": merged.launch_overhead_s,
            "warnings": merged.details.get("warnings"),
            "profile": str(path),
        }
        resnet = _profile("torchvision:resnet50", ["32x3x224x224"], RESNET_BUDGET_S)
        llm = _profile("hf:tiny-llama", ["input_ids=1x128:int64"], LLM_BUDGET_S)
        checks = roofline_checks(resnet.pop("_measured")) + llm_checks(llm.pop("_measured"))
        doc.update(
            runs={"resnet50_b32": resnet, "tiny_llama": llm},
            checks=checks,
            status="pass" if all(c["ok"] for c in checks) else "fail",
            elapsed_s=time.perf_counter() - started,
        )
        stem = f"gpu_roofline_{_slug(gpu)}"
    (out_dir / f"{stem}.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    (out_dir / f"{stem}.md").write_text(_markdown(doc))
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    doc = check_gpu_roofline(args.out)
    print(_markdown(doc))
    return 0 if doc["status"] in ("pass", "skipped") else 1


if __name__ == "__main__":
    sys.exit(main())
