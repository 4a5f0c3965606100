"""Timing an ONNX file with onnxruntime, and joining its per-node times to counted nodes.

End-to-end latency comes from plain ``session.run`` calls through
:func:`flopwise.measure.timing.measure_latency` (the statistics every PyTorch run gets).
Per-node times come from a second session with onnxruntime's profiler on: its JSON trace
has one ``*_kernel_time`` event per executed node and run. onnxruntime rewrites the graph
before running it (Conv+Relu fusion, NCHWc layouts), so its nodes are named after the
nodes or the output values they came from, with suffixes (``relu_nchwc``); the join
strips them, and a counted node with no runtime node of its own is mapped to the one it
was fused into: the first matched node downstream of it (else upstream). What matches
nothing either way is listed, never dropped silently.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flopwise.errors import MissingDependency

#: Suffixes onnxruntime appends to a node's name when it rewrites it.
_SUFFIXES = re.compile(r"(_nchwc|_token_\d+|_fused|_kernel_time|/\w+Fusion/?)$")
#: Prefixes it puts in front (Gemm+Relu becomes ``FusedGemm`` named ``fused <Gemm's name>``).
_PREFIXES = re.compile(r"^fused ")


#: Data-movement op types: onnxruntime folds them into the node that reads them.
MOVEMENT = frozenset(
    [
        "Reshape",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Flatten",
        "Identity",
        "Cast",
        "Slice",
        "Concat",
        "Expand",
        "Gather",
        "Split",
        "Shape",
        "Constant",
        "Dropout",
    ]
)

CONTRACTIONS = frozenset(["Conv", "ConvTranspose", "MatMul", "Gemm"])


@dataclass
class CountedNode:
    """One ONNX node as counted: the sums of its records."""

    name: str
    op_type: str
    path: str
    inputs: list[str]
    outputs: list[str]
    flops: int = 0
    macs: int = 0
    bytes: int = 0
    #: names and outputs of the graph nodes this counted node stands for (an exported
    #: attention group counted as one SDPA call): onnxruntime runs and names those
    aliases: list[str] = field(default_factory=list)
    alias_outputs: list[str] = field(default_factory=list)


@dataclass
class RuntimeNode:
    """One node onnxruntime ran, its time summed over the profiled runs."""

    name: str
    op_type: str
    provider: str
    total_us: float = 0.0
    calls: int = 0


@dataclass
class NodeJoin:
    """Per-node times joined to counted nodes.

    ``primary``: runtime node → the counted node it is named after; ``fused``: counted node
    → the runtime node it was fused into; ``runtime_only``: runtime nodes matching no
    counted node (layout reorders, copies); ``unmatched``: counted nodes with no time."""

    primary: dict[str, str] = field(default_factory=dict)  # several may name one node
    fused: dict[str, str] = field(default_factory=dict)
    runtime_only: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def parse_profile(events: list[dict[str, Any]]) -> tuple[dict[str, RuntimeNode], list[float]]:
    """Runtime nodes from an onnxruntime profile trace, and each ``model_run``'s duration
    (seconds). Times are summed over every run in the trace."""
    nodes: dict[str, RuntimeNode] = {}
    runs = []
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            runs.append(event["dur"] / 1e6)
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        name = event["name"][: -len("_kernel_time")]
        args = event.get("args", {})
        node = nodes.setdefault(
            name, RuntimeNode(name, args.get("op_name", "?"), args.get("provider", "?"))
        )
        node.total_us += float(event.get("dur", 0))
        node.calls += 1
    return nodes, runs


def _candidates(name: str) -> list[str]:
    """``name`` and the names left by stripping onnxruntime's prefixes and suffixes one at a
    time."""
    out = [name]
    while True:
        stripped = _PREFIXES.sub("", out[-1])
        stripped = stripped if stripped != out[-1] else _SUFFIXES.sub("", out[-1])
        if stripped == out[-1] or not stripped:
            return out
        out.append(stripped)


def join_nodes(counted: list[CountedNode], runtime: dict[str, RuntimeNode]) -> NodeJoin:
    """Map runtime nodes to counted nodes by name (a node's name, else the value it
    writes), then each counted node without a runtime node to the one it was fused into."""
    by_name = {a: n.name for n in counted for a in [n.name, *n.aliases] if a}
    by_output = {o: n.name for n in counted for o in [*n.outputs, *n.alias_outputs] if o}
    join = NodeJoin()
    for rname in runtime:
        hit = next(
            (
                by_name.get(c) or by_output.get(c)
                for c in _candidates(rname)
                if c in by_name or c in by_output
            ),
            None,
        )
        if hit is None:
            join.runtime_only.append(rname)
        else:
            join.primary[rname] = hit
    owner = {counted_name: rname for rname, counted_name in join.primary.items()}
    consumers: dict[str, list[CountedNode]] = defaultdict(list)
    producers: dict[str, CountedNode] = {}
    for n in counted:
        for i in n.inputs:
            consumers[i].append(n)
        for o in n.outputs:
            producers[o] = n
    for n in counted:
        if n.name in owner:
            continue
        down = lambda m: [c for o in m.outputs for c in consumers.get(o, [])]  # noqa: E731
        up = lambda m: [producers[i] for i in m.inputs if i in producers]  # noqa: E731
        # A contraction or data movement is fused into the node that reads it (Conv into
        # a Conv+Relu named after the Relu, Transpose into MatMul); other arithmetic into
        # the node that made its input (Add+Relu into the Conv before them).
        reader = n.op_type in MOVEMENT or n.op_type in CONTRACTIONS
        first, second = (down, up) if reader else (up, down)
        target = _walk(n, owner, first)[1] or _walk(n, owner, second)[1]
        if target is None:
            join.unmatched.append(n.name)
        else:
            join.fused[n.name] = target
    return join


def _walk(start: CountedNode, owner: dict[str, str], step: Any) -> tuple[int, str | None]:
    """Breadth-first from ``start`` along ``step`` to the first node that has a runtime
    node: ``(distance, that runtime node's name)``, or ``(0, None)``."""
    seen = {start.name}
    frontier = [start]
    distance = 0
    while frontier:
        distance += 1
        nxt = []
        for node in frontier:
            for m in step(node):
                if m.name in owner:
                    return distance, owner[m.name]
                if m.name not in seen:
                    seen.add(m.name)
                    nxt.append(m)
        frontier = nxt
    return 0, None


def node_rows(
    counted: list[CountedNode], runtime: dict[str, RuntimeNode], join: NodeJoin, runs: int
) -> list[dict[str, Any]]:
    """One row per runtime node: its mean time per run, the counted nodes it covers (the
    one it is named after and those fused into it), their FLOPs/MACs, and each covered
    node's share of the time (by FLOPs: a Conv+Relu node's time is the Conv's, as a
    PyTorch profile would show it; equal shares when nothing is counted)."""
    covers: dict[str, list[CountedNode]] = defaultdict(list)
    by_name = {n.name: n for n in counted}
    for rname, cname in join.primary.items():
        covers[rname].append(by_name[cname])
    for cname, rname in join.fused.items():
        covers[rname].append(by_name[cname])
    rows = []
    for rname, node in runtime.items():
        nodes = covers.get(rname, [])
        seconds = node.total_us / 1e6 / max(runs, 1)
        flops = sum(n.flops for n in nodes)
        shares = {n.name: seconds * (n.flops / flops if flops else 1 / len(nodes)) for n in nodes}
        anchor = max(nodes, key=lambda n: n.flops, default=None)
        rows.append(
            {
                "runtime_node": rname,
                "op_type": node.op_type,
                "provider": node.provider,
                "time_s": seconds,
                "counted_nodes": [n.name for n in nodes],
                "module_path": anchor.path if anchor else None,
                "flops": flops,
                "macs": sum(n.macs for n in nodes),
                "shares_s": shares,
            }
        )
    return rows


def module_times(
    counted: list[CountedNode], rows: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per-module inclusive time (a node's time counts in its module and every ancestor),
    in the shape PyTorch runs use (``time_s``, ``self_s``, ``calls``). Runtime-only nodes
    (layout reorders) count at the root."""
    path_of = {n.name: n.path for n in counted}
    parts_time: list[tuple[str, float]] = []
    for row in rows:
        if not row["shares_s"]:
            parts_time.append(("", row["time_s"]))
        parts_time += [(path_of[name], t) for name, t in row["shares_s"].items()]
    out: dict[str, dict[str, Any]] = {}
    for path, seconds in parts_time:
        parts = path.split(".") if path else []
        for i in range(len(parts) + 1):
            entry = out.setdefault(
                ".".join(parts[:i]),
                {"time_s": 0.0, "self_s": 0.0, "calls": 1, "host_s": 0.0, "device_s": None},
            )
            entry["time_s"] += seconds
            entry["host_s"] += seconds
            if i == len(parts):
                entry["self_s"] += seconds
    return out


def split_modules(counted: list[CountedNode], rows: list[dict[str, Any]]) -> list[str]:
    """Module paths whose time is a share of a runtime node that also ran counted nodes
    outside them (a Conv in ``conv1`` fused with the Relu in ``relu``: both get a FLOPs
    share of the one kernel's time). Their time is an attribution, not a measurement; the
    smallest module holding every node of the runtime node, and its ancestors, are whole."""
    path_of = {n.name: n.path for n in counted}
    out: set[str] = set()
    for row in rows:
        paths = {path_of[name] for name in row["counted_nodes"]}
        if len(paths) < 2:
            continue
        split = [p.split(".") if p else [] for p in paths]
        common = 0
        while all(len(s) > common and s[common] == split[0][common] for s in split):
            common += 1
        for parts in split:
            out.update(".".join(parts[:i]) for i in range(common + 1, len(parts) + 1))
    return sorted(out)


def runs_on(device: str) -> str:
    """Where onnxruntime will run for ``--device device``: ``"cuda"`` when it is not
    ``cpu`` and onnxruntime has the CUDA provider, else ``"cpu"``."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependency("onnxruntime", "onnx", "timing ONNX files") from exc
    if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        return "cuda"
    return "cpu"


def _session(path: Path, device: str, profile_dir: str | None) -> Any:
    on = runs_on(device)  # raises MissingDependency without onnxruntime
    import onnxruntime as ort

    options = ort.SessionOptions()
    if profile_dir is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(profile_dir) / "ort")
    providers = ["CPUExecutionProvider"]
    if on == "cuda":
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(path), options, providers=providers)


def random_feeds(inputs: dict[str, Any]) -> dict[str, Any]:
    """Random numpy arrays for the graph's inputs (integers in [0, 2): valid token ids and
    indices for any vocabulary)."""
    import numpy as np

    rng = np.random.default_rng(0)
    feeds = {}
    for name, t in inputs.items():
        shape = tuple(t.shape)
        dtype = str(t.dtype).removeprefix("torch.")
        if t.dtype.is_floating_point:
            np_dtype = np.float32 if dtype == "bfloat16" else getattr(np, dtype)
            feeds[name] = rng.standard_normal(shape).astype(np_dtype)
        elif dtype == "bool":
            feeds[name] = np.ones(shape, dtype=bool)
        else:
            feeds[name] = rng.integers(0, 2, size=shape).astype(getattr(np, dtype))
    return feeds


def profiled_runs(
    path: Path, feeds: dict[str, Any], device: str, runs: int, plain: Any = None
) -> tuple[list[dict], list[float]]:
    """The onnxruntime profile trace of ``runs`` runs (its warm-up run dropped) and, when
    a plain session ``plain`` is given, the wall time of one unprofiled run of it taken
    right before each profiled run: pairs measured moments apart, so a busy machine slows
    both sides of each pair alike."""
    import time

    plain_s: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        session = _session(path, device, tmp)
        session.run(None, feeds)
        for _ in range(runs):
            if plain is not None:
                start = time.perf_counter()
                plain.run(None, feeds)
                plain_s.append(time.perf_counter() - start)
            session.run(None, feeds)
        trace = session.end_profiling()
        events = json.loads(Path(trace).read_text())
    return drop_first_run(events), plain_s


def per_run_node_s(events: list[dict]) -> list[float]:
    """Per ``model_run`` in the trace, the summed kernel time of the nodes inside it (s)."""
    windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")
    sums = [0.0] * len(windows)
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        for i, (lo, hi) in enumerate(windows):
            if lo <= e.get("ts", 0) <= hi:
                sums[i] += e["dur"] / 1e6
                break
    return sums


def paired_coverage(node_s: list[float], plain_s: list[float]) -> float | None:
    """Median over pairs of (node time of a profiled run) / (wall time of the unprofiled
    run just before it)."""
    ratios = sorted(n / p for n, p in zip(node_s, plain_s, strict=False) if p > 0)
    return ratios[len(ratios) // 2] if ratios else None


def drop_first_run(events: list[dict]) -> list[dict]:
    """The trace without the first ``model_run`` and the node events before the second
    (the warm-up run: first-call allocations would skew the per-node times)."""
    starts = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    if len(starts) < 2:
        return events
    cut = starts[1]
    early = ("Node", "model_run")
    return [
        e
        for e in events
        if not (e.get("ts", 0) < cut and (e.get("cat") in early or e.get("name") in early))
    ]


def measure_onnx(
    path: Path,
    inputs: dict[str, Any],
    counted: list[CountedNode],
    *,
    repeats: int | None = None,
    budget_s: float = 10.0,
    device: str = "auto",
    progress: bool = False,
) -> dict[str, Any]:
    """Time the ONNX file at ``path`` with onnxruntime on random ``inputs`` (meta tensors
    give the shapes and dtypes) and join per-node times to the ``counted`` nodes.

    Returns the ``measured`` section: latency statistics of unprofiled runs (as for
    PyTorch), per-runtime-node rows, per-module times, the join (fused and unmatched
    nodes), ``split_modules`` (:func:`split_modules`), and ``coverage``: per-node time
    over the unprofiled median."""
    import torch

    from flopwise.measure.timing import measure_latency

    feeds = random_feeds(inputs)
    session = _session(path, device, None)
    provider = session.get_providers()[0]
    first = next(iter(inputs.values()), None)
    latency = measure_latency(
        lambda: session.run(None, feeds),
        repeats=repeats,
        budget_s=None if repeats else budget_s,
        progress=progress,
        items=int(first.shape[0]) if first is not None and first.ndim else None,
        label="onnxruntime " + provider,
    )
    runs = max(5, min(30, int(3.0 / max(latency.median_s, 1e-6))))
    events, plain_s = profiled_runs(path, feeds, device, runs, plain=session)
    runtime, durations = parse_profile(events)
    join = join_nodes(counted, runtime)
    rows = node_rows(counted, runtime, join, len(durations))
    profiled = sorted(durations)[len(durations) // 2] if durations else None
    plain_median = sorted(plain_s)[len(plain_s) // 2] if plain_s else None
    return {
        "schema": "flopwise.measured/1",
        "runtime": "onnxruntime " + _ort_version(),
        "provider": provider,
        "device": "cuda" if provider.startswith("CUDA") else "cpu",
        "threads": torch.get_num_threads(),
        "phase": "forward",
        "latency": latency.to_dict(),
        "per_layer": True,
        # per pair: a profiled run's node time over the unprofiled run just before it
        "coverage": paired_coverage(per_run_node_s(events), plain_s),
        "coverage_of_latency_median": sum(r["time_s"] for r in rows) / latency.median_s,
        "profiled_runs": len(durations),
        "profiled_run_median_s": profiled,
        "paired_plain_median_s": plain_median,
        "profiler_overhead": profiled / plain_median - 1 if profiled and plain_median else None,
        "trustworthy": latency.trustworthy,
        "warnings": [] if latency.trustworthy else [latency.reason],
        "nodes": rows,
        "fused": join.fused,
        "runtime_only": join.runtime_only,
        "unmatched": join.unmatched,
        "modules": module_times(counted, rows),
        # modules sharing a fused runtime node with others: their time is a FLOPs share
        "split_modules": split_modules(counted, rows),
    }


def _ort_version() -> str:
    import onnxruntime as ort

    return ort.__version__
