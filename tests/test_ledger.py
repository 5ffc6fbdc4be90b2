"""The job ledger: records, lookups, ordering, schema migrations and concurrent writers."""

from __future__ import annotations

import multiprocessing
import re
import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from grokvid.api import ledger as ledger_mod
from grokvid.api import paths
from grokvid.api.errors import ConfigError, ValidationError
from grokvid.api.ledger import COLUMNS, SCHEMA_VERSION, JobRecord, Ledger

PARAMS = {"model": "grok-imagine-video", "prompt": "a red fox", "duration": 8}


def make(ledger: Ledger, **kw: Any) -> JobRecord:
    args: dict[str, Any] = {
        "provider": "sandbox",
        "base_url": "http://127.0.0.1:8000",
        "model": "grok-imagine-video",
        "prompt": "a red fox trotting through fresh snow",
        "params": PARAMS,
    }
    args.update(kw)
    return ledger.create(**args)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "jobs" / "ledger.sqlite3")


def test_create_commits_a_created_row(ledger: Ledger) -> None:
    record = make(ledger, estimated_cost_usd=0.4, batch_id="b1", variant=2)
    assert re.fullmatch(r"gv-[a-z2-7]{8}", record.local_id)
    assert record.state == "created"
    assert record.created_at.tzinfo is not None
    assert record.created_at.utcoffset() == timedelta(0)
    assert record.request_id is None and not record.terminal
    # Visible to a brand-new connection at once.
    again = Ledger(ledger.path).get(record.local_id)
    assert again == record
    assert again is not None and again.params == PARAMS


def test_ledger_files_are_private_and_wal(ledger: Ledger) -> None:
    make(ledger)
    assert stat.S_IMODE(ledger.path.stat().st_mode) == 0o600
    db = sqlite3.connect(ledger.path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        db.close()


def test_default_path_is_resolved_at_call_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ledger = Ledger()
    monkeypatch.setenv("GROKVID_HOME", str(tmp_path / "later"))
    record = make(ledger)
    assert ledger.path == paths.ledger_file() == tmp_path / "later" / "data" / "ledger.sqlite3"
    assert Ledger().get(record.local_id) == record


def test_update_changes_and_persists_fields(ledger: Ledger) -> None:
    record = make(ledger)
    submitted = datetime(2026, 5, 9, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    updated = ledger.update(
        record.local_id, state="pending", request_id="d97415a1-5796", submitted_at=submitted
    )
    assert updated.state == "pending"
    assert updated.submitted_at == submitted
    assert updated.submitted_at is not None and updated.submitted_at.tzinfo == UTC
    updated = ledger.update(
        record.local_id,
        state="downloaded",
        progress=100,
        cost_usd_ticks=4_000_000_000,
        bytes=123_456,
        sha256="ab" * 32,
        output_path="/tmp/fox.mp4",
    )
    assert updated.terminal
    assert ledger.get(record.local_id) == updated
    assert updated.request_id == "d97415a1-5796"  # untouched fields kept


def test_update_rejects_unknown_and_fixed_fields(ledger: Ledger) -> None:
    record = make(ledger)
    with pytest.raises(TypeError, match="api_key"):
        ledger.update(record.local_id, api_key="x")
    with pytest.raises(TypeError, match="not updatable: local_id"):
        ledger.update(record.local_id, local_id="gv-other")


def test_update_validates_values_and_rolls_back(ledger: Ledger) -> None:
    record = make(ledger)
    with pytest.raises(ValueError, match="unknown job state"):
        ledger.update(record.local_id, state="exploded", progress=5)
    with pytest.raises(ValueError):
        ledger.update(record.local_id, completed_at=datetime(2026, 1, 1))  # naive
    assert ledger.get(record.local_id) == record


def test_update_unknown_job(ledger: Ledger) -> None:
    with pytest.raises(KeyError):
        ledger.update("gv-aaaaaaaa", state="pending")


def test_get_by_id_request_id_and_prefix(ledger: Ledger) -> None:
    a = make(ledger)
    b = make(ledger)
    a = ledger.update(a.local_id, request_id="d97415a1-5796-b7ec-379f-4e6819e08fdf")
    b = ledger.update(b.local_id, request_id="0c0ffee0-0000-0000-0000-000000000000")
    assert ledger.get(a.local_id) == a
    assert ledger.get(a.local_id.upper()) == a
    assert ledger.get("d97415a1-5796-b7ec-379f-4e6819e08fdf") == a
    assert ledger.get("d974") == a
    assert ledger.get("0c0ffee0") == b
    assert ledger.get(b.local_id[:7]) == b  # "gv-" + 4
    assert ledger.get(b.local_id[3:]) == b  # without gv-
    assert ledger.get(b.local_id[3:7]) == b
    assert ledger.get("d97") is None  # too short for a prefix
    assert ledger.get("ffff-nothing") is None
    assert ledger.get("") is None


def test_get_ambiguous_prefix_names_the_matches(ledger: Ledger) -> None:
    a = make(ledger)
    b = make(ledger)
    ledger.update(a.local_id, request_id="abcd-1")
    ledger.update(b.local_id, request_id="abcd-2")
    with pytest.raises(ValidationError) as info:
        ledger.get("abcd")
    assert a.local_id in str(info.value) and b.local_id in str(info.value)
    assert ledger.get("abcd-2") is not None


def test_list_newest_first_with_limit_states_and_batch(ledger: Ledger) -> None:
    records = [make(ledger, batch_id="b" if i % 2 else None, variant=i) for i in range(6)]
    ledger.update(records[1].local_id, state="failed")
    ledger.update(records[4].local_id, state="downloaded")
    listed = ledger.list()
    assert [r.local_id for r in listed] == [r.local_id for r in reversed(records)]
    assert [r.local_id for r in ledger.list(limit=2)] == [records[5].local_id, records[4].local_id]
    assert len(ledger.list(limit=None)) == 6
    assert [r.local_id for r in ledger.list(states=["failed", "downloaded"])] == [
        records[4].local_id,
        records[1].local_id,
    ]
    assert [r.variant for r in ledger.list(batch_id="b")] == [5, 3, 1]
    assert ledger.list(states=[]) == []
    with pytest.raises(ValidationError, match="Unknown job state 'bogus': use created, "):
        ledger.list(states=["bogus"])


def test_terminal_states() -> None:
    now = datetime.now(UTC)
    base = {"local_id": "gv-x", "provider": "xai", "base_url": "u", "model": "m", "prompt": "p"}
    for state in ledger_mod.STATES:
        record = JobRecord.model_validate({**base, "params": {}, "state": state, "created_at": now})
        assert record.terminal == (
            state in {"downloaded", "failed", "moderated", "expired", "rejected", "not-sent"}
        )


def test_no_column_can_hold_a_key() -> None:
    assert not [c for c in COLUMNS if "key" in c or "auth" in c or "token" in c]


# --- schema ----------------------------------------------------------------------------------


def test_migrates_an_empty_v0_database(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE unrelated (x)")
    db.commit()
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    db.close()

    ledger = Ledger(path)
    record = make(ledger)
    assert ledger.get(record.local_id) == record
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT count(*) FROM unrelated").fetchone()[0] == 0
    finally:
        db.close()


def test_migrate_runs_each_step_once() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        assert ledger_mod.migrate(db) == 0
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert ledger_mod.migrate(db) == SCHEMA_VERSION  # nothing left to do
        columns = [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
        assert tuple(columns) == COLUMNS
    finally:
        db.close()


def test_a_failed_migration_step_rolls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(ledger_mod, "MIGRATIONS", [broken])
    monkeypatch.setattr(ledger_mod, "SCHEMA_VERSION", 1)
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        with pytest.raises(RuntimeError):
            ledger_mod.migrate(db)
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert not db.execute("SELECT name FROM sqlite_master WHERE name='half_done'").fetchall()
    finally:
        db.close()


def test_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    db.close()
    with pytest.raises(ConfigError) as info:
        Ledger(path).list()
    message = str(info.value)
    assert str(path) in message
    assert "newer grokvid" in message
    assert f"schema version {SCHEMA_VERSION + 3}" in message
    assert "upgrade grokvid" in message


def test_a_file_that_is_not_sqlite_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(ConfigError, match="not a readable SQLite database"):
        Ledger(path).list()


def test_a_deleted_ledger_is_recreated(ledger: Ledger) -> None:
    make(ledger)
    ledger.path.unlink()
    record = make(ledger)
    assert [r.local_id for r in ledger.list()] == [record.local_id]


def test_a_ledger_locked_too_long_gives_a_clear_error(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(ledger)
    monkeypatch.setattr(ledger_mod, "BUSY_TIMEOUT_MS", 100)
    holder = sqlite3.connect(ledger.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(ConfigError, match="stayed locked"):
            make(ledger)
        assert len(ledger.list()) == 1  # readers are not blocked by a writer in WAL mode
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    make(ledger)


# --- concurrency -----------------------------------------------------------------------------


def _writer(path: str, tag: str, count: int, go: Any = None) -> None:
    """Create `count` jobs and move each through two updates; first wait on `go` (a Barrier)."""
    if go is not None:
        go.wait(30)
    ledger = Ledger(Path(path))
    for i in range(count):
        record = make(ledger, batch_id=tag, variant=i)
        ledger.update(record.local_id, state="pending", request_id=f"{tag}-{i}", progress=i % 100)
        ledger.update(record.local_id, state="done", progress=100)


def test_concurrent_writers_from_threads(ledger: Ledger) -> None:
    errors: list[BaseException] = []

    def work(tag: str) -> None:
        try:
            _writer(str(ledger.path), tag, 15)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    records = ledger.list(limit=None)
    assert len(records) == 8 * 15
    assert len({r.local_id for r in records}) == 8 * 15
    assert {r.state for r in records} == {"done"}
    assert ledger.get("t3-7") is not None


@pytest.mark.slow
def test_concurrent_writers_from_two_processes(ledger: Ledger) -> None:
    make(ledger)  # the file exists with its schema; the children race on writes only
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Barrier(3)
    procs = [
        ctx.Process(target=_writer, args=(str(ledger.path), f"p{n}", 25, go)) for n in range(2)
    ]
    for proc in procs:
        proc.start()
    _writer(str(ledger.path), "parent", 10, go)  # this process writes at the same time
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    records = ledger.list(limit=None)
    assert len(records) == 1 + 2 * 25 + 10
    assert sum(r.state == "done" for r in records) == 2 * 25 + 10
    assert [r.variant for r in ledger.list(batch_id="p1", limit=None)] == list(range(24, -1, -1))
    tags = [r.batch_id for r in reversed(records) if r.batch_id in {"p0", "p1"}]
    switches = sum(a != b for a, b in zip(tags, tags[1:], strict=False))
    assert switches > 1, "the two processes did not overlap"


@pytest.mark.slow
def test_two_processes_creating_a_fresh_ledger_at_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "ledger.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Barrier(3)  # all three open the missing file together
    procs = [ctx.Process(target=_writer, args=(str(path), f"p{n}", 5, go)) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert len(Ledger(path).list(limit=None)) == 15
