"""The SQLite results store (:class:`Store`) and run diffs (:func:`diff_documents`)."""

from flopwise.store.db import (
    RUN_KINDS,
    SCHEMA_VERSION,
    RunInfo,
    RunList,
    RunNotFound,
    Store,
    StoreError,
    default_db_path,
    is_model_pattern,
    modules_csv,
)
from flopwise.store.diff import (
    ModuleDiff,
    RunDiff,
    Threshold,
    Violation,
    check_thresholds,
    diff_documents,
    diff_totals,
    parse_threshold,
)
from flopwise.store.fingerprint import fingerprint_id, machine_fingerprint
from flopwise.store.refs import load_document, resolve_run_id

__all__ = [
    "RUN_KINDS",
    "SCHEMA_VERSION",
    "ModuleDiff",
    "RunDiff",
    "RunInfo",
    "RunList",
    "RunNotFound",
    "Store",
    "StoreError",
    "Threshold",
    "Violation",
    "check_thresholds",
    "default_db_path",
    "diff_documents",
    "diff_totals",
    "fingerprint_id",
    "is_model_pattern",
    "load_document",
    "machine_fingerprint",
    "modules_csv",
    "parse_threshold",
    "resolve_run_id",
]
