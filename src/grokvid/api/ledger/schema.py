"""The ledger's tables, versioned with `PRAGMA user_version`.

`MIGRATIONS[n]` upgrades version n to n + 1. Append; never edit a shipped step.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grokvid.api.errors import ConfigError


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


def _schema_v2(db: sqlite3.Connection) -> None:
    """Provider handles and neutral specs, so any provider's job can be picked up later."""
    for column, kind in (
        ("handle", "TEXT"),
        ("spec", "TEXT"),
        ("fingerprint", "TEXT"),
        ("service_render_seconds", "REAL"),
    ):
        db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
    db.execute("CREATE INDEX jobs_fingerprint ON jobs (fingerprint)")
    rows = db.execute("SELECT local_id, request_id, model, prompt, params FROM jobs").fetchall()
    for local_id, request_id, model, prompt, params_text in rows:
        handle = json.dumps({"request_id": request_id}) if request_id else None
        try:
            params = json.loads(params_text)
        except (TypeError, ValueError):
            params = None  # the row is reported when read; the migration must not stop on it
        spec = json.dumps(v1_spec(model, prompt, params), sort_keys=True) if params else None
        db.execute(
            "UPDATE jobs SET handle = ?, spec = ? WHERE local_id = ?", (handle, spec, local_id)
        )


def v1_spec(model: str, prompt: str, params: object) -> dict[str, Any] | None:
    """The provider-neutral spec a 0.1 row's xAI body stands for."""
    if not isinstance(params, dict):
        return None
    return {
        "kind": "image-to-video" if "image" in params else "text-to-video",
        "prompt": prompt,
        "model": model,
        "duration": params.get("duration"),
        "aspect_ratio": params.get("aspect_ratio"),
        "resolution": params.get("resolution"),
        "audio": params.get("generate_audio", True),
        "image": params.get("image"),
    }


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_schema_v1, _schema_v2]
SCHEMA_VERSION = len(MIGRATIONS)


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
