"""Write tests/data/cuda_profiler_trace.json: *synthetic* CUDA profiler traces.

    PYTHONPATH=src python scripts/synth_cuda_trace.py

No GPU was available when the host/device split was written, so this trace is built by hand
in the structure torch.profiler gives on CUDA (the same rows as
scripts/record_profiler_trace.py writes from a real CPU trace):

- ``flopwise.module::<path>`` ranges (CPU only) enclose the ATen ops of each module;
- each ATen op's ``cpu_time_total`` is its own host time plus its children's;
- ``cudaLaunchKernel`` runtime events are CPU children of the op that launches a kernel and
  carry no device time themselves;
- the kernel's device time is credited to that ATen op (``self_device_time_total``) and,
  inclusively, to every ATen ancestor (``device_time_total``), as torch does when it links
  kernels to ops by correlation id;
- the kernels also appear as their own events (device time only, no CPU parent), as do
  runtime calls outside every range (``cudaDeviceSynchronize``).

Each case also states the uninstrumented end-to-end time (``reference_s``, what CUDA events
around plain calls would give) and the profiled call's wall time. The per-op host and kernel
microseconds are the SPEC below; tests/test_host_device_time.py lists the sums expected
from them, worked out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "cuda_profiler_trace.json"
LAUNCH_US = 5.0  # host time of one cudaLaunchKernel


def op(name, host_us, *children, kernel=None):
    """An ATen op: own host µs, children, and optionally one kernel (name, µs) it launches
    (through a cudaLaunchKernel child)."""
    kids = list(children)
    if kernel is not None:
        kids.append(("launch", kernel))
    return ("op", name, host_us, kids)


def rng(path, glue_us, *children):
    """A module range: ``glue_us`` of its own CPU time (hooks, Python between ops)."""
    return ("range", path, glue_us, list(children))


def linear(kernel_us, name="aten::mm"):
    return op("aten::linear", 2, op("aten::t", 3), op(name, 6, kernel=("sm90_gemm", kernel_us)))


SPEC = {
    # A conv net at batch 32: long kernels, little host work -> device-bound.
    "device_bound_cnn": {
        "modules": {"": "Net", "conv": "Conv2d", "relu": "ReLU", "fc": "Linear"},
        "reference_s": 1040e-6,
        "wall_s": 1100e-6,
        "tree": rng(
            "",
            20,
            rng(
                "conv",
                4,
                op(
                    "aten::conv2d",
                    2,
                    op(
                        "aten::convolution",
                        2,
                        op(
                            "aten::_convolution",
                            3,
                            op(
                                "aten::cudnn_convolution",
                                5,
                                kernel=("sm90_xmma_fprop_implicit_gemm_tf32", 800),
                            ),
                        ),
                    ),
                ),
            ),
            rng(
                "relu",
                4,
                op(
                    "aten::relu",
                    3,
                    op("aten::clamp_min", 4, kernel=("vectorized_elementwise_kernel", 150)),
                ),
            ),
            op("aten::flatten", 3, op("aten::view", 2)),
            rng(
                "fc",
                4,
                op(
                    "aten::linear",
                    2,
                    op("aten::t", 3),
                    op("aten::addmm", 5, kernel=("sm90_gemm", 50)),
                ),
            ),
        ),
    },
    # One decoder layer of a tiny LM at batch 1: many short kernels, each launched by
    # 10-30 µs of host work -> host/launch-bound.
    "host_bound_tiny_lm": {
        "modules": {
            "": "TinyLM",
            "embed": "Embedding",
            "layers": "ModuleList",
            "layers.0": "DecoderLayer",
            "layers.0.attn": "Attention",
            "layers.0.mlp": "MLP",
            "norm": "RMSNorm",
            "lm_head": "Linear",
        },
        "reference_s": 220e-6,
        "wall_s": 400e-6,
        "tree": rng(
            "",
            15,
            rng(
                "embed",
                4,
                op(
                    "aten::embedding",
                    6,
                    op("aten::index_select", 8, kernel=("index_select_kernel", 3)),
                ),
            ),
            rng(
                "layers.0",
                4,
                rng(
                    "layers.0.attn",
                    6,
                    linear(5),
                    linear(4),
                    op(
                        "aten::scaled_dot_product_attention",
                        10,
                        op(
                            "aten::_scaled_dot_product_flash_attention",
                            12,
                            kernel=("flash_fwd_kernel", 8),
                        ),
                    ),
                ),
                rng(
                    "layers.0.mlp",
                    5,
                    linear(6),
                    op("aten::silu", 7, kernel=("silu_kernel", 2)),
                    linear(6),
                ),
                op("aten::add", 7, kernel=("add_kernel", 2)),
            ),
            rng(
                "norm",
                4,
                op("aten::pow", 6, kernel=("pow_kernel", 2)),
                op("aten::mean", 8, kernel=("reduce_kernel", 3)),
                op("aten::rsqrt", 6, kernel=("rsqrt_kernel", 1)),
                op("aten::mul", 6, kernel=("mul_kernel", 2)),
            ),
            rng("lm_head", 4, linear(20)),
        ),
    },
}


def flatten(tree) -> tuple[list[dict], list[dict]]:
    """Pre-order rows with parent indices and consistent inclusive totals, plus the kernel
    events (device only)."""
    rows: list[dict] = []
    kernels: list[dict] = []

    def visit(node, parent):
        kind = node[0]
        if kind == "launch":
            name, us = node[1]
            kernels.append(_row(name, 0.0, 0.0, us, us, None))
            rows.append(_row("cudaLaunchKernel", LAUNCH_US, LAUNCH_US, 0.0, 0.0, parent))
            return LAUNCH_US, 0.0, us  # host, device (inclusive), kernel for the parent op
        _, name, own_us, children = node
        label = "flopwise.module::" + name if kind == "range" else name
        index = len(rows)
        rows.append(_row(label, own_us, 0.0, 0.0, 0.0, parent))
        host, device, own_kernel = own_us, 0.0, 0.0
        for child in children:
            h, d, k = visit(child, index)
            host += h
            device += d
            own_kernel += k
        if kind == "range":  # ranges run no kernels; their ops' kernels count inclusively
            own_kernel = 0.0
        device += own_kernel
        rows[index].update(
            cpu_time_total=host, device_time_total=device, self_device_time_total=own_kernel
        )
        return host, device, 0.0

    visit(tree, None)
    return rows, kernels


def _row(name, self_cpu, cpu, self_dev, dev, parent) -> dict:
    return {
        "name": name,
        "self_cpu_time_total": self_cpu,
        "cpu_time_total": cpu,
        "self_device_time_total": self_dev,
        "device_time_total": dev,
        "parent": parent,
        "sequence_nr": -1,
    }


def main() -> None:
    cases = {}
    for name, spec in SPEC.items():
        rows, kernels = flatten(spec["tree"])
        outside = _row("cudaDeviceSynchronize", 30.0, 30.0, 0.0, 0.0, None)
        cases[name] = {
            "train": False,
            "device": "cuda:0",
            "wall_s": spec["wall_s"],
            "reference_s": spec["reference_s"],
            "modules": spec["modules"],
            "events": rows + [outside] + kernels,
        }
    doc = {
        "recorded_with": {"synthetic": "scripts/synth_cuda_trace.py (no GPU was available)"},
        "units": "event times in microseconds (torch.profiler); wall_s, reference_s in seconds",
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({sum(len(c['events']) for c in cases.values())} events)")


if __name__ == "__main__":
    main()
