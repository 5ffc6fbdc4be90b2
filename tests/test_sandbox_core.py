"""The core apart from any front: no client code in it, renders off the loop, fronts as plug-ins."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from grokvid.sandbox import FRONTS, SandboxConfig, create_app
from grokvid.sandbox import pool as pool_module
from grokvid.sandbox.pool import RenderPool


def process_facts() -> tuple[int, int]:
    """(pid, niceness) of the process running this: sent to workers by name."""
    return os.getpid(), os.nice(0) if hasattr(os, "nice") else 0


def exit_now() -> None:
    os._exit(3)  # a worker that crashes mid-render


helpers = sys.modules[__name__]


def test_the_sandbox_loads_nothing_of_the_client() -> None:
    code = (
        "import sys, grokvid.sandbox, grokvid.sandbox.app, grokvid.sandbox.render, "
        "grokvid.sandbox.server, grokvid.sandbox.worker, grokvid.sandbox.fronts.xai;"
        "grokvid.sandbox.create_app();"
        "print(sorted(m for m in sys.modules if m.startswith('grokvid.api') or m == 'grokvid.cli'"
        " or m.startswith('grokvid.cli.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_every_front_answers_only_its_own_prefix() -> None:
    app = create_app(SandboxConfig())
    fronts = {front.name: front for front in app.fronts}
    assert [cls.name for cls in FRONTS] == list(fronts) == ["xai"]
    assert fronts["xai"].owns("/v1/videos/abc") and not fronts["xai"].owns("/fal/x")


def collect(pool: RenderPool, calls: list[tuple[Any, ...]]) -> list[tuple[Any, str | None]]:
    results: list[tuple[Any, str | None]] = []
    finished = threading.Event()

    def done(result: Any, error: str | None) -> None:
        results.append((result, error))
        if len(results) == len(calls):
            finished.set()

    for fn, *args in calls:
        pool.submit(fn, tuple(args), done)
    assert finished.wait(30), results
    return results


def test_renders_run_in_a_niced_worker_process() -> None:
    pool = RenderPool(1)
    ((child, error),) = collect(pool, [(helpers.process_facts,)])
    assert error is None and pool.mode == "processes"
    pid, nice = child
    assert pid != helpers.process_facts()[0]
    assert nice >= helpers.process_facts()[1] + 1 or sys.platform == "win32"


def test_work_that_cannot_travel_runs_in_a_thread_and_errors_are_reported() -> None:
    pool = RenderPool(1)

    def local(x: int) -> int:  # a closure: not picklable by reference
        return x * 2

    def broken() -> None:
        raise RuntimeError("encoder exploded")

    results = collect(pool, [(local, 21), (broken,)])
    assert sorted(results, key=str) == sorted(
        [(42, None), (None, "RuntimeError: encoder exploded")], key=str
    )


def test_falls_back_to_threads_where_processes_cannot_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_processes(cls: object) -> None:
        raise OSError("no process for you")

    monkeypatch.setattr(pool_module._Child, "start", classmethod(no_processes))
    pool = RenderPool(2)
    with caplog.at_level(logging.WARNING, logger="grokvid.sandbox"):
        results = collect(pool, [(helpers.process_facts,)] * 3)
    assert pool.mode == "threads"
    assert {result[0][0] for result in results} == {helpers.process_facts()[0]}
    warnings = [r.getMessage() for r in caplog.records if "render processes" in r.getMessage()]
    assert len(warnings) == 1 and "no process for you" in warnings[0]


def test_a_worker_that_dies_fails_its_task_and_is_replaced(tmp_path: Path) -> None:
    pool = RenderPool(1)
    ((first, _),) = collect(pool, [(helpers.process_facts,)])
    ((result, error),) = collect(pool, [(helpers.exit_now,)])
    assert result is None and error is not None and "RenderWorkerDied" in error
    ((child, error),) = collect(pool, [(helpers.process_facts,)])
    assert error is None and child[0] not in (first[0], helpers.process_facts()[0])
