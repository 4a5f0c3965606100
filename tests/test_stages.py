"""Pipeline stages beyond inference: shares, real preprocessing, postprocessing choice, the
CUDA path failing cleanly here, and tiny models end to end. No wall-clock time is asserted:
only structure, shapes and consistency."""

from __future__ import annotations

import io
import json
import math
from dataclasses import fields
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from flopwise.errors import FlopwiseError
from flopwise.measure.options import MeasureOptions
from flopwise.measure.stages import (
    SCHEMA,
    STAGES,
    ImagePreprocess,
    TextPreprocess,
    choose_postprocess,
    find_image_input,
    find_token_input,
    in_memory_tokenizer,
    make_image_bytes,
    measure_stages,
    stage_shares,
)
from flopwise.measure.stages import preprocess as stage_preprocess
from flopwise.measure.timing import DeviceUnavailable
from flopwise.report.stages import stage_rows, stage_summary
from flopwise.sections import EndToEnd, Stages, StageTiming

PIL_Image = pytest.importorskip("PIL.Image")


class TinyConvNet(nn.Module):
    """A classifier small enough to time in milliseconds."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, kernel_size=3, stride=4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


class TinyLM(nn.Module):
    """Embedding → linear head, returning an HF-like object with ``logits``."""

    def __init__(self, vocab: int = 100, dim: int = 8) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        hidden = self.emb(input_ids)
        if attention_mask is not None:
            hidden = hidden * attention_mask.unsqueeze(-1).to(hidden.dtype)
        return SimpleNamespace(logits=self.head(hidden))


# -- shares -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "times",
    [
        {"preprocess": 0.004, "host_to_device": 0.0, "inference": 0.02, "postprocess": 1e-5},
        {"inference": 1.0},
        {"a": 1e-9, "b": 3e-9, "c": 7.5},
        {"a": 0.1, "b": 0.2, "c": 0.3},
    ],
)
def test_stage_shares_sum_to_one_and_keep_order(times):
    shares = stage_shares(times)
    assert list(shares) == list(times)
    assert math.fsum(shares.values()) == pytest.approx(1.0)
    assert all(0.0 <= v <= 1.0 for v in shares.values())
    # proportional to the times
    biggest = max(times, key=times.get)
    assert shares[biggest] == max(shares.values())


def test_stage_shares_edge_cases():
    assert stage_shares({}) == {}
    assert stage_shares({"a": 0.0, "b": 0.0}) == {"a": 0.0, "b": 0.0}
    assert stage_shares({"a": 1.0, "b": 3.0}) == {"a": 0.25, "b": 0.75}
    with pytest.raises(ValueError, match="'b'"):
        stage_shares({"a": 1.0, "b": -1.0})
    with pytest.raises(ValueError):
        stage_shares({"a": float("nan")})


# -- preprocessing really decodes -------------------------------------------------------


def test_image_bytes_are_real_encoded_images_of_the_requested_size():
    vga = make_image_bytes(640, 480, "jpeg")
    small = make_image_bytes(320, 240, "jpeg")
    png = make_image_bytes(320, 240, "png")
    assert vga[:2] == b"\xff\xd8" and small[:2] == b"\xff\xd8"  # JPEG SOI marker
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert vga != small and small != png
    assert len(vga) > len(small)  # more pixels, more bytes
    assert make_image_bytes(320, 240, "jpeg") == small  # deterministic
    assert make_image_bytes(320, 240, "jpeg", seed=1) != small
    for data, size in ((vga, (640, 480)), (small, (320, 240)), (png, (320, 240))):
        with PIL_Image.open(io.BytesIO(data)) as im:
            assert im.size == size and im.mode == "RGB"
    with pytest.raises(FlopwiseError, match="jpeg or png"):
        make_image_bytes(8, 8, "gif")


@pytest.mark.parametrize("backend", ["torchvision.v2", "pil+torch"])
def test_image_preprocess_outputs_the_model_input_shape(backend):
    if backend == "torchvision.v2":
        pytest.importorskip("torchvision.transforms.v2")
    proc = ImagePreprocess(out_hw=(32, 48), batch=2, backend=backend)
    out = proc(make_image_bytes(160, 120))
    assert type(out) is torch.Tensor
    assert out.shape == (2, 3, 32, 48) and out.dtype == torch.float32
    # normalised: roughly zero-centred, not raw 0..255 or 0..1 values
    assert out.min() < 0 < out.max() and out.abs().max() < 5
    # it depends on the bytes it decodes
    other = proc(make_image_bytes(160, 120, seed=3))
    assert not torch.allclose(out, other)
    with pytest.raises(PIL_Image.UnidentifiedImageError):
        proc(b"not an image at all")


def test_image_backends_agree_on_the_pixels():
    pytest.importorskip("torchvision.transforms.v2")
    data = make_image_bytes(200, 150, "png")
    a = ImagePreprocess(out_hw=(40, 40), backend="torchvision.v2")(data)
    b = ImagePreprocess(out_hw=(40, 40), backend="pil+torch")(data)
    # resampling filters differ slightly; the images are the same picture
    assert (a - b).abs().mean() < 0.1


def test_image_preprocess_variants():
    data = make_image_bytes(100, 60)
    # Hugging Face style: resize straight to the input size, no crop
    hf = ImagePreprocess(out_hw=(24, 24), crop_ratio=None, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert hf(data).shape == (1, 3, 24, 24)
    gray = ImagePreprocess(out_hw=(16, 16), channels=1, dtype=torch.bfloat16, batch=3)
    out = gray(data)
    assert out.shape == (3, 1, 16, 16) and out.dtype == torch.bfloat16
    assert stage_preprocess._resize_target((480, 640), (224, 224), 0.875) == (256, 341)
    assert stage_preprocess._resize_target((480, 640), (224, 224), None) == (224, 224)


def test_text_preprocess_tokenizes_to_the_model_shape_and_vocab():
    pytest.importorskip("tokenizers")
    tok = in_memory_tokenizer()
    assert tok.get_vocab_size() > 256  # byte alphabet plus merges
    proc = TextPreprocess(tok, batch=2, length=16, vocab_size=50)
    ids, mask = proc()
    assert ids.shape == mask.shape == (2, 16)
    assert ids.dtype == mask.dtype == torch.int64
    assert int(ids.max()) < 50 and int(ids.min()) >= 0
    assert mask.tolist() == [[1] * 16, [1] * 16]  # texts are longer than 16 tokens
    short_ids, short_mask = proc(["hi", "hello there"])
    assert short_mask[0].sum() < 16 and short_ids[0, -1] == 0  # padded with <pad> = 0
    # the texts differ, so the ids do
    assert not torch.equal(ids[0], ids[1])


def test_input_slots():
    x = torch.randn(1, 3, 32, 32)
    ids = torch.zeros(1, 8, dtype=torch.int64)
    assert find_image_input((x,), {}) == ("arg", 0)
    assert find_image_input((), {"pixel_values": x}) == ("kwarg", "pixel_values")
    assert find_image_input((ids,), {}) is None
    assert find_token_input((), {"attention_mask": ids, "input_ids": ids}) == (
        "kwarg",
        "input_ids",
    )
    assert find_token_input((ids,), {}) == ("arg", 0)
    assert find_token_input((x,), {}) is None


# -- postprocessing -----------------------------------------------------------------------


def test_choose_postprocess_by_output_structure():
    fn, label = choose_postprocess(torch.randn(2, 10))
    assert label == "softmax + top-5"
    values, indices = fn(torch.randn(2, 10))
    assert values.shape == indices.shape == (2, 5)
    _, label3 = choose_postprocess(torch.randn(1, 3))
    assert label3 == "softmax + top-3"

    lm = SimpleNamespace(logits=torch.randn(2, 7, 30))
    fn, label = choose_postprocess(lm)
    assert "next token" in label
    assert fn(lm).shape == (2,)

    enc = {"last_hidden_state": torch.randn(2, 5, 8)}
    fn, label = choose_postprocess(enc)
    assert "embedding" in label
    assert torch.allclose(fn(enc).norm(dim=-1), torch.ones(2))

    seg = {"out": torch.randn(1, 4, 6, 6)}
    fn, label = choose_postprocess(seg)
    assert "per pixel" in label and fn(seg).shape == (1, 6, 6)

    assert choose_postprocess([{"boxes": torch.zeros(0, 4)}]) is None


# -- measure_stages -----------------------------------------------------------------------


def test_cuda_path_fails_with_one_clean_line():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    model = TinyConvNet()
    with pytest.raises(DeviceUnavailable) as info:
        measure_stages(model, (torch.randn(1, 3, 32, 32),), {}, source="module", device="cuda")
    message = str(info.value)
    assert "\n" not in message and "cuda" in message
    assert isinstance(info.value, FlopwiseError)


def test_stage_rows_and_summary_read_the_typed_section():
    stages = Stages(
        order=list(STAGES),
        stages={
            "preprocess": StageTiming(
                status="measured", median_s=0.003, share=0.3, trustworthy=True
            ),
            "host_to_device": StageTiming(status="not_applicable", median_s=0.0, share=0.0),
            "inference": StageTiming(
                status="measured", median_s=0.0069, share=0.69, trustworthy=False, reason="noisy"
            ),
            "postprocess": StageTiming(status="skipped", note="no postprocessing known"),
        },
        total_s=0.0099,
        end_to_end=EndToEnd(median_s=0.012),
    )
    assert stage_summary(stages) == (
        "preprocess 30% · host_to_device n/a · inference 69%? · postprocess skipped "
        "(sum 9.9 ms; end to end 12 ms)"
    )
    rows = stage_rows(stages)
    assert [r["stage"] for r in rows] == list(STAGES)
    assert rows[2]["note"] == "noisy" and rows[3]["note"] == "no postprocessing known"


@pytest.mark.measure
def test_tiny_vision_model_end_to_end():
    torch.manual_seed(0)
    model = TinyConvNet().eval()
    x = torch.randn(2, 3, 32, 32)
    res = measure_stages(
        model,
        (x,),
        {},
        source="torchvision",
        measure=MeasureOptions(repeats=3, warmup=1),
        image_size=(96, 64),
    )
    assert isinstance(res, Stages)
    doc = json.loads(json.dumps(res.to_dict()))  # JSON-ready, and read back the same
    assert json.dumps(Stages.from_dict(doc).to_dict()) == json.dumps(doc)
    assert list(doc) == [f.name for f in fields(Stages) if f.name != "other"]
    assert doc["stages"]["host_to_device"]["bytes"] == 0
    assert "bytes" not in doc["stages"]["inference"]
    assert res.schema == SCHEMA and res.device == "cpu" and res.kind == "image"
    assert res.order == list(STAGES) and list(res.stages) == list(STAGES)
    assert list(res.input["output_shape"]) == [2, 3, 32, 32]
    assert list(res.input["image_size"]) == [96, 64] and res.input["encoded_bytes"] > 0

    s = res.stages
    assert all(isinstance(s[k], StageTiming) for k in STAGES)
    assert [s[k].status for k in STAGES] == [
        "measured",
        "not_applicable",
        "measured",
        "measured",
    ]
    assert s["host_to_device"].median_s == 0.0 and s["host_to_device"].share == 0.0
    assert s["host_to_device"].latency is None
    assert "not applicable on cpu" in s["host_to_device"].note
    assert s["postprocess"].what.startswith("softmax + top-5")
    for name in ("preprocess", "inference", "postprocess"):
        assert s[name].repeats == 3 and s[name].median_s > 0
        assert s[name].latency.label == name
        assert s[name].latency.median_s == s[name].median_s
        assert isinstance(s[name].trustworthy, bool)
    assert math.fsum(res.shares.values()) == pytest.approx(1.0)
    assert res.total_s == pytest.approx(math.fsum(s[k].median_s for k in STAGES))
    assert res.shares["preprocess"] == pytest.approx(s["preprocess"].median_s / res.total_s)
    assert res.end_to_end.latency.repeats == 3
    assert res.end_to_end.over_sum > 0
    assert res.trustworthy == (not res.reasons)

    rows = stage_rows(res)
    assert [r["stage"] for r in rows] == list(STAGES)
    line = stage_summary(res)
    assert "host_to_device n/a" in line and "\n" not in line


@pytest.mark.measure
def test_tiny_language_model_end_to_end_with_tokenization(tmp_path):
    pytest.importorskip("tokenizers")
    model = TinyLM(vocab=100).eval()
    ids = torch.randint(0, 100, (2, 16))
    kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    res = measure_stages(
        model,
        (),
        kwargs,
        source="hf",
        measure=MeasureOptions(repeats=3, warmup=1),
        end_to_end=False,
    )
    assert res.kind == "text"
    assert list(res.input["output_shape"]) == [2, 16] and res.input["model_vocab"] == 100
    assert "in-memory byte-level BPE" in res.input["tokenizer"]
    assert res.stages["preprocess"].status == "measured"
    assert "next token" in res.stages["postprocess"].what
    assert res.end_to_end is None and res.to_dict()["end_to_end"] is None
    assert math.fsum(res.shares.values()) == pytest.approx(1.0)

    # a local tokenizer.json is used when given
    path = tmp_path / "tokenizer.json"
    in_memory_tokenizer().save(str(path))
    res2 = measure_stages(
        model,
        (),
        kwargs,
        measure=MeasureOptions(repeats=1, warmup=0),
        tokenizer=tmp_path,
        end_to_end=False,
    )
    assert res2.input["tokenizer"].startswith("local tokenizer")
    with pytest.raises(FlopwiseError, match="tokenizer file not found"):
        measure_stages(
            model,
            (),
            kwargs,
            measure=MeasureOptions(repeats=1),
            tokenizer=tmp_path / "missing.json",
        )


@pytest.mark.measure
def test_missing_tokenizer_skips_tokenization(monkeypatch):
    monkeypatch.setattr(stage_preprocess, "load_tokenizer", lambda tokenizer: (None, ""))
    model = TinyLM(vocab=50).eval()
    res = measure_stages(
        model,
        (torch.randint(0, 50, (1, 8)),),
        {},
        measure=MeasureOptions(repeats=2, warmup=0),
        end_to_end=False,
    )
    pre = res.stages["preprocess"]
    assert pre.status == "skipped" and pre.share is None
    assert pre.note.startswith("tokenization: no local tokenizer available")
    assert "preprocess" not in res.shares
    assert math.fsum(res.shares.values()) == pytest.approx(1.0)
    assert "preprocess skipped" in stage_summary(res)


@pytest.mark.measure
def test_preprocess_none_and_bad_requests():
    model = TinyConvNet().eval()
    x = torch.randn(1, 3, 16, 16)
    res = measure_stages(
        model,
        (x,),
        preprocess="none",
        measure=MeasureOptions(repeats=2, warmup=0),
        end_to_end=False,
    )
    assert res.kind is None and res.stages["preprocess"].status == "skipped"
    assert set(res.shares) == {"host_to_device", "inference", "postprocess"}
    with pytest.raises(FlopwiseError, match="integer"):
        measure_stages(model, (x,), preprocess="text", measure=MeasureOptions(repeats=1))
    with pytest.raises(FlopwiseError, match="preprocess must be"):
        measure_stages(model, (x,), preprocess="audio", measure=MeasureOptions(repeats=1))

    class Picky(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.abs().max() > 1e6:
                raise RuntimeError("too big\nsecond line")
            return x.mean((2, 3))

    with pytest.raises(FlopwiseError) as info:
        measure_stages(
            Picky(),
            (torch.full((1, 3, 16, 16), 1e7),),
            preprocess="none",
            measure=MeasureOptions(repeats=1),
        )
    assert "\n" not in str(info.value) and "too big" in str(info.value)


def test_profile_command_wires_stages(tmp_path, monkeypatch, capsys):
    import json

    from flopwise.cli import main

    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "runs.sqlite"))
    code = main(
        [
            "profile",
            "torchvision:mobilenet_v3_small",
            "--measure",
            "--stages",
            "--repeats",
            "2",
            "--hardware",
            "l4",
            "-f",
            "json",
            "--no-save",
            "--no-progress",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["stages"]["schema"] == "flopwise.stages/1"
    assert abs(sum(doc["stages"]["shares"].values()) - 1) < 1e-9
