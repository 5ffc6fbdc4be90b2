"""The job ledger: one SQLite row per paid request, so no job is ever lost.

A row is written (state "created") and committed *before* the POST goes out, and updated as the
job moves on, so a crash, a Ctrl-C or an unknown submit outcome always leaves a trace the user
can check with `grokvid status`. A job's state only moves forward (`grokvid.api.states`).

Concurrency: each process keeps one connection (WAL mode, busy_timeout 5 s) and writes inside
`BEGIN IMMEDIATE`, so threads and several `grokvid` processes can share the file. The schema is
versioned with `PRAGMA user_version` (see `schema`). No API key is ever stored here: there is no
column for one. A write SQLite refuses can go to a fallback journal (`journal`).
"""

from grokvid.api.ledger.connection import BUSY_TIMEOUT_MS, LedgerUnavailable
from grokvid.api.ledger.journal import LedgerWriteFailed
from grokvid.api.ledger.record import (
    COLUMNS,
    ID_PREFIX,
    MIN_PREFIX,
    STATES,
    TERMINAL_STATES,
    JobRecord,
    new_local_id,
)
from grokvid.api.ledger.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from grokvid.api.ledger.store import Ledger

__all__ = [
    "BUSY_TIMEOUT_MS",
    "COLUMNS",
    "ID_PREFIX",
    "MIGRATIONS",
    "MIN_PREFIX",
    "SCHEMA_VERSION",
    "STATES",
    "TERMINAL_STATES",
    "JobRecord",
    "Ledger",
    "LedgerUnavailable",
    "LedgerWriteFailed",
    "migrate",
    "new_local_id",
]
