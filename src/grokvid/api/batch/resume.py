"""What a batch does with a clip the ledger has seen before: skip, fetch, report or submit."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from grokvid.api.states import JobState


class ClipState(StrEnum):
    """A clip's place in the plan (the `state` of a dry-run line)."""

    SUBMIT = "submit"  # never sent (or a retry was asked for): POST it
    DONE = "done"  # downloaded and the file still matches: nothing to do
    IN_FLIGHT = "in-flight"  # the service has it: poll and fetch, never POST again
    FAILED = "failed"  # failed, moderated, expired or rejected: reported, not re-sent
    UNKNOWN = "unknown"  # the POST may have created a paid job: reported, not re-sent


class JobRecordLike(Protocol):
    """The ledger fields the planner reads (grokvid.api.ledger.JobRecord has them)."""

    @property
    def state(self) -> str: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def output_path(self) -> str | None: ...
    @property
    def sha256(self) -> str | None: ...


@dataclass(frozen=True)
class Resume:
    state: ClipState
    record: JobRecordLike | None = None
    changed_file: Path | None = None  # downloaded, but the file there now differs


# Which record wins when a fingerprint has several (e.g. a failure, then a retry in flight).
_PRIORITY = {
    ClipState.DONE: 4,
    ClipState.IN_FLIGHT: 3,
    ClipState.UNKNOWN: 2,
    ClipState.FAILED: 1,
    ClipState.SUBMIT: 0,
}
_FAILED = frozenset({JobState.FAILED, JobState.MODERATED, JobState.EXPIRED, JobState.REJECTED})


def file_sha256(path: Path) -> str | None:
    """The file's sha256, or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def resume_state(
    records: Sequence[JobRecordLike], *, retry_failed: bool = False, retry_unknown: bool = False
) -> Resume:
    """The plan state of a clip whose fingerprint has these ledger records."""
    best = Resume(ClipState.SUBMIT)
    for record in records:
        candidate = _one(record, retry_failed=retry_failed, retry_unknown=retry_unknown)
        if _PRIORITY[candidate.state] > _PRIORITY[best.state]:
            best = candidate
    return best


def _one(record: JobRecordLike, *, retry_failed: bool, retry_unknown: bool) -> Resume:
    try:
        state = JobState(record.state)
    except ValueError:
        # A state this version does not know may be a paid job in progress: never re-send it.
        return Resume(ClipState.UNKNOWN, record)
    if state == JobState.DOWNLOADED:
        path = Path(record.output_path) if record.output_path else None
        if path is not None and path.is_file():
            if record.sha256 is not None and file_sha256(path) == record.sha256:
                return Resume(ClipState.DONE, record)
            return Resume(ClipState.IN_FLIGHT, record, changed_file=path)
        return Resume(ClipState.IN_FLIGHT, record)  # the file went away: download it again
    if state.is_pollable and record.request_id:
        return Resume(ClipState.IN_FLIGHT, record)
    if state in (JobState.SUBMIT_UNKNOWN, JobState.SUBMITTING) or (
        state.is_pollable and not record.request_id
    ):
        return Resume(ClipState.SUBMIT if retry_unknown else ClipState.UNKNOWN, record)
    if state in _FAILED:
        return Resume(ClipState.SUBMIT if retry_failed else ClipState.FAILED, record)
    # created (crashed before the POST) or not-sent: provably never reached the service.
    return Resume(ClipState.SUBMIT, record)
