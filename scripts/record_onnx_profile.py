"""Record the onnxruntime profile fixture for tests/test_onnx_measure.py.

Builds a small residual CNN with onnx.helper (tests/data/onnx/small_cnn.onnx: Conv+Relu,
Conv, Add, Relu, Transpose+MatMul, Softmax), runs it through onnxruntime's CPU provider
with profiling on, and keeps the trace's Node and Session events, trimmed to the fields
the join reads (tests/data/onnx/ort_profile.json). Run once:

    PYTHONPATH=src python scripts/record_onnx_profile.py

Times in the fixture are whatever this machine measured; tests never assert on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "onnx"


def build() -> onnx.ModelProto:
    """The graph: names follow the dynamo exporter's style (node_X, value names)."""
    rng = np.random.default_rng(0)

    def init(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node(
            "Conv", ["x", "stem.weight", "stem.bias"], ["conv"], pads=[1] * 4, name="node_Conv_0"
        ),
        helper.make_node("Relu", ["conv"], ["relu"], name="node_relu"),
        helper.make_node("Conv", ["relu", "block.weight"], ["conv_1"], name="node_Conv_1"),
        helper.make_node("Add", ["conv_1", "relu"], ["add"], name="node_add"),
        helper.make_node("Relu", ["add"], ["relu_1"], name="node_relu_1"),
        helper.make_node("Reshape", ["relu_1", "shape"], ["view"], name="node_view"),
        helper.make_node("Transpose", ["view"], ["permute"], perm=[0, 2, 1], name="node_permute"),
        helper.make_node("MatMul", ["permute", "head.weight"], ["matmul"], name="node_MatMul_2"),
        helper.make_node("Softmax", ["matmul"], ["y"], axis=-1, name="node_softmax"),
    ]
    inits = [
        init("stem.weight", 16, 3, 3, 3),
        init("stem.bias", 16),
        init("block.weight", 16, 16, 1, 1),
        init("head.weight", 16, 10),
        numpy_helper.from_array(np.array([1, 16, 256], dtype=np.int64), "shape"),
    ]
    graph = helper.make_graph(
        nodes,
        "small_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256, 10])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def main() -> None:
    import onnxruntime as ort

    OUT.mkdir(parents=True, exist_ok=True)
    model_path = OUT / "small_cnn.onnx"
    onnx.save(build(), str(model_path))
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = "/tmp/flopwise_ort_fixture"
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    feeds = {"x": np.ones((1, 3, 16, 16), dtype=np.float32)}
    for _ in range(3):
        session.run(None, feeds)
    trace = Path(session.end_profiling())
    keep = []
    for e in json.loads(trace.read_text()):
        if e.get("cat") not in ("Node", "Session"):
            continue
        args = {k: v for k, v in e.get("args", {}).items() if k in ("op_name", "provider")}
        keep.append({k: e[k] for k in ("cat", "name", "ts", "dur") if k in e} | {"args": args})
    trace.unlink()
    (OUT / "ort_profile.json").write_text(json.dumps(keep, indent=1) + "\n")
    print(f"wrote {model_path} and {OUT / 'ort_profile.json'} ({len(keep)} events)")


if __name__ == "__main__":
    main()
