"""Any transformers architecture from its config: decoders, encoders, encoder-decoders
(T5, BART, Whisper), vision (ViT, CLIP, DINOv2, SAM, BLIP captioning), vision-language
(Llava: image tokens inside input_ids), each with default inputs that fit its kind, counted
on meta with the same result as on real tensors (tiny variants built here)."""

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
    # A CLIP vision tower (3 layers, 32 px at patch 8: 16 patches + the class token), the
    # projector, a Llama with grouped-query attention (4 heads, 2 KV heads); the image
    # token is the last id of the 128-token vocabulary.
    "llava": (
        {
            "model_type": "llava",
            "architectures": ["LlavaForConditionalGeneration"],
            "image_token_index": 127,
            "vision_config": {
                "model_type": "clip_vision_model",
                **_BLOCK,
                "num_hidden_layers": 3,
                "num_attention_heads": 4,
                "image_size": 32,
                "patch_size": 8,
            },
            "text_config": {
                "model_type": "llama",
                **_BLOCK,
                **_IDS,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "vocab_size": 128,
                "max_position_embeddings": 64,
            },
        },
        # 16 image tokens (the class token's feature is dropped), 48 text tokens to fill
        # the 64 positions
        ["input_ids=1x64:int64@127*16", "pixel_values=1x3x32x32"],
        "LlavaForConditionalGeneration",
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
    assert "default inputs:" not in prof.table()  # only where a spec places tokens
    assert torch.get_default_dtype() == torch.float32
    (tmp_path / "llava").mkdir()
    prof = run_profile(_write(tmp_path / "llava", TINY["llava"][0]), [], device="meta")
    assert "default inputs: input_ids=1x64:int64@127*16, pixel_values=1x3x32x32 (" in prof.table()


def test_sizes_a_config_leaves_out_come_from_the_built_model(tmp_path):
    # A bare CLIP config: 77 text positions and a 224 px vision tower are CLIP's defaults,
    # so 128 tokens (the text default) would not fit and the image input would be missing.
    loaded = load_model(_write(tmp_path, {"model_type": "clip"}), device="meta")
    assert [str(s) for s in loaded.default_inputs] == [
        "input_ids=1x77:int64",
        "pixel_values=1x3x224x224",
    ]


def _llava_macs(cfg: dict, text_tokens: int) -> int:
    """Llava's forward MACs by hand: CLIP vision tower, projector, Llama over the merged
    sequence (image tokens + text), lm_head. Attention is QK^T plus PV over the scored
    query-key pairs: all of them in the vision tower, the causal half in the Llama."""
    v, t = cfg["vision_config"], cfg["text_config"]
    dv, fv, side = v["hidden_size"], v["intermediate_size"], v["image_size"] // v["patch_size"]
    patches = side * side
    tv = patches + 1  # + the class token
    vision = patches * 3 * v["patch_size"] ** 2 * dv  # the patch convolution
    per_layer = 4 * tv * dv * dv + 2 * tv * tv * dv + 2 * tv * dv * fv
    vision += v["num_hidden_layers"] * per_layer  # all layers run; features from the last but one
    n_img = patches  # "default" strategy: the class token's feature is dropped
    d, f = t["hidden_size"], t["intermediate_size"]
    kv = d // t["num_attention_heads"] * t["num_key_value_heads"]
    projector = n_img * dv * d + n_img * d * d
    seq = n_img + text_tokens
    causal_pairs = seq * (seq + 1) // 2
    per_layer = seq * d * (2 * d + 2 * kv) + 2 * causal_pairs * d + 3 * seq * d * f
    return vision + projector + t["num_hidden_layers"] * per_layer + seq * d * t["vocab_size"]


def test_llava_macs_match_the_closed_form(tmp_path):
    # Independent of flopwise: 16 image + 48 text tokens, the formula above by hand gives
    # vision 98,304 + 3 x 157,760, projector 32,768, Llama 2 x 722,944, lm_head 262,144.
    cfg = TINY["llava"][0]
    expected = _llava_macs(cfg, text_tokens=48)
    assert expected == 571_584 + 32_768 + 1_445_888 + 262_144
    for device in ("meta", "cpu"):
        loaded = load_model(_write(tmp_path, cfg), device=device)
        args, kwargs = loaded.inputs()
        prof = profile(loaded.model, *args, kwargs=kwargs)
        assert prof.complete, prof.uncounted
        assert prof.totals.macs == expected
        assert prof.module("model.vision_tower").macs == 571_584
        assert prof.module("model.multi_modal_projector").macs == 32_768


def test_llava_image_tokens_follow_the_vision_config(tmp_path):
    # transformers' defaults are Llava-1.5's CLIP ViT-L/14 at 336 px: 24 x 24 = 576 image
    # tokens, the figure its config records as image_seq_length; "full" keeps the class
    # token's feature (577). The text fills 128 tokens after them (Llama: 2,048 positions).
    loaded = load_model(_write(tmp_path, {"model_type": "llava"}), device="meta")
    assert loaded.model.config.image_seq_length == 576
    assert [str(s) for s in loaded.default_inputs] == [
        "input_ids=1x704:int64@32000*576",
        "pixel_values=1x3x336x336",
    ]
    full = {"model_type": "llava", "vision_feature_select_strategy": "full"}
    loaded = load_model(_write(tmp_path, full), device="meta")
    assert str(loaded.default_inputs[0]) == "input_ids=1x705:int64@32000*577"


def test_llava_wrong_image_token_count_is_refused_on_real_tensors(tmp_path):
    # The check that fake/meta tensors take as passed still runs on real ones.
    loaded = load_model(_write(tmp_path, TINY["llava"][0]), device="cpu")
    args, kwargs = loaded.inputs(["input_ids=1x40@127*15", "pixel_values=1x3x32x32"])
    with pytest.raises(Exception, match="Image features and image tokens do not match"):
        profile(loaded.model, *args, kwargs=kwargs)


def test_llava_1_5_7b_macs_match_the_closed_form():
    # The benchmark's Llava (benchmarks/configs/ecosystem/llava.json: transformers' defaults,
    # llava-1.5-7b's shape, vocabulary 32,064) on meta: CLIP ViT-L/14-336 (24 layers, width
    # 1024, MLP 4096, 577 tokens), 576 image tokens + 128 text through a 32-layer Llama
    # (width 4096, MLP 11008, 32 heads), the same formula by hand.
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks/configs/ecosystem/llava.json"
    loaded = load_model(f"hf:{path}", device="meta")
    assert [str(s) for s in loaded.default_inputs] == [
        "input_ids=1x704:int64@32000*576",
        "pixel_values=1x3x336x336",
    ]
    args, kwargs = loaded.inputs()
    prof = profile(loaded.model, *args, kwargs=kwargs)
    cfg = {
        "vision_config": {
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 24,
            "image_size": 336,
            "patch_size": 14,
        },
        "text_config": {
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "vocab_size": 32064,
        },
    }
    assert prof.complete
    assert prof.totals.macs == _llava_macs(cfg, text_tokens=128) == 4_919_659_380_736
