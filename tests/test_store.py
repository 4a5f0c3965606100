"""The SQLite results store: API, location, schema version and migration, concurrent writers,
and a writer killed with SIGKILL mid-run."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import signal
import sqlite3
import time

import pytest

from flopwise.store import (
    SCHEMA_VERSION,
    RunNotFound,
    Store,
    StoreError,
    default_db_path,
    fingerprint_id,
    machine_fingerprint,
)
from flopwise.store.refs import load_document, resolve_run_id
from test_report_html_fixtures import cnn_document, compare_document, mlp_document, sweep_document


@pytest.fixture
def db(tmp_path):
    return tmp_path / "results.sqlite"


def test_save_get_roundtrip_keeps_document_and_integers(db):
    doc = mlp_document(64)
    with Store(db) as store:
        run_id = store.save_profile(doc)
        assert store.get(run_id) == doc
        back = store.get(run_id)
        assert isinstance(back["totals"]["flops"], int)
        info = store.info(run_id)
        assert info.kind == "profile" and info.model == "tests:mlp"
        assert info.flops == doc["totals"]["flops"]
        assert info.bytes == doc["totals"]["bytes_read"] + doc["totals"]["bytes_written"]
        assert info.params == doc["totals"]["params"]
        assert info.time_s == pytest.approx(doc["measured"]["latency_s"]["median_s"])
        assert info.complete is True
        rows = store.module_rows(run_id)
        assert [r["path"] for r in rows] == [m["path"] for m in doc["modules"]]
        fc1 = rows[2]
        assert fc1["flops"] == doc["modules"][2]["flops"] and fc1["type"] == "Linear"
        assert fc1["time_s"] == pytest.approx(doc["modules"][2]["time_s"])


def test_machine_fingerprint_and_columns(db):
    fp = machine_fingerprint()
    assert set(fp) >= {"cpu", "threads", "gpu", "torch", "flopwise"}
    assert fp["torch"] and fp["flopwise"]
    assert fingerprint_id(fp) == fingerprint_id(dict(fp, torch="9.9"))  # software ≠ machine
    assert fingerprint_id(fp) != fingerprint_id(dict(fp, threads=(fp["threads"] or 1) + 1))
    with Store(db) as store:
        run_id = store.save_profile(mlp_document(), label="abc123")
        info = store.info(run_id)
        assert info.cpu == fp["cpu"] and info.torch_version == fp["torch"]
        assert info.label == "abc123" and info.machine_id == fingerprint_id(fp)
        assert store.machine(run_id)["flopwise"] == fp["flopwise"]
        other = store.save_profile(mlp_document(), machine={"cpu": "X", "threads": 4})
        assert store.info(other).cpu == "X" and store.info(other).threads == 4
    # hardware, inputs and conventions are kept as columns too
    con = sqlite3.connect(db)
    hardware, inputs, conventions = con.execute(
        "SELECT hardware, inputs, conventions FROM runs WHERE id = ?", (run_id,)
    ).fetchone()
    con.close()
    assert json.loads(hardware)["memory_bandwidth"] == 26e9
    assert json.loads(inputs)[0]["shape"] == [8, 32]
    assert json.loads(conventions)["flops_per_mac"] == 2


def test_list_runs_filters_and_latest(db):
    with Store(db) as store:
        a = store.save_profile(mlp_document(64))
        b = store.save_profile(cnn_document(), kind="measure")
        c = store.save_profile(mlp_document(96))
        assert [r.id for r in store.list_runs()] == [c, b, a]
        assert [r.id for r in store.list_runs(model="tests:mlp")] == [c, a]
        assert [r.id for r in store.list_runs(model="tests:*cnn")] == [b]
        assert [r.id for r in store.list_runs(kind="measure")] == [b]
        assert [r.id for r in store.list_runs(limit=1)] == [c]
        assert store.latest() == c and store.latest(offset=1) == b
        assert resolve_run_id(store, "latest~2") == a
        assert resolve_run_id(store, "@tests:tinycnn") == b
        assert resolve_run_id(store, str(b)) == b
        assert store.count() == 3
        store.delete(b)
        assert store.count() == 2 and store.module_rows(b) == []
        with pytest.raises(RunNotFound):
            store.get(b)
        with pytest.raises(StoreError):
            store.save_profile(mlp_document(), kind="banana")


def test_sweep_and_compare_documents_are_stored_too(db):
    with Store(db) as store:
        sweep_id = store.save_profile(sweep_document(), kind="sweep")
        compare_id = store.save_profile(compare_document(), kind="compare")
        assert store.get(sweep_id) == sweep_document()
        assert store.info(sweep_id).model == "tests:tinycnn"
        assert store.info(compare_id).model.startswith("resnet18,resnet50")
        assert store.info(compare_id).flops is None and store.module_rows(compare_id) == []
        assert [r.id for r in store.list_runs(kind="compare")] == [compare_id]


def test_export_json_and_csv(db):
    doc = cnn_document()
    with Store(db) as store:
        run_id = store.save_profile(doc)
        assert json.loads(store.export(run_id, "json")) == doc
        rows = list(csv.DictReader(io.StringIO(store.export(run_id, "csv"))))
        with pytest.raises(StoreError):
            store.export(run_id, "xml")
    assert [r["path"] for r in rows] == [m["path"] for m in doc["modules"]]
    assert int(rows[2]["macs"]) == doc["modules"][2]["macs"]
    assert {"flops", "bytes_read", "time_s", "type", "depth"} <= set(rows[0])


def test_default_location_env_and_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("FLOPWISE_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "flopwise" / "results.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        default_db_path() == tmp_path / "home" / ".local" / "share" / "flopwise" / "results.sqlite"
    )
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "env.sqlite"))
    with Store() as store:
        store.save_profile(mlp_document())
    assert (tmp_path / "env.sqlite").exists()


def test_wal_mode_and_schema_version(db):
    Store(db).close()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
    con.close()


def test_refuses_newer_schema_and_foreign_files(tmp_path):
    newer = tmp_path / "newer.sqlite"
    con = sqlite3.connect(newer)
    con.execute("PRAGMA user_version = 99")
    con.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store(newer)
    foreign = tmp_path / "foreign.sqlite"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a flopwise results database"):
        Store(foreign)


# --------------------------------------------------------------------------------------------
# migration: a version-1 database, written by hand the way flopwise 0.0 wrote it

V1_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    created TEXT NOT NULL,
    machine TEXT NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX runs_model ON runs (model, id);
CREATE TABLE modules (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    path TEXT NOT NULL,
    flops INTEGER, macs INTEGER, bytes INTEGER, params INTEGER
);
PRAGMA user_version = 1;
"""


def _make_v1(path, docs):
    con = sqlite3.connect(path)
    con.executescript(V1_SCHEMA)
    machine = json.dumps({"cpu": "Old CPU", "threads": 2, "torch": "2.0.0", "flopwise": "0.0.1"})
    for i, doc in enumerate(docs, start=1):
        con.execute(
            "INSERT INTO runs (id, kind, model, created, machine, document) VALUES (?,?,?,?,?,?)",
            (
                i * 10,
                "profile",
                doc["model"],
                f"2026-01-0{i}T00:00:00+00:00",
                machine,
                json.dumps(doc),
            ),
        )
        for m in doc["modules"]:
            con.execute(
                "INSERT INTO modules VALUES (?,?,?,?,?,?)",
                (
                    i * 10,
                    m["path"],
                    m["flops"],
                    m["macs"],
                    m["bytes_read"] + m["bytes_written"],
                    m["params"],
                ),
            )
    con.commit()
    con.close()


def test_migrates_v1_to_v2(db):
    docs = [mlp_document(64), cnn_document()]
    _make_v1(db, docs)
    with Store(db) as store:
        assert store.schema_version == 2
        runs = store.list_runs()
        assert [r.id for r in runs] == [20, 10]  # ids are kept: old references stay valid
        assert store.get(10) == docs[0] and store.get(20) == docs[1]
        old = store.info(10)
        assert old.created == "2026-01-01T00:00:00+00:00"
        assert old.cpu == "Old CPU" and old.torch_version == "2.0.0"
        assert old.flops == docs[0]["totals"]["flops"]  # backfilled from the document
        rows = store.module_rows(10)
        assert rows[2]["type"] == "Linear" and rows[2]["depth"] == 2  # new columns backfilled
        assert rows[2]["time_s"] == pytest.approx(docs[0]["modules"][2]["time_s"])
        new_id = store.save_profile(mlp_document(96))
        assert new_id > 20  # AUTOINCREMENT continues after the migrated ids
        assert store.integrity_check() == "ok"
    con = sqlite3.connect(db)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    assert "runs_v1" not in tables and "modules_v1" not in tables
    with Store(db) as store:  # reopening a migrated file is a no-op
        assert store.count() == 3


def test_failed_migration_rolls_back(db, monkeypatch):
    _make_v1(db, [mlp_document(64)])
    from flopwise.store import db as dbmod

    def broken(conn):
        conn.execute("ALTER TABLE runs RENAME TO runs_v1")
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(dbmod.MIGRATIONS, 1, broken)
    with pytest.raises(RuntimeError):
        Store(db)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1  # untouched
    con.close()


# --------------------------------------------------------------------------------------------
# processes

_CTX = multiprocessing.get_context("fork")


def _writer(path: str, tag: int, count: int, hidden: int) -> None:
    with Store(path) as store:
        for i in range(count):
            doc = mlp_document(hidden, model=f"writer{tag}")
            doc["seq"] = i
            store.save_profile(doc, label=f"{tag}:{i}")


def test_concurrent_writers_from_two_processes(db):
    # no Store(db) first: both processes also race to create the file and its schema
    procs = [_CTX.Process(target=_writer, args=(str(db), t, 25, 32 + t)) for t in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with Store(db) as store:
        assert store.count() == 50
        assert store.integrity_check() == "ok"
        for tag in (1, 2):
            runs = store.list_runs(model=f"writer{tag}", limit=None)
            assert sorted(int(r.label.split(":")[1]) for r in runs) == list(range(25))
            for r in runs[:3]:
                assert len(store.module_rows(r.id)) == len(store.get(r.id)["modules"]) == 7


def _endless_writer(path: str, conn) -> None:
    store = Store(path)
    i = 0
    while True:
        doc = cnn_document(width=8 + i % 5, model="victim")
        # a bigger document makes each transaction take a while: the kill lands inside one
        doc["modules"] = doc["modules"] * 40
        doc["seq"] = i
        run_id = store.save_profile(doc)
        conn.send((run_id, i))  # sent only after COMMIT returned
        i += 1


def test_writer_killed_mid_run_leaves_committed_runs_intact(db):
    Store(db).close()
    parent, child = _CTX.Pipe()
    proc = _CTX.Process(target=_endless_writer, args=(str(db), child))
    proc.start()
    committed = []
    deadline = time.monotonic() + 30
    while len(committed) < 12 and time.monotonic() < deadline:
        if parent.poll(0.5):
            committed.append(parent.recv())
    time.sleep(0.003)  # let it get into the next transaction
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    while parent.poll(0):
        committed.append(parent.recv())
    assert len(committed) >= 12
    with Store(db) as store:
        assert store.integrity_check() == "ok"
        stored = {r.id for r in store.list_runs(limit=None)}
        for run_id, seq in committed:
            assert run_id in stored
            doc = store.get(run_id)
            assert doc["seq"] == seq
        # atomicity: every run that exists has all of its module rows, never a part
        for run_id in stored:
            assert len(store.module_rows(run_id)) == len(store.get(run_id)["modules"])
        # and the store still takes writes after the crash
        store.save_profile(mlp_document())


def test_load_document_prefers_files_and_never_opens_db_for_them(tmp_path, monkeypatch):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(mlp_document()))
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "never.sqlite"))
    doc, label = load_document(str(path))
    assert doc["model"] == "tests:mlp" and label == "doc.json"
    assert not (tmp_path / "never.sqlite").exists()
    with pytest.raises(StoreError, match="not a file"):
        load_document(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(StoreError, match="not JSON"):
        load_document(str(tmp_path / "bad.json"))


# --------------------------------------------------------------------------------------------
# files the store does not own, read-only stores, exact model names


def _snapshot(folder):
    """Every file in ``folder`` with its bytes: proves nothing was written or created."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _foreign_files(tmp_path):
    files = {}
    plain = tmp_path / "plain" / "app.sqlite"  # another application's data, rollback journal
    plain.parent.mkdir()
    con = sqlite3.connect(plain)
    con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    con.executemany("INSERT INTO notes (text) VALUES (?)", [("a",), ("b",)])
    con.commit()
    con.close()
    files["plain"] = plain
    # the same version number as ours, but not our tables: a user_version collision
    lookalike = tmp_path / "lookalike" / "v2.sqlite"
    lookalike.parent.mkdir()
    con = sqlite3.connect(lookalike)
    con.execute("CREATE TABLE runs (x)")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    con.commit()
    con.close()
    files["lookalike"] = lookalike
    text = tmp_path / "text" / "notes.txt"  # not SQLite at all
    text.parent.mkdir()
    text.write_text("not a database\n" * 20)
    files["text"] = text
    return files


def test_foreign_files_are_refused_and_left_byte_for_byte(tmp_path):
    for kind, path in _foreign_files(tmp_path).items():
        before = _snapshot(path.parent)
        with pytest.raises(StoreError, match="not a flopwise results database"):
            Store(path)
        with pytest.raises(StoreError, match="not a flopwise results database"):
            Store(path, readonly=True)
        # the old code switched the file to WAL before looking: header bytes 18-19 changed
        assert _snapshot(path.parent) == before, kind


def test_cli_on_a_foreign_file_is_one_error_line_and_no_write(tmp_path, capsys):
    from flopwise.cli import main

    path = _foreign_files(tmp_path)["plain"]
    before = _snapshot(path.parent)
    assert main(["history", "--db", str(path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a flopwise results database" in err[0]
    assert main(["diff", "latest~1", "latest", "--db", str(path)]) != 0
    assert _snapshot(path.parent) == before


def test_readonly_store_reads_and_refuses_writes(db):
    with Store(db) as store:
        first = store.save_profile(mlp_document(64))
        second = store.save_profile(mlp_document(96))
    before = _snapshot(db.parent)
    with Store(db, readonly=True) as store:
        assert store.readonly
        assert [r.id for r in store.list_runs()] == [second, first]
        assert store.get(first) == mlp_document(64)
        with pytest.raises(StoreError, match="read-only"):
            store.save_profile(mlp_document())
        with pytest.raises(StoreError, match="read-only"):
            store.delete(first)
    assert db.read_bytes() == before[db.name]  # (SQLite may leave an empty -wal/-shm beside it)
    with pytest.raises(StoreError, match="no results database"):
        Store(db.parent / "missing.sqlite", readonly=True)


def _deny_writes(monkeypatch, folder):
    """Make ``folder`` and what is in it look unwritable to this process (tests run as root,
    for whom chmod does not deny anything)."""
    real = os.access

    def access(path, mode, *args, **kwargs):
        inside = os.path.abspath(path) == str(folder) or os.path.dirname(
            os.path.abspath(path)
        ) == str(folder)
        if mode & os.W_OK and inside:
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


def test_unwritable_store_is_opened_readonly_history_and_diff_work(db, monkeypatch, capsys):
    from flopwise.cli import main

    with Store(db) as store:
        first = store.save_profile(mlp_document(64))
        second = store.save_profile(mlp_document(96))
    before = _snapshot(db.parent)
    _deny_writes(monkeypatch, db.parent)
    with Store(db) as store:  # not asked for: detected
        assert store.readonly and store.count() == 2
        with pytest.raises(StoreError, match="read-only"):
            store.save_profile(mlp_document())
    assert main(["history", "--db", str(db), "--format", "json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [second, first]
    assert main(["diff", str(first), str(second), "--db", str(db), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"]["a"]["flops"] > 0
    assert main(["export", "latest", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out) == mlp_document(96)
    assert db.read_bytes() == before[db.name]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only files")
def test_really_readonly_file_and_folder(db):
    with Store(db) as store:
        run_id = store.save_profile(mlp_document(64))
    os.chmod(db, 0o444)
    os.chmod(db.parent, 0o555)
    try:
        with Store(db) as store:
            assert store.readonly and store.get(run_id) == mlp_document(64)
            with pytest.raises(StoreError, match="read-only"):
                store.save_profile(mlp_document())
    finally:
        os.chmod(db.parent, 0o755)
        os.chmod(db, 0o644)


def test_readonly_old_schema_is_read_through_a_copy(db):
    docs = [mlp_document(64), cnn_document()]
    _make_v1(db, docs)
    before = _snapshot(db.parent)
    with Store(db, readonly=True) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert [r.id for r in store.list_runs()] == [20, 10]
        assert store.get(20) == docs[1] and store.info(10).flops == docs[0]["totals"]["flops"]
        with pytest.raises(StoreError, match="read-only"):
            store.save_profile(mlp_document())
    assert _snapshot(db.parent) == before  # still version 1 on disk
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    con.close()


def test_model_names_match_exactly_and_globs_are_explicit(db, capsys):
    from flopwise.cli import main

    with Store(db) as store:
        other = store.save_profile(mlp_document(model="myXmodel.py:f"))
        # `_` was a LIKE wildcard: `my_model.py:f` used to find the run above
        with pytest.raises(RunNotFound):
            resolve_run_id(store, "@my_model.py:f")
        assert store.list_runs(model="my_model.py:f") == []
        mine = store.save_profile(mlp_document(model="my_model.py:f"))
        store.save_profile(mlp_document(model="my_model.py:f_large"))
        store.save_profile(mlp_document(model="100%_model"))
        assert resolve_run_id(store, "@my_model.py:f") == mine
        assert [r.id for r in store.list_runs(model="my_model.py:f")] == [mine]
        assert [r.model for r in store.list_runs(model="100%_model")] == ["100%_model"]
        assert store.list_runs(model="100%") == []
        assert {r.model for r in store.list_runs(model="my*model.py:f")} == {
            "my_model.py:f",
            "myXmodel.py:f",
        }
        assert [r.model for r in store.list_runs(model="my?model.py:f*")] == [
            "my_model.py:f_large",
            "my_model.py:f",
            "myXmodel.py:f",
        ]
        assert resolve_run_id(store, "@myX*") == other
    assert main(["history", "my_model.py:f", "--db", str(db), "--format", "json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [mine]
    assert main(["diff", "@myXmodel.py:f", "@my_model.py:f", "--db", str(db)]) == 0
    assert "A: run 1" in capsys.readouterr().out


def test_no_run_of_a_model_says_names_match_exactly(db, capsys):
    from flopwise.cli import main

    with Store(db) as store:
        store.save_profile(mlp_document(model="torchvision:resnet50"))
        with pytest.raises(RunNotFound, match="no run of model 'torchvision:resnet'.*exactly"):
            resolve_run_id(store, "@torchvision:resnet")
    assert main(["history", "torchvision:%", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "No runs of torchvision:%" in out and "use *" in out
    assert main(["history", "torchvision:*", "--db", str(db), "--format", "json"]) == 0
    assert [r["model"] for r in json.loads(capsys.readouterr().out)] == ["torchvision:resnet50"]
