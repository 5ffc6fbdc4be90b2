"""Capped exponential backoff with jitter, and reading `Retry-After`."""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

RETRY_AFTER_CAP = 60.0  # seconds: the longest Retry-After grokvid will wait in one go


@dataclass(frozen=True)
class Backoff:
    """Delays before retry 1, 2, ...: initial * multiplier**n, capped, with full jitter on top half.

    `attempts` counts retries, not the first try.
    """

    initial: float = 0.5
    maximum: float = 20.0
    multiplier: float = 2.0
    attempts: int = 6

    def wait(
        self, attempt: int, retry_after: float | None, rng: random.Random | None = None
    ) -> float:
        """Delay before retry number `attempt` (0-based), honouring a server's Retry-After."""
        capped = min(self.initial * self.multiplier**attempt, self.maximum)
        jittered = capped / 2 + (rng or random).uniform(0, capped / 2)
        if retry_after is not None:
            # Honour the server, but never sleep for hours on a stray header.
            return min(max(retry_after, jittered), RETRY_AFTER_CAP)
        return jittered


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    if when.tzinfo is None:  # "-0000" means UTC with no zone named
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
