"""docs/conventions.md prints tables generated from the code; they must not drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_conventions_table", ROOT / "scripts" / "gen_conventions_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_doc_tables_equal_the_generated_ones():
    gen = _generator()
    doc = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
    assert gen.render(doc) == doc, "run: python scripts/gen_conventions_table.py --write"


def test_generated_table_is_the_op_table_block():
    gen = _generator()
    doc = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
    block = doc.split("<!-- op-table:start -->\n")[1].split("<!-- op-table:end -->")[0]
    from flopwise.cost.rules import conventions_table

    assert block == conventions_table()
    assert gen.main(["--check"]) == 0
