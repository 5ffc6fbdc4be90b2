"""Render work off the request loop: niced worker processes, or threads where those can't start.

Encoding holds the GIL for much of its time, so renders in threads of the server's own process
slow every poll down. Worker processes take the encodes onto the other cores; they run at a
lower priority (nice 10) so the server and its clients keep their share of the CPU even when
every core is rendering. Nothing waits for them at exit (the dispatchers are daemon threads, and
running workers are killed), so Ctrl-C never waits for a render nobody needs. Work that
cannot be sent to a process (a test double, a closure) runs in the dispatching thread instead.

One pool serves every sandbox app of a process (see `shared_pool`): starting workers costs an
interpreter each, far more than one test's whole render.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

log = logging.getLogger("grokvid.sandbox")

NICE = 10
MAX_WORKERS = 4
READY = b"ready"

Done = Callable[[Any, str | None], None]  # (result, None) or (None, "Type: message")


@dataclass(frozen=True)
class Task:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    done: Done
    cancelled: Callable[[], bool]


class RenderPool:
    """`workers` dispatcher threads, each feeding one child process (or running work itself)."""

    def __init__(self, workers: int, *, processes: bool = True) -> None:
        self.workers = workers
        self.processes = processes
        self._tasks: queue.SimpleQueue[Task] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._warned = False

    @property
    def mode(self) -> str:
        """ "processes" or "threads": how work runs now (processes may have failed to start)."""
        return "processes" if self.processes else "threads"

    def submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        done: Done,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        with self._lock:
            if len(self._threads) < self.workers:
                thread = threading.Thread(target=self._dispatch, name="sandbox-render", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._tasks.put(Task(fn, args, done, cancelled))

    def _dispatch(self) -> None:
        child: _Child | None = None
        while True:
            task = self._tasks.get()
            if task.cancelled():
                continue
            if self.processes and child is None:
                child = self._start_child()
            payload = _pickled(task) if child is not None else None
            if child is None or payload is None:
                _report(task, *_run(task.fn, task.args))
                continue
            try:
                outcome = child.run(payload)
            except (EOFError, OSError, pickle.UnpicklingError) as exc:  # it died mid-render
                child.close()
                child = None
                outcome = (None, f"RenderWorkerDied: the render process stopped ({exc})")
            _report(task, *outcome)

    def _start_child(self) -> _Child | None:
        try:
            return _Child.start()
        except (OSError, RuntimeError, ValueError) as exc:
            # No processes here (a locked-down container, no /dev/shm): threads still work.
            with self._lock:
                self.processes = False
                if not self._warned:
                    self._warned = True
                    log.warning("render processes unavailable (%s); rendering in threads", exc)
            return None


class _Child:
    """One `python -m grokvid.sandbox.worker` process, fed pickled calls over its stdin.

    A plain subprocess rather than multiprocessing: multiprocessing re-imports the parent's
    main script in the child, which re-runs any script that starts a sandbox unguarded.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @classmethod
    def start(cls) -> _Child:
        if not sys.executable:
            raise RuntimeError("no Python executable to start render processes with")
        # The parent's import path, so a worker finds grokvid (and whatever the work needs)
        # however the parent found it: an install, a checkout on PYTHONPATH, a test directory.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = subprocess.Popen(
            [sys.executable, "-m", "grokvid.sandbox.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            env=env,
        )
        child = cls(process)
        _live.add(process)
        assert process.stdout is not None
        try:
            hello = read_frame(process.stdout)
        except (EOFError, OSError):
            hello = b""
        if hello != READY:
            child.close()
            raise RuntimeError(f"the render process exited at start (code {process.returncode})")
        return child

    def run(self, payload: bytes) -> tuple[Any, str | None]:
        assert self.process.stdin is not None and self.process.stdout is not None
        write_frame(self.process.stdin, payload)
        outcome: tuple[Any, str | None] = pickle.loads(read_frame(self.process.stdout))
        return outcome

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)
        _live.discard(self.process)


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(struct.pack(">Q", len(payload)) + payload)
    stream.flush()


def read_frame(stream: IO[bytes]) -> bytes:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the other end closed the pipe")
    (size,) = struct.unpack(">Q", head)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("the other end closed the pipe mid-message")
    return payload


def serve_calls(inbox: IO[bytes], outbox: IO[bytes]) -> None:
    """The worker's loop: run each pickled (fn, args) call, answer (result, error)."""
    # Ctrl-C reaches the whole process group; the parent decides when renders stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(NICE)
    except (AttributeError, OSError):  # no nice on Windows; a cap on it elsewhere
        pass
    write_frame(outbox, READY)
    while True:
        try:
            fn, args = pickle.loads(read_frame(inbox))
        except EOFError:  # the parent is gone, or done with us
            return
        outcome = pickle.dumps(_run(fn, args))
        try:
            write_frame(outbox, outcome)
        except OSError:  # the parent left while we rendered: nobody to tell
            return


def _run(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, str | None]:
    try:
        return fn(*args), None
    except Exception as exc:  # a failed render fails its job, never the worker
        return None, f"{type(exc).__name__}: {exc}"


def _pickled(task: Task) -> bytes | None:
    try:
        return pickle.dumps((task.fn, task.args))
    except (pickle.PicklingError, AttributeError, TypeError):
        return None


def _report(task: Task, result: Any, error: str | None) -> None:
    try:
        task.done(result, error)
    except Exception:
        log.exception("a sandbox render callback failed")


_live: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _stop_children() -> None:
    """At exit, a render still going is one nobody will ever fetch: stop it now."""
    for process in list(_live):
        if process.poll() is None:
            process.kill()


_shared: dict[bool, RenderPool] = {}
_shared_lock = threading.Lock()


def shared_pool(*, processes: bool = True) -> RenderPool:
    """The process-wide pool: one worker per core, at most MAX_WORKERS."""
    with _shared_lock:
        pool = _shared.get(processes)
        if pool is None:
            workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1))
            pool = _shared[processes] = RenderPool(workers, processes=processes)
        return pool
