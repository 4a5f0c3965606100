"""The results store: every profile, measurement, sweep and comparison in one SQLite file.

Design:

- One file, standard-library :mod:`sqlite3`, in WAL mode so that readers never block the
  writer and a killed process cannot leave a half-written run behind: each run (its row in
  ``runs`` and all its rows in ``modules``) is written in one ``BEGIN IMMEDIATE``
  transaction. Concurrent writers from several processes queue on SQLite's lock, waited for
  by the busy timeout.
- The schema version lives in ``PRAGMA user_version``; :data:`MIGRATIONS` upgrades an older
  file in place, inside a transaction, when it is opened. A file from a newer flopwise is
  refused rather than guessed at.
- The store writes only to files it owns: an existing file is inspected read-only first and
  refused if it is not a flopwise database; a read-only file or folder is opened read-only.
- The full JSON document is kept verbatim (``runs.document``), so nothing is lost; the other
  columns are indexes into it (model, kind, machine, totals) and ``modules`` holds one row per
  module for diffs and queries.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flopwise.errors import DatabaseFile, FlopwiseError
from flopwise.jsonout import dumps
from flopwise.store.fingerprint import fingerprint_id, machine_fingerprint
from flopwise.store.metrics import model_name, module_metrics, total_metrics, with_module_times

#: Current schema version written to ``PRAGMA user_version``.
SCHEMA_VERSION = 2

#: The kinds of run the store accepts.
RUN_KINDS = ("profile", "measure", "sweep", "compare")

BUSY_TIMEOUT_MS = 30_000


class StoreError(FlopwiseError):
    """The results database is unusable (newer schema, unknown run, bad argument)."""


class RunNotFound(StoreError):
    """No run with the requested id."""


def default_db_path() -> Path:
    """Where the store lives unless told otherwise.

    ``$FLOPWISE_DB`` if set, else ``$XDG_DATA_HOME/flopwise/results.sqlite``, else
    ``~/.local/share/flopwise/results.sqlite``.
    """
    env = os.environ.get("FLOPWISE_DB")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "flopwise" / "results.sqlite"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One stored run as :meth:`Store.list_runs` returns it (the document is not loaded)."""

    id: int
    kind: str
    model: str
    created: str
    flops: int | None
    macs: int | None
    bytes: int | None
    params: int | None
    time_s: float | None
    complete: bool | None
    machine_id: str
    cpu: str | None
    threads: int | None
    gpu: str | None
    torch_version: str | None
    flopwise_version: str | None
    label: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {name: getattr(self, name) for name in self.__slots__}


# --------------------------------------------------------------------------------------------
# Schema

_SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,
    model            TEXT    NOT NULL,
    created          TEXT    NOT NULL,
    schema           TEXT,
    complete         INTEGER,
    flops            INTEGER,
    macs             INTEGER,
    bytes            INTEGER,
    params           INTEGER,
    time_s           REAL,
    machine          TEXT    NOT NULL,
    machine_id       TEXT    NOT NULL,
    cpu              TEXT,
    threads          INTEGER,
    gpu              TEXT,
    torch_version    TEXT,
    flopwise_version TEXT,
    hardware         TEXT,
    inputs           TEXT,
    conventions      TEXT,
    label            TEXT,
    document         TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_model ON runs (model, id);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created);
CREATE TABLE IF NOT EXISTS modules (
    run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    ord     INTEGER NOT NULL,
    path    TEXT    NOT NULL,
    type    TEXT,
    depth   INTEGER,
    flops   INTEGER,
    macs    INTEGER,
    bytes   INTEGER,
    params  INTEGER,
    activations INTEGER,
    time_s  REAL,
    PRIMARY KEY (run_id, ord)
);
CREATE INDEX IF NOT EXISTS modules_path ON modules (path);
"""


@dataclass(frozen=True)
class RunList:
    """Stored runs, newest first, and where they were looked for."""

    runs: list[RunInfo]
    db: Path
    model: str | None = None

    @property
    def no_database(self) -> bool:
        """True when nothing was found because ``db`` does not exist (yet): a mistyped --db
        would otherwise read the same as an empty store."""
        return not self.runs and not self.db.exists()

    @property
    def hint(self) -> str:
        """Why a model filter may have found nothing: names match exactly, not as a prefix."""
        if self.runs or not self.model or is_model_pattern(self.model):
            return ""
        return f" (model names match exactly; for a pattern use *, e.g. '{self.model}*')"

    def to_list(self) -> list[dict[str, Any]]:
        """The runs as JSON-ready dicts (``flopwise history -f json``)."""
        return [r.to_dict() for r in self.runs]


def _json(value: Any) -> str | None:
    return None if value is None else dumps(value, indent=None, sort_keys=True)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """v1 kept (kind, model, created, machine JSON, document) per run and
    (run_id, path, flops, macs, bytes, params) per module. v2 adds the fingerprint, totals,
    hardware, inputs and conventions as columns, and type/depth/activations/time per module;
    everything new is backfilled from the stored JSON."""
    conn.execute("ALTER TABLE runs RENAME TO runs_v1")
    conn.execute("ALTER TABLE modules RENAME TO modules_v1")
    # Old indexes keep their names after the rename; drop them so v2's can be created.
    old_indexes = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND tbl_name IN ('runs_v1', 'modules_v1')"
    ).fetchall()
    for (name,) in old_indexes:
        conn.execute(f'DROP INDEX "{name}"')
    _create_v2(conn)
    old_runs = conn.execute(
        "SELECT id, kind, model, created, machine, document FROM runs_v1 ORDER BY id"
    ).fetchall()
    for run_id, kind, model, created, machine_text, document in old_runs:
        doc = json.loads(document)
        machine = _loads(machine_text) or {}
        _insert_run(
            conn, doc, kind, machine, label=None, run_id=run_id, created=created, model=model
        )
    conn.execute("DROP TABLE modules_v1")
    conn.execute("DROP TABLE runs_v1")


def _create_v2(conn: sqlite3.Connection) -> None:
    # executescript() would COMMIT the open transaction; run statement by statement.
    for statement in _SCHEMA_V2.split(";"):
        if statement.strip():
            conn.execute(statement)


#: ``MIGRATIONS[v]`` upgrades a version-``v`` database to ``v + 1`` (inside a transaction).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2}


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a database at schema ``version`` (0: blank) to :data:`SCHEMA_VERSION`: create
    the tables, or run each migration in turn; then record the version."""
    if version == 0:
        _create_v2(conn)
        version = SCHEMA_VERSION
    while version < SCHEMA_VERSION:
        MIGRATIONS[version](conn)
        version += 1
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _insert_run(
    conn: sqlite3.Connection,
    doc: dict[str, Any],
    kind: str,
    machine: dict[str, Any],
    *,
    label: str | None,
    run_id: int | None = None,
    created: str | None = None,
    model: str | None = None,
) -> int:
    timed = with_module_times(doc)  # index rows get times the producer kept in `measured`
    totals = total_metrics(timed)
    measured = doc.get("measured") if isinstance(doc.get("measured"), dict) else {}
    hardware = measured.get("hardware") or doc.get("hardware")
    complete = doc.get("complete")
    cur = conn.execute(
        """
        INSERT INTO runs (id, kind, model, created, schema, complete, flops, macs, bytes,
            params, time_s, machine, machine_id, cpu, threads, gpu, torch_version,
            flopwise_version, hardware, inputs, conventions, label, document)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        (
            run_id,
            kind,
            model or model_name(doc),
            created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            doc.get("schema"),
            None if complete is None else int(bool(complete)),
            totals["flops"],
            totals["macs"],
            totals["bytes"],
            totals["params"],
            totals["time"],
            json.dumps(machine, sort_keys=True, default=str),
            fingerprint_id(machine),
            machine.get("cpu"),
            machine.get("threads"),
            machine.get("gpu"),
            machine.get("torch"),
            machine.get("flopwise"),
            _json(hardware),
            _json(doc.get("inputs")),
            _json(doc.get("convention") or doc.get("conventions")),
            label,
            dumps(doc, indent=None),
        ),
    )
    new_id = int(cur.lastrowid)
    rows = []
    for order, module in enumerate(timed.get("modules") or ()):
        m = module_metrics(module)
        rows.append(
            (
                new_id,
                order,
                str(module.get("path", "")),
                module.get("type"),
                module.get("depth"),
                m["flops"],
                m["macs"],
                m["bytes"],
                m["params"],
                m["activations"],
                m["time"],
            )
        )
    conn.executemany(
        "INSERT INTO modules (run_id, ord, path, type, depth, flops, macs, bytes, params,"
        " activations, time_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return new_id


# --------------------------------------------------------------------------------------------
# The store


class Store(DatabaseFile):
    """A results database.

    ``Store()`` opens (creating if needed) the default database (:func:`default_db_path`);
    ``Store(path)`` opens another; ``create=False`` raises :class:`StoreError` instead of
    creating a missing file. Use as a context manager or call :meth:`close`.

    The store only writes to a file it owns: an existing file that is not a flopwise results
    database (another application's SQLite file, or not SQLite at all) is refused with a
    :class:`StoreError` before anything is written to it. ``readonly=True``, or a file or
    folder this process cannot write, opens it for reading only: listing and loading runs
    work (an older schema is upgraded in a copy in memory), saving raises StoreError.

    >>> with Store(tmp_path / "r.sqlite") as store:          # doctest: +SKIP
    ...     run_id = store.save_profile(profile.to_dict())
    ...     doc = store.get(run_id)
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        #: True when this store never writes: asked for, or the file or its folder is not
        #: writable. Reads work; :meth:`save_profile` and :meth:`delete` raise StoreError.
        self.readonly = bool(readonly)
        memory = str(self.path) == ":memory:"
        if not memory:
            if self.path.exists():
                # Inspect before anything can write: switching to WAL or creating tables in a
                # file that belongs to someone else would change it.
                _check_owned(self.path)
                self.readonly = self.readonly or not _writable(self.path)
            elif not create or self.readonly:
                raise StoreError(f"no results database at {self.path} (nothing saved yet)")
            else:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"cannot create {self.path.parent} for the results database: "
                        f"{exc.strerror or exc}"
                    ) from None
        try:
            self._conn = self._connect(memory)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the results database {self.path}: {exc}") from None
        try:
            self._setup_schema()
            if not self.readonly and not memory:
                # After the schema: a foreign file never gets here, and ours is switched once.
                self._retry_locked(lambda: self._conn.execute("PRAGMA journal_mode = WAL"))
        except BaseException:
            self.close()
            raise

    def _connect(self, memory: bool) -> sqlite3.Connection:
        options = {
            "timeout": BUSY_TIMEOUT_MS / 1000,
            "isolation_level": None,  # we issue BEGIN/COMMIT ourselves
            "check_same_thread": False,
        }
        if self.readonly and not memory:
            conn = _connect_readonly(self.path, options)
        else:
            conn = sqlite3.connect(str(self.path), **options)
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL: survives process kills
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    # -- plumbing ------------------------------------------------------------------------

    @staticmethod
    def _retry_locked(fn: Callable[[], Any], attempts: int = 200) -> Any:
        # Switching to WAL and creating the schema need locks that the busy handler does not
        # always wait for (e.g. two processes creating the same fresh file); retry briefly.
        for attempt in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05)
        return None  # pragma: no cover

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rollback on error)."""
        if self.readonly:
            raise StoreError(
                f"the results database {self.path} is read-only here; nothing was written "
                "(point --db / FLOPWISE_DB at a writable file)"
            )
        try:
            self._retry_locked(lambda: self._conn.execute("BEGIN IMMEDIATE"))
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot write to the results database {self.path}: {exc}") from None
        try:
            yield self._conn
        except sqlite3.OperationalError as exc:
            self._conn.execute("ROLLBACK")
            if "readonly" in str(exc) or "read-only" in str(exc):
                raise StoreError(
                    f"the results database {self.path} is read-only here; nothing was written"
                ) from None
            raise
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    def _setup_schema(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}; this flopwise understands up to "
                f"{SCHEMA_VERSION}. Upgrade flopwise or point --db / FLOPWISE_DB elsewhere."
            )
        if self.readonly:
            self._upgrade_in_memory(version)
            return
        with self._write() as conn:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                has_tables = conn.execute(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                ).fetchone()[0]
                if has_tables:
                    raise StoreError(f"{self.path} is not a flopwise results database")
            _migrate(conn, version)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def _upgrade_in_memory(self, version: int) -> None:
        """A read-only file of an older schema (or a blank one) is read through an upgraded
        copy in memory: the file itself is never written."""
        memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._conn.backup(memory)
        self._conn.close()
        self._conn = memory
        self.readonly = False  # the copy takes the upgrade...
        try:
            with self._write() as conn:
                _migrate(conn, version)
        finally:
            self.readonly = True  # ...but nothing is ever saved through it

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API ----------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def save_profile(
        self,
        doc: dict[str, Any],
        kind: str = "profile",
        *,
        machine: dict[str, Any] | None = None,
        label: str | None = None,
    ) -> int:
        """Store one document and return its run id.

        ``doc`` is a ``flopwise.profile/1`` document (or a sweep/compare document);
        ``kind`` is one of :data:`RUN_KINDS`. ``machine`` defaults to this machine's
        fingerprint (merged under any ``doc["machine"]`` the producer recorded); ``label``
        is free text such as a git commit. The run and its module rows are written in one
        transaction: after a crash either all of it is there or none.
        """
        if kind not in RUN_KINDS:
            raise StoreError(f"unknown run kind {kind!r}; expected one of {', '.join(RUN_KINDS)}")
        if not isinstance(doc, dict):
            raise StoreError(
                f"save_profile() needs a JSON document (a dict); got {type(doc).__name__}"
            )
        fingerprint = dict(machine) if machine is not None else machine_fingerprint()
        if machine is None and isinstance(doc.get("machine"), dict):
            fingerprint.update(doc["machine"])
        with self._write() as conn:
            return _insert_run(conn, doc, kind, fingerprint, label=label)

    def get(self, run_id: int) -> dict[str, Any]:
        """The full JSON document of a run, exactly as it was saved."""
        return self._json_column("document", run_id)

    def info(self, run_id: int) -> RunInfo:
        """The metadata of one run (without its document)."""
        rows = self._select_info("WHERE id = ?", (int(run_id),))
        if not rows:
            raise RunNotFound(f"no run {run_id} in {self.path}")
        return rows[0]

    def machine(self, run_id: int) -> dict[str, Any]:
        """The full machine fingerprint recorded with a run."""
        return self._json_column("machine", run_id)

    def _json_column(self, column: str, run_id: int) -> dict[str, Any]:
        """The JSON stored in ``column`` (a fixed name, never user input) of run ``run_id``;
        :class:`RunNotFound` when there is no such run."""
        row = self._conn.execute(f"SELECT {column} FROM runs WHERE id = ?", (int(run_id),))
        found = row.fetchone()
        if found is None:
            raise RunNotFound(f"no run {run_id} in {self.path}")
        return json.loads(found[0])

    def list_runs(
        self, model: str | None = None, limit: int | None = 50, kind: str | None = None
    ) -> list[RunInfo]:
        """Runs, newest first; ``model`` filters by exact name, or by a glob pattern when it
        holds ``*`` or ``?`` (see :func:`is_model_pattern`); ``kind`` by run kind,
        ``limit=None`` lists all."""
        clauses, params = [], []
        if model:
            clauses.append("model GLOB ?" if is_model_pattern(model) else "model = ?")
            params.append(model)
        if kind:
            clauses.append("kind = ?")
            params.append(kind)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        tail = " ORDER BY id DESC" + (" LIMIT ?" if limit is not None else "")
        if limit is not None:
            params.append(int(limit))
        return self._select_info(where + tail, tuple(params))

    def latest(self, model: str | None = None, offset: int = 0) -> int:
        """The id of the newest run (of ``model`` if given), or the ``offset``-th before it."""
        runs = self.list_runs(model=model, limit=offset + 1)
        if len(runs) <= offset:
            if model and not runs:
                hint = "" if is_model_pattern(model) else "; names match exactly, * makes a pattern"
                raise RunNotFound(f"no run of model {model!r} in {self.path}{hint}")
            raise RunNotFound(f"no run latest~{offset} in {self.path}")
        return runs[offset].id

    def module_rows(self, run_id: int) -> list[dict[str, Any]]:
        """The per-module rows of a run (path, type, depth, flops, macs, bytes, params,
        activations, time_s) in the document's order."""
        cur = self._conn.execute(
            "SELECT path, type, depth, flops, macs, bytes, params, activations, time_s "
            "FROM modules WHERE run_id = ? ORDER BY ord",
            (int(run_id),),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def count(self) -> int:
        """Number of stored runs."""
        return int(self._conn.execute("SELECT count(*) FROM runs").fetchone()[0])

    def delete(self, run_id: int) -> None:
        """Remove a run and its module rows."""
        with self._write() as conn:
            conn.execute("DELETE FROM modules WHERE run_id = ?", (int(run_id),))
            conn.execute("DELETE FROM runs WHERE id = ?", (int(run_id),))

    def export(self, run_id: int, fmt: str = "json") -> str:
        """A run as text: ``"json"`` is the stored document (indented); ``"csv"`` is one
        line per module with every scalar field the document's modules carry."""
        doc = self.get(run_id)
        if fmt == "json":
            return dumps(doc) + "\n"
        if fmt == "csv":
            return modules_csv(doc)
        raise StoreError(f"unknown export format {fmt!r}; expected json or csv")

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` when sound)."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    # -- helpers -------------------------------------------------------------------------

    def _select_info(self, tail: str, params: tuple[Any, ...]) -> list[RunInfo]:
        cur = self._conn.execute(
            "SELECT id, kind, model, created, flops, macs, bytes, params, time_s, complete,"
            " machine_id, cpu, threads, gpu, torch_version, flopwise_version, label"
            f" FROM runs {tail}",
            params,
        )
        out = []
        for row in cur.fetchall():
            values = list(row)
            values[9] = None if values[9] is None else bool(values[9])
            out.append(RunInfo(*values))
        return out


def is_model_pattern(model: str) -> bool:
    """Whether a model filter is a glob pattern: it holds ``*`` (any run of characters) or
    ``?`` (one character); ``[abc]`` then matches one of a set. Matching is case-sensitive.
    Any other text matches one model name exactly (``_`` and ``%`` are plain characters)."""
    return "*" in model or "?" in model


_SQLITE_HEADER = b"SQLite format 3\x00"


def _writable(path: Path) -> bool:
    """The file and its folder (journal and WAL files live next to it) are writable."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _connect_readonly(path: Path, options: dict[str, Any]) -> sqlite3.Connection:
    """A connection that cannot write to ``path``. ``mode=ro`` still needs the WAL index file
    next to a WAL database; in a read-only folder without one, ``immutable=1`` reads the
    file as it stands (a read-only folder cannot hold uncheckpointed WAL content anyway)."""
    from urllib.parse import quote

    base = "file:" + quote(str(path.resolve()))
    try:
        conn = sqlite3.connect(base + "?mode=ro", uri=True, **options)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        return sqlite3.connect(base + "?immutable=1", uri=True, **options)


def _check_owned(path: Path) -> None:
    """Raise :class:`StoreError` unless ``path`` is a flopwise results database (of any
    schema version this flopwise knows) or a blank file. Reads only: nothing is written, so
    a file that belongs to someone else stays byte for byte as it was."""
    refuse = (
        f"{path} is not a flopwise results database; it was left untouched "
        "(point --db / FLOPWISE_DB at another file)"
    )
    try:
        with open(path, "rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not header:
        return  # a blank file: nothing to lose
    if header != _SQLITE_HEADER:
        raise StoreError(refuse)
    try:
        conn = _connect_readonly(path, {"timeout": BUSY_TIMEOUT_MS / 1000})
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            run_columns = (
                {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
                if "runs" in tables
                else set()
            )
            meta_version = None
            if "meta" in tables:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                meta_version = row[0] if row else None
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{path} cannot be read as a results database: {exc}") from None
    if version > SCHEMA_VERSION:
        return  # refused with its own message when opened (newer flopwise)
    if version == 0:
        owned = not tables  # a blank SQLite file
    elif version == 1:
        owned = {"runs", "modules"} <= tables and {
            "kind",
            "model",
            "created",
            "machine",
            "document",
        } <= run_columns
    else:
        owned = {"runs", "modules", "meta"} <= tables and meta_version == str(version)
    if not owned:
        raise StoreError(refuse)


def modules_csv(doc: dict[str, Any]) -> str:
    """CSV of a document's modules: one line per module, columns = the union of the scalar
    fields of its rows (``path``, ``type``, ``depth`` first), then ``time_s`` (seconds per
    call) when the run measured its modules, as ``profile --measure -f csv`` writes it."""
    modules = doc.get("modules") or []
    timed = (doc.get("measured") or {}).get("modules")
    if isinstance(timed, dict) and timed:
        modules = [dict(m, time_s=(timed.get(m.get("path")) or {}).get("time_s")) for m in modules]
    columns: list[str] = ["path", "type", "depth"]
    for module in modules:
        for key, value in module.items():
            if key not in columns and (value is None or isinstance(value, str | int | float)):
                columns.append(key)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for module in modules:
        writer.writerow(["" if module.get(c) is None else module.get(c) for c in columns])
    return buf.getvalue()
