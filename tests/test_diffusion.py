"""``diffusers:NAME`` denoisers: DiT-XL/2 against the DiT paper's Gflops (which count
multiply-adds) and a closed form; a tiny DiT counts the same on real and meta tensors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("diffusers")

from flopwise.errors import UnknownModel  # noqa: E402
from flopwise.profile import profile  # noqa: E402
from flopwise.sources import load_model  # noqa: E402


def _dit_macs_closed_form(tokens: int, hidden: int, layers: int, patch_out: int) -> int:
    """MACs of one DiT forward, batch 1 (Peebles & Xie 2023, adaLN-Zero blocks), from the
    architecture: per block q/k/v/out projections 4·N·D², scores and values 2·N²·D, MLP
    8·N·D², adaLN modulation D·6D and (in diffusers, per block) the timestep MLP
    256·D + D·D; plus the patch embedding (N·D·16), the final layer's conditioning (the
    timestep MLP once more, which diffusers recomputes), its adaLN (D·2D) and the final
    projection N·D·patch_out. The class embedding is a lookup (no MACs)."""
    n, d = tokens, hidden
    timestep_mlp = 256 * d + d * d
    block = 4 * n * d * d + 2 * n * n * d + 8 * n * d * d + d * 6 * d + timestep_mlp
    return layers * block + n * d * 16 + timestep_mlp + d * 2 * d + n * d * patch_out


@pytest.mark.parametrize(
    ("name", "tokens", "paper_gflops"),
    [("dit-xl-2-256", 256, 118.6), ("dit-xl-2-512", 1024, 524.6)],
)
def test_dit_xl_2_matches_the_paper(name, tokens, paper_gflops):
    loaded = load_model(f"diffusers:{name}", device="meta")
    assert [str(s) for s in loaded.default_inputs] == [
        f"hidden_states=1x4x{32 if tokens == 256 else 64}x{32 if tokens == 256 else 64}",
        "timestep=1:int64",
        "class_labels=1:int64",
    ]
    args, kwargs = loaded.inputs()
    prof = profile(loaded.model, *args, kwargs=kwargs)
    assert prof.complete
    macs = prof.totals.macs
    assert abs(macs / (paper_gflops * 1e9) - 1) < 0.01
    assert macs == _dit_macs_closed_form(tokens, 1152, 28, 2 * 2 * 8)


def test_tiny_dit_real_equals_meta(tmp_path):
    config = {
        "_class_name": "DiTTransformer2DModel",
        "attention_head_dim": 8,
        "num_attention_heads": 2,
        "num_layers": 2,
        "in_channels": 4,
        "out_channels": 8,
        "patch_size": 2,
        "sample_size": 8,
        "num_embeds_ada_norm": 10,
        "norm_type": "ada_norm_zero",
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    counts = []
    for device in ("cpu", "meta"):
        loaded = load_model(f"diffusers:{tmp_path}", device=device)
        args, kwargs = loaded.inputs()
        t = profile(loaded.model, *args, kwargs=kwargs).totals
        counts.append((t.flops, t.macs, t.params, t.bytes_read, t.bytes_written))
    assert counts[0] == counts[1] and counts[0][1] > 0


def test_unknown_diffusers_name():
    with pytest.raises(UnknownModel, match="did you mean dit-xl-2-256"):
        load_model("diffusers:dit-xl-2-265", device="meta")


@pytest.mark.parametrize(
    ("name", "params", "inputs"),
    [
        # Published parameter count of the Stable Diffusion 1.5 UNet (SDXL's: in
        # test_sdxl_generation_per_component_and_total).
        (
            "sd15-unet",
            859_520_964,
            ["sample=1x4x64x64", "timestep=1:int64", "encoder_hidden_states=1x77x768"],
        ),
    ],
)
def test_stable_diffusion_unets(name, params, inputs):
    from flopwise.pipeline import run_profile

    loaded = load_model(f"diffusers:{name}", device="meta")
    assert [str(s) for s in loaded.default_inputs] == inputs
    prof = run_profile(f"diffusers:{name}", [], device="meta")
    assert prof.totals.params == params
    assert prof.complete and prof.totals.macs > 0
    assert "one denoising step" in prof.source.resolved


def test_pixart_alpha_text_states():
    loaded = load_model("diffusers:pixart-alpha", device="meta")
    assert loaded.name == "diffusers:pixart-alpha-512"
    assert [str(s) for s in loaded.default_inputs] == [
        "hidden_states=1x4x64x64",
        "timestep=1:int64",
        "encoder_hidden_states=1x120x4096",
    ]
    args, kwargs = loaded.inputs()
    prof = profile(loaded.model, *args, kwargs=kwargs)
    # PixArt-α is DiT-XL/2 (0.6B parameters) with cross-attention to 120 T5 tokens.
    assert round(prof.totals.params / 1e9, 1) == 0.6 and prof.complete
    assert prof.totals.macs == _pixart_macs_closed_form(batch=1)


# ---------------------------------------------------------------------------------------
# Whole generations. Closed forms written from the architectures by hand (batch B, all
# MACs of contractions: linear layers, convolutions, attention pairs · (E + Ev)).


def _clip_text_macs(batch: int, width: int, mlp: int, layers: int, projection: int) -> int:
    """CLIP text tower on 77 tokens: per layer q/k/v/out 4·L·d², causal attention pairs
    L(L+1)/2 · 2d (is_causal, top-left), MLP 2·L·d·mlp; plus the pooled token's text
    projection d·projection (0 for CLIPTextModel)."""
    tokens, pairs = 77, 77 * 78 // 2
    per_layer = tokens * (4 * width * width + 2 * width * mlp) + 2 * pairs * width
    return batch * (layers * per_layer + width * projection)


def _t5_xxl_encoder_macs(batch: int, tokens: int = 120) -> int:
    """T5 v1.1 XXL encoder (d 4096, 64 heads of 64, gated-GELU 10240, 24 layers): per layer
    q/k/v/o 4·L·d·4096, full attention pairs L²·(64+64) per head, gated MLP 3·L·d·10240;
    the relative position bias is an embedding lookup (no MACs)."""
    d, inner, ff = 4096, 64 * 64, 10240
    per_layer = tokens * (4 * d * inner + 3 * d * ff) + 2 * tokens * tokens * inner
    return batch * 24 * per_layer


def _pixart_macs_closed_form(batch: int) -> int:
    """One PixArt-α XL/2 step at 512 (N = 32² = 1024 tokens of D = 1152, 28 blocks, 120
    text tokens of 4096 channels): patch embedding N·D·(2·2·4); adaLN-single once (the
    timestep MLP 256·D + D², the modulation D·6D); the caption projection L·(4096·D + D²);
    per block self-attention projections 4·N·D² and pairs N²·2D, cross-attention
    projections (q, out from N tokens, k, v from L) 2·N·D² + 2·L·D² and pairs N·L·2D, MLP
    8·N·D²; the final projection N·D·(2·2·8)."""
    n, d, text = 1024, 1152, 120
    block = 4 * n * d * d + 2 * n * n * d
    block += 2 * n * d * d + 2 * text * d * d + 2 * n * text * d
    block += 8 * n * d * d
    head = 16 * n * d + 256 * d + d * d + 6 * d * d + text * (4096 * d + d * d)
    return batch * (head + 28 * block + n * d * 32)


def _resnet_macs(c_in: int, c_out: int, pixels: int) -> int:
    """A VAE ResnetBlock2D: two 3x3 convolutions and a 1x1 shortcut when channels change."""
    shortcut = c_in * c_out * pixels if c_in != c_out else 0
    return 9 * c_in * c_out * pixels + 9 * c_out * c_out * pixels + shortcut


def _sd_vae_decoder_macs(latent: int) -> int:
    """SD VAE decode of one latent of ``latent``² (channels 4): post_quant_conv 1x1, conv_in
    3x3 4->512, the mid block (two 512 resnets and one single-head spatial self-attention:
    4·N·512² projections, N²·2·512 pairs), four up blocks of three resnets (512, 512, 256,
    128 channels) each but the last followed by a 3x3 convolution at twice the size, and
    conv_out 3x3 128->3."""
    size, pixels = latent, latent * latent
    macs = 4 * 4 * pixels + 9 * 4 * 512 * pixels
    macs += 2 * _resnet_macs(512, 512, pixels) + 4 * pixels * 512 * 512 + 2 * pixels**2 * 512
    c_in = 512
    for i, c_out in enumerate([512, 512, 256, 128]):
        pixels = size * size
        macs += _resnet_macs(c_in, c_out, pixels) + 2 * _resnet_macs(c_out, c_out, pixels)
        c_in = c_out
        if i < 3:
            size *= 2
            macs += 9 * c_out * c_out * size * size
    return macs + 9 * 128 * 3 * size * size


# Published parameter counts, per component:
# - CLIP ViT-L/14 text tower 123,060,480 and OpenCLIP ViT-bigG/14 text tower with its
#   projection 694,659,840, T5 v1.1 XXL encoder 4,762,310,656: NVIDIA AITune's "Ahead-of-
#   time Inspect Guide" module table of stable-diffusion-3-medium-diffusers (text_encoder_2
#   694659840, text_encoder_3 4762310656; its text_encoder is CLIP-L *with* a 768x768
#   projection: 123,650,304 = 123,060,480 + 589,824). The SDXL pipeline's two text
#   encoders together: 817,720,320.
# - SDXL base UNet 2,567,463,684: the diffusers SDXL DreamBooth training log
#   ("unet params = 2567463684") and model registries listing SDXL/SDXL Turbo.
# - SD 1.5 UNet 859,520,964 (the "860M" of the model card).
# - PixArt-α XL/2 transformer 0.6B (Chen et al. 2023, "PixArt-α: Fast Training of
#   Diffusion Transformer", 0.6B parameters): 610,856,096.
# - SD VAE decoder half (post_quant_conv + decoder) 49,490,199; SD3's decoder (16 latent
#   channels, no post_quant_conv) is 49,545,475 in the same AITune table, the same network
#   but conv_in 16->512: 49,490,199 - 20 + 12·512·9 = 49,545,475.
_PUBLISHED_PARAMS = {
    "sd15": [("text_encoder", 123_060_480), ("denoiser", 859_520_964)],
    "sdxl": [
        ("text_encoder", 123_060_480),
        ("text_encoder_2", 694_659_840),
        ("denoiser", 2_567_463_684),
    ],
    "pixart-alpha": [("text_encoder", 4_762_310_656), ("denoiser", 610_856_096)],
}


@pytest.mark.parametrize("pipeline", list(_PUBLISHED_PARAMS))
def test_pipeline_components_match_published_parameter_counts(pipeline):
    from flopwise.sources.diffusion import generation_parts

    parts = generation_parts(pipeline, steps=50, guidance=True)
    params = {p.name: sum(t.numel() for o in p.owners for t in o.parameters()) for p in parts}
    expected = dict(_PUBLISHED_PARAMS[pipeline], vae_decoder=49_490_199)
    assert params == expected  # also the component list, in pipeline order
    assert list(params) == [*(n for n, _ in _PUBLISHED_PARAMS[pipeline]), "vae_decoder"]
    assert [p.calls for p in parts] == [1] * (len(parts) - 2) + [50, 1]


def test_sd3_vae_decoder_parameter_count_cross_checks_ours():
    """The SD3 VAE decoder's published 49,545,475 parameters (AITune table, above) from the
    same decoder class with 16 latent channels: an independent check of the VAE config."""
    import torch

    from flopwise.sources.diffusion import PIPELINES, build_diffusers_model

    with torch.device("meta"):
        vae = build_diffusers_model({**PIPELINES["sd15"].vae, "latent_channels": 16})
    assert sum(p.numel() for p in vae.decoder.parameters()) == 49_545_475


@pytest.mark.parametrize(
    ("pipeline", "guidance", "text", "denoiser"),
    [
        # Guidance doubles the denoiser batch; SD 1.5 and PixArt-α encode the empty negative
        # prompt too, SDXL's pipeline zeroes it (force_zeros_for_empty_prompt).
        ("sd15", True, ["input_ids=2x77:int64"], "sample=2x4x64x64"),
        ("sdxl", True, ["input_ids=1x77:int64"] * 2, "sample=2x4x128x128"),
        ("sdxl", False, ["input_ids=1x77:int64"] * 2, "sample=1x4x128x128"),
        ("pixart-alpha", True, ["input_ids=2x120:int64"], "hidden_states=2x4x64x64"),
        ("pixart-alpha", False, ["input_ids=1x120:int64"], "hidden_states=1x4x64x64"),
    ],
)
def test_guidance_batches(pipeline, guidance, text, denoiser):
    from flopwise.sources.diffusion import generation_parts

    parts = generation_parts(pipeline, steps=1, guidance=guidance)
    assert [str(p.inputs[0]) for p in parts[:-2]] == text
    assert str(parts[-2].inputs[0]) == denoiser
    assert parts[-1].inputs[0].shape[0] == 1  # one image decoded either way
    if pipeline == "sdxl":
        added = parts[-2].kwargs["added_cond_kwargs"]
        assert added["text_embeds"].shape == (2 if guidance else 1, 1280)
        assert added["time_ids"].shape == (2 if guidance else 1, 6)


def test_unknown_pipeline_and_aliases():
    from flopwise.sources.diffusion import PIPELINES, pipeline_spec

    assert pipeline_spec("PixArt") is PIPELINES["pixart-alpha"]
    with pytest.raises(UnknownModel, match="did you mean sdxl"):
        pipeline_spec("sdxk")


def _check_total(cost: dict, steps: int) -> None:
    """total = Σ text encoders + steps · denoiser per call + VAE decode, exactly."""
    parts = {c["name"]: c for c in cost["components"]}
    for key in ("flops", "macs", "bytes"):
        text = sum(c["per_call"][key] for n, c in parts.items() if n.startswith("text_encoder"))
        expected = text + steps * parts["denoiser"]["per_call"][key]
        expected += parts["vae_decoder"]["per_call"][key]
        assert cost["total"][key] == expected
        for c in cost["components"]:
            assert c["total"][key] == c["per_call"][key] * c["calls"]


@pytest.mark.slow
def test_pixart_alpha_generation_matches_closed_forms():
    from flopwise.pipeline import generation_cost

    cost = generation_cost("pixart-alpha", steps=20, guidance=True)
    parts = {c["name"]: c for c in cost["components"]}
    assert all(c["complete"] for c in cost["components"])
    # Guidance: T5 encodes the prompt and the empty negative prompt (batch 2), the
    # transformer runs at batch 2 each step, the VAE decodes one 64x64 latent to 512x512.
    assert parts["text_encoder"]["per_call"]["macs"] == _t5_xxl_encoder_macs(batch=2)
    assert parts["denoiser"]["per_call"]["macs"] == _pixart_macs_closed_form(batch=2)
    assert parts["vae_decoder"]["per_call"]["macs"] == _sd_vae_decoder_macs(64)
    assert [c["calls"] for c in cost["components"]] == [1, 20, 1]
    _check_total(cost, 20)
    assert cost["total"]["macs"] == (
        _t5_xxl_encoder_macs(2) + 20 * _pixart_macs_closed_form(2) + _sd_vae_decoder_macs(64)
    )


@pytest.mark.slow
def test_sdxl_generation_per_component_and_total():
    from flopwise.pipeline import generation_cost, run_profile

    cost = generation_cost("sdxl", steps=30, guidance=True)
    parts = {c["name"]: c for c in cost["components"]}
    assert list(parts) == ["text_encoder", "text_encoder_2", "denoiser", "vae_decoder"]
    assert all(c["complete"] for c in cost["components"])
    # Text encoders at batch 1 (SDXL zeroes the negative prompt's embeddings), both towers
    # run to their last layer (the pipeline reads the penultimate hidden states).
    assert parts["text_encoder"]["per_call"]["macs"] == _clip_text_macs(1, 768, 3072, 12, 0)
    assert parts["text_encoder_2"]["per_call"]["macs"] == _clip_text_macs(1, 1280, 5120, 32, 1280)
    # 1024x1024: 128x128 latents decoded by the same VAE decoder as SD 1.5.
    assert parts["vae_decoder"]["per_call"]["macs"] == _sd_vae_decoder_macs(128)
    # A guided step is two diffusers:sdxl-unet steps at batch 1 (MACs are linear in batch;
    # flops are not quite: the sinusoidal frequency tables are computed once per call),
    # added conditions (text_embeds, time_ids) included.
    loaded = load_model("diffusers:sdxl-unet", device="meta")
    assert [str(s) for s in loaded.default_inputs] == [
        "sample=1x4x128x128",
        "timestep=1:int64",
        "encoder_hidden_states=1x77x2048",
    ]
    unet = run_profile("diffusers:sdxl-unet", [], device="meta")
    assert "one denoising step" in unet.source.resolved
    assert unet.complete and unet.totals.params == 2_567_463_684
    assert parts["denoiser"]["per_call"]["macs"] == 2 * unet.totals.macs
    _check_total(cost, 30)


@pytest.mark.slow
def test_sd15_generation_per_component_and_total(capsys, monkeypatch):
    from flopwise.cli import main
    from flopwise.pipeline import generation_cost

    guided = generation_cost("sd15", steps=50, guidance=True)
    parts = {c["name"]: c for c in guided["components"]}
    assert list(parts) == ["text_encoder", "denoiser", "vae_decoder"]
    assert [c["calls"] for c in guided["components"]] == [1, 50, 1]
    assert all(c["complete"] for c in guided["components"])
    # Guidance doubles the batch of the text encoder (prompt and empty prompt) and of
    # every step (the UNet is linear in batch); the VAE decodes one image.
    assert parts["text_encoder"]["per_call"]["macs"] == _clip_text_macs(2, 768, 3072, 12, 0)
    assert parts["vae_decoder"]["per_call"]["macs"] == _sd_vae_decoder_macs(64)
    unet = load_model("diffusers:sd15-unet", device="meta")
    args, kwargs = unet.inputs()
    step = profile(unet.model, *args, kwargs=kwargs).totals
    assert parts["denoiser"]["per_call"]["macs"] == 2 * step.macs
    _check_total(guided, 50)
    # The command renders the API's result for its options (the count is not run again).
    calls = []
    fake = lambda *args, **kwargs: calls.append((args, kwargs)) or guided  # noqa: E731
    monkeypatch.setattr("flopwise.pipeline.generation_cost", fake)
    assert main(["diffusion", "sd15", "--steps", "50"]) == 0
    assert calls == [(("sd15",), {"steps": 50, "guidance": True})]
    out = capsys.readouterr().out
    assert "50 steps, with classifier-free guidance" in out
    assert f"({guided['total']['macs']:,} MACs)" in out
