"""The job ledger: one SQLite row per paid request, so no job is ever lost.

A row is written (state "created") and committed *before* the POST goes out, and updated as the
job moves on, so a crash, a Ctrl-C or an unknown submit outcome always leaves a trace the user
can check with `grokvid status`.

Concurrency: every call opens its own short-lived connection (WAL mode, busy_timeout 5 s) and
writes inside `BEGIN IMMEDIATE`, so threads and several `grokvid` processes can share the file.
The schema is versioned with `PRAGMA user_version`; `MIGRATIONS[n]` upgrades version n to n+1.
No API key is ever stored here: there is no column for one.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, field_validator

from grokvid.api import paths
from grokvid.api.errors import ConfigError, ValidationError

STATES: tuple[str, ...] = (
    "created",  # row written, POST not (yet) sent
    "submitting",  # committed before the POST's first byte
    "submit-unknown",  # the POST may or may not have created a paid job
    "not-sent",  # the POST provably never reached the service
    "rejected",  # the service refused the request; nothing was made
    "pending",  # accepted; rendering
    "done",  # rendered; the video URL is known but the file is not saved yet
    "downloaded",
    "failed",
    "moderated",
    "expired",
)
TERMINAL_STATES = frozenset(
    {"downloaded", "failed", "moderated", "expired", "rejected", "not-sent"}
)
ID_PREFIX = "gv-"
MIN_PREFIX = 4
BUSY_TIMEOUT_MS = 5000


class JobRecord(BaseModel):
    """One job as the ledger knows it. Datetimes are timezone-aware UTC."""

    local_id: str
    provider: str
    base_url: str
    request_id: str | None = None
    model: str
    prompt: str
    params: dict[str, Any]
    state: str = "created"
    progress: int | None = None
    created_at: AwareDatetime
    submitted_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    downloaded_at: AwareDatetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    estimated_cost_usd: float | None = None
    cost_usd_ticks: int | None = None
    video_url: str | None = None
    video_url_fetched_at: AwareDatetime | None = None
    output_path: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    batch_id: str | None = None
    variant: int | None = None

    @field_validator("state")
    @classmethod
    def _known_state(cls, value: str) -> str:
        if value not in STATES:
            raise ValueError(f"unknown job state {value!r}; use one of {', '.join(STATES)}")
        return value

    @field_validator(
        "created_at", "submitted_at", "completed_at", "downloaded_at", "video_url_fetched_at"
    )
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    @property
    def terminal(self) -> bool:
        """True once nothing more will happen to this job."""
        return self.state in TERMINAL_STATES


COLUMNS: tuple[str, ...] = tuple(JobRecord.model_fields)
_UPDATABLE = frozenset(COLUMNS) - {"local_id", "created_at"}


def _schema_v1(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE jobs (
            local_id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            base_url TEXT NOT NULL,
            request_id TEXT,
            model TEXT NOT NULL,
            prompt TEXT NOT NULL,
            params TEXT NOT NULL,
            state TEXT NOT NULL,
            progress INTEGER,
            created_at TEXT NOT NULL,
            submitted_at TEXT,
            completed_at TEXT,
            downloaded_at TEXT,
            error_code TEXT,
            error_message TEXT,
            estimated_cost_usd REAL,
            cost_usd_ticks INTEGER,
            video_url TEXT,
            video_url_fetched_at TEXT,
            output_path TEXT,
            bytes INTEGER,
            sha256 TEXT,
            batch_id TEXT,
            variant INTEGER
        )
        """
    )
    db.execute("CREATE INDEX jobs_request_id ON jobs (request_id)")
    db.execute("CREATE INDEX jobs_created_at ON jobs (created_at)")
    db.execute("CREATE INDEX jobs_batch_id ON jobs (batch_id)")


# MIGRATIONS[n] takes a database at user_version n to n + 1. Append; never edit a shipped one.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_schema_v1]
SCHEMA_VERSION = len(MIGRATIONS)


def new_local_id() -> str:
    """`gv-` + 8 lowercase base32 characters (40 random bits): short enough to type."""
    return ID_PREFIX + base64.b32encode(secrets.token_bytes(5)).decode("ascii").lower()


def _now() -> datetime:
    return datetime.now(UTC)


def _to_db(name: str, value: object) -> object:
    if value is None:
        return None
    if name == "params":
        return json.dumps(value, sort_keys=True)
    if isinstance(value, datetime):
        # Fixed width, always UTC: text order is time order.
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def _from_db(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    return JobRecord.model_validate(data)


class Ledger:
    """The job ledger at `path` (default: `paths.ledger_file()`, resolved at each call)."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else paths.ledger_file()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        path = self.path
        db = _open(path)
        try:
            migrate(db, path)
            yield db
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                raise _locked(path) from exc
            raise
        finally:
            db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A connection inside BEGIN IMMEDIATE: committed on success, rolled back on error."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def create(
        self,
        *,
        provider: str,
        base_url: str,
        model: str,
        prompt: str,
        params: dict[str, Any],
        estimated_cost_usd: float | None = None,
        batch_id: str | None = None,
        variant: int | None = None,
    ) -> JobRecord:
        """Record a new job in state "created"; committed before this returns."""
        for _ in range(5):
            record = JobRecord(
                local_id=new_local_id(),
                provider=provider,
                base_url=base_url,
                model=model,
                prompt=prompt,
                params=params,
                created_at=_now(),
                estimated_cost_usd=estimated_cost_usd,
                batch_id=batch_id,
                variant=variant,
            )
            values = record.model_dump()
            placeholders = ", ".join("?" for _ in COLUMNS)
            try:
                with self._write() as db:
                    db.execute(
                        f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                        [_to_db(name, values[name]) for name in COLUMNS],
                    )
            except sqlite3.IntegrityError:
                continue  # a 1-in-2**40 id collision: draw again
            return record
        raise RuntimeError("Could not draw a unique job id")  # pragma: no cover

    def update(self, local_id: str, /, **fields: Any) -> JobRecord:
        """Change some fields of a job and commit at once; returns the updated record.

        Unknown field names raise TypeError; an unknown local_id raises KeyError.
        """
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise TypeError(f"Ledger.update: not updatable: {', '.join(sorted(unknown))}")
        with self._write() as db:
            row = db.execute("SELECT * FROM jobs WHERE local_id = ?", (local_id,)).fetchone()
            if row is None:
                raise KeyError(f"No job {local_id} in the ledger {self.path}")
            record = _from_db(row).model_copy(update=fields)
            record = JobRecord.model_validate(record.model_dump())  # re-check the new values
            if fields:
                values = record.model_dump()
                assignments = ", ".join(f"{name} = ?" for name in fields)
                db.execute(
                    f"UPDATE jobs SET {assignments} WHERE local_id = ?",
                    [*(_to_db(name, values[name]) for name in fields), local_id],
                )
        return record

    def get(self, ident: str) -> JobRecord | None:
        """A job by local id, request id, or a unique prefix (>= 4 characters) of either.

        The `gv-` of a local id may be left out. Several matches raise ValidationError
        (field "id") listing them; no match returns None.
        """
        ident = ident.strip()
        if not ident:
            return None
        local = ident.lower() if ident.lower().startswith(ID_PREFIX) else ID_PREFIX + ident.lower()
        with self._connect() as db:
            row = db.execute(
                "SELECT * FROM jobs WHERE local_id = ? OR request_id = ? "
                "ORDER BY local_id = ? DESC LIMIT 1",
                (local, ident, local),
            ).fetchone()
            if row is not None:
                return _from_db(row)
            if len(ident) < MIN_PREFIX:
                return None
            rows = db.execute(
                "SELECT * FROM jobs WHERE substr(local_id, 1, length(?1)) = ?1 "
                "OR substr(request_id, 1, length(?2)) = ?2 "
                "ORDER BY created_at DESC LIMIT 6",
                (local, ident),
            ).fetchall()
        if not rows:
            return None
        if len(rows) > 1:
            names = ", ".join(row["local_id"] for row in rows[:5])
            more = ", …" if len(rows) > 5 else ""
            raise ValidationError(
                f"{ident!r} matches several jobs ({names}{more}): give more characters.", "id"
            )
        return _from_db(rows[0])

    def list(
        self,
        *,
        limit: int | None = 20,
        states: Sequence[str] | None = None,
        batch_id: str | None = None,
    ) -> builtins.list[JobRecord]:
        """Jobs newest first; `limit=None` for all; optionally only some states or one batch.

        An unknown state raises ValidationError (field "state"), so a bad `--state` exits 2.
        """
        where: builtins.list[str] = []
        args: builtins.list[object] = []
        if states is not None:
            bad = [state for state in states if state not in STATES]
            if bad:
                raise ValidationError(
                    f"Unknown job state {', '.join(map(repr, bad))}: use {', '.join(STATES)}.",
                    "state",
                )
            where.append(f"state IN ({', '.join('?' for _ in states)})")
            args.extend(states)
        if batch_id is not None:
            where.append("batch_id = ?")
            args.append(batch_id)
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._connect() as db:
            rows = db.execute(sql, args).fetchall()
        return [_from_db(row) for row in rows]


def _open(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            # Prompts are private: create the file 0600 (SQLite's -wal/-shm files copy its mode).
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"Cannot open the job ledger {path}: {exc}") from exc
    db.row_factory = sqlite3.Row
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _use_wal(db)
        db.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.OperationalError as exc:
        db.close()
        if _is_locked(exc):
            raise _locked(path) from exc
        raise ConfigError(f"Cannot open the job ledger {path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        db.close()
        raise ConfigError(
            f"The job ledger {path} is not a readable SQLite database ({exc}): "
            "move it aside and run again."
        ) from exc
    return db


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL (persistent in the file) unless it already is.

    SQLite answers a contended journal-mode change with SQLITE_BUSY at once, without calling
    the busy handler, so two processes creating the ledger together need this retry loop.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _locked(path: Path) -> ConfigError:
    return ConfigError(
        f"The job ledger {path} stayed locked for {BUSY_TIMEOUT_MS // 1000} s "
        "(another grokvid is writing to it?): try again."
    )


def migrate(db: sqlite3.Connection, path: Path | str = "the job ledger") -> int:
    """Bring the schema up to SCHEMA_VERSION; returns the version found before.

    Each step runs in its own BEGIN IMMEDIATE transaction and re-reads the version inside it,
    so two processes starting at once cannot apply a step twice.
    """
    found = _version(db)
    _refuse_newer(found, path)
    if found == SCHEMA_VERSION:
        return found  # the common case: one header read, no lock taken
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = _version(db)
            _refuse_newer(version, path)
            if version >= SCHEMA_VERSION:
                db.execute("COMMIT")
                return found
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _version(db: sqlite3.Connection) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    return version


def _refuse_newer(version: int, path: Path | str) -> None:
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"The job ledger {path} was written by a newer grokvid (schema version {version}; "
            f"this one understands up to {SCHEMA_VERSION}): upgrade grokvid "
            "(pip install -U grokvid), or move the file aside to start a new ledger."
        )
