"""The job ledger: records, lookups, ordering, schema migrations and concurrent writers."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import re
import sqlite3
import stat
import threading
import unittest.mock
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from grokvid.api import ledger as ledger_mod
from grokvid.api import paths
from grokvid.api.errors import ConfigError, ValidationError
from grokvid.api.ledger import COLUMNS, SCHEMA_VERSION, JobRecord, Ledger
from grokvid.api.ledger import connection as connection_mod
from grokvid.api.ledger import schema as schema_mod
from grokvid.api.states import JobState

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


def move(ledger: Ledger, local_id: str, *states: str) -> JobRecord:
    """Walk a job forward through `states`, one update each, as a real run would."""
    record = None
    for state in states:
        record = ledger.update(local_id, state=state)
        assert record.state == state
    assert record is not None
    return record


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
    move(ledger, record.local_id, "submitting")
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
    move(ledger, records[1].local_id, "submitting", "pending", "failed")
    move(ledger, records[4].local_id, "submitting", "pending", "done", "downloaded")
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

    monkeypatch.setattr(schema_mod, "MIGRATIONS", [broken])
    monkeypatch.setattr(schema_mod, "SCHEMA_VERSION", 1)
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
    monkeypatch.setattr(connection_mod, "BUSY_TIMEOUT_MS", 100)
    ledger = Ledger(ledger.path)  # the timeout is set when a connection opens
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
        ledger.update(record.local_id, state="submitting")
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


# --- 0.2: states, schema v2 ------------------------------------------------------------------


def test_state_is_a_job_state_and_the_exported_names_follow_the_enum(ledger: Ledger) -> None:
    record = make(ledger)
    assert isinstance(record.state, JobState) and record.state == "created"
    assert ledger_mod.STATES == tuple(s.value for s in JobState)
    assert {"submitting", "not-sent"} <= set(ledger_mod.STATES)
    assert "not-sent" in ledger_mod.TERMINAL_STATES and "done" not in ledger_mod.TERMINAL_STATES
    assert move(ledger, record.local_id, "not-sent").terminal
    assert [r.state for r in ledger.list(states=["not-sent"])] == [JobState.NOT_SENT]


V1_ROW = (
    "INSERT INTO jobs (local_id, provider, base_url, request_id, model, prompt, params, state, "
    "created_at) VALUES (?, 'xai', 'https://api.x.ai', ?, 'grok-imagine-video', ?, ?, ?, ?)"
)


def _v1_ledger(path: Path, rows: list[tuple[str, str | None, str, str, str]]) -> None:
    """A ledger file exactly as grokvid 0.1 left it: the v1 tables, user_version 1."""
    db = sqlite3.connect(path, isolation_level=None)
    schema_mod.MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    for i, (local_id, request_id, prompt, params, state) in enumerate(rows):
        db.execute(
            V1_ROW,
            (
                local_id,
                request_id,
                prompt,
                params,
                state,
                f"2026-05-0{i + 1}T00:00:00.000000+00:00",
            ),
        )
    db.close()


def test_a_v1_ledger_is_migrated_with_handles_and_specs(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    image = {"file": "/pics/fox.png", "bytes": 10, "sha256": "ab" * 32, "type": "image/png"}
    _v1_ledger(
        path,
        [
            (
                "gv-aaaaaaaa",
                "req-1",
                "a fox",
                json.dumps({"duration": 8, "aspect_ratio": "16:9", "resolution": "720p"}),
                "downloaded",
            ),
            (
                "gv-bbbbbbbb",
                None,
                "",
                json.dumps({"duration": 5, "generate_audio": False, "image": image}),
                "created",
            ),
        ],
    )
    ledger = Ledger(path)
    text, image_job = ledger.get("gv-aaaaaaaa"), ledger.get("gv-bbbbbbbb")
    assert text is not None and image_job is not None
    assert text.handle == {"request_id": "req-1"} and image_job.handle is None
    assert text.spec == {
        "kind": "text-to-video",
        "prompt": "a fox",
        "model": "grok-imagine-video",
        "duration": 8,
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "audio": True,
        "image": None,
    }
    assert image_job.spec is not None
    assert image_job.spec["kind"] == "image-to-video" and image_job.spec["image"] == image
    assert image_job.spec["audio"] is False and image_job.spec["resolution"] is None
    assert text.fingerprint is None and text.service_render_seconds is None
    assert text.state == JobState.DOWNLOADED
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        indexes = {row[1] for row in db.execute("PRAGMA index_list(jobs)")}
        assert "jobs_fingerprint" in indexes
    finally:
        db.close()
    updated = ledger.update("gv-bbbbbbbb", fingerprint="fp1", service_render_seconds=12.5)
    assert Ledger(path).get("gv-bbbbbbbb") == updated


def test_a_request_id_alone_becomes_the_handle(ledger: Ledger) -> None:
    record = make(ledger)
    move(ledger, record.local_id, "submitting")
    updated = ledger.update(record.local_id, state="pending", request_id="req-9")
    assert updated.handle == {"request_id": "req-9"}
    fal = ledger.update(record.local_id, handle={"status_url": "https://queue.example/1"})
    assert fal.handle == {"status_url": "https://queue.example/1"}


# --- 0.2: a job only moves forward -----------------------------------------------------------


def test_a_late_status_cannot_undo_a_download(ledger: Ledger) -> None:
    record = make(ledger)
    move(ledger, record.local_id, "submitting", "pending", "done")
    saved = ledger.update(record.local_id, state="downloaded", sha256="cd" * 32, bytes=99)
    late = ledger.update(
        record.local_id, state="done", progress=100, video_url="https://cdn.example/new"
    )
    assert late == saved  # the whole stale write is dropped, not just its state
    assert ledger.get(record.local_id) == saved
    again = ledger.update(record.local_id, state="downloaded", output_path="/clips/b.mp4")
    assert again.output_path == "/clips/b.mp4"  # a re-download keeps its state and is written


def test_advance_is_a_compare_and_set(ledger: Ledger) -> None:
    record = make(ledger)
    won = ledger.advance(record.local_id, expect={JobState.CREATED}, to=JobState.SUBMITTING)
    assert won is not None and won.state == "submitting"
    lost = ledger.advance(
        record.local_id, expect={JobState.CREATED}, to=JobState.SUBMITTING, progress=3
    )
    assert lost is None
    assert ledger.get(record.local_id) == won  # nothing written, not even progress
    backwards = ledger.advance(record.local_id, expect={JobState.SUBMITTING}, to=JobState.CREATED)
    assert backwards is None
    done = ledger.advance(
        record.local_id,
        expect={JobState.SUBMITTING, JobState.SUBMIT_UNKNOWN},
        to=JobState.PENDING,
        request_id="r-1",
    )
    assert done is not None and done.request_id == "r-1"
    with pytest.raises(KeyError):
        ledger.advance("gv-zzzzzzzz", expect={JobState.CREATED}, to=JobState.SUBMITTING)


def _race(path: str, ids: list[str], go: Any) -> None:
    """Write `done` (a slow status poll) over each job while another writer saves it."""
    ledger = Ledger(Path(path))
    go.wait(30)
    for local_id in ids:
        ledger.update(local_id, state="done", progress=100, video_url="https://cdn.example/late")


def test_racing_status_writes_never_revert_downloaded(ledger: Ledger) -> None:
    ids = []
    for _ in range(20):
        record = make(ledger)
        move(ledger, record.local_id, "submitting", "pending", "done")
        ids.append(record.local_id)
    go = threading.Barrier(2)
    status = threading.Thread(target=_race, args=(str(ledger.path), ids, go))
    status.start()
    go.wait(30)
    for local_id in ids:
        ledger.update(local_id, state="downloaded", sha256="ef" * 32)
    status.join()
    # Whatever the interleaving, a status that lands after the save must not undo it.
    _race(str(ledger.path), ids, threading.Barrier(1))
    states = [ledger.get(local_id).state for local_id in ids]  # type: ignore[union-attr]
    assert states.count(JobState.DOWNLOADED) == 20, f"{20 - states.count('downloaded')} reverts"


@pytest.mark.slow
def test_a_late_status_from_another_process_never_reverts_downloaded(ledger: Ledger) -> None:
    ids = []
    for _ in range(20):
        record = make(ledger)
        move(ledger, record.local_id, "submitting", "pending", "done", "downloaded")
        ids.append(record.local_id)
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Barrier(1)
    child = ctx.Process(target=_race, args=(str(ledger.path), ids, go))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert {r.state for r in ledger.list(limit=None)} == {JobState.DOWNLOADED}
    assert {r.video_url for r in ledger.list(limit=None)} == {None}


# --- 0.2: one connection per process ---------------------------------------------------------


def test_one_connection_serves_every_call(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[object] = []
    real = sqlite3.connect

    def counting(*args: Any, **kw: Any) -> sqlite3.Connection:
        opened.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(sqlite3, "connect", counting)
    record = make(ledger)
    for i in range(30):
        ledger.update(record.local_id, progress=i)
        ledger.get(record.local_id)
    ledger.list()
    assert len(opened) == 1


def test_close_and_context_manager_release_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as ledger:
        record = make(ledger)
        assert Path(f"{path}-wal").exists()
    assert not Path(f"{path}-wal").exists()  # the last connection closed: WAL checkpointed
    assert ledger.get(record.local_id) == record  # and a closed Ledger opens again on use
    ledger.close()


def test_a_forked_child_opens_its_own_connection(ledger: Ledger) -> None:
    import os

    record = make(ledger)
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child reports through its exit status)
        try:
            ledger.update(record.local_id, progress=42)
            code = 0 if Ledger(ledger.path).get(record.local_id).progress == 42 else 1  # type: ignore[union-attr]
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    updated = ledger.update(record.local_id, progress=43)  # the parent's connection still works
    assert updated.progress == 43


# --- 0.2: robust reading ---------------------------------------------------------------------


def _plant(ledger: Ledger, local_id: str, **columns: object) -> None:
    """Write a row by hand, as a newer grokvid or a damaged file might have left it."""
    row: dict[str, object] = {
        "local_id": local_id,
        "provider": "xai",
        "base_url": "https://api.x.ai",
        "model": "grok-imagine-video",
        "prompt": "p",
        "params": "{}",
        "state": "pending",
        "created_at": "2026-05-01T00:00:00.000000+00:00",
    }
    row.update(columns)
    db = sqlite3.connect(ledger.path, isolation_level=None)
    try:
        names = ", ".join(row)
        db.execute(
            f"INSERT INTO jobs ({names}) VALUES ({', '.join('?' for _ in row)})", list(row.values())
        )
    finally:
        db.close()


def test_unreadable_rows_are_skipped_and_flagged(ledger: Ledger) -> None:
    good = make(ledger)
    _plant(ledger, "gv-frozen01", state="frozen")
    _plant(ledger, "gv-badjson1", params="{not json")
    _plant(ledger, "gv-badtime1", created_at="yesterday")
    assert [r.local_id for r in ledger.list()] == [good.local_id]
    assert len(ledger.skipped) == 3
    by_id = {line.split()[2]: line for line in ledger.skipped}
    assert "unknown state 'frozen'" in by_id["gv-frozen01"]
    assert "params is not valid JSON" in by_id["gv-badjson1"]
    assert "created_at is not a UTC timestamp: 'yesterday'" in by_id["gv-badtime1"]
    assert all("\n" not in line and str(ledger.path) in line for line in ledger.skipped)
    assert [r.local_id for r in ledger.list(states=["pending"])] == []  # filters still apply

    with pytest.raises(ConfigError) as info:
        ledger.get("gv-frozen01")
    message = str(info.value)
    assert "\n" not in message and str(ledger.path) in message and "gv-frozen01" in message
    assert "Upgrade grokvid, or remove the row" in message
    _plant(ledger, "gv-frozen02", state="pending", request_id="frozen-req")
    assert ledger.get("frozen-r") is not None and ledger.skipped == []
    assert ledger.get("gv-froz") is not None  # the prefix scan skips the unreadable twin
    assert [line.split()[2] for line in ledger.skipped] == ["gv-frozen01"]


def test_a_ledger_without_its_jobs_table_says_so(ledger: Ledger) -> None:
    make(ledger)
    ledger.close()
    db = sqlite3.connect(ledger.path, isolation_level=None)
    db.execute("DROP TABLE jobs")
    db.close()
    with pytest.raises(ConfigError) as info:
        Ledger(ledger.path).list()
    assert str(info.value) == (
        f"The job ledger {ledger.path} has no jobs table: move the file aside and run again "
        "to start a new ledger."
    )


def test_a_ledger_path_that_is_a_folder_says_how_to_fix_it(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.mkdir()
    with pytest.raises(ConfigError) as info:
        Ledger(path).list()
    message = str(info.value)
    assert message.startswith(f"Cannot open the job ledger {path}")
    assert "chmod u+rw" in message and "GROKVID_HOME" in message and "\n" not in message


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    """Ledgers opened in here are read-only, as a file the user cannot write would be.

    (chmod alone would not do: these tests may run as root.)
    """
    real = sqlite3.connect

    def ro(path: object, **kw: Any) -> sqlite3.Connection:
        return real(f"file:{path}?mode=ro", uri=True, **kw)

    with unittest.mock.patch.object(sqlite3, "connect", ro):
        yield


def test_a_read_only_ledger_reads_but_refuses_writes_in_one_line(ledger: Ledger) -> None:
    record = make(ledger)  # this process keeps the file open, as a running grokvid would
    with read_only():
        frozen = Ledger(ledger.path)
        assert frozen.get(record.local_id) == record
    with pytest.raises(ledger_mod.LedgerUnavailable) as info:
        frozen.update(record.local_id, progress=5)
    assert str(info.value) == (
        f"The job ledger {ledger.path} is read-only: make it and its folder writable "
        f"(chmod u+w {ledger.path}), then run again."
    )


# --- 0.2: the fallback journal ---------------------------------------------------------------


def test_a_refused_write_goes_to_the_journal_and_is_replayed(ledger: Ledger) -> None:
    record = make(ledger)
    move(ledger, record.local_id, "submitting")
    when = datetime(2026, 5, 9, 10, 0, tzinfo=UTC)
    with read_only():
        frozen = Ledger(ledger.path)
        kept = frozen.record_or_journal(
            record.local_id, state="pending", request_id="req-77", submitted_at=when
        )
        assert kept is False
        assert frozen.get(record.local_id) == ledger.get(record.local_id)  # still submitting
        frozen.close()
    journal = frozen.journal_path
    assert journal == ledger.path.with_name("ledger.sqlite3.journal")
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    (entry,) = [json.loads(line) for line in journal.read_text().splitlines()]
    assert entry["local_id"] == record.local_id and entry["request_id"] == "req-77"
    assert entry["state"] == "pending" and "at" in entry

    reopened = Ledger(ledger.path)  # the next grokvid to open the ledger
    job = reopened.get(record.local_id)
    assert job is not None and job.state == "pending" and job.request_id == "req-77"
    assert job.submitted_at == when
    assert not journal.exists()


def test_journal_entries_replay_on_the_next_open_forward_only(ledger: Ledger) -> None:
    from grokvid.api.ledger import journal

    record = make(ledger)
    move(ledger, record.local_id, "submitting")
    other = make(ledger)
    move(ledger, other.local_id, "submitting", "pending", "done", "downloaded")
    ledger.close()
    when = datetime(2026, 5, 9, 10, 0, tzinfo=UTC)
    journal.append(
        ledger.journal_path,
        record.local_id,
        {"state": "pending", "request_id": "req-77", "submitted_at": when},
    )
    journal.append(ledger.journal_path, other.local_id, {"state": "done", "progress": 1})
    journal.append(ledger.journal_path, "gv-zzzzzzzz", {"progress": 1})

    reopened = Ledger(ledger.path)
    job = reopened.get(record.local_id)
    assert job is not None and job.state == "pending" and job.request_id == "req-77"
    assert job.submitted_at == when
    assert reopened.skipped == [
        f"Journal {ledger.journal_path} line 3: No job gv-zzzzzzzz in the ledger {ledger.path}; "
        "dropped."
    ]
    later = reopened.get(other.local_id)
    assert later is not None and later.state == "downloaded" and later.progress is None
    assert not reopened.journal_path.exists()
    assert not list(ledger.path.parent.glob("*.journal*"))


def test_a_full_disk_sends_the_write_to_the_journal(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grokvid.api.ledger import store

    record = make(ledger)

    def full(*args: object, **kw: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store.Ledger, "_apply", full)
    assert ledger.record_or_journal(record.local_id, progress=50) is False
    with pytest.raises(ledger_mod.LedgerUnavailable, match="is full: free some space"):
        ledger.update(record.local_id, progress=51)
    monkeypatch.undo()
    assert Ledger(ledger.path).get(record.local_id).progress == 50  # type: ignore[union-attr]
    assert ledger.record_or_journal(record.local_id, progress=60) is True


def test_when_even_the_journal_fails_the_caller_gets_the_values(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grokvid.api.ledger import store

    record = make(ledger)

    def broken(*args: object, **kw: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store.Ledger, "_apply", broken)
    ledger.journal_path.mkdir()  # nothing can be appended to a folder
    with pytest.raises(ledger_mod.LedgerWriteFailed) as info:
        ledger.record_or_journal(record.local_id, state="pending", request_id="req-5")
    assert info.value.local_id == record.local_id
    assert info.value.fields == {"state": "pending", "request_id": "req-5"}
    assert "request_id=req-5" in str(info.value) and "\n" not in str(info.value)


# --- 0.2: queries for the runner -------------------------------------------------------------


def test_find_by_fingerprint_newest_first(ledger: Ledger) -> None:
    a = make(ledger, fingerprint="fp-a")
    make(ledger, fingerprint="fp-b")
    c = make(ledger, fingerprint="fp-a")
    assert [r.local_id for r in ledger.find_by_fingerprint("fp-a")] == [c.local_id, a.local_id]
    assert ledger.find_by_fingerprint("fp-none") == []


def test_spent_since_counts_actual_costs_and_open_estimates(ledger: Ledger) -> None:
    start = datetime.now(UTC)
    real = {"provider": "xai", "base_url": "https://api.x.ai"}
    paid = make(ledger, estimated_cost_usd=0.40, **real)
    move(ledger, paid.local_id, "submitting", "pending")
    ledger.update(paid.local_id, state="done", cost_usd_ticks=3_500_000_000)  # $0.35 actual
    pending = make(ledger, estimated_cost_usd=0.56, **real)
    move(ledger, pending.local_id, "submitting", "pending")
    unknown = make(ledger, estimated_cost_usd=0.10, **real)
    move(ledger, unknown.local_id, "submitting", "submit-unknown")
    make(ledger, estimated_cost_usd=5.0, **real)  # created: nothing sent yet
    refused = make(ledger, estimated_cost_usd=7.0, **real)
    move(ledger, refused.local_id, "submitting", "rejected")
    # The built-in sandbox never counts; a served sandbox (loopback) counts apart.
    for free in (make(ledger), make(ledger, provider="xai", base_url="http://127.0.0.1:8")):
        move(ledger, free.local_id, "submitting", "pending")
        ledger.update(free.local_id, state="done", cost_usd_ticks=9_000_000_000)
    assert ledger.spent_since(start) == pytest.approx(0.35 + 0.56 + 0.10)
    assert ledger.spent_since(start, local=True) == pytest.approx(0.90)
    assert ledger.spent_since(datetime.now(UTC) + timedelta(seconds=1)) == 0.0
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.spent_since(datetime(2026, 1, 1))
