"""Functions the render-pool tests send to a worker process (it imports them by name)."""

from __future__ import annotations

import os


def process_facts() -> tuple[int, int]:
    """(pid, niceness) of the process running this."""
    return os.getpid(), os.nice(0) if hasattr(os, "nice") else 0


def exit_now() -> None:
    os._exit(3)  # a worker that crashes mid-render
