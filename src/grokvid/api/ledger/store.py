"""The Ledger: one SQLite connection per process, forward-only writes, forgiving reads."""

from __future__ import annotations

import builtins
import contextlib
import os
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from grokvid.api import paths
from grokvid.api.errors import ConfigError, ValidationError
from grokvid.api.ledger import connection, journal
from grokvid.api.ledger.connection import LedgerUnavailable
from grokvid.api.ledger.journal import LedgerWriteFailed
from grokvid.api.ledger.record import (
    COLUMNS,
    ID_PREFIX,
    MIN_PREFIX,
    STATES,
    UPDATABLE,
    BadRow,
    JobRecord,
    from_db,
    new_local_id,
    now,
    to_db,
)
from grokvid.api.ledger.schema import migrate
from grokvid.api.models import TICKS_PER_USD
from grokvid.api.states import JobState, can_move

# Connections inherited across fork() are never closed or used by the child (SQLite forbids
# it), and dropping the last reference would close them: they are parked here instead.
_INHERITED: builtins.list[sqlite3.Connection] = []
# States whose estimate counts towards spending until the service reports the actual cost.
_MAY_BE_BILLED = (JobState.SUBMITTING, JobState.SUBMIT_UNKNOWN, JobState.PENDING, JobState.DONE)


class Ledger:
    """The job ledger at `path` (default: `paths.ledger_file()`, resolved at each call).

    One connection per process, opened on first use and reopened when the file is replaced
    or after a fork; every call holds a lock, so threads may share one Ledger. `skipped` lists
    the rows the last read had to leave out, one line each.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._db: sqlite3.Connection | None = None
        self._opened: tuple[Path, int, int] | None = None  # path, st_dev, st_ino
        self.skipped: builtins.list[str] = []

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else paths.ledger_file()

    @property
    def journal_path(self) -> Path:
        return journal.journal_path(self.path)

    # -- the connection ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; the next call opens a new one."""
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db, self._opened = None, None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # forked: the parent's connection and lock are not ours
            if self._db is not None:
                _INHERITED.append(self._db)
            self._db, self._opened, self._lock = None, None, threading.RLock()
            self._pid = os.getpid()
        path = self.path
        if self._db is not None and self._opened == _identity(path):
            return self._db
        self.close()  # the file was deleted or replaced, or GROKVID_HOME moved: start over
        db = connection.open_db(path)
        try:
            migrate(db, path)
        except sqlite3.Error as exc:
            db.close()
            raise connection.unusable(path, exc) from exc
        except BaseException:
            db.close()
            raise
        self._db, self._opened = db, _identity(path)
        self._replay_journal(db, path)
        return db

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connection()
            try:
                yield db
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise connection.unusable(self.path, exc) from exc

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """The connection inside BEGIN IMMEDIATE: committed on success, rolled back on error."""
        with self._reading() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- writes -----------------------------------------------------------------------------

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
        spec: dict[str, Any] | None = None,
        fingerprint: str | None = None,
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
                created_at=now(),
                estimated_cost_usd=estimated_cost_usd,
                batch_id=batch_id,
                variant=variant,
                spec=spec,
                fingerprint=fingerprint,
            )
            values = record.model_dump()
            placeholders = ", ".join("?" for _ in COLUMNS)
            try:
                with self._writing() as db:
                    db.execute(
                        f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                        [to_db(name, values[name]) for name in COLUMNS],
                    )
            except sqlite3.IntegrityError:
                continue  # a 1-in-2**40 id collision: draw again
            return record
        raise RuntimeError("Could not draw a unique job id")  # pragma: no cover

    def update(self, local_id: str, /, **fields: Any) -> JobRecord:
        """Change some fields of a job and commit at once; returns the record as it now is.

        A `state` that would move the job backwards (`states.can_move`) drops the whole write
        and returns the row unchanged. Unknown field names raise TypeError, an unknown local_id
        KeyError, a bad value ValueError.
        """
        _check_names(fields)
        with self._writing() as db:
            current = self._row(db, local_id)
            return self._apply(db, current, fields)

    def advance(
        self,
        local_id: str,
        /,
        *,
        expect: Collection[JobState],
        to: JobState,
        **fields: Any,
    ) -> JobRecord | None:
        """Compare-and-set: move the job to `to` (with `fields`) only if its state is in `expect`.

        Returns the new record, or None (nothing written) when the row was in another state or
        `to` is not a forward move from it.
        """
        _check_names(fields)
        fields = {**fields, "state": JobState(to)}
        with self._writing() as db:
            current = self._row(db, local_id)
            if current.state not in expect:
                return None
            record = self._apply(db, current, fields)
            return record if record.state == to else None

    def _apply(
        self,
        db: sqlite3.Connection,
        current: JobRecord,
        fields: dict[str, Any],
    ) -> JobRecord:
        record = JobRecord.model_validate({**current.model_dump(), **fields})  # checks values
        if not can_move(current.state, record.state):
            return current  # a late, stale write (e.g. `done` over `downloaded`): drop it
        if record.request_id and record.handle is None and "handle" not in fields:
            # A 0.1-style caller knows only the request id; that is xAI's whole handle.
            record = record.model_copy(update={"handle": {"request_id": record.request_id}})
            fields = {**fields, "handle": record.handle}
        if fields:
            values = record.model_dump()
            assignments = ", ".join(f"{name} = ?" for name in fields)
            db.execute(
                f"UPDATE jobs SET {assignments} WHERE local_id = ?",
                [*(to_db(name, values[name]) for name in fields), current.local_id],
            )
        return record

    def record_or_journal(self, local_id: str, /, **fields: Any) -> bool:
        """`update`, or, when the ledger cannot be written, an entry in the fallback journal.

        Returns True when the ledger took the write, False when it went to `journal_path` (it
        is replayed into the ledger on the next open). Raises LedgerWriteFailed, carrying
        local_id and fields, when even the journal cannot be written.
        """
        try:
            self.update(local_id, **fields)
            return True
        except (LedgerUnavailable, sqlite3.Error, OSError) as exc:
            failure: BaseException = exc
        try:
            journal.append(self.journal_path, local_id, fields)
        except (OSError, TypeError) as exc:
            shown = ", ".join(f"{name}={value}" for name, value in fields.items())
            raise LedgerWriteFailed(
                f"Could not record job {local_id} ({shown}) in the job ledger ({failure}) nor "
                f"in its journal {self.journal_path} ({exc}): note these values, then free "
                "space or fix the folder's permissions.",
                local_id=local_id,
                fields=fields,
            ) from exc
        return False

    def _replay_journal(self, db: sqlite3.Connection, path: Path) -> None:
        """Apply what earlier writes left in the journal (forward-only, like any update)."""

        def apply(local_id: str, fields: dict[str, Any]) -> None:
            self._apply(db, self._row(db, local_id), fields)

        try:
            self.skipped.extend(journal.replay(db, journal.journal_path(path), apply))
        except (sqlite3.Error, LedgerUnavailable, OSError):
            pass  # still unwritable: the journal stays, and is replayed on a later open

    # -- reads ------------------------------------------------------------------------------

    def _row(self, db: sqlite3.Connection, local_id: str) -> JobRecord:
        row = db.execute("SELECT * FROM jobs WHERE local_id = ?", (local_id,)).fetchone()
        if row is None:
            raise KeyError(f"No job {local_id} in the ledger {self.path}")
        return self._decode_one(row)

    def _decode_one(self, row: sqlite3.Row) -> JobRecord:
        try:
            return from_db(row)
        except BadRow as bad:
            raise ConfigError(
                f"Job {bad.local_id} in the job ledger {self.path} cannot be read: {bad.problem}. "
                f"Upgrade grokvid, or remove the row: sqlite3 {self.path} "
                f"\"DELETE FROM jobs WHERE local_id = '{bad.local_id}'\""
            ) from None

    def _decode_all(
        self, rows: Iterator[sqlite3.Row], limit: int | None = None
    ) -> builtins.list[JobRecord]:
        records: builtins.list[JobRecord] = []
        for row in rows:
            if limit is not None and len(records) >= limit:
                break
            try:
                records.append(from_db(row))
            except BadRow as bad:
                self.skipped.append(
                    f"Skipped job {bad.local_id} in {self.path}: {bad.problem}; "
                    f"`grokvid status {bad.local_id}` says how to fix it."
                )
        return records

    def get(self, ident: str) -> JobRecord | None:
        """A job by local id, request id, or a unique prefix (>= 4 characters) of either.

        The `gv-` of a local id may be left out. Several matches raise ValidationError
        (field "id") listing them; no match returns None. An exact match this version cannot
        read raises ConfigError; unreadable rows that merely share the prefix are skipped.
        """
        self.skipped = []
        ident = ident.strip()
        if not ident:
            return None
        local = ident.lower() if ident.lower().startswith(ID_PREFIX) else ID_PREFIX + ident.lower()
        with self._reading() as db:
            row = db.execute(
                "SELECT * FROM jobs WHERE local_id = ? OR request_id = ? "
                "ORDER BY local_id = ? DESC LIMIT 1",
                (local, ident, local),
            ).fetchone()
            if row is not None:
                return self._decode_one(row)
            if len(ident) < MIN_PREFIX:
                return None
            cursor = db.execute(
                "SELECT * FROM jobs WHERE substr(local_id, 1, length(?1)) = ?1 "
                "OR substr(request_id, 1, length(?2)) = ?2 "
                "ORDER BY created_at DESC",
                (local, ident),
            )
            records = self._decode_all(cursor, limit=6)
        if not records:
            return None
        if len(records) > 1:
            names = ", ".join(record.local_id for record in records[:5])
            more = ", …" if len(records) > 5 else ""
            raise ValidationError(
                f"{ident!r} matches several jobs ({names}{more}): give more characters.", "id"
            )
        return records[0]

    def list(
        self,
        *,
        limit: int | None = 20,
        states: Sequence[str] | None = None,
        batch_id: str | None = None,
    ) -> builtins.list[JobRecord]:
        """Jobs newest first; `limit=None` for all; optionally only some states or one batch.

        An unknown state raises ValidationError (field "state"), so a bad `--state` exits 2.
        Rows this version cannot read are left out and described in `skipped`.
        """
        self.skipped = []
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
            args.extend(str(state) for state in states)
        if batch_id is not None:
            where.append("batch_id = ?")
            args.append(batch_id)
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, rowid DESC"
        with self._reading() as db:
            return self._decode_all(db.execute(sql, args), limit)

    def find_by_fingerprint(self, fingerprint: str) -> builtins.list[JobRecord]:
        """Every job made from the same spec (same fingerprint), newest first."""
        self.skipped = []
        with self._reading() as db:
            cursor = db.execute(
                "SELECT * FROM jobs WHERE fingerprint = ? ORDER BY created_at DESC, rowid DESC",
                (fingerprint,),
            )
            return self._decode_all(cursor)

    def spent_since(self, when: datetime, *, local: bool = False) -> float:
        """USD spent or at stake on jobs created since `when` (an aware datetime).

        A job's actual cost when the service reported one; else its estimate while it may
        still be billed (submitting, submit-unknown, pending, done). Jobs of the built-in
        sandbox never count. Jobs sent over plain http (allowed only to a loopback host: a
        served sandbox) count only when `local` asks for them, so testing a cap against a
        sandbox never uses up the real service's allowance, nor the other way round.
        """
        if when.tzinfo is None:
            raise ValueError("spent_since needs a timezone-aware datetime")
        billed = ", ".join("?" for _ in _MAY_BE_BILLED)
        with self._reading() as db:
            total = db.execute(
                "SELECT coalesce(sum(CASE WHEN cost_usd_ticks IS NOT NULL "
                "THEN cost_usd_ticks * 1.0 / ? "
                f"WHEN state IN ({billed}) THEN coalesce(estimated_cost_usd, 0) "
                "ELSE 0 END), 0) FROM jobs WHERE created_at >= ? AND provider != 'sandbox' "
                f"AND base_url {'' if local else 'NOT '}LIKE 'http://%'",
                (TICKS_PER_USD, *(s.value for s in _MAY_BE_BILLED), to_db("created_at", when)),
            ).fetchone()[0]
        return float(total)


def _check_names(fields: dict[str, Any]) -> None:
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise TypeError(f"Ledger.update: not updatable: {', '.join(sorted(unknown))}")


def _identity(path: Path) -> tuple[Path, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return path, st.st_dev, st.st_ino
