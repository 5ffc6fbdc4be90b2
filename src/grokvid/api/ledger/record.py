"""One ledger row as a typed record, and its conversion to and from SQLite values."""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import AwareDatetime, BaseModel, field_validator
from pydantic import ValidationError as PydanticError

from grokvid.api.states import JobState

STATES: tuple[str, ...] = tuple(state.value for state in JobState)
TERMINAL_STATES: frozenset[JobState] = frozenset(s for s in JobState if s.is_terminal)
ID_PREFIX = "gv-"
MIN_PREFIX = 4
JSON_COLUMNS = frozenset({"params", "handle", "spec"})
_TIMES = ("created_at", "submitted_at", "completed_at", "downloaded_at", "video_url_fetched_at")


class JobRecord(BaseModel):
    """One job as the ledger knows it. Datetimes are timezone-aware UTC."""

    local_id: str
    provider: str
    base_url: str
    request_id: str | None = None
    model: str
    prompt: str
    params: dict[str, Any]
    state: JobState = JobState.CREATED
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
    # Schema v2: what any later process needs to pick the job up at its provider.
    handle: dict[str, Any] | None = None  # e.g. {"request_id": "…"}
    spec: dict[str, Any] | None = None  # the provider-neutral request
    fingerprint: str | None = None  # same spec + provider => same fingerprint
    service_render_seconds: float | None = None

    @field_validator("state", mode="before")
    @classmethod
    def _known_state(cls, value: object) -> object:
        if isinstance(value, str) and value not in STATES:
            raise ValueError(f"unknown job state {value!r}; use one of {', '.join(STATES)}")
        return value

    @field_validator(*_TIMES)
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    @property
    def terminal(self) -> bool:
        """True once nothing more will happen to this job."""
        return self.state.is_terminal


COLUMNS: tuple[str, ...] = tuple(JobRecord.model_fields)
UPDATABLE = frozenset(COLUMNS) - {"local_id", "created_at"}


class BadRow(Exception):
    """A row this version cannot read: `problem` says what is wrong with it, in a few words."""

    def __init__(self, local_id: str, problem: str) -> None:
        super().__init__(f"{local_id}: {problem}")
        self.local_id = local_id
        self.problem = problem


def new_local_id() -> str:
    """`gv-` + 8 lowercase base32 characters (40 random bits): short enough to type."""
    return ID_PREFIX + base64.b32encode(secrets.token_bytes(5)).decode("ascii").lower()


def now() -> datetime:
    return datetime.now(UTC)


def to_db(name: str, value: object) -> object:
    if value is None:
        return None
    if name in JSON_COLUMNS:
        return json.dumps(value, sort_keys=True)
    if isinstance(value, datetime):
        # Fixed width, always UTC: text order is time order.
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, Enum):
        return value.value
    return value


def from_db(row: sqlite3.Row) -> JobRecord:
    """The record in `row`; raises BadRow naming what is wrong (never a pydantic dump)."""
    data = dict(row)
    local_id = str(data.get("local_id"))
    for name in JSON_COLUMNS:
        text = data.get(name)
        if text is None:
            continue
        try:
            data[name] = json.loads(text)
        except (TypeError, ValueError):
            raise BadRow(local_id, f"its {name} is not valid JSON") from None
    try:
        return JobRecord.model_validate(data)
    except PydanticError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "row"
        if field == "state":
            problem = f"unknown state {data.get('state')!r} (written by a newer grokvid?)"
        elif field in _TIMES:
            problem = f"its {field} is not a UTC timestamp: {data.get(field)!r}"
        else:
            problem = f"its {field} is invalid ({first['msg']})"
        raise BadRow(local_id, problem) from None
