"""Writing and hashing the body in a worker thread while the event loop receives the next piece.

hashlib and os.write release the GIL, so the three overlap. At most `depth` pieces wait in the
queue (each at most one network read), which keeps memory flat whatever the clip's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
from pathlib import Path
from typing import Protocol

from grokvid.api.download.files import save_failed


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


class Writer:
    """Appends pieces to `fd` (which it owns and closes) and feeds them to `hasher`."""

    def __init__(self, fd: int, hasher: Hasher, path: Path, depth: int = 16) -> None:
        self._fd = fd
        self._hasher = hasher
        self._path = path
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._slots = asyncio.Semaphore(depth)
        self._loop = asyncio.get_running_loop()
        self._sync = False
        self.error: OSError | None = None
        self._worker = asyncio.ensure_future(asyncio.to_thread(self._run))

    async def put(self, piece: bytes) -> None:
        await self._slots.acquire()
        self._queue.put(piece)

    async def close(self, *, sync: bool) -> None:
        """Wait for every queued piece; fsync first if `sync`. Raises SaveFailed on a write error.

        Safe to call while being cancelled: the worker finishes and closes the file regardless.
        """
        self._sync = sync
        self._queue.put(None)
        await asyncio.shield(self._worker)
        if self.error is not None:
            raise save_failed(self.error, self._path) from self.error

    def _run(self) -> None:
        try:
            while (piece := self._queue.get()) is not None:
                try:
                    if self.error is None:
                        _write_all(self._fd, piece)
                        self._hasher.update(piece)
                except OSError as exc:
                    self.error = exc  # the loop sees it and stops receiving
                finally:
                    with contextlib.suppress(RuntimeError):  # the loop may be gone (Ctrl-C)
                        self._loop.call_soon_threadsafe(self._slots.release)
            if self._sync and self.error is None:
                try:
                    os.fsync(self._fd)
                except OSError as exc:
                    self.error = exc
        finally:
            os.close(self._fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
