"""Generate the tables of docs/conventions.md from the code.

    python scripts/gen_conventions_table.py            # print the per-op constant table
    python scripts/gen_conventions_table.py --zero     # print the zero-flop set
    python scripts/gen_conventions_table.py --write    # refresh both blocks in the doc
    python scripts/gen_conventions_table.py --check    # exit 1 if the doc has drifted

The doc holds each table between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``
markers (``op-table`` and ``zero-set``); tests/test_cost_conventions_doc.py runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from flopwise.cost.rules import conventions_table
from flopwise.cost.zero import zero_set_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "conventions.md"
BLOCKS = {"op-table": conventions_table, "zero-set": zero_set_markdown}


def render(text: str) -> str:
    """``text`` with every marked block replaced by its freshly generated content."""
    for name, generate in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", flags=re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"markers for {name!r} not found")
        text = pattern.sub(lambda m, g=generate: m.group(1) + g() + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--zero", action="store_true", help="print the zero-flop set")
    group.add_argument("--write", action="store_true", help="update docs/conventions.md")
    group.add_argument("--check", action="store_true", help="fail if the doc is stale")
    args = parser.parse_args(argv)
    if args.write or args.check:
        current = DOC.read_text(encoding="utf-8")
        fresh = render(current)
        if args.check:
            if fresh != current:
                print(f"{DOC} is out of date: run {Path(__file__).name} --write", file=sys.stderr)
                return 1
            return 0
        DOC.write_text(fresh, encoding="utf-8")
        return 0
    sys.stdout.write(zero_set_markdown() if args.zero else conventions_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
