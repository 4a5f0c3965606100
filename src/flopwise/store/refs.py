"""Turn what a user types for a run (``12``, ``latest``, ``latest~1``, ``path/run.json``) into a
document. A JSON file never touches the database, so CI can diff two files without a store."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from flopwise.store.db import RunNotFound, Store, StoreError

_LATEST = re.compile(r"^latest(?:~(\d+))?$")


def is_run_id(ref: str) -> bool:
    """Whether ``ref`` names a stored run rather than a file."""
    return ref.isdigit() or bool(_LATEST.match(ref)) or (ref.startswith("@") and len(ref) > 1)


def resolve_run_id(store: Store, ref: str) -> int:
    """``"12"`` → 12; ``"latest"`` → newest run; ``"latest~2"`` → two before the newest;
    ``"@MODEL"`` → newest run of exactly MODEL (or of any model matching a glob pattern
    with ``*`` / ``?``, e.g. ``@torchvision:resnet*``)."""
    if ref.isdigit():
        return _sqlite_int(int(ref), ref)
    match = _LATEST.match(ref)
    if match:
        return store.latest(offset=_sqlite_int(int(match.group(1) or 0), ref))
    if ref.startswith("@"):
        return store.latest(model=ref[1:])
    raise RunNotFound(f"{ref!r} is neither a run id (12, latest, latest~1, @MODEL) nor a file")


def _sqlite_int(value: int, ref: str) -> int:
    """``value`` if SQLite can hold it; a number past 2**63 - 1 names no run."""
    if value > _MAX_SQLITE_INT:
        raise RunNotFound(f"no run {ref}: run ids and offsets are at most {_MAX_SQLITE_INT}")
    return value


_MAX_SQLITE_INT = 2**63 - 1


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a JSON document from a file, with a one-line error when it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path} is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise StoreError(f"{path} holds a JSON {type(doc).__name__}, not a flopwise document")
    return doc


def load_document(ref: str, db: str | os.PathLike[str] | None = None) -> tuple[dict[str, Any], str]:
    """The document ``ref`` names and a short label for it (``run 12`` or the file name).

    An existing file wins over a run id of the same spelling; the database is only opened
    when ``ref`` is not a file.
    """
    if Path(ref).is_file() or not is_run_id(ref):
        if not Path(ref).exists():
            raise StoreError(f"{ref!r} is not a file, nor a run id (12, latest, latest~1, @MODEL)")
        return read_document(ref), Path(ref).name
    with Store(db, create=False, readonly=True) as store:
        run_id = resolve_run_id(store, ref)
        return store.get(run_id), f"run {run_id}"
