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
        # Published parameter counts of the Stable Diffusion 1.5 and SDXL base UNets.
        (
            "sd15-unet",
            859_520_964,
            ["sample=1x4x64x64", "timestep=1:int64", "encoder_hidden_states=1x77x768"],
        ),
        (
            "sdxl-unet",
            2_567_463_684,
            ["sample=1x4x128x128", "timestep=1:int64", "encoder_hidden_states=1x77x2048"],
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


def test_sd15_generation_per_component_and_total(capsys):
    from flopwise.cli import main
    from flopwise.pipeline import generation_cost

    guided = generation_cost("sd15", steps=50, guidance=True)
    parts = {c["name"]: c for c in guided["components"]}
    assert list(parts) == ["text_encoder", "denoiser", "vae_decoder"]
    # Published parameter counts: CLIP ViT-L/14 text encoder, SD 1.5 UNet, SD VAE decoder.
    assert parts["text_encoder"]["params"] == 123_060_480
    assert parts["denoiser"]["params"] == 859_520_964
    assert parts["vae_decoder"]["params"] == 49_490_199
    assert [c["calls"] for c in guided["components"]] == [1, 50, 1]
    assert all(c["complete"] for c in guided["components"])
    # Guidance doubles the batch: the step count is exactly twice the unguided one (the
    # UNet is linear in batch), the VAE decode (one image) is unchanged.
    plain = generation_cost("sd15", steps=1, guidance=False)
    plain_parts = {c["name"]: c for c in plain["components"]}
    assert parts["denoiser"]["per_call"]["macs"] == 2 * plain_parts["denoiser"]["per_call"]["macs"]
    assert parts["vae_decoder"]["per_call"] == plain_parts["vae_decoder"]["per_call"]
    # The total is the sum of the components, each per-call count times its calls.
    for key in ("flops", "macs", "bytes"):
        assert guided["total"][key] == sum(
            c["per_call"][key] * c["calls"] for c in guided["components"]
        )
    # The single denoiser step equals the diffusers:sd15-unet profile.
    unet = load_model("diffusers:sd15-unet", device="meta")
    args, kwargs = unet.inputs()
    assert (
        plain_parts["denoiser"]["per_call"]["macs"]
        == profile(unet.model, *args, kwargs=kwargs).totals.macs
    )
    assert main(["diffusion", "sd15", "--steps", "50"]) == 0
    out = capsys.readouterr().out
    assert "50 steps, with classifier-free guidance" in out
    assert f"({guided['total']['macs']:,} MACs)" in out
