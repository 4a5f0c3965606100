"""Any transformers architecture from its config: decoders, encoders, encoder-decoders
(T5, BART, Whisper), vision (ViT, CLIP, DINOv2, SAM, BLIP captioning), each with default
inputs that fit its kind, counted on meta with the same result as on real tensors (tiny
variants built here)."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("transformers")

from flopwise.profile import profile  # noqa: E402
from flopwise.sources import load_model  # noqa: E402

_IDS = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 1}
_BLOCK = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}

# Tiny configs (2 layers, width 32) in config.json form, with the default inputs each
# kind must get and the class the architectures entry names.
TINY = {
    "t5": (
        {
            "model_type": "t5",
            "architectures": ["T5ForConditionalGeneration"],
            "d_model": 32,
            "d_kv": 8,
            "d_ff": 64,
            "num_layers": 2,
            "num_decoder_layers": 2,
            "num_heads": 4,
            "vocab_size": 128,
            **_IDS,
        },
        ["input_ids=1x128:int64", "decoder_input_ids=1x128:int64"],
        "T5ForConditionalGeneration",
    ),
    "bart": (
        {
            "model_type": "bart",
            "architectures": ["BartForConditionalGeneration"],
            "d_model": 32,
            "encoder_layers": 2,
            "decoder_layers": 2,
            "encoder_attention_heads": 4,
            "decoder_attention_heads": 4,
            "encoder_ffn_dim": 64,
            "decoder_ffn_dim": 64,
            "vocab_size": 128,
            "max_position_embeddings": 64,
            **_IDS,
        },
        ["input_ids=1x64:int64", "decoder_input_ids=1x64:int64"],
        "BartForConditionalGeneration",
    ),
    "whisper": (
        {
            "model_type": "whisper",
            "architectures": ["WhisperForConditionalGeneration"],
            "d_model": 32,
            "encoder_layers": 2,
            "decoder_layers": 2,
            "encoder_attention_heads": 4,
            "decoder_attention_heads": 4,
            "encoder_ffn_dim": 64,
            "decoder_ffn_dim": 64,
            "vocab_size": 128,
            "num_mel_bins": 16,
            "max_source_positions": 32,
            "max_target_positions": 24,
            **_IDS,
        },
        ["input_features=1x16x64", "decoder_input_ids=1x24:int64"],
        "WhisperForConditionalGeneration",
    ),
    "vit": (
        {
            "model_type": "vit",
            "architectures": ["ViTForImageClassification"],
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
            "num_labels": 10,
            **_BLOCK,
        },
        ["pixel_values=1x3x32x32"],
        "ViTForImageClassification",
    ),
    "dinov2": (
        {
            "model_type": "dinov2",
            "architectures": ["Dinov2Model"],
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        ["pixel_values=1x3x32x32"],
        "Dinov2Model",
    ),
    "clip": (
        {
            "model_type": "clip",
            "architectures": ["CLIPModel"],
            "text_config": {
                **_BLOCK,
                "num_attention_heads": 4,
                "vocab_size": 128,
                "max_position_embeddings": 16,
            },
            "vision_config": {
                **_BLOCK,
                "num_attention_heads": 4,
                "image_size": 32,
                "patch_size": 8,
            },
            "projection_dim": 16,
        },
        ["input_ids=1x16:int64", "pixel_values=1x3x32x32"],
        "CLIPModel",
    ),
    "blip": (
        {
            "model_type": "blip",
            "architectures": ["BlipForConditionalGeneration"],
            "text_config": {
                **_BLOCK,
                **_IDS,
                "num_attention_heads": 4,
                "vocab_size": 128,
                "max_position_embeddings": 16,
                "encoder_hidden_size": 32,
            },
            "vision_config": {
                **_BLOCK,
                "num_attention_heads": 4,
                "image_size": 32,
                "patch_size": 8,
            },
            "projection_dim": 16,
        },
        ["pixel_values=1x3x32x32", "input_ids=1x16:int64"],
        "BlipForConditionalGeneration",
    ),
    "sam": (
        {
            "model_type": "sam",
            "architectures": ["SamModel"],
            "vision_config": {
                "hidden_size": 32,
                "output_channels": 16,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "image_size": 64,
                "patch_size": 16,
                "mlp_dim": 64,
                "global_attn_indexes": [1],
                "window_size": 2,
                "num_pos_feats": 8,
            },
            "prompt_encoder_config": {
                "hidden_size": 16,
                "image_size": 64,
                "patch_size": 16,
                "mask_input_channels": 4,
            },
            "mask_decoder_config": {
                "hidden_size": 16,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "mlp_dim": 32,
                "iou_head_hidden_dim": 16,
            },
        },
        ["pixel_values=1x3x64x64"],
        "SamModel",
    ),
}


def _write(tmp_path, config: dict) -> str:
    (tmp_path / "config.json").write_text(json.dumps(config))
    return f"hf:{tmp_path}"


def _counts(spec: str, kind: str) -> dict[str, tuple[int, ...]]:
    """Totals of the model built and run on real CPU tensors and on meta tensors."""
    _, inputs, cls = TINY[kind]
    counts = {}
    for device in ("cpu", "meta"):
        loaded = load_model(spec, device=device)
        assert type(loaded.model).__name__ == cls
        assert [str(s) for s in loaded.default_inputs] == inputs
        args, kwargs = loaded.inputs()
        prof = profile(loaded.model, *args, kwargs=kwargs)
        assert prof.mode["tensors"] == ("real" if device == "cpu" else "meta")
        t = prof.totals
        counts[device] = (t.flops, t.macs, t.params, t.bytes_read, t.bytes_written)
        assert t.macs > 0
    return counts


@pytest.mark.parametrize("kind", sorted(set(TINY) - {"bart"}))
def test_real_equals_meta(tmp_path, kind):
    counts = _counts(_write(tmp_path, TINY[kind][0]), kind)
    assert counts["cpu"] == counts["meta"]


def test_bart_decoder_mask_differs_by_the_causal_half(tmp_path):
    # BART's decoder makes an all-ones padding mask itself; on real tensors transformers
    # reads it and calls SDPA with is_causal=True (counted top-left causal), on meta it
    # cannot read values and passes a dense mask (counted in full). The only difference is
    # the upper triangle of each decoder self-attention: per layer 4 heads x (64x64 - 64*65/2)
    # score entries x head dim 8, for QK^T and again for PV. transformers picks the branch by
    # the mask's type (a fake tensor is never read), so flopwise cannot make meta count the
    # real branch (docs/conventions.md section 8); the meta profile says so in a note.
    counts = _counts(_write(tmp_path, TINY["bart"][0]), "bart")
    upper = sum(1 for q in range(64) for k in range(64) if k > q)  # pairs causal skips
    assert counts["meta"][1] - counts["cpu"][1] == 2 * 4 * upper * 8 * 2
    assert counts["meta"][2] == counts["cpu"][2]  # same parameters
    loaded = load_model(_write(tmp_path, TINY["bart"][0]), device="meta")
    args, kwargs = loaded.inputs()
    notes = profile(loaded.model, *args, kwargs=kwargs).notes
    assert any("2 attention call(s) got an explicit square mask" in n for n in notes)


def test_heads_count_their_projection(tmp_path):
    # Independent check on the head each class adds: T5's lm_head is one d_model×vocab
    # matmul per decoder token, ViT's classifier one hidden×labels matmul on the CLS token.
    t5, _, _ = TINY["t5"]
    loaded = load_model(_write(tmp_path, t5), device="meta")
    args, kwargs = loaded.inputs()
    prof = profile(loaded.model, *args, kwargs=kwargs)
    assert prof.module("lm_head").macs == 128 * t5["d_model"] * t5["vocab_size"]
    vit, _, _ = TINY["vit"]
    (tmp_path / "vit").mkdir()
    loaded = load_model(_write(tmp_path / "vit", vit), device="meta")
    args, kwargs = loaded.inputs()
    prof = profile(loaded.model, *args, kwargs=kwargs)
    assert prof.module("classifier").macs == 32 * 10


def test_without_architectures_the_bare_model_with_its_inputs(tmp_path):
    config = {k: v for k, v in TINY["whisper"][0].items() if k != "architectures"}
    loaded = load_model(_write(tmp_path, config), device="meta")
    assert type(loaded.model).__name__ == "WhisperModel"
    assert [str(s) for s in loaded.default_inputs] == TINY["whisper"][1]


def test_default_inputs_printed(tmp_path):
    from flopwise.pipeline import run_profile

    prof = run_profile(_write(tmp_path, TINY["clip"][0]), [], device="meta")
    assert prof.source.default_inputs == TINY["clip"][1]
    assert "input_ids=1x16:int64, pixel_values=1x3x32x32:float32" in prof.table()
    assert torch.get_default_dtype() == torch.float32


def test_sizes_a_config_leaves_out_come_from_the_built_model(tmp_path):
    # A bare CLIP config: 77 text positions and a 224 px vision tower are CLIP's defaults,
    # so 128 tokens (the text default) would not fit and the image input would be missing.
    loaded = load_model(_write(tmp_path, {"model_type": "clip"}), device="meta")
    assert [str(s) for s in loaded.default_inputs] == [
        "input_ids=1x77:int64",
        "pixel_values=1x3x224x224",
    ]
