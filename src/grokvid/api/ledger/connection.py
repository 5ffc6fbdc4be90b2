"""Opening the ledger file, and turning SQLite's failures into one line that names the fix."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from grokvid.api.errors import ConfigError

BUSY_TIMEOUT_MS = 5000


class LedgerUnavailable(ConfigError):
    """The ledger file could not be read or written (locked, read-only, full disk, I/O error).

    A write that fails this way can go to the fallback journal instead
    (`Ledger.record_or_journal`).
    """


def open_db(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with a busy timeout; raises a one-line ConfigError."""
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
        raise unusable(path, exc) from exc
    db.row_factory = sqlite3.Row
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _use_wal(db)
        db.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        db.close()
        raise unusable(path, exc) from exc
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
            if not is_locked(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def is_locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def unusable(path: Path, exc: BaseException) -> ConfigError:
    """One line for a ledger SQLite or the OS refused: what happened to which file, and the fix."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.Error) and is_locked(exc):
        return LedgerUnavailable(
            f"The job ledger {path} stayed locked for {BUSY_TIMEOUT_MS // 1000} s "
            "(another grokvid is writing to it?): try again."
        )
    if "readonly" in text or "read-only" in text:
        return LedgerUnavailable(
            f"The job ledger {path} is read-only: make it and its folder writable "
            f"(chmod u+w {path}), then run again."
        )
    if "full" in text:
        return LedgerUnavailable(
            f"The disk holding the job ledger {path} is full: free some space, then run again."
        )
    if "i/o error" in text:
        return LedgerUnavailable(
            f"Disk I/O error on the job ledger {path}: check the disk, then run again."
        )
    if "no such table" in text:
        return LedgerUnavailable(
            f"The job ledger {path} has no jobs table: move the file aside and run again to "
            "start a new ledger."
        )
    if "not a database" in text or "malformed" in text or "file is encrypted" in text:
        return LedgerUnavailable(
            f"The job ledger {path} is not a readable SQLite database ({exc}): "
            "move it aside and run again."
        )
    if isinstance(exc, OSError) or "unable to open" in text:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return LedgerUnavailable(
            f"Cannot open the job ledger {path} ({reason}): check that it is a file you can "
            f"read and write (chmod u+rw {path}), or set GROKVID_HOME to another folder."
        )
    return LedgerUnavailable(
        f"The job ledger {path} failed ({exc}): run again; if it persists, move the file aside."
    )
