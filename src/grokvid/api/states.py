"""The life of a job, as the ledger records it.

A job only moves forward: `can_move(old, new)` is the rule the ledger enforces with a
compare-and-set, so a slow `status` can never turn a `downloaded` row back into `done`.

    created ─► submitting ─┬─► pending ─► done ─► downloaded
                           ├─► submit-unknown      (the POST may have created a paid job)
                           ├─► not-sent            (provably never reached the service)
                           └─► rejected            (the service refused it; nothing was made)
    pending/done ─► failed | moderated | expired
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    CREATED = "created"  # row written, nothing sent
    SUBMITTING = "submitting"  # committed before the POST's first byte: it may be on its way
    SUBMIT_UNKNOWN = "submit-unknown"  # the POST may or may not have created a paid job
    NOT_SENT = "not-sent"  # the POST provably never reached the service
    REJECTED = "rejected"  # the service refused the request; nothing was made
    PENDING = "pending"  # accepted; rendering
    DONE = "done"  # rendered; the video URL is known, the file not saved yet
    DOWNLOADED = "downloaded"
    FAILED = "failed"
    MODERATED = "moderated"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """Nothing more will happen to the job at the service."""
        return self in _TERMINAL

    @property
    def is_failure(self) -> bool:
        """The job ended without a clip."""
        return self in _FAILURES

    @property
    def is_pollable(self) -> bool:
        """The service knows the job and may have news about it."""
        return self in (JobState.PENDING, JobState.DONE)

    @property
    def rank(self) -> int:
        return _RANK[self]


_TERMINAL = frozenset(
    {
        JobState.DOWNLOADED,
        JobState.FAILED,
        JobState.MODERATED,
        JobState.EXPIRED,
        JobState.REJECTED,
        JobState.NOT_SENT,
    }
)
_FAILURES = frozenset(
    {
        JobState.FAILED,
        JobState.MODERATED,
        JobState.EXPIRED,
        JobState.REJECTED,
        JobState.NOT_SENT,
        JobState.SUBMIT_UNKNOWN,
    }
)
_RANK = {
    JobState.CREATED: 0,
    JobState.SUBMITTING: 1,
    JobState.SUBMIT_UNKNOWN: 2,
    JobState.NOT_SENT: 3,
    JobState.REJECTED: 3,
    JobState.PENDING: 4,
    JobState.DONE: 5,
    JobState.DOWNLOADED: 6,
    JobState.FAILED: 6,
    JobState.MODERATED: 6,
    JobState.EXPIRED: 6,
}


def can_move(old: JobState, new: JobState) -> bool:
    """Whether the ledger may change a row from `old` to `new`.

    Same-state writes are allowed (progress, a fresh URL, a re-download). Otherwise a job only
    moves to a later rank, and a terminal state never changes, except that a `downloaded` clip
    that went missing may be fetched again (it stays `downloaded`).
    """
    if old == new:
        return True
    if old.is_terminal:
        return False
    if old == JobState.SUBMIT_UNKNOWN:
        # A later poll by request id can still reveal the outcome of an unknown submit.
        return new in (JobState.PENDING, JobState.DONE, *_POST_RENDER)
    if old == JobState.CREATED:
        return new in (JobState.SUBMITTING, JobState.NOT_SENT)
    return new.rank > old.rank


_POST_RENDER = (JobState.FAILED, JobState.MODERATED, JobState.EXPIRED, JobState.DOWNLOADED)
