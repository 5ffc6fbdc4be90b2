"""Server-wide limits: a token bucket for submits and a budget for request bodies in flight."""

from __future__ import annotations

import asyncio
import collections
import math
import threading
import time

MINUTE = 60.0


class TokenBucket:
    """`rate` actions per second on average, in bursts of up to `max(1, rate)`; thread-safe."""

    def __init__(self, rate: float) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError("a rate limit must be a number of requests per second above 0")
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._recent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def take(self) -> float | None:
        """None when the action may go ahead, else the seconds until it would."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._recent.append(now)
            while self._recent[0] <= now - MINUTE:
                self._recent.popleft()
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return (1 - self._tokens) / self.rate

    def per_minute(self) -> tuple[int, int]:
        """(attempts in the last minute, the limit per minute), as the service reports them."""
        with self._lock:
            now = time.monotonic()
            actual = sum(1 for stamp in self._recent if stamp > now - MINUTE)
        return actual, max(1, round(self.rate * MINUTE))


class BodyBudget:
    """Bytes of request bodies all connections together may hold in memory at once.

    Waiting is by short sleeps rather than an asyncio primitive, because one app may be
    driven from several event loops (each `asyncio.run` of an in-process test makes one).
    """

    POLL_SECONDS = 0.02

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used = 0
        self.peak = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    def try_reserve(self, size: int) -> bool:
        with self._lock:
            if self._used + size > self.capacity:
                return False
            self._used += size
            self.peak = max(self.peak, self._used)
            return True

    async def reserve(self, size: int, deadline: float) -> bool:
        """Reserve `size` bytes, waiting until `deadline` (time.monotonic()); False if it passed."""
        while not self.try_reserve(size):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.POLL_SECONDS)
        return True

    def release(self, size: int) -> None:
        with self._lock:
            self._used = max(0, self._used - size)
