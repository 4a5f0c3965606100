"""The self-contained HTML report: structure, offline-ness, empty states, static plots, the
``flopwise report`` command, and a real render in headless Chromium (no console errors, every
chart drawn, a non-blank screenshot)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from flopwise.analysis.roofline import roofline_plot
from flopwise.cli import main
from flopwise.pipeline import html_report, report_chart_list
from flopwise.report.html import format_si
from flopwise.report.plots import write_plots
from flopwise.report.plots_svg import chart_svg
from flopwise.store import Store
from test_report_html_fixtures import (
    cnn_document,
    compare_document,
    mlp_document,
    sweep_document,
)

FIGURE = re.compile(r'<figure class="chart" id="chart-([^"]+)"[^>]*data-state="(data|empty)"')


def _figures(html: str) -> dict[str, str]:
    return dict(FIGURE.findall(html))


def _assert_offline(html: str) -> None:
    """Nothing in the page refers to anything outside it."""
    lowered = html.lower()
    for needle in ("<link", "@import", " src=", "url(http", "//cdn", "fetch(", "xmlhttprequest"):
        assert needle not in lowered, needle
    # the only URL is the SVG namespace, which is an identifier, not a fetch
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls


def test_full_report_has_every_section_and_chart():
    doc = cnn_document()
    html = html_report(doc, sweep=sweep_document(), comparison=compare_document())
    _assert_offline(html)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    figures = _figures(html)
    expected = {
        "roofline",
        "efficiency-share",
        "efficiency-gap",
        "sweep-batch-time",
        "sweep-batch-flops",
        "sweep-resolution-time",
        "sweep-resolution-flops",
        "compare-flops",
        "compare-alpha-flops",
        "compare-params",
        "compare-activations",
        "compare-pareto",
    }
    assert set(figures) == expected
    assert set(figures.values()) == {"data"}
    # every module row is in the sortable table, in tree order
    table = html[html.index('<table id="modules"') :]
    for module in doc["modules"]:
        assert f'data-path="{module["path"] or "(model)"}"' in table
    assert table.count("<tr data-depth=") == len(doc["modules"])
    # totals, conventions and coverage are stated
    assert format_si(doc["totals"]["flops"], "FLOPs") in html
    assert format_si(doc["totals"]["macs"], "MACs") in html
    assert "flops_per_mac" in html and "Complete:" in html
    assert "124 GFLOP/s" in html and "26 GB/s" in html
    # the roofline draws both ceilings and one point per measured layer with flops and bytes
    roof = html[html.index('id="chart-roofline"') : html.index('id="chart-efficiency-share"')]
    assert roof.count('stroke-dasharray="6 4"') >= 2
    layers = [
        m
        for m in doc["modules"]
        if m["depth"] >= 1 and "." in m["path"] or m["path"] in ("pool", "classifier")
    ]
    assert roof.count('<circle class="pt"') == len(layers)
    # the document travels with the page
    blob = re.search(
        r'<script type="application/json" id="flopwise-document">(.*?)</script>', html, re.S
    ).group(1)
    assert json.loads(blob)["document"]["totals"] == doc["totals"]


def test_charts_without_data_say_so():
    doc = mlp_document(measured=False)
    html = html_report(doc)
    _assert_offline(html)
    figures = _figures(html)
    assert figures["roofline"] == "empty" and figures["efficiency-gap"] == "empty"
    assert figures["sweep"] == "empty" and figures["compare"] == "empty"
    assert figures["efficiency-share"] == "data"  # FLOPs and bytes share need no timing
    assert "No hardware ceilings or measured times" in html
    assert "No sweep in this report" in html and "No comparison in this report" in html
    assert "Not measured" in html
    assert html.count('<p class="chart-empty">') == list(figures.values()).count("empty")
    for chart in report_chart_list(doc):  # the static SVG of an empty chart says it too
        svg = chart_svg(chart)
        assert svg.startswith("<svg") and ("chart-empty" in svg) == (not chart.has_data)


def test_incomplete_coverage_and_escaping():
    doc = mlp_document()
    doc["model"] = "<script>alert('x')</script>"
    doc["complete"] = False
    doc["uncounted"] = [
        {"op": "aten.weird<op>", "calls": 3, "output_elements": 1024, "module_paths": ["body.fc1"]}
    ]
    doc["modules"][2]["type"] = "Evil</script><b>"
    html = html_report(doc)
    assert "<script>alert" not in html and "Evil</script>" not in html
    assert "&lt;script&gt;alert" in html
    assert "\\u003cscript\\u003e" in html  # the embedded JSON cannot close its <script>
    assert "Incomplete: 1 op type(s)" in html and "aten.weird&lt;op&gt;" in html
    blob = re.search(r'id="flopwise-document">(.*?)</script>', html, re.S).group(1)
    assert json.loads(blob)["document"]["model"] == doc["model"]


def test_times_kept_under_measured_modules_are_used():
    doc = cnn_document()
    times = {m["path"]: {"time_s": m.pop("time_s")} for m in doc["modules"]}
    doc["measured"]["modules"] = times
    doc["measured"]["latency_s"].update(trustworthy=False, reason="noisy: CV 46% > 10%")
    doc["measured"]["throughput_items_per_s"] = 380.5
    html = html_report(doc)
    assert _figures(html)["efficiency-gap"] == "data"
    assert "% time" in html
    measured = html[html.index('id="measured"') : html.index('id="roofline"')]
    assert f"{len(times)} entries (in the embedded JSON)" in measured  # summarised, not dumped
    assert "Timing not trustworthy: noisy: CV 46% &gt; 10%" in measured
    assert "380.5" in measured  # a rate, not formatted as seconds


def test_sweep_or_compare_document_as_the_input():
    html = html_report(sweep_document())
    figures = _figures(html)
    assert figures["sweep-batch-time"] == "data" and figures["roofline"] == "empty"
    html = html_report(compare_document())
    assert _figures(html)["compare-pareto"] == "data"


def test_write_plots_svg_and_png(tmp_path):
    from PIL import Image

    charts = report_chart_list(cnn_document(), sweep=sweep_document())
    svg_only = write_plots(charts, tmp_path / "svg", png=False)
    assert {p.suffix for p in svg_only} == {".svg"} and len(svg_only) == len(charts)
    ids = {"roofline", "efficiency-share", "sweep-batch-time", "compare"}  # one of each kind
    written = write_plots([c for c in charts if c.id in ids], tmp_path / "plots")
    names = {p.name for p in written}
    assert names == {f"{i}.{ext}" for i in ids for ext in ("svg", "png")}
    for path in written:
        assert path.stat().st_size > 500
    with Image.open(tmp_path / "plots" / "roofline.png") as im:
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 20)) > 10


def test_cli_report_from_file_and_from_store(tmp_path, capsys):
    src = tmp_path / "profile.json"
    src.write_text(json.dumps(cnn_document()))
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps(sweep_document()))
    out = tmp_path / "out" / "report.html"
    assert (
        main(
            [
                "report",
                str(src),
                "-o",
                str(out),
                "--sweep",
                str(sweep),
                "--plots",
                str(tmp_path / "plots"),
                "--no-png",
            ]
        )
        == 0
    )
    assert _figures(out.read_text())["sweep-batch-time"] == "data"
    assert (tmp_path / "plots" / "roofline.svg").exists()
    db = str(tmp_path / "r.sqlite")
    with Store(db) as store:
        run_id = store.save_profile(mlp_document())
    out2 = tmp_path / "run.html"
    assert main(["report", str(run_id), "--db", db, "-o", str(out2)]) == 0
    assert "tests:mlp" in out2.read_text()
    assert main(["report", str(tmp_path / "nope.json"), "-o", str(out2)]) == 2
    capsys.readouterr()


def test_report_of_a_real_profile():
    import torch

    import flopwise

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 1),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    )
    doc = flopwise.profile(model, torch.randn(1, 3, 16, 16)).to_dict()
    html = html_report(doc)
    _assert_offline(html)
    assert format_si(doc["totals"]["flops"], "FLOPs") in html
    for module in doc["modules"]:
        assert f'data-path="{module["path"] or "(model)"}"' in html
    assert _figures(html)["efficiency-share"] == "data"


# --------------------------------------------------------------------------------------------
# headless Chromium

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run_chromium(binary: str, profile_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


_PROBE = """<script>
(function () {
  var th = document.querySelector("#modules thead th:nth-child(5)");
  function column() {
    return Array.prototype.map.call(document.querySelectorAll("#modules tbody tr"),
      function (r) { return r.cells[4].getAttribute("data-v"); }).join(",");
  }
  th.click();
  document.body.setAttribute("data-sorted-desc", column());
  th.click();
  document.body.setAttribute("data-sorted-asc", column());
  var depth = document.getElementById("module-depth");
  depth.value = "1";
  depth.dispatchEvent(new Event("change"));
  var shown = Array.prototype.filter.call(document.querySelectorAll("#modules tbody tr"),
    function (r) { return r.style.display !== "none"; }).length;
  document.body.setAttribute("data-visible", String(shown));
})();
</script>"""


def test_report_in_headless_chromium(tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from PIL import Image

    page = tmp_path / "report.html"
    comparison = compare_document()
    for row in comparison["models"]:
        del row["accuracy"]  # so one chart is in its "no data" state
    html = html_report(cnn_document(), sweep=sweep_document(), comparison=comparison)
    page.write_text(html, encoding="utf-8")
    figures = _figures(html)
    assert figures["compare-pareto"] == "empty" and list(figures.values()).count("data") >= 10
    url = page.resolve().as_uri()
    # a copy of the page that also exercises the table: sort by FLOPs both ways, filter depth
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", _PROBE + "</body>"), encoding="utf-8")

    dom = _run_chromium(
        binary,
        tmp_path / "p1",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        probe.resolve().as_uri(),
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    body = re.search(r"<body([^>]*)>", dom.stdout).group(1)
    assert 'data-ready="1"' in body, body  # the page's script ran to the end
    assert "data-error" not in body, body
    assert f'data-charts="{len(figures)}"' in body
    assert f'data-charts-drawn="{len(figures)}"' in body  # every chart has a non-empty box
    for chart_id in figures:
        fig = re.search(rf'<figure[^>]*id="chart-{chart_id}"[^>]*>', dom.stdout).group(0)
        assert 'data-drawn="1"' in fig, chart_id
    assert dom.stdout.count('<circle class="pt"') >= 20
    probe_attrs = dict(re.findall(r'data-(sorted-desc|sorted-asc|visible)="([^"]*)"', body))
    desc = [float(v) for v in probe_attrs["sorted-desc"].split(",")]
    asc = [float(v) for v in probe_attrs["sorted-asc"].split(",")]
    assert desc == sorted(desc, reverse=True) and asc == sorted(asc) and len(desc) > 5
    doc_modules = cnn_document()["modules"]
    assert int(probe_attrs["visible"]) == sum(m["depth"] <= 1 for m in doc_modules)

    shot = tmp_path / "shot.png"
    run = _run_chromium(
        binary, tmp_path / "p2", "--window-size=1280,2000", f"--screenshot={shot}", url
    )
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    with Image.open(shot) as im:
        rgb = im.convert("RGB")
        assert rgb.size == (1280, 2000)
        colours = rgb.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50  # text, charts, not a blank page
        most = max(count for count, _ in colours)
        assert most < 0.95 * rgb.size[0] * rgb.size[1]


def test_roofline_rows_from_the_measure_engine_are_used():
    from flopwise.report.plots import latency_chart, roofline_chart

    doc = cnn_document()
    leaves = [m for m in doc["modules"] if m["path"] in ("features.0", "features.2", "classifier")]
    doc["measured"]["roofline"] = {
        "modules": [{"path": m["path"], "floor_s": 1e-3} for m in doc["modules"]],
        "ops": [
            {
                "op": "aten.convolution",
                "module_path": m["path"],
                "flops": m["flops"],
                "bytes": m["bytes_read"] + m["bytes_written"],
                "time_s": m["time_s"],
            }
            for m in leaves
        ],
    }
    roof = roofline_chart(roofline_plot(doc))
    ops = [s for s in roof.series if s.name == "ops (measured)"]
    assert len(ops) == 1 and len(ops[0].points) == 3
    assert ops[0].labels[0] == "aten.convolution in features.0"
    gap = latency_chart(doc, roofline_plot(doc))
    floors = next(b for b in gap.bars if b.name.startswith("ideal"))
    assert set(floors.values) == {1e-3}  # the engine's floors, not recomputed
    assert "waterline): 8 ms" in gap.caption  # 8 layers × 1 ms
    # the engine's summary waterline (sum of per-op floors) wins over the sum of layer floors
    doc["measured"]["roofline"]["summary"] = {
        "waterline_s": 0.0123,
        "efficiency": 0.25,
        "memory_bound_floor_share": 0.4,
    }
    doc["measured"]["warnings"] = ["end-to-end latency is not trustworthy: noisy: CV 51%"]
    doc["measured"]["latency_s"].update(trustworthy=False, reason="noisy: CV 51%")
    doc["measured"]["coverage"] = 0.93
    assert "waterline): 12.3 ms" in latency_chart(doc, roofline_plot(doc)).caption
    html = html_report(doc)
    measured = html[html.index('id="measured"') : html.index('id="roofline"')]
    assert measured.count("Timing not trustworthy") == 1  # said once, not twice
    assert "efficiency 25.0%" in measured and "93.0%" in measured


def test_sweep_and_compare_in_the_shapes_their_commands_write():
    # flopwise compare: "rows" with a label and median_s, pareto as {"cost", "front"}
    cmp = compare_document()
    rows = []
    for r in cmp.pop("models"):
        r = dict(r, name=f"torchvision:{r['model']}", label=r.pop("model"))
        r["median_s"] = r.pop("time_s")
        rows.append(r)
    cmp["rows"] = rows
    cmp["pareto"] = {"cost": "measured median time (s)", "front": ["mobilenet_v2", "resnet50"]}
    cmp["correlations"]["flops"]["n"] = 5
    charts = {c.id: c for c in report_chart_list(cmp)}
    assert charts["compare-flops"].has_data and "n = 5" in charts["compare-flops"].caption
    assert "Spearman 0.900" in charts["compare-flops"].caption
    front = next(s for s in charts["compare-pareto"].series if s.name == "Pareto front")
    assert front.labels == ["mobilenet_v2", "resnet50"]  # the command's front, in time order
    assert 'class="pt-label"' in chart_svg(charts["compare-flops"])  # few models: named
    # unmeasured: the front is drawn against FLOPs
    for r in rows:
        del r["median_s"]
    pareto = {c.id: c for c in report_chart_list(cmp)}["compare-pareto"]
    assert pareto.has_data and pareto.xlabel == "FLOPs (not measured)"

    # flopwise sweep: seconds, a base configuration and fitted exponents
    sweep = sweep_document()
    for p in sweep["points"]:
        p["seconds"] = p.pop("time_s")
    sweep["base_dims"] = {"batch": 2, "resolution": 128}
    sweep["fits"] = [
        {
            "dim": "batch",
            "exponents": {"seconds": {"exponent": 0.62, "ci_low": 0.5, "ci_high": 0.7}},
        }
    ]
    charts = {c.id: c for c in report_chart_list(sweep)}
    measured = charts["sweep-batch-time"].series[0]
    assert len(measured.points) == 4 and all("resolution=128" in lbl for lbl in measured.labels)
    assert "time ∝ batch^0.62 [0.50, 0.70]" in charts["sweep-batch-time"].caption
    along_res = charts["sweep-resolution-time"].series[0]
    assert all("batch=2" in lbl for lbl in along_res.labels)
