"""The fallback journal: ledger writes that SQLite refused, kept as JSON Lines until replayed.

A paid job's news (a request id, a saved clip) must never be lost because the ledger could not
be written at that moment (full disk, an I/O error, a lock held too long). Each entry is appended
with O_APPEND and fsynced, in a 0600 file beside the ledger; the next open replays it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from grokvid.api import errors
from grokvid.api.errors import ConfigError
from grokvid.api.ledger.record import UPDATABLE, now

LedgerWriteFailed = errors.LedgerWriteFailed


def journal_path(ledger: Path) -> Path:
    return ledger.with_name(ledger.name + ".journal")


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def append(path: Path, local_id: str, fields: dict[str, Any]) -> None:
    """Add one entry durably; raises OSError (or TypeError for a value JSON cannot hold)."""
    entry = {"local_id": local_id, **fields, "at": now().isoformat()}
    line = (json.dumps(entry, default=_plain, sort_keys=True) + "\n").encode("utf-8")
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, line)  # one write to an O_APPEND file: entries from two processes never mix
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def taken(path: Path) -> Iterator[list[tuple[int, dict[str, Any] | None]]]:
    """The entries to replay, as (line number, entry or None when the line is unreadable).

    The journal is first renamed to a name of this process's own, so an entry appended while
    we replay goes to a fresh journal rather than being removed unread; the renamed file is
    deleted only when the block ends without an error (a failed replay is retried next open).
    """
    mine = path.with_name(f"{path.name}.replay-{os.getpid()}")
    leftovers = sorted(path.parent.glob(f"{path.name}.replay-*"))
    sources = [p for p in leftovers if p != mine]
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, mine)
        sources.append(mine)
    entries: list[tuple[int, dict[str, Any] | None]] = []
    for source in sources:
        try:
            text = source.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue  # another process replayed it first
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            entries.append((number, entry if isinstance(entry, dict) else None))
    yield entries
    for source in sources:
        source.unlink(missing_ok=True)


def replay(
    db: sqlite3.Connection, path: Path, apply: Callable[[str, dict[str, Any]], None]
) -> list[str]:
    """Apply every entry of the journal at `path`, each in its own transaction, then drop it.

    Returns one line per entry that could not be applied (and was dropped). SQLite or OS
    errors propagate, leaving the journal for the next open.
    """
    if not any(path.parent.glob(path.name + "*")):
        return []
    problems: list[str] = []
    with taken(path) as entries:
        for number, entry in entries:
            problem = _replay_one(db, entry, apply)
            if problem:
                problems.append(f"Journal {path} line {number}: {problem}.")
    return problems


def _replay_one(
    db: sqlite3.Connection,
    entry: dict[str, Any] | None,
    apply: Callable[[str, dict[str, Any]], None],
) -> str | None:
    if entry is None or not isinstance(entry.get("local_id"), str):
        return "not a journal entry; dropped"
    fields = {k: v for k, v in entry.items() if k not in ("local_id", "at")}
    unknown = set(fields) - UPDATABLE
    if unknown:
        return f"unknown field {', '.join(sorted(unknown))} for {entry['local_id']}; dropped"
    db.execute("BEGIN IMMEDIATE")
    try:
        try:
            apply(entry["local_id"], fields)
        except (KeyError, ValueError, ConfigError) as exc:
            db.execute("ROLLBACK")
            reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            return f"{reason}; dropped"
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return None
