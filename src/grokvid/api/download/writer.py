"""Writing and hashing the body in worker threads while the event loop receives the next piece.

hashlib and os.write release the GIL, so receiving, hashing and writing overlap: one thread
hashes, one writes (and starts the disk's writeback early, so the final fsync is short).
Pieces are handed over in batches of about 2 MiB: waking a thread per network read costs more
than the work it hands over. At most `depth` batches wait for each thread, which keeps memory
flat whatever the clip's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from grokvid.api.download.files import save_failed

_SYNC_EVERY = 32 << 20  # bytes written between two fdatasync calls
_BATCH = 2 << 20  # bytes received before they are handed to the threads


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


class Writer:
    """Appends pieces to `fd` (which it owns and closes) and feeds them to `hasher`."""

    def __init__(self, fd: int, hasher: Hasher, path: Path, depth: int = 3) -> None:
        self._fd = fd
        self._path = path
        self._loop = asyncio.get_running_loop()
        self._sync = False
        self.error: OSError | None = None
        self._unsynced = 0
        self._batch: list[bytes] = []
        self._batched = 0

        def hash_all(batch: list[bytes]) -> None:
            for piece in batch:
                hasher.update(piece)

        self._lanes = [_Lane(self._loop, depth, self._write), _Lane(self._loop, depth, hash_all)]
        self._done = asyncio.gather(*(lane.task for lane in self._lanes))

    async def put(self, piece: bytes) -> None:
        self._batch.append(piece)
        self._batched += len(piece)
        if self._batched >= _BATCH:
            await self._hand_over()

    async def _hand_over(self) -> None:
        batch, self._batch, self._batched = self._batch, [], 0
        if batch:
            for lane in self._lanes:
                await lane.put(batch)

    async def close(self, *, sync: bool) -> None:
        """Wait for every queued piece; fsync first if `sync`. Raises SaveFailed on a write error.

        Safe to call while being cancelled: the workers finish and close the file regardless.
        """
        self._sync = sync
        # What arrived before an error is written too: the .part keeps it for a resume.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self._hand_over())
        self._lanes[1].stop()
        self._lanes[0].stop(then=self._finish)
        await asyncio.shield(self._done)
        if self.error is not None:
            raise save_failed(self.error, self._path) from self.error

    def _write(self, batch: list[bytes]) -> None:
        if self.error is not None:
            return
        try:
            for piece in batch:
                _write_all(self._fd, piece)
                self._unsynced += len(piece)
            if self._unsynced >= _SYNC_EVERY:
                os.fdatasync(self._fd)
                self._unsynced = 0
        except OSError as exc:
            self.error = exc  # the loop sees it and stops receiving

    def _finish(self) -> None:
        try:
            if self._sync and self.error is None:
                os.fsync(self._fd)
        except OSError as exc:
            self.error = exc
        finally:
            os.close(self._fd)


class _Lane:
    """One worker thread applying `work` to each piece in order, `depth` pieces at most queued."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, depth: int, work: Callable[[list[bytes]], None]
    ) -> None:
        self._loop = loop
        self._queue: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._slots = asyncio.Semaphore(depth)
        self._work = work
        self._then: Callable[[], None] | None = None
        self.task = asyncio.ensure_future(asyncio.to_thread(self._run))

    async def put(self, batch: list[bytes]) -> None:
        await self._slots.acquire()
        self._queue.put(batch)

    def stop(self, then: Callable[[], None] | None = None) -> None:
        self._then = then
        self._queue.put(None)

    def _run(self) -> None:
        try:
            while (batch := self._queue.get()) is not None:
                try:
                    self._work(batch)
                finally:
                    with contextlib.suppress(RuntimeError):  # the loop may be gone (Ctrl-C)
                        self._loop.call_soon_threadsafe(self._slots.release)
        finally:
            if self._then is not None:
                self._then()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
