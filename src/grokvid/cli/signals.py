"""Running the library's coroutines so Ctrl-C and SIGTERM leave every paid job findable.

SIGTERM (a CI runner cancelling, `kill`) is handled exactly like a first Ctrl-C: the run's task
is cancelled, the runner marks what it was doing in the ledger and says how to resume. A second
Ctrl-C stops at once, still with exit 130.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_interruptible(main: Coroutine[Any, Any, T], interrupted: Callable[[], BaseException]) -> T:
    """Run `main` to its end; `interrupted()` is raised when a signal stops it early."""
    try:
        return asyncio.run(_term_cancels(main))
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise interrupted() from None


async def _term_cancels(main: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    installed = False
    if task is not None:
        try:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
            installed = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        return await main
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)
