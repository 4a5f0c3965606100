"""Make docs/img/report.png, the README's picture of the HTML report.

Profiles a real model with flopwise (measured when the measure engine is available), renders
the HTML report, screenshots it in headless Chromium and shrinks the PNG below 300 KB.

    python docs/img/report_screenshot.py [--model torchvision:resnet18] [--input 1x3x224x224]
        [--no-measure] [--sweep sweep.json] [--compare compare.json] [-o docs/img/report.png]

Needs: chromium (Debian package), pillow, and torchvision for the default model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LIMIT_BYTES = 300 * 1024


def profile_document(model: str, inputs: list[str], measure: bool, budget: float) -> dict:
    """The profile document of ``model``; measured when possible."""
    from flopwise.pipeline import MeasureOptions, run_profile

    if measure:
        try:
            prof = run_profile(model, inputs, device="cpu", measure=MeasureOptions(budget_s=budget))
            return prof.to_dict()
        except ImportError as exc:  # the measure engine is not installed yet
            print(f"note: measuring is unavailable ({exc}); counting only", file=sys.stderr)
    return run_profile(model, inputs, device="cpu").to_dict()


def screenshot(html_path: Path, png_path: Path, width: int, height: int) -> None:
    """Screenshot a page with headless Chromium."""
    binary = next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )
    if binary is None:
        sys.exit("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile_dir:
        subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile_dir}",
                f"--window-size={width},{height}",
                f"--screenshot={png_path}",
                html_path.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def shrink(png_path: Path, limit: int = LIMIT_BYTES) -> int:
    """Quantize (and if needed downscale) the PNG until it is under ``limit`` bytes."""
    from PIL import Image

    with Image.open(png_path) as im:
        image = im.convert("RGB")
    scale = 1.0
    while True:
        size = (int(image.width * scale), int(image.height * scale))
        out = image.resize(size, Image.LANCZOS) if scale < 1 else image
        out.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(png_path, optimize=True)
        written = png_path.stat().st_size
        if written <= limit or scale < 0.4:
            return written
        scale *= 0.85


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="torchvision:resnet18")
    parser.add_argument("--input", action="append", default=None)
    parser.add_argument("--no-measure", action="store_true")
    parser.add_argument("--budget", type=float, default=8.0)
    parser.add_argument("--sweep", type=Path)
    parser.add_argument("--compare", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1700)
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("report.png"))
    parser.add_argument("--html", type=Path, help="Also keep the rendered HTML here.")
    args = parser.parse_args()

    from flopwise.pipeline import html_report

    doc = profile_document(
        args.model, args.input or ["1x3x224x224"], not args.no_measure, args.budget
    )
    sweep = json.loads(args.sweep.read_text()) if args.sweep else None
    comparison = json.loads(args.compare.read_text()) if args.compare else None
    html = html_report(doc, sweep=sweep, comparison=comparison)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(args.html) if args.html else Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        screenshot(page, args.output, args.width, args.height)
    size = shrink(args.output)
    print(f"wrote {args.output} ({size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
