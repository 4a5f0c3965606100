"""Hand-built documents in the ``flopwise.profile/1`` shape (and sweep/compare documents) for
the store, diff and HTML report tests, plus checks that the builders are self-consistent.

The figures follow ../shared/CONVENTIONS.md by hand: Linear macs = B·in·out, flops = 2·macs +
B·out (bias); conv macs = N·C_out·H·W·C_in·K²; ReLU one flop per element; fp32 bytes.
"""

from __future__ import annotations

import copy

PEAK = 124e9  # FLOP/s, fp32 GEMM on this machine (DESIGN.md)
BANDWIDTH = 26e9  # bytes/s, large copy


def _linear(path: str, batch: int, fan_in: int, fan_out: int) -> dict:
    macs = batch * fan_in * fan_out
    return {
        "path": path,
        "type": "Linear",
        "flops": 2 * macs + batch * fan_out,
        "macs": macs,
        "params": fan_in * fan_out + fan_out,
        "activations": batch * fan_out,
        "bytes_read": 4 * (batch * fan_in + fan_in * fan_out + fan_out),
        "bytes_written": 4 * batch * fan_out,
    }


def _conv(path: str, n: int, c_in: int, c_out: int, hw: int, k: int) -> dict:
    macs = n * c_out * hw * hw * c_in * k * k
    return {
        "path": path,
        "type": "Conv2d",
        "flops": 2 * macs + n * c_out * hw * hw,
        "macs": macs,
        "params": c_out * c_in * k * k + c_out,
        "activations": n * c_out * hw * hw,
        "bytes_read": 4 * (n * c_in * hw * hw + c_out * c_in * k * k + c_out),
        "bytes_written": 4 * n * c_out * hw * hw,
    }


def _elementwise(path: str, type_: str, elements: int, flops_per: int = 1) -> dict:
    return {
        "path": path,
        "type": type_,
        "flops": flops_per * elements,
        "macs": 0,
        "params": 0,
        "activations": 0,
        "bytes_read": 4 * elements,
        "bytes_written": 4 * elements,
    }


_FIELDS = ("flops", "macs", "params", "activations", "bytes_read", "bytes_written")


def build_document(
    model: str, model_type: str, leaves: list[dict], *, measured: bool, inputs: list[dict]
) -> dict:
    """A profile document from leaf rows: parents (dotted prefixes) sum their children;
    with ``measured`` each leaf gets a time 1.3-4x its roofline floor and the document gets
    end-to-end latency and hardware ceilings."""
    parents: dict[str, dict] = {"": {"path": "", "type": model_type, "depth": 0, "calls": 1}}
    order = [""]
    for leaf in leaves:
        parts = leaf["path"].split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix not in parents:
                parents[prefix] = {"path": prefix, "type": "Sequential", "depth": i, "calls": 1}
                order.append(prefix)
        leaf = {**leaf, "depth": len(parts), "calls": 1}
        parents[leaf["path"]] = leaf
        order.append(leaf["path"])
    if measured:
        for n, path in enumerate(p for p in order if p in {leaf["path"] for leaf in leaves}):
            row = parents[path]
            floor = max(row["flops"] / PEAK, (row["bytes_read"] + row["bytes_written"]) / BANDWIDTH)
            row["time_s"] = floor * (1.3 + (n * 0.7) % 2.7) + 2e-6
    for path in reversed(order):
        row = parents[path]
        kids = (
            [
                parents[p]
                for p in order
                if p.startswith(path + ".") and p.count(".") == path.count(".") + 1
            ]
            if path
            else [parents[p] for p in order if p and "." not in p]
        )
        if kids:
            for f in _FIELDS:
                row[f] = sum(k[f] for k in kids)
            if measured:
                row["time_s"] = sum(k["time_s"] for k in kids) * 1.02
    modules = [parents[p] for p in order]
    totals = {f: modules[0][f] for f in _FIELDS}
    totals["forward_flops"] = totals["flops"]
    totals["backward_flops"] = 0
    doc = {
        "schema": "flopwise.profile/1",
        "model": model,
        "inputs": inputs,
        "mode": {"phase": "forward", "tensors": "real", "device": "cpu", "grad": False},
        "convention": {"flops_per_mac": 2, "causal": "top-left", "bytes": "unfused lower bound"},
        "totals": totals,
        "modules": modules,
        "uncounted": [],
        "complete": True,
    }
    if measured:
        doc["measured"] = {
            "latency_s": {
                "median_s": modules[0]["time_s"] * 1.05,
                "min_s": modules[0]["time_s"],
                "iqr_s": modules[0]["time_s"] * 0.04,
            },
            "repeats": 20,
            "threads": 2,
            "hardware": {
                "name": "test-cpu",
                "peak_flops": {"float32": PEAK},
                "memory_bandwidth": BANDWIDTH,
            },
        }
    return doc


def mlp_document(
    hidden: int = 64, *, batch: int = 8, measured: bool = True, model: str = "tests:mlp"
) -> dict:
    """A 3-layer MLP (32 → hidden → hidden → 10) with ReLUs."""
    leaves = [
        _linear("body.fc1", batch, 32, hidden),
        _elementwise("body.act1", "ReLU", batch * hidden),
        _linear("body.fc2", batch, hidden, hidden),
        _elementwise("body.act2", "ReLU", batch * hidden),
        _linear("head", batch, hidden, 10),
    ]
    return build_document(
        model,
        "MLP",
        leaves,
        measured=measured,
        inputs=[{"name": "x", "shape": [batch, 32], "dtype": "float32"}],
    )


def cnn_document(width: int = 32, *, measured: bool = True, model: str = "tests:tinycnn") -> dict:
    """A small CNN at 1×3×64×64: convs of 3×3 and 1×1 kernels (a memory-bound 1×1 among
    them), ReLUs, a pooled classifier."""
    leaves = [
        _conv("features.0", 1, 3, width, 64, 3),
        _elementwise("features.1", "ReLU", width * 64 * 64),
        _conv("features.2", 1, width, width, 64, 3),
        _elementwise("features.3", "ReLU", width * 64 * 64),
        _conv("features.4", 1, width, 2 * width, 64, 1),
        _elementwise("features.5", "ReLU", 2 * width * 64 * 64),
        _elementwise("pool", "AdaptiveAvgPool2d", 2 * width * 64 * 64),
        _linear("classifier", 1, 2 * width, 10),
    ]
    leaves[6]["bytes_written"] = 4 * 2 * width
    leaves[6]["activations"] = 2 * width
    return build_document(
        model,
        "TinyCNN",
        leaves,
        measured=measured,
        inputs=[{"name": "x", "shape": [1, 3, 64, 64], "dtype": "float32"}],
    )


def sweep_document() -> dict:
    """A batch × resolution sweep: time grows slower than FLOPs along batch."""
    points = []
    for batch in (1, 2, 4, 8):
        for res in (64, 128, 224):
            flops = int(2.0e6 * batch * res * res)
            alpha = flops * (0.55 + 0.45 / batch) * (0.8 + 0.2 * 64 / res)
            points.append(
                {
                    "dims": {"batch": batch, "resolution": res},
                    "flops": flops,
                    "alpha_flops": alpha,
                    "bytes": int(flops / 12),
                    "time_s": alpha / 60e9,
                }
            )
    return {"schema": "flopwise.sweep/1", "model": "tests:tinycnn", "points": points}


def compare_document() -> dict:
    rows = [
        ("resnet18", 11.7e6, 3.64e9, 2.6e9, 2.5e6, 0.021, 69.8),
        ("resnet50", 25.6e6, 8.18e9, 5.9e9, 11.3e6, 0.062, 76.1),
        ("mobilenet_v2", 3.5e6, 0.60e9, 0.35e9, 6.7e6, 0.012, 71.9),
        ("efficientnet_b0", 5.3e6, 0.80e9, 0.5e9, 6.8e6, 0.025, 77.7),
        ("vgg11", 132.9e6, 15.2e9, 11.0e9, 6.9e6, 0.095, 69.0),
    ]
    return {
        "schema": "flopwise.compare/1",
        "models": [
            {
                "model": m,
                "params": int(p),
                "flops": int(f),
                "alpha_flops": a,
                "activations": int(act),
                "time_s": t,
                "accuracy": acc,
            }
            for m, p, f, a, act, t, acc in rows
        ],
        "correlations": {"flops": {"pearson": 0.93, "spearman": 0.9}},
    }


def widened(doc_builder, **kwargs) -> dict:
    return copy.deepcopy(doc_builder(**kwargs))


# --------------------------------------------------------------------------------------------


def test_builders_are_consistent():
    doc = mlp_document(64, batch=8)
    assert [m["path"] for m in doc["modules"]] == [
        "",
        "body",
        "body.fc1",
        "body.act1",
        "body.fc2",
        "body.act2",
        "head",
    ]
    fc1 = doc["modules"][2]
    assert fc1["macs"] == 8 * 32 * 64 and fc1["flops"] == 2 * 8 * 32 * 64 + 8 * 64
    assert doc["totals"]["flops"] == sum(
        m["flops"] for m in doc["modules"] if m["depth"] == 2 or m["path"] == "head"
    )
    assert doc["modules"][1]["params"] == 32 * 64 + 64 + 64 * 64 + 64
    cnn = cnn_document()
    assert (
        cnn["totals"]["macs"]
        == 1 * 32 * 64 * 64 * 3 * 9 + 32 * 64 * 64 * 32 * 9 + 64 * 64 * 64 * 32 + 64 * 10
    )
    assert all(isinstance(v, int) for v in cnn["totals"].values())
