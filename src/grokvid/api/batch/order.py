"""Submits in file order: what a cap or Ctrl-C holds back is then the tail of the file."""

from __future__ import annotations

import asyncio

from grokvid.api.ratelimit import SharedRateLimiter


class InOrder(SharedRateLimiter):
    """The same shared bucket as `limiter`, taken one clip at a time in the order clips ask.

    A bare bucket lets every waiting clip poll it, so whichever wakes first after a token
    appears wins; here clips queue (asyncio.Lock is first-come, first-served), and clips reach
    the queue in plan order through the runner's gate.
    """

    def __init__(self, limiter: SharedRateLimiter) -> None:
        # Not super().__init__: this is the caller's bucket (key, file, clock), not a new one.
        self.__dict__.update(limiter.__dict__)
        self._turn = asyncio.Lock()

    async def acquire(self) -> float:
        async with self._turn:
            return await super().acquire()


__all__ = ["InOrder"]
