"""No function in src/flopwise runs over 80 lines (issue 13): a long function is several
jobs in one. Lines are counted from the first statement of the body to the last, so a
command's option declarations (a table of data in its signature) do not count.

``TOO_LONG_TODAY`` lists the functions that break the rule now; the list only shrinks: a
new long function fails, and so does a listed one that is gone or short.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "flopwise"
MAX_BODY_LINES = 80

TOO_LONG_TODAY: set[tuple[str, str]] = {
    ("campaign/plan.py", "expand_plan"),
    ("commands/compare.py", "render_table"),
    ("commands/compare.py", "run_compare"),
    ("commands/llm.py", "_render"),
    ("commands/llm.py", "llm_command"),
    ("commands/predict.py", "predict_model"),
    ("commands/sweep.py", "render_table"),
    ("commands/sweep.py", "run_sweep"),
    ("llm/estimate.py", "estimate"),
    ("llm/estimate.py", "estimate_to_dict"),
    ("llm/measured.py", "measure_llm"),
    ("llm/spec.py", "_llama_like_spec"),
    ("measure/hardware.py", "measure_host_profile"),
    ("measure/layer_times.py", "_attribute"),
    ("measure/layer_times.py", "measure_model"),
    ("measure/stages.py", "measure_stages"),
    ("memory/trace.py", "memory_profile"),
    ("memory/trace.py", "prepared"),
    ("profile.py", "profile"),
    ("report/plots.py", "comparison_charts"),
    ("report/plots.py", "roofline_chart"),
    ("report/plots.py", "sweep_charts"),
    ("report/plots_svg.py", "_xy_svg"),
    ("report/table.py", "build_table"),
    ("report/table.py", "measured_parts"),
}


def body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return fn.end_lineno - fn.body[0].lineno + 1


def long_functions() -> dict[tuple[str, str], int]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = body_lines(node)
                if n > MAX_BODY_LINES:
                    out[(rel, node.name)] = n
    return out


def test_no_new_long_function():
    new = {key: n for key, n in long_functions().items() if key not in TOO_LONG_TODAY}
    assert not new, f"functions over {MAX_BODY_LINES} lines: split them\n" + "\n".join(
        f"  {path}: {name} ({n} lines)" for (path, name), n in sorted(new.items())
    )


def test_listed_long_functions_still_long():
    gone = sorted(TOO_LONG_TODAY - set(long_functions()))
    assert not gone, "now short or gone, remove from TOO_LONG_TODAY:\n" + "\n".join(
        f"  {path}: {name}" for path, name in gone
    )


def test_body_lines_counts_the_body_not_the_signature():
    src = "def f(\n    a=1,\n    b=2,\n):\n    x = a\n    return x + b\n"
    fn = ast.parse(src).body[0]
    assert body_lines(fn) == 2
