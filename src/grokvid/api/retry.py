"""The one retry engine: capped exponential backoff with jitter, `Retry-After`, and the
resend rule for paid POSTs, applied to the answers providers classify (docs/xai-api.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

from grokvid.api import errors
from grokvid.api.providers.base import (
    Accepted,
    NotActedOn,
    OutcomeUnknown,
    Refused,
    SubmitAnswer,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("grokvid.http")

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


def default_backoff() -> Backoff:
    """The backoff a runner uses unless told otherwise (tests swap it for a fast one)."""
    return Backoff()


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


# --- the one retry engine ----------------------------------------------------------------

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
SEND_ATTEMPTS = 3  # connection refused: retried for seconds, not half a minute


@dataclass
class RetryPolicy:
    """How the engine waits: the backoff, the sleep and clock (injected by tests), a deadline."""

    backoff: Backoff = Backoff()
    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic
    deadline: float | None = None  # on `clock`: no wait may run past it
    on_retry: Callable[[str], None] | None = None

    async def pause(self, attempt: int, retry_after: float | None, reason: str, limit: int) -> bool:
        """Wait before retry `attempt`; False when that wait would pass the deadline."""
        delay = self.backoff.wait(attempt, retry_after)
        if self.deadline is not None and self.clock() + delay > self.deadline:
            return False
        message = f"{reason}; retry {attempt + 1}/{limit} in {delay:.1f} s"
        log.debug("%s", message)
        if self.on_retry is not None:
            self.on_retry(message)
        await self.sleep(delay)
        return True


async def submit_by_rule(
    submit: Callable[[], Awaitable[SubmitAnswer]], policy: RetryPolicy
) -> Accepted:
    """Send a paid POST, re-sending only what provably was not acted on (docs/xai-api.md).

    Raises the provider's error once retries run out (`SendFailed`/`RateLimited`: nothing was
    made), `SubmitUnknown` for an unknown outcome (never re-sent), or the refusal.
    """
    sends = limits = 0
    while True:
        answer = await submit()
        match answer:
            case Accepted():
                return answer
            case OutcomeUnknown(reason=reason, x_request_id=rid):
                seen = f" (x-request-id {rid})" if rid else ""
                raise errors.SubmitUnknown(
                    f"{reason.rstrip('.')}{seen}. The outcome is unknown: the service may have "
                    "created (and will bill) the job."
                )
            case Refused(error=error):
                raise error
            case NotActedOn(reason=reason, retry_after=after, never_sent=never_sent, error=err):
                if never_sent:
                    attempt, limit = sends, SEND_ATTEMPTS
                    sends += 1
                else:
                    attempt, limit = limits, policy.backoff.attempts
                    limits += 1
                if attempt >= limit or not await policy.pause(attempt, after, reason, limit):
                    raise err or errors.SendFailed(reason)


async def call_with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """A safe call (poll, fetch): retried on any transient error within the deadline."""
    attempt = 0
    limit = policy.backoff.attempts
    while True:
        try:
            return await call()
        except errors.SendFailed as exc:
            if exc.fatal or attempt >= limit:
                raise
            retry_after, reason = None, exc.message
        except errors.AuthError:
            raise
        except (errors.RateLimited, errors.ServerError) as exc:
            if attempt >= limit:
                raise
            retry_after = getattr(exc, "retry_after", None)
            reason = f"HTTP {exc.status}" if exc.status else exc.message
        except errors.NetworkError as exc:
            if isinstance(exc, errors.URLExpired | errors.SubmitUnknown) or attempt >= limit:
                raise
            retry_after, reason = None, exc.message
        if not await policy.pause(attempt, retry_after, reason, limit):
            raise errors.WaitTimeout(f"Gave up retrying at the time limit ({reason}).")
        attempt += 1
