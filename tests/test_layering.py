"""Who may import whom inside flopwise (../shared/DESIGN.md, "Layering and the second wave").

    errors ← cost ← capture ← the result model (flopwise.profile, flopwise.sections) ← measure,
    analysis, llm, store ← report ← the API (flopwise, flopwise.pipeline.*, flopwise.campaign)
    ← commands (and cli)

One exception, by rule rather than by listing: ``Profile``'s serialisation helpers import
report.json/.frames/.table inside their methods (``SERIALISATION_HELPERS``).

Every ``import`` and ``from ... import`` in src/flopwise is read with ``ast`` (module level,
inside functions, under ``TYPE_CHECKING``), plus ``importlib.import_module`` calls with a
literal name. Today's code breaks some rules; each such import is listed in
``KNOWN_VIOLATIONS`` with the reason it exists. The test fails on any import not allowed and
not listed, and on a listed one that is gone, so the list only shrinks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "flopwise"


def layer_of(module: str) -> str:
    """The layer a dotted module name belongs to."""
    parts = module.split(".")
    if module == "flopwise" or parts[1] in ("pipeline", "campaign"):
        return "api"  # a campaign runs the pipeline over many jobs: the same layer
    if parts[1] in ("profile", "sections"):
        return "result model"  # Profile and its typed sections
    if parts[1] in ("cli", "commands"):
        return "commands"
    if parts[1] == "jsonout":  # strict JSON writing: a leaf utility like errors
        return "errors"
    if parts[1] == "units":  # number formatting: a leaf, so measure, report and commands share it
        return "errors"
    return parts[1]  # errors, cost, sources, capture, measure, analysis, llm, store, report


# Layers that may import only these (their own layer is always allowed).
ONLY = {
    "errors": set(),
    "cost": {"errors"},
    "sources": {"errors"},
    "capture": {"cost", "errors"},
    "result model": {"capture", "cost", "errors"},
    "commands": {"api", "report", "errors"},
}
# Layers that must never import these.
NEVER = {
    "measure": {"analysis", "report"},
    "report": {"measure", "analysis"},
}


# The one exception to the rules: ``Profile.to_dict/to_json/to_dataframe/table`` (public
# API, see README) are thin serialisation helpers over the report layer. The result model
# may import exactly these report modules, and only inside a function (lazily, when a
# caller asks for the serialised form), so the report layer is never loaded with the model
# and no report module can need the result model at import time to build one.
SERIALISATION_HELPERS: dict[str, frozenset[str]] = {
    "flopwise.profile": frozenset(
        {"flopwise.report.json", "flopwise.report.frames", "flopwise.report.table"}
    ),
}


def rule_broken(importer: str, imported: str, lazy: bool = False) -> str | None:
    """The rule ``importer`` breaks by importing ``imported`` (``lazy``: inside a
    function), or None if it may."""
    if lazy and imported in SERIALISATION_HELPERS.get(importer, ()):
        return None
    src, dst = layer_of(importer), layer_of(imported)
    if src == dst:
        return None
    if dst == "commands":
        return "only commands import commands"
    if src in ONLY and dst not in ONLY[src]:
        allowed = ", ".join(sorted(ONLY[src])) or "nothing"
        return f"{src} imports only {allowed}"
    if dst in NEVER.get(src, ()):
        return f"{src} never imports {dst}"
    return None


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    #: True when the import statement sits inside a function (runs when it is called).
    lazy: bool = False


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def imports_of(module: str, source: str, is_package: bool = False) -> list[Import]:
    """Every flopwise module that ``source`` (the text of ``module``) imports, anywhere in it.

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else
    ``pkg``; relative imports are resolved against ``module``.
    """
    found = []
    tree = ast.parse(source)
    functions = [
        (n.lineno, n.end_lineno)
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: None if is_package else -1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                candidate = f"{prefix}.{alias.name}"
                names.append(candidate if candidate in MODULES else prefix)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
        ):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names = [arg.value]
            elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                # f"flopwise.commands.{name}": the literal prefix names the package
                names = [str(arg.values[0].value).rstrip(".")]
        if not names:
            continue
        lazy = any(start < node.lineno <= end for start, end in functions)
        found += [
            Import(module, name, node.lineno, lazy)
            for name in names
            if name == "flopwise" or name.startswith("flopwise.")
        ]
    return found


def current_violations() -> dict[tuple[str, str], list[str]]:
    """(importer, imported) -> ["line N: rule", ...] for every import that breaks a rule."""
    out: dict[tuple[str, str], list[str]] = {}
    for module, path in MODULES.items():
        is_package = path.name == "__init__.py"
        for imp in imports_of(module, path.read_text(), is_package):
            rule = rule_broken(imp.importer, imp.imported, imp.lazy)
            if rule:
                out.setdefault((imp.importer, imp.imported), []).append(f"line {imp.line}: {rule}")
    return out


# Imports that break a rule today, each with why it is there. Issue 13 moves this work
# behind the API / into the right layer; remove an entry when its import goes.
_CMD_PIPELINE = "the command runs its own pipeline (issue 13 item 2: move it behind the API)"
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {
    # commands reach past the API into the layers below it
}


def test_no_new_layering_violation():
    new = {
        pair: where for pair, where in current_violations().items() if pair not in KNOWN_VIOLATIONS
    }
    assert not new, "imports that break the layering (DESIGN.md, 'Layering'):\n" + "\n".join(
        f"  {a} -> {b} ({'; '.join(where)})" for (a, b), where in sorted(new.items())
    )


def test_known_violations_still_exist():
    """An allowlisted import that is gone must leave the list, so the list only shrinks."""
    gone = sorted(set(KNOWN_VIOLATIONS) - set(current_violations()))
    assert not gone, "fixed, remove from KNOWN_VIOLATIONS:\n" + "\n".join(
        f"  {a} -> {b}" for a, b in gone
    )


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        # function-level, relative and aliased imports are all seen
        ("flopwise.measure.x", "def f():\n    from flopwise.analysis import roofline\n", True),
        ("flopwise.measure.x", "from ..report.units import si\n", True),
        ("flopwise.measure.x", "import flopwise.analysis.fit as fit\n", True),
        ("flopwise.cost.x", "from flopwise.errors import FlopwiseError\n", False),
        ("flopwise.cost.x", "from flopwise.capture import mode\n", True),
        ("flopwise.sources.x", "from flopwise.cost.types import OpCost\n", True),
        ("flopwise.capture.x", "from . import records\nfrom ..cost import registry\n", False),
        ("flopwise.report.x", "from flopwise.measure.timing import measure_latency\n", True),
        ("flopwise.commands.x", "from flopwise.pipeline import run_profile\n", False),
        ("flopwise.commands.x", "from flopwise.llm import estimate\n", True),
        ("flopwise.store.x", "import importlib\nimportlib.import_module('flopwise.cli')\n", True),
        ("flopwise.llm.x", "from flopwise.profile import Profile\n", False),
        # the serialisation helpers' exception: lazily, these report modules, this importer
        ("flopwise.profile", "def f():\n    from flopwise.report.json import d\n", False),
        ("flopwise.profile", "from flopwise.report.json import profile_document\n", True),
        ("flopwise.profile", "def f():\n    from flopwise.report.html import render\n", True),
        ("flopwise.sections", "def f():\n    from flopwise.report.json import d\n", True),
    ],
)
def test_rules_catch_what_they_should(module, source, expected):
    """The parser and the rules, on snippets whose answer is known."""
    broken = [i for i in imports_of(module, source) if rule_broken(i.importer, i.imported, i.lazy)]
    assert bool(broken) is expected, broken


def test_every_module_is_read():
    """The walk sees the whole package, so a violation cannot hide in an unread file."""
    assert {"flopwise", "flopwise.errors", "flopwise.cost.registry", "flopwise.cli"} <= set(MODULES)
    assert len(MODULES) == len(list(PACKAGE.rglob("*.py")))


# Hard dependencies: a test must fail, not skip, when they (or flopwise itself) do not import.
_REQUIRED = ("flopwise", "torch", "numpy", "rich", "typer")


def test_tests_do_not_skip_when_flopwise_itself_is_broken():
    """``importorskip`` is for optional packages; ``hasattr(flopwise, ...)`` guards would
    turn a broken flopwise into a skip (issue 13)."""
    found = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func, arg = node.func, node.args[0]
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if (
                name == "importorskip"
                and isinstance(arg, ast.Constant)
                and str(arg.value).split(".")[0] in _REQUIRED
            ):
                found.append(f"{path.name}:{node.lineno}: importorskip({arg.value!r})")
            if name == "hasattr" and isinstance(arg, ast.Name) and arg.id == "flopwise":
                found.append(f"{path.name}:{node.lineno}: hasattr(flopwise, ...)")
    assert not found, "\n".join(found)
