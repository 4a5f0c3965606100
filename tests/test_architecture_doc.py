"""The docs name only what exists: every ``flopwise.x.y`` module or attribute, every path
under ``src/flopwise`` (or a package of it: ``cost/rules.py``), ``tests/``, ``scripts/``,
``benchmarks/`` and ``docs/`` named in README.md and docs/*.md is there; in
docs/architecture.md, which describes the tree, so is every ``*.py`` file and every code
name in backticks. A module renamed or a function removed without its docs fails here."""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "flopwise"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))

# ``flopwise.a.b`` not followed by "/" (a schema name: ``flopwise.sweep/1``), "::" (a
# profiler range: ``flopwise.module::<path>``) or more of a word/path.
DOTTED = re.compile(r"(?<![\w./-])flopwise(?:\.\w+)+(?![\w/-]|::)")
# Names in the ``flopwise`` namespace that are not modules: op names the capture records
# under its own namespace (each must still appear in the source, see below).
NOT_MODULES = frozenset({"flopwise.scaled_dot_product_attention_backward"})

_ROOTS = "|".join(["src/flopwise", "flopwise", "tests", "scripts", "benchmarks", "docs"])
# A repository path; not part of a longer path (``~/.config/flopwise/hardware``, a URL).
PATH = re.compile(
    rf"(?<![\w/~$}}.-])((?:{_ROOTS}|{'|'.join(SUBPACKAGES)})/[\w./-]*)",
)
# In architecture.md also bare file names (``cli.py``) and code names in backticks.
BARE_PY = re.compile(r"(?<![\w/.-])(\w+\.py)\b")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
CODE_NAME = re.compile(r"@?([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\(.*\))?")
FILE_TYPES = frozenset({"py", "md", "toml", "json", "csv"})  # ``pyproject.toml`` is no code


# ``measure.devices.resolve_device`` in backticks: a dotted name relative to ``flopwise``
# (read as one when its second part is a module of the package, not ``store.get(...)``).
RELATIVE = re.compile(rf"`((?:{'|'.join(SUBPACKAGES)})\.(\w+)(?:\.\w+)*)(?:\(.*?\))?`")


def dotted_names(text: str) -> set[str]:
    """``flopwise.a.b`` names, and package-relative ones (``measure.timing``) made whole."""
    relative = {
        f"flopwise.{name}"
        for name, second in RELATIVE.findall(text)
        if (PACKAGE / name.split(".")[0] / second).is_dir()
        or (PACKAGE / name.split(".")[0] / f"{second}.py").is_file()
    }
    return set(DOTTED.findall(text)) | relative


def repo_paths(text: str) -> set[str]:
    """Paths named in ``text``; a template such as ``results/gpu_<device>.md`` (the match
    stops at ``<``) names no one file and is skipped."""
    return {
        m.group(0).rstrip(".,;:") for m in PATH.finditer(text) if not text.startswith("<", m.end())
    }


def module_file(parts: list[str]) -> Path | None:
    """The source file of module ``flopwise.<parts[1:]>`` (a package's __init__.py)."""
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def resolves(name: str) -> bool:
    """Whether ``flopwise.a.b.c`` is a module, or an attribute of the longest module
    prefix (``flopwise.profile.Profile``). A module whose optional dependency is missing
    here is read, not imported: the attribute must be a word of its source."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        path = module_file(parts[:i])
        if path is None:
            continue
        attrs = parts[i:]
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError as exc:
            if (exc.name or "").startswith("flopwise"):
                raise
            return not attrs or attrs[0] in re.findall(r"\w+", path.read_text())
        for attr in attrs:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def path_exists(path: str) -> bool:
    """``src/flopwise/x``, ``flopwise/x`` and ``<subpackage>/x`` name files of the package;
    ``tests/``, ``scripts/``, ``benchmarks/`` and ``docs/`` paths are from the repo root."""
    if path.startswith("src/"):
        target = ROOT / path
    elif path.startswith("flopwise/"):
        target = PACKAGE / path.removeprefix("flopwise/")
    elif path.split("/")[0] in SUBPACKAGES:
        target = PACKAGE / path
    else:
        target = ROOT / path
    return target.exists()


@cache
def source_words() -> frozenset[str]:
    """Every word of the code (the package, tests, scripts): a code name the docs cite
    must be one."""
    words: set[str] = set()
    for folder in (PACKAGE, ROOT / "tests", ROOT / "scripts"):
        for path in folder.rglob("*.py"):
            words.update(re.findall(r"\w+", path.read_text()))
    return frozenset(words)


def code_names(text: str) -> set[str]:
    """Names in backticks that read as Python (``run_profile``, ``Profile.to_dict``,
    ``@counter("name")``, ``profile()``), flopwise's own dotted names and file names aside."""
    out = set()
    for span in CODE_SPAN.findall(text):
        m = CODE_NAME.fullmatch(span.strip())
        name = m.group(1) if m else ""
        if name and not name.startswith("flopwise") and name.rsplit(".")[-1] not in FILE_TYPES:
            out.add(name)
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_named_modules_exist(doc):
    text = doc.read_text()
    missing = sorted(n for n in dotted_names(text) - NOT_MODULES if not resolves(n))
    assert not missing, f"{doc.name} names modules or attributes that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_named_paths_exist(doc):
    missing = sorted(p for p in repo_paths(doc.read_text()) if not path_exists(p))
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


def test_architecture_files_exist():
    """Bare file names in docs/architecture.md (``cli.py``) are files of the package."""
    files = {p.name for p in PACKAGE.rglob("*.py")}
    missing = sorted(set(BARE_PY.findall(ARCHITECTURE.read_text())) - files)
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_architecture_code_names_exist():
    """Every function, class, field or constant docs/architecture.md cites in backticks
    occurs in the source (a rename or removal leaves it behind)."""
    words = source_words()
    missing = sorted(
        n for n in code_names(ARCHITECTURE.read_text()) if not set(n.split(".")) <= words
    )
    assert not missing, f"docs/architecture.md names code that is not in src/flopwise: {missing}"


def test_architecture_lists_every_module():
    """Every module of the package is on the page: its path, or a folder above it
    (``measure/energy/``, ``pipeline/``), or for a top-level module its file name. A new
    module of a package the page names passes; a new package or top-level module needs
    its place in the table."""
    text = ARCHITECTURE.read_text()
    named = {p.removeprefix("src/flopwise/") for p in repo_paths(text)}
    named |= set(BARE_PY.findall(text))
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if path.name == "__init__.py" and rel.parent != Path("."):
            continue  # a package is named by its modules or its folder
        folders = {f"{p.as_posix()}/" for p in rel.parents if p != Path(".")}
        if rel.as_posix() not in named and not folders & named:
            missing.append(rel.as_posix())
    assert not missing, f"modules docs/architecture.md does not place: {missing}"


def test_not_modules_are_real_names():
    """The exemptions above are names the source really uses, not stale entries."""
    text = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    assert all(f'"{name}"' in text for name in NOT_MODULES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("`flopwise.report.json`", {"flopwise.report.json"}),
        ('schema `"flopwise.sweep/1"`', set()),
        ('record_function("flopwise.module::<path>")', set()),
        ("see flopwise.pipeline.run_profile.", {"flopwise.pipeline.run_profile"}),
        ("by `measure.devices.resolve_device(...)`", {"flopwise.measure.devices.resolve_device"}),
        ("a `store.get(run)` call, the store/ folder", set()),
    ],
)
def test_dotted_names_are_found(text, expected):
    assert dotted_names(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "`cost/rules.py`, `src/flopwise/data/hardware/`",
            {"cost/rules.py", "src/flopwise/data/hardware/"},
        ),
        ("`~/.config/flopwise/hardware` and `$XDG_DATA_HOME/flopwise/results.sqlite`", set()),
        ("(see tests/test_layering.py).", {"tests/test_layering.py"}),
    ],
)
def test_paths_are_found(text, expected):
    assert repo_paths(text) == expected


def test_checks_catch_rot():
    """A missing module, attribute, path or code name fails the checks."""
    assert resolves("flopwise.profile.Profile") and resolves("flopwise.measure.per_layer")
    assert resolves("flopwise.units") and resolves("flopwise")
    assert not resolves("flopwise.measure.layer_times")
    assert not resolves("flopwise.profile.Profile.extra")
    assert path_exists("cost/rules.py") and not path_exists("measure/layer_timing.py")
    assert code_names('`run_profile`, `Profile.to_dict`, `@counter("x")`, `cli.py`') == {
        "run_profile",
        "Profile.to_dict",
        "counter",
    }
    # a name that occurs nowhere (built here, so this file does not spell it)
    assert "_".join(["removed", "function", "name"]) not in source_words()
    assert "run_profile" in source_words()


def test_missing_optional_dependency_reads_the_source(monkeypatch):
    """Where a module cannot import for want of an optional package, its source decides."""

    def fail(name):
        raise ModuleNotFoundError("No module named 'diffusers'", name="diffusers")

    monkeypatch.setattr(importlib, "import_module", fail)
    assert resolves("flopwise.sources.diffusion.pipeline_spec")
    assert not resolves("flopwise.sources.diffusion.not_defined_there")
    assert not resolves("flopwise.sources.no_such_module")
