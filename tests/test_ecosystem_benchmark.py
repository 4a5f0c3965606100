"""Smoke test of benchmarks/ecosystem_coverage.py: the per-model function on tiny models
(one torchvision, one timm, one that needs real tensors, one unknown name), the JSONL
record schema, resuming from the JSONL file and the markdown report."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("torchvision")
pytest.importorskip("timm")

ECO_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "ecosystem_coverage.py"

# A model whose forward is data-dependent (nms: the number of boxes kept depends on the
# scores), so its meta count fails and it is counted on real tensors, where torchvision.nms
# has its worst-case formula. Conv 3->4, 3x3 kernel, 8x8 output, bias.
NMS_MODEL = """
import torch
import torchvision  # registers torch.ops.torchvision.nms


class Detect(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        boxes = torch.stack([y[0, 0], y[0, 1], y[0, 0] + 1.0, y[0, 1] + 1.0], -1).reshape(-1, 4)
        keep = torchvision.ops.nms(boxes, y[0, 2].reshape(-1), 0.5)
        return boxes[keep]


def factory():
    return Detect(), (torch.randn(1, 3, 8, 8),)
"""


@pytest.fixture(scope="module")
def eco():
    spec = importlib.util.spec_from_file_location("bench_eco", ECO_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_eco"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_eco", None)


def _check_schema(eco, rec):
    assert tuple(rec) == eco.RECORD_KEYS
    assert rec["schema"] == eco.SCHEMA
    assert rec["status"] in eco.STATUSES
    json.loads(json.dumps(rec))  # one JSON line, integers stay integers
    if rec["status"] in ("complete", "incomplete"):
        for key in eco.COMPARED:
            assert isinstance(rec[key], int), key
        assert rec["tensors"] in ("meta", "real")
        assert rec["inputs"] and all("shape" in i and "dtype" in i for i in rec["inputs"])


def test_torchvision_model_counted_on_meta_and_checked_on_real(eco):
    rec = eco.profile_one("torchvision:squeezenet1_0", real_check=True)
    _check_schema(eco, rec)
    assert rec["source"] == "torchvision" and rec["status"] == "complete"
    assert rec["tensors"] == "meta" and rec["fallback_reason"] is None
    assert rec["inputs"] == [{"shape": [1, 3, 224, 224], "dtype": "float32"}]
    # Independent peer: FlopCounterMode (2 flops per multiply-add) on real tensors.
    from torch.utils.flop_counter import FlopCounterMode
    from torchvision.models import squeezenet1_0

    with FlopCounterMode(display=False) as peer, torch.no_grad():
        squeezenet1_0().eval()(torch.randn(1, 3, 224, 224))
    assert rec["macs"] == peer.get_total_flops() // 2
    assert rec["real_check"]["ran"] and rec["real_check"]["match"]
    assert rec["real_check"]["real"]["macs"] == rec["macs"]
    # torchvision's own published figure for the weights (GMACs, 3 decimals).
    assert rec["reference"]["weights"] == "SqueezeNet1_0_Weights.IMAGENET1K_V1"
    assert rec["reference"]["gmacs"] == round(rec["macs"] / 1e9, 3)


@pytest.mark.parametrize(
    ("name", "image_size", "expected", "has_reference"),
    [
        ("efficientnet_b1", None, ["1x3x240x240"], True),  # weights' crop_size 240
        ("fcn_resnet50", None, ["1x3x520x520"], True),  # segmentation: resize_size 520
        ("s3d", None, ["1x3x16x224x224"], True),  # video: 16 frames at crop 224
        ("r3d_18", None, ["1x3x16x112x112"], True),
        ("vit_h_14", 224, ["1x3x224x224"], False),  # built for 224 without SWAG weights
        ("fasterrcnn_resnet50_fpn", None, None, True),  # resizes inside: loader default
        ("raft_small", None, None, False),  # no documented frame size
    ],
)
def test_documented_torchvision_input(eco, name, image_size, expected, has_reference):
    from types import SimpleNamespace

    model = torch.nn.Identity()
    if image_size is not None:
        model.image_size = image_size
    loaded = SimpleNamespace(source="torchvision", name=f"torchvision:{name}", model=model)
    specs, reference = eco.documented_input(loaded)
    assert specs == expected
    assert (reference is not None) == has_reference
    other = SimpleNamespace(source="timm", name="timm:resnet18", model=model)
    assert eco.documented_input(other) == (None, None)


def test_timm_model_uses_pretrained_cfg_input(eco):
    import timm

    rec = eco.profile_one("timm:test_resnet")
    _check_schema(eco, rec)
    size = timm.create_model("test_resnet", pretrained=False).pretrained_cfg["input_size"]
    assert rec["inputs"][0]["shape"] == [1, *size]
    assert rec["status"] == "complete" and rec["real_check"] is None


def test_data_dependent_model_falls_back_to_real_and_counts_nms(eco, tmp_path):
    path = tmp_path / "nms_model.py"
    path.write_text(NMS_MODEL)
    rec = eco.profile_one(f"{path}:factory")
    _check_schema(eco, rec)
    assert rec["tensors"] == "real"
    assert "nms" in rec["fallback_reason"] or "output size" in rec["fallback_reason"]
    assert rec["status"] == "complete" and rec["uncounted"] == []
    macs = 1 * 4 * 8 * 8 * 3 * 3 * 3
    assert rec["macs"] == macs
    boxes = 8 * 8  # nms over 64 boxes: 13 per pair, 3 per box area, 64·⌈log2 64⌉ sort
    nms = 13 * boxes * (boxes - 1) // 2 + 3 * boxes + boxes * 6
    # conv (2 per MAC + the bias), the two "+ 1.0" of the box corners, nms
    assert rec["flops"] == 2 * macs + 4 * 8 * 8 + 2 * boxes + nms


def test_unknown_model_is_a_crash_record_not_an_exception(eco):
    rec = eco.profile_one("torchvision:no_such_model")
    _check_schema(eco, rec)
    assert rec["status"] == "crash"
    assert rec["error"]["stage"] == "meta build" and rec["error"]["type"] == "UnknownModel"


def test_records_resume_and_report(eco, tmp_path):
    good = eco.profile_one("torchvision:squeezenet1_0")
    incomplete = dict(good, spec="timm:fake_det", source="timm", status="incomplete")
    incomplete["reference"] = None
    incomplete["uncounted"] = [{"op": "torchvision.nms", "calls": 3, "output_elements": 10}]
    crash = eco._failure_record("timm:big_one", "timeout", 120.0, "count")
    stale = dict(crash, spec="timm:fake_det")  # an older record, superseded below
    path = tmp_path / "eco.jsonl"
    lines = [json.dumps(r) for r in (stale, good, incomplete, crash)]
    path.write_text("\n".join(lines) + '\n{"spec": "cut sh')  # a line cut by a killed run
    records = eco.read_records(path)
    assert set(records) == {"torchvision:squeezenet1_0", "timm:fake_det", "timm:big_one"}
    assert records["timm:fake_det"]["status"] == "incomplete"  # the later line wins

    text = eco.render_report(records.values(), meta={"listed": {"torchvision": 1, "timm": 5}})
    assert "| torchvision | 1 | 1 | 1 | 0 | 0 | 0 | 100.0% |" in text
    assert "| timm | 5 | 2 | 0 | 1 | 0 | 1 | 0.0% | 50.0% |" in text
    assert "| `torchvision.nms` | 1 | 1 | 3 | timm:fake_det |" in text
    assert "timm:big_one" in text and "no result within 120 s" in text
    assert "| timeout | 1 |" in text
    assert "for 1 of 1 models counted at the documented input" in text
    off = dict(good, reference={"gmacs": 0.9, "weights": "W"})
    assert "| 0.819 | 0.900 | 0.910 | — |" in eco.render_report([off])
    assert eco.render_report([]).endswith("No results yet.\n")


def test_published_notes_and_tolerance(eco):
    assert "aux_loss=True" in eco.published_note("torchvision:deeplabv3_resnet50")
    assert "RoI heads" in eco.published_note("torchvision:maskrcnn_resnet50_fpn")
    assert eco.published_note("torchvision:resnet50") == ""
    rec = {"macs": 20_400_000, "reference": {"gmacs": 0.020}}  # 2% off, within the rounding
    assert eco.matches_published(rec)
    rec = {"macs": 4_200_000_000, "reference": {"gmacs": 4.089}}  # 2.7% off
    assert not eco.matches_published(rec)


def test_transformers_architecture_record_and_table(eco, tmp_path):
    # A tiny Whisper from its config: the loader gives it audio features and decoder ids.
    config = {
        "model_type": "whisper",
        "architectures": ["WhisperForConditionalGeneration"],
        "d_model": 16,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 32,
        "decoder_ffn_dim": 32,
        "vocab_size": 64,
        "num_mel_bins": 8,
        "max_source_positions": 8,
        "max_target_positions": 8,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "decoder_start_token_id": 1,
    }
    path = tmp_path / "whisper.json"
    path.write_text(json.dumps(config))
    rec = eco.profile_one(f"hf:{path}", real_check=True)
    _check_schema(eco, rec)
    assert rec["status"] == "complete" and rec["tensors"] == "meta"
    assert [(i["name"], i["shape"]) for i in rec["inputs"]] == [
        ("input_features", [1, 8, 16]),
        ("decoder_input_ids", [1, 8]),
    ]
    assert rec["real_check"]["match"]
    # The table names config files by stem and gives a known reason for real != meta.
    bart = dict(rec, spec="hf:benchmarks/configs/ecosystem/bart.json")
    bart["real_check"] = dict(rec["real_check"], match=False)
    text = eco.render_report([rec, bart])
    assert "## Transformers architectures" in text
    row = "| whisper (configs/ecosystem) | input_features 1×8×16, decoder_input_ids 1×8 |"
    assert row in text
    assert "| **no**: transformers builds the decoder's causal mask only for fake" in text


def test_hf_llava_records_its_image_tokens(eco, tmp_path):
    # A tiny Llava (CLIP tower 16 px at patch 8: 4 patches, the class token's feature
    # dropped, so 4 image tokens): counted on meta, equal on real tensors, and the record
    # and the table say which input_ids are image tokens.
    config = {
        "model_type": "llava",
        "architectures": ["LlavaForConditionalGeneration"],
        "image_token_index": 63,
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 16,
            "patch_size": 8,
        },
        "text_config": {
            "model_type": "llama",
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "vocab_size": 64,
            "max_position_embeddings": 12,
        },
    }
    path = tmp_path / "llava.json"
    path.write_text(json.dumps(config))
    rec = eco.profile_one(f"hf:{path}", real_check=True)
    _check_schema(eco, rec)
    assert rec["status"] == "complete" and rec["tensors"] == "meta"
    assert rec["inputs"][0] == {
        "name": "input_ids",
        "shape": [1, 12],
        "dtype": "int64",
        "placeholder": {"token": 63, "count": 4},
    }
    assert rec["inputs"][1]["shape"] == [1, 3, 16, 16]
    assert rec["real_check"]["match"], rec["real_check"]
    text = eco.render_report([rec])
    assert "| input_ids 1×12 (first 4: image token 63), pixel_values 1×3×16×16 |" in text
