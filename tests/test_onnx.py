"""ONNX graphs counted under the PyTorch conventions (flopwise.sources.onnx*, pipeline.onnx).

Hand-built graphs (onnx.helper) are checked against integers computed here by hand; the
exported torchvision/transformers models against their PyTorch profiles (slow)."""

from __future__ import annotations

import sys

import pytest
import torch

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

import flopwise  # noqa: E402
from flopwise.errors import BadInputSpec, MissingDependency  # noqa: E402
from flopwise.pipeline.onnx import run_onnx_profile  # noqa: E402
from flopwise.sources.onnx import load_onnx  # noqa: E402
from flopwise.sources.onnx_file import require_onnx  # noqa: E402

F32 = TensorProto.FLOAT


def _save(tmp_path, nodes, inputs, outputs, inits=(), name="g.onnx", opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / name
    onnx.save(model, str(path))
    return str(path)


def _weight(name, *shape):
    return helper.make_tensor(name, F32, shape, [0.5] * int(torch.Size(shape).numel()))


def _vi(name, *shape, dtype=F32):
    return helper.make_tensor_value_info(name, dtype, list(shape))


def _count(path, inputs=()):
    return run_onnx_profile(path, list(inputs))


def test_conv_with_bias_counts_the_hand_integer(tmp_path):
    conv = helper.make_node(
        "Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], name="/stem/stem.conv/Conv"
    )
    path = _save(
        tmp_path,
        [conv],
        [_vi("x", 1, 3, 8, 8)],
        [_vi("y", 1, 4, 8, 8)],
        [_weight("w", 4, 3, 3, 3), _weight("b", 4)],
    )
    prof = _count(path)
    macs = 1 * 4 * 8 * 8 * 3 * 3 * 3  # N·C_out·H·W·C_in·kh·kw
    assert prof.totals.macs == macs == 6912
    assert prof.totals.flops == 2 * macs + 4 * 8 * 8  # + one bias add per output
    assert prof.totals.params == 4 * 3 * 3 * 3 + 4
    assert prof.module("stem.conv").macs == macs  # the module tree from the node name
    assert prof.complete


def test_strided_asymmetric_same_upper_conv(tmp_path):
    conv = helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2], auto_pad="SAME_UPPER")
    path = _save(
        tmp_path,
        [conv],
        [_vi("x", 2, 4, 7, 7)],
        [_vi("y", 2, 6, 4, 4)],
        [_weight("w", 6, 2, 3, 3)],
    )
    conv.attribute.append(helper.make_attribute("group", 2))
    path = _save(tmp_path, [conv], [_vi("x", 2, 4, 7, 7)], [_vi("y", 2, 6, 4, 4)],
                 [_weight("w", 6, 2, 3, 3)], name="g2.onnx")  # fmt: skip
    # groups=2: each output channel sees C_in/groups = 2 channels
    assert _count(path).totals.macs == 2 * 6 * 4 * 4 * 2 * 3 * 3 == 3456


def test_gemm_transposed_with_bias(tmp_path):
    gemm = helper.make_node("Gemm", ["a", "w", "c"], ["y"], transB=1)
    path = _save(
        tmp_path, [gemm], [_vi("a", 2, 5)], [_vi("y", 2, 3)], [_weight("w", 3, 5), _weight("c", 3)]
    )
    prof = _count(path)
    assert prof.totals.macs == 2 * 3 * 5
    assert prof.totals.flops == 2 * 30 + 2 * 3  # bias: one per output element


def test_batched_matmul_softmax_relu(tmp_path):
    nodes = [
        helper.make_node("MatMul", ["a", "b"], ["m"]),
        helper.make_node("Softmax", ["m"], ["s"], axis=-1),
        helper.make_node("Relu", ["s"], ["y"]),
    ]
    path = _save(
        tmp_path,
        nodes,
        [_vi("a", 2, 4, 3, 5), _vi("b", 2, 4, 5, 6)],
        [_vi("y", 2, 4, 3, 6)],
    )
    prof = _count(path)
    macs = 2 * 4 * 3 * 6 * 5
    out = 2 * 4 * 3 * 6
    assert prof.totals.macs == macs == 720
    # matmul 2/MAC, softmax 5 per element, relu 1 per element (docs/conventions.md)
    assert prof.totals.flops == 2 * macs + 5 * out + out


def test_data_movement_is_free_and_reshape_is_a_view(tmp_path):
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [6, 4])
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
        helper.make_node("Reshape", ["t", "shape"], ["r"]),
        helper.make_node("Concat", ["r", "r"], ["y"], axis=0),
    ]
    path = _save(tmp_path, nodes, [_vi("x", 4, 6)], [_vi("y", 12, 4)], [shape])
    prof = _count(path)
    assert prof.totals.flops == 0 and prof.complete
    cat = [r for r in prof.ops if r.op.startswith("aten.cat")]
    assert cat and cat[0].bytes_written == 12 * 4 * 4


def test_unmapped_node_is_listed_uncounted(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="/head/Relu"),
        helper.make_node("Hardmax", ["r"], ["y"], name="/head/Hardmax"),
    ]
    path = _save(tmp_path, nodes, [_vi("x", 2, 7)], [_vi("y", 2, 7)])
    prof = _count(path)
    assert not prof.complete
    (unc,) = prof.uncounted
    assert "Hardmax" in unc.op and unc.calls == 1 and unc.output_elements == 14
    assert unc.module_paths == ["head"]
    assert prof.totals.flops == 14  # the relu alone: never a silent zero, never a guess


def test_symbolic_dims_need_an_input_spec(tmp_path):
    gemm = helper.make_node("MatMul", ["x", "w"], ["y"])
    path = _save(
        tmp_path, [gemm], [_vi("x", "batch", 8)], [_vi("y", "batch", 2)], [_weight("w", 8, 2)]
    )
    with pytest.raises(BadInputSpec, match=r"symbolic dims \(batch\).*--input x=1x8"):
        load_onnx(path)
    assert _count(path, ["x=5x8"]).totals.macs == 5 * 8 * 2
    assert _count(path, ["5x8"]).totals.macs == 80  # positional spec: graph input order


def test_fixed_dims_refuse_other_sizes(tmp_path):
    relu = helper.make_node("Relu", ["x"], ["y"])
    path = _save(tmp_path, [relu], [_vi("x", 2, 3)], [_vi("y", 2, 3)])
    with pytest.raises(BadInputSpec, match="fixed dims"):
        load_onnx(path, ["x=4x3"])


def test_layer_norm_and_attention_op(tmp_path):
    # opset 23 Attention: one SDPA, priced as PyTorch prices it (conventions: P·(E+Ev) MACs)
    att = helper.make_node("Attention", ["q", "k", "v"], ["y"], is_causal=1)
    path = _save(
        tmp_path,
        [att],
        [_vi("q", 1, 2, 4, 8), _vi("k", 1, 2, 4, 8), _vi("v", 1, 2, 4, 8)],
        [_vi("y", 1, 2, 4, 8)],
        opset=23,
    )
    pairs = 1 * 2 * (1 + 2 + 3 + 4)  # causal, top-left aligned
    prof = _count(path)
    assert prof.totals.macs == pairs * (8 + 8)
    assert prof.totals.flops == 2 * pairs * 16 + 6 * pairs


SDPA_FX = (
    "%scaled_dot_product_attention : [num_users=1] = call_function[target=torch.ops.aten."
    "scaled_dot_product_attention.default](args = (%q, %k, %v, None, 0.0, True), kwargs = {})"
)


@pytest.mark.parametrize("tagged", [True, False])
def test_exported_causal_attention_counts_as_one_sdpa(tmp_path, tagged):
    nodes = [
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q", "kt"], ["s"]),
        helper.make_node("Add", ["s", "mask"], ["sm"]),
        helper.make_node("Softmax", ["sm"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["att"]),
    ]
    for node in nodes if tagged else ():  # what the dynamo exporter writes on each node
        node.metadata_props.add(key="pkg.torch.onnx.fx_node", value=SDPA_FX)
    nodes.append(helper.make_node("Relu", ["att"], ["y"]))
    mask = helper.make_tensor("mask", F32, [4, 4], [0.0] * 16)
    qkv = [_vi(n, 1, 2, 4, 8) for n in "qkv"]
    path = _save(tmp_path, nodes, qkv, [_vi("y", 1, 2, 4, 8)], [mask])
    prof = _count(path)
    if tagged:  # one causal SDPA call: P = B·H·(1+2+3+4) pairs, MACs P·(E+Ev)
        pairs = 1 * 2 * (1 + 2 + 3 + 4)
        assert prof.totals.macs == pairs * 16
        assert prof.totals.flops == 2 * pairs * 16 + 6 * pairs + 64  # + the relu
    else:  # the same nodes without the exporter's tag: two dense matmuls
        assert prof.totals.macs == 2 * (1 * 2 * 4 * 4 * 8)


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependency, match=r"flopwise\[onnx\]"):
        require_onnx()


def test_python_api_and_cli_spec_path(tmp_path):
    relu = helper.make_node("Relu", ["x"], ["y"])
    path = _save(tmp_path, [relu], [_vi("x", 2, 3)], [_vi("y", 2, 3)])
    prof = flopwise.pipeline.run_profile(path, [])
    assert prof.totals.flops == 6
    assert prof.source.default_inputs == ["x=2x3:float32"]
    model, args, kwargs, _ = flopwise.pipeline.load(path, [], "meta", "float32")
    assert flopwise.profile(model, *args, kwargs=kwargs, tensors="meta").totals.flops == 6


# -- exported models: the same MACs as their PyTorch profiles ------------------------------
@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """Export a model once per session: ``exported(name, model, args)`` → path."""
    pytest.importorskip("onnxscript")  # torch's exporter needs it; flopwise does not
    root = tmp_path_factory.mktemp("onnx_exports")
    cache: dict[str, str] = {}

    def export(name, model, args, **kwargs):
        if name not in cache:
            path = root / f"{name}.onnx"
            torch.onnx.export(model, args, str(path), dynamo=True, verbose=False, **kwargs)
            cache[name] = str(path)
        return cache[name]

    return export


@pytest.mark.slow
def test_resnet50_export_counts_the_pytorch_macs(exported):
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet50().eval()
    x = torch.randn(1, 3, 224, 224)
    prof = run_onnx_profile(exported("resnet50", model, (x,)), [])
    assert prof.totals.macs == 4_089_184_256
    assert prof.totals.activations == 11_315_688
    assert prof.complete
    assert prof.module("layer1.0.conv1").macs == 1 * 64 * 56 * 56 * 64  # BN folded into it


@pytest.mark.slow
def test_vit_and_llama_exports_match_pytorch_macs(exported):
    torchvision = pytest.importorskip("torchvision")
    transformers = pytest.importorskip("transformers")
    vit = torchvision.models.VisionTransformer(32, 8, 2, 2, 32, 64, num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    ref = flopwise.profile(vit, x, tensors="meta")
    assert run_onnx_profile(exported("vit", vit, (x,)), []).totals.macs == ref.totals.macs
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        use_cache=False,
    )
    llama = transformers.LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, 100, (1, 16))
    ref = flopwise.profile(llama, ids, tensors="meta")
    prof = run_onnx_profile(exported("llama", llama, (ids,)), [])
    assert prof.totals.macs == ref.totals.macs
    assert prof.complete


def test_cli_json_and_one_line_errors(tmp_path, capsys):
    import json

    from flopwise.cli import main

    mm = helper.make_node("MatMul", ["x", "w"], ["y"], name="/proj/MatMul")
    path = _save(
        tmp_path, [mm], [_vi("x", "batch", 8)], [_vi("y", "batch", 2)], [_weight("w", 8, 2)]
    )
    code = main(["profile", path, "--input", "x=3x8", "--format", "json", "--no-save"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["totals"]["macs"] == 3 * 8 * 2 and doc["complete"] is True
    assert main(["profile", path, "--no-save"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "symbolic dims" in err[0]
    model, args, kwargs, _ = flopwise.pipeline.load(path, ["x=5x8"], "meta", "float32")
    assert flopwise.profile(model, *args, kwargs=kwargs).totals.macs == 5 * 8 * 2


def test_conv_transpose_hand_integer(tmp_path):
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1])
    path = _save(
        tmp_path, [node], [_vi("x", 1, 4, 5, 5)], [_vi("y", 1, 3, 9, 9)], [_weight("w", 4, 3, 3, 3)]
    )
    # transposed: N·C_in·∏(input spatial)·(C_out/groups)·∏(kernel)
    assert _count(path).totals.macs == 1 * 4 * 5 * 5 * 3 * 3 * 3 == 2700


def _torch_cost(module, *shapes):
    from torch import nn

    assert isinstance(module, nn.Module)
    args = [torch.empty(s, device="meta") for s in shapes]
    return flopwise.profile(module.eval(), *args, tensors="meta").totals


def _norm_params(c):
    return [_weight("s", c), helper.make_tensor("b", F32, [c], [0.0] * c)]


CASES = {
    "layer_norm": (
        [helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1)],
        lambda: _norm_params(6),
        lambda: torch.nn.LayerNorm(6),
        (2, 5, 6),
        (2, 5, 6),
    ),
    "batch_norm": (
        [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
        lambda: [*_norm_params(3), _weight("m", 3), _weight("v", 3)],
        lambda: torch.nn.BatchNorm2d(3),
        (2, 3, 4, 4),
        (2, 3, 4, 4),
    ),
    "max_pool": (
        [
            helper.make_node(
                "MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4
            )
        ],
        list,
        lambda: torch.nn.MaxPool2d(3, 2, 1),
        (1, 2, 8, 8),
        (1, 2, 4, 4),
    ),
    "avg_pool": (
        [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
        list,
        lambda: torch.nn.AvgPool2d(2),
        (1, 2, 8, 8),
        (1, 2, 4, 4),
    ),
    "gelu": (
        [helper.make_node("Gelu", ["x"], ["y"])],
        list,
        lambda: torch.nn.GELU(),
        (3, 7),
        (3, 7),
    ),
    "reduce_mean": (
        [helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=0)],
        lambda: [helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
        lambda: _Mean(),
        (4, 6, 5),
        (4, 5),
    ),
}


class _Mean(torch.nn.Module):
    def forward(self, x):
        return x.mean(1)


@pytest.mark.parametrize("case", sorted(CASES))
def test_ops_cost_what_pytorch_costs(tmp_path, case):
    nodes, inits, module, shape_in, shape_out = CASES[case]
    path = _save(tmp_path, nodes, [_vi("x", *shape_in)], [_vi("y", *shape_out)], inits(), opset=20)
    got, want = _count(path).totals, _torch_cost(module(), shape_in)
    assert (got.flops, got.macs, got.activations) == (want.flops, want.macs, want.activations)


class _CausalBlock(torch.nn.Module):
    """nanoGPT-style attention: is_causal=True and no mask tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = torch.nn.Linear(32, 96)
        self.out = torch.nn.Linear(32, 32)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, 4, 8).permute(2, 0, 3, 1, 4)
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, n, 32))


@pytest.mark.slow
def test_exported_causal_attention_matches_pytorch(exported):
    model, x = _CausalBlock().eval(), torch.randn(1, 16, 32)
    ref = flopwise.profile(model, x, tensors="meta")
    prof = run_onnx_profile(exported("causal", model, (x,)), [])
    assert prof.source.other["onnx"]["attention_calls_regrouped"] == 1
    assert (prof.totals.macs, prof.totals.flops) == (ref.totals.macs, ref.totals.flops)


@pytest.mark.slow
def test_dynamic_export_counts_at_the_given_length(exported):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        use_cache=False,
    )
    llama = transformers.LlamaForCausalLM(cfg).eval()
    seq = torch.export.Dim("seq", max=64)
    ids = torch.randint(0, 100, (1, 16))
    path = exported("llama_dynamic", llama, (ids,), dynamic_shapes=({1: seq},))
    with pytest.raises(BadInputSpec, match="symbolic dims"):
        run_onnx_profile(path, [])
    prof = run_onnx_profile(path, ["input_ids=1x24"])  # not the length it was exported at
    ref = flopwise.profile(llama, torch.randint(0, 100, (1, 24)), tensors="meta")
    assert prof.totals.macs == ref.totals.macs
    assert prof.source.other["onnx"]["folded_shape_nodes"] > 0  # Shape → Gather → Concat chains
