"""The memory timeline chart: per-category live bytes stacked over the op sequence, the
total curve and the labelled peak, from a hand-built MemoryProfile whose every number is
counted by hand; and ``flopwise memory -f html`` on a tiny model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flopwise.cli import main
from flopwise.memory.result import (
    CATEGORIES,
    Block,
    CheckpointSaving,
    Fit,
    MeasuredPeak,
    MemoryMode,
    MemoryPeak,
    MemoryProfile,
)
from flopwise.report.html import render_memory_html
from flopwise.report.json import memory_document
from flopwise.report.memory import memory_table, memory_timeline_chart
from flopwise.report.plots_svg import chart_svg

POLYGON = re.compile(r'<polygon class="series area" points="([^"]+)"[^>]*><title>([^<]+)<')
POLYLINE = re.compile(r'<polyline class="series" points="([^"]+)"')
CIRCLE = re.compile(r'<circle class="pt" cx="([^"]+)" cy="([^"]+)"')
LABEL = re.compile(r'<text class="pt-label"[^>]*>([^<]+)</text>')


def _block(i: int, n: int, cat: str, birth: int, death: int | None) -> Block:
    return Block(i, n, n, cat, birth, death, birth, "op", "", "training")


def tiny_profile() -> MemoryProfile:
    """Four ops. Parameters 1024 B from before the step; a saved tensor of 512 B born at op
    0 and freed after op 3; a 2048 B temporary living only inside op 1; a 1024 B gradient
    from op 2 on. Live totals per op: 1536, 3584, 2560, 2560; the peak is op 1."""
    blocks = [
        _block(0, 1024, "parameters", -1, None),
        _block(1, 512, "saved", 0, 3),
        _block(2, 2048, "temporaries", 1, 1),
        _block(3, 1024, "gradients", 2, None),
    ]
    by_peak = dict.fromkeys(CATEGORIES, 0) | {"parameters": 1024, "saved": 512, "temporaries": 2048}
    return MemoryProfile(
        model="tiny",
        mode=MemoryMode("training", None, "fake", "cpu", "cpu", [], 1, None),
        granularity=512,
        baseline_bytes=1024,
        baseline_by_category=dict.fromkeys(CATEGORIES, 0) | {"parameters": 1024},
        peak=MemoryPeak(3584, 1, "aten.mm.default", "fc", "forward", by_peak),
        final_bytes=2048,
        curve=[1536, 3584, 2560, 2560],
        ops=["aten.mul.Tensor", "aten.mm.default", "aten.mm.default", "aten.sum.default"],
        phases={"forward": [0, 1], "backward": [2, 3]},
        phase_peaks={"forward": 3584, "backward": 2560},
        blocks=blocks,
        modules=[],
    )


def _pairs(points: str) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in points.split()]


def test_curve_by_category_counts_each_block_over_its_lifetime() -> None:
    by = tiny_profile().curve_by_category()
    assert by["parameters"] == [1024, 1024, 1024, 1024]
    assert by["saved"] == [512, 512, 512, 512]
    assert by["temporaries"] == [0, 2048, 0, 0]
    assert by["gradients"] == [0, 0, 1024, 1024]
    assert by["optimizer_state"] == [0, 0, 0, 0]


def test_timeline_svg_stacks_categories_and_labels_the_peak() -> None:
    mp = tiny_profile()
    svg = chart_svg(memory_timeline_chart(mp))
    areas = POLYGON.findall(svg)
    # one area per category with bytes, the largest cumulative (top) first
    assert [name for _, name in areas] == ["temporaries", "saved", "gradients", "parameters"]
    for points, _ in areas:
        assert len(_pairs(points)) == 4 + 2  # one point per op, closed down to zero
    (line,) = POLYLINE.findall(svg)
    total = _pairs(line)
    assert len(total) == 4
    # the stack's top is the live total at every op (no block here is freed inside an op)
    top = _pairs(areas[0][0])[:4]
    assert [y for _, y in top] == [y for _, y in total]
    # the parameters area is flat (1024 B throughout) and below the others
    params = _pairs(areas[-1][0])[:4]
    assert len({y for _, y in params}) == 1 and params[0][1] > total[0][1]
    # y is linear from zero: 3584 B sits 3584/1536 as far above the axis as 1536 B
    zero_y = _pairs(areas[0][0])[-1][1]
    assert (zero_y - total[1][1]) / (zero_y - total[0][1]) == pytest.approx(3584 / 1536, rel=1e-3)
    (peak,) = CIRCLE.findall(svg)
    assert (float(peak[0]), float(peak[1])) == total[1]
    assert LABEL.findall(svg) == [
        "peak 3584 B at op #1 aten.mm.default in &#x27;fc&#x27; (forward)"
    ]


def test_memory_html_page_is_self_contained() -> None:
    html = render_memory_html(tiny_profile())
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert 'data-chart="memory-timeline"' in html and 'data-state="data"' in html
    assert set(re.findall(r"https?://[^\s\"'<>)]+", html)) <= {"http://www.w3.org/2000/svg"}
    doc = json.loads(re.search(r'id="flopwise-document">(.*?)</script>', html).group(1))
    assert doc["document"]["peak_bytes"] == 3584


FACTORY = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    return nn.Linear(64, 64), torch.randn(1, 64)
"""


def test_typed_sections_in_the_document_table_and_page() -> None:
    """The typed sections are written where the untyped bag put them (after the curve, in
    the order step_flops, checkpoint, measured, fit) and a fit that was not searched has no
    ``largest_batch`` key; the table and the page read the same fields."""
    mp = tiny_profile()
    mp.mode.tensors, mp.mode.allocator_device = "meta", "cuda"  # what the table's header reads
    mp.step_flops = 96
    mp.checkpoint = CheckpointSaving(["fc"], 3584, 3072, 512, 0, 512, 64)
    mp.measured = MeasuredPeak("profiler", 2500, 2560, 60, "exact")
    mp.fit = Fit("tiny-gpu", 3000, False)
    doc = memory_document(mp)
    assert list(doc)[-5:] == ["curve_bytes", "step_flops", "checkpoint", "measured", "fit"]
    assert doc["fit"] == {"hardware": "tiny-gpu", "capacity_bytes": 3000, "fits": False}
    assert doc["checkpoint"]["recompute_flops"] == 64
    assert doc["measured"]["difference_bytes"] == 60
    text = memory_table(mp)
    assert "does NOT fit on tiny-gpu" in text and "largest batch" not in text
    assert "difference +60 bytes" in text and "recomputes 64 FLOPs" in text
    mp.fit = Fit("tiny-gpu", 3000, False, largest_batch=0)
    assert memory_document(mp)["fit"]["largest_batch"] == 0
    page = render_memory_html(mp)
    assert "largest batch that fits" in page and "does not fit" in page


def test_mode_is_written_in_its_order_with_batch_and_dtype_when_the_pipeline_set_them() -> None:
    """The typed mode keeps the document's keys and order; ``batch`` and ``dtype`` appear
    only once the pipeline filled them (a profile made directly has neither)."""
    mp = tiny_profile()
    keys = ["phase", "optimizer", "tensors", "device", "allocator_device", "checkpoint"]
    keys += ["accumulate", "amp"]
    assert list(memory_document(mp)["mode"]) == keys
    mp.mode.batch, mp.mode.dtype = None, "float32"  # inputs without a batch dimension
    mode = memory_document(mp)["mode"]
    assert list(mode) == [*keys, "batch", "dtype"] and mode["batch"] is None
    assert memory_table(mp).startswith("tiny: training, fake tensors")


def test_memory_command_writes_the_timeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tiny.py").write_text(FACTORY)
    model = f"{tmp_path / 'tiny.py'}:build"
    common = ["memory", model, "--batch", "8", "--granularity", "512"]
    assert main([*common, "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    out = tmp_path / "mem.html"
    assert main([*common, "-f", "html", "-o", str(out)]) == 0
    html = out.read_text()
    # 512-byte blocks: weight 64·64·4 = 16384, bias 256 → 512, input and output
    # 8·64·4 = 2048 each: 16384 + 512 + 2·2048 = 20992 at the peak
    assert doc["peak_bytes"] == 20992
    (line,) = POLYLINE.findall(html)
    assert len(_pairs(line)) == len(doc["curve_bytes"])
    (label,) = LABEL.findall(html)
    assert label.startswith(f"peak 20992 B at op #{doc['peak']['position']} {doc['peak']['op']}")
    capsys.readouterr()
    assert main([*common, "-f", "html"]) != 0  # a page is not printed to the terminal
    assert "--output" in capsys.readouterr().err


def test_timeline_png_draws_the_areas(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from flopwise.report.plots_svg import chart_png

    path = chart_png(memory_timeline_chart(tiny_profile()), tmp_path / "mem.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
