"""What the library tells its caller while jobs run; the CLI renders it, the library never
prints. Kept apart from the job machinery so a renderer can import it for free."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class JobEvent:
    """Something the user may want to see; the CLI renders it, the library never prints."""

    local_id: str
    # submitting|submitted|progress|done|downloading|saved|previews|failed|moderated|expired|
    # warning|retry
    kind: str
    state: str
    progress: int | None = None
    elapsed: float = 0.0
    bytes_done: int | None = None
    bytes_total: int | None = None
    message: str | None = None


EventSink = Callable[[JobEvent], None]


def noop(event: JobEvent) -> None:
    pass
