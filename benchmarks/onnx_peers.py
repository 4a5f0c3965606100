"""flopwise next to onnx-tool on the same ONNX files, and onnxruntime per-node coverage.

    PYTHONPATH=src python benchmarks/onnx_peers.py              # all three models, CPU
    PYTHONPATH=src python benchmarks/onnx_peers.py --models resnet50 --repeats 20

For each model (torchvision resnet50 and vit_b_16 at 1×3×224×224, a small Llama from
``transformers.LlamaConfig`` (hidden 512, 4 layers, GQA 8/4 heads, vocab 8000) at
1×128 tokens; random weights, nothing downloaded) this
exports the module with ``torch.onnx.export(..., dynamo=True)`` into a temporary folder,
then records:

- flopwise's MACs/FLOPs of the PyTorch module (meta tensors) and of the ONNX file;
- onnx-tool's MACs and params for the same file (``Model.graph.shape_infer`` + ``profile``);
  onnx-tool counts one MAC per elementwise op and norm element too, so its total is
  expected to be a little above the contraction-only MACs;
- onnxruntime (CPU provider) per-node coverage: the sum of the profiler's per-node kernel
  times per run over the median wall time of unprofiled ``session.run`` calls (acceptance:
  85-115%), with the profiler's own overhead (profiled run median / unprofiled median - 1).

Results go to benchmarks/results/onnx_peers.md (and .json beside it).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("resnet50", "vit_b_16", "llama_small")


def build(name: str) -> tuple[Any, tuple]:
    """The PyTorch module and its example inputs, random weights (seed 0)."""
    import torch

    torch.manual_seed(0)
    if name == "llama_small":
        from transformers import LlamaConfig, LlamaForCausalLM

        cfg = LlamaConfig(
            vocab_size=8000,
            hidden_size=512,
            intermediate_size=1376,
            num_hidden_layers=4,
            num_attention_heads=8,
            num_key_value_heads=4,
            max_position_embeddings=256,
            use_cache=False,
        )
        return LlamaForCausalLM(cfg).eval(), (torch.randint(0, 8000, (1, 128)),)
    import torchvision

    return torchvision.models.get_model(name, weights=None).eval(), (torch.randn(1, 3, 224, 224),)


def onnx_tool_count(path: Path) -> dict[str, Any]:
    """onnx-tool's MACs and params for the file and how long it took; ``error`` (and no
    MACs) when onnx-tool cannot process the graph."""
    import warnings

    import onnx_tool

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # one warning per op type it does not price
            model = onnx_tool.Model(str(path))
            model.graph.shape_infer()
            model.graph.profile()
    except Exception as exc:  # a peer's failure is a result, not a crash of the benchmark
        return {"macs": None, "params": None, "error": f"{type(exc).__name__}: {exc}"[:160]}
    macs = model.graph.macs
    return {
        "macs": int(macs[0] if isinstance(macs, (list, tuple)) else macs),
        "params": int(model.graph.params),
        "seconds": time.perf_counter() - start,
    }


def one_model(name: str, folder: Path, repeats: int) -> dict[str, Any]:
    """Every figure of one model's row."""
    import torch

    import flopwise
    from flopwise.measure.options import MeasureOptions
    from flopwise.pipeline.onnx import run_onnx_profile

    model, args = build(name)
    ref = flopwise.profile(model, *args, tensors="meta")
    path = folder / f"{name}.onnx"
    torch.onnx.export(model, args, str(path), dynamo=True, verbose=False)
    start = time.perf_counter()
    counted = run_onnx_profile(str(path), [])
    count_s = time.perf_counter() - start
    measured = run_onnx_profile(
        str(path), [], measure=MeasureOptions(repeats=repeats)
    ).measured.to_dict()
    return {
        "model": name,
        "pytorch": {
            "macs": ref.totals.macs,
            "flops": ref.totals.flops,
            "params": ref.totals.params,
        },
        "flopwise_onnx": {
            "macs": counted.totals.macs,
            "flops": counted.totals.flops,
            "params": counted.totals.params,
            "complete": counted.complete,
            "uncounted": [u.op for u in counted.uncounted],
            "seconds": count_s,
        },
        "onnx_tool": onnx_tool_count(path),
        "ort": {
            "provider": measured["provider"],
            "median_s": measured["latency"]["median_s"],
            "rel_iqr": measured["latency"]["rel_iqr"],
            "repeats": measured["latency"]["repeats"],
            "coverage": measured["coverage"],
            "coverage_of_latency_median": measured["coverage_of_latency_median"],
            "profiler_overhead": measured["profiler_overhead"],
            "runtime_nodes": len(measured["nodes"]),
            "fused_counted_nodes": len(measured["fused"]),
            "runtime_only": measured["runtime_only"],
            "unmatched": measured["unmatched"],
        },
    }


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The markdown results file."""
    from flopwise.report.onnx import collapse

    lines = [
        "# ONNX: flopwise vs onnx-tool, onnxruntime per-node coverage",
        "",
        f"Run {meta['date']} on {meta['machine']} (torch {meta['torch']}, onnx {meta['onnx']}, "
        f"onnxruntime {meta['onnxruntime']}, onnx-tool {meta['onnx_tool']}); "
        "`PYTHONPATH=src python benchmarks/onnx_peers.py`.",
        "",
        "## MACs on the same files",
        "",
        "| model | PyTorch (flopwise) | ONNX (flopwise) | equal | onnx-tool | onnx-tool / flopwise | "
        "FLOPs PyTorch | FLOPs ONNX | count time flopwise | count time onnx-tool |",
        "|---|---:|---:|:-:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        pt, fo, ot = r["pytorch"], r["flopwise_onnx"], r["onnx_tool"]
        lines.append(
            f"| {r['model']} | {pt['macs']:,} | {fo['macs']:,} | "
            f"{'yes' if pt['macs'] == fo['macs'] else 'NO'} | "
            + (
                f"{ot['macs']:,} | {ot['macs'] / fo['macs']:.4f} | "
                if ot["macs"] is not None
                else f"failed ({ot['error']}) | - | "
            )
            + f"{pt['flops']:,} | {fo['flops']:,} | {fo['seconds']:.1f} s | "
            + (f"{ot['seconds']:.1f} s |" if ot.get("seconds") is not None else "- |")
        )
    lines += [
        "",
        "## onnxruntime per-node time coverage (CPU)",
        "",
        "Coverage = median over pairs of (Σ per-node kernel time of a profiled run) / (wall "
        "time of an unprofiled `run` of the same file taken just before it; acceptance "
        "85-115%). The pairs interleave two sessions, so load from other processes on this "
        "shared machine hits both sides of a pair alike. `vs latency median` divides the mean "
        "per-run node time by the latency median measured earlier (not paired).",
        "",
        "| model | provider | unprofiled median | IQR | repeats | coverage | in 85-115% | "
        "vs latency median | "
        "profiler overhead | runtime nodes | counted nodes fused | runtime-only | unmatched |",
        "|---|---|---:|---:|---:|---:|:-:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        o = r["ort"]
        ok = o["coverage"] is not None and 0.85 <= o["coverage"] <= 1.15
        lines.append(
            f"| {r['model']} | {o['provider']} | {1e3 * o['median_s']:.2f} ms | "
            f"{100 * o['rel_iqr']:.0f}% | {o['repeats']} | {100 * o['coverage']:.1f}% | "
            f"{'yes' if ok else 'NO'} | {100 * o['coverage_of_latency_median']:.1f}% | "
            f"{100 * (o['profiler_overhead'] or 0):+.1f}% | "
            f"{o['runtime_nodes']} | {o['fused_counted_nodes']} | "
            f"{collapse(o['runtime_only']) or '-'} | {len(o['unmatched'])} |"
        )
    lines += ["", *NOTES, ""]
    return "\n".join(lines)


NOTES = [
    "Notes:",
    "",
    "- MACs are contraction MACs (docs/conventions.md). The exporter folds BatchNorm into the "
    "convolutions: MACs are unchanged, FLOPs drop by the BatchNorm's own per-element work and "
    "the folded conv biases add one FLOP per output element; params lose the BatchNorm "
    "scale/shift and gain the conv biases.",
    "- The exporter decomposes `scaled_dot_product_attention` into MatMul/Softmax nodes; the "
    "MACs equal PyTorch's (dense or masked attention counts every pair either way), the FLOPs "
    "differ by the softmax/scale bookkeeping (separate elementwise ops instead of SDPA's 6 per "
    "pair).",
    "- onnx-tool counts elementwise ops, norms and pooling as MACs as well, so its total is "
    "above the contraction-only figure by that amount.",
    "- Per-node times on this 2-core shared machine vary from run to run; coverage compares "
    "sums measured in the same invocation.",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    parser.add_argument("--repeats", type=int, default=20)
    opts = parser.parse_args(argv)
    from importlib.metadata import version

    import onnx
    import onnxruntime
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in opts.models:
            print(f"{name} ...", file=sys.stderr, flush=True)
            rows.append(one_model(name, Path(tmp), opts.repeats))
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnx_tool": version("onnx-tool"),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "onnx_peers.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (RESULTS / "onnx_peers.md").write_text(render(rows, meta))
    print(render(rows, meta))


if __name__ == "__main__":
    main()
