"""A second provider is one module: a fake platform registered in the test runs the whole flow.

Like llm's MockModel: an in-memory service with its own handle shape (a follow-up URL, as fal's
queue gives), its own answers classified for the one retry engine, and real MP4s served from a
loopback video host, so the runner, the ledger and the downloader are exercised for real.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from grokvid.api import errors
from grokvid.api.ledger import Ledger
from grokvid.api.providers import registry
from grokvid.api.providers.base import (
    Accepted,
    Connection,
    Handle,
    NotActedOn,
    OutcomeUnknown,
    Progress,
    ProviderInfo,
    SubmitAnswer,
)
from grokvid.api.runner import ClipPlan, Endpoint, Runner, RunOptions
from grokvid.api.specs import Spec, TextToVideo
from grokvid.api.states import JobState

INFO = ProviderInfo(
    name="mockvid",
    title="Mock Video",
    key_setting="mockvid.api_key",
    key_env="MOCKVID_KEY",
    base_url_setting="mockvid.base_url",
    default_base_url="https://api.mock.example",
    console="mock.example",
    operations=frozenset({"text-to-video"}),
)


class FakeService:
    """The platform's side: scripted submit answers, jobs that finish after N polls."""

    def __init__(self, video_url: str, script: list[str] | None = None) -> None:
        self.video_url = video_url
        self.script = list(script or [])
        self.posts: list[Spec] = []
        self.polls: dict[str, int] = {}


class FakeClient:
    info = INFO

    def __init__(self, connection: Connection, service: FakeService) -> None:
        self.base_url = connection.base_url
        self.service = service

    def check(self, spec: Spec) -> list[str]:
        return []

    def estimate_usd(self, spec: Spec) -> float | None:
        return 0.01

    def body(self, spec: Spec) -> dict[str, Any]:
        return {"input": spec.prompt}

    async def submit(self, spec: Spec) -> SubmitAnswer:
        self.service.posts.append(spec)
        step = self.service.script.pop(0) if self.service.script else "ok"
        if step == "busy":
            return NotActedOn("queue full", retry_after=0.0, never_sent=False)
        if step == "unknown":
            return OutcomeUnknown("gateway timeout")
        job = f"job-{len(self.service.posts)}"
        self.service.polls[job] = 0
        return Accepted({"request_id": job, "status_url": f"/q/{job}/status"}, job)

    async def status(self, handle: Handle) -> Progress:
        job = str(handle["request_id"])
        self.service.polls[job] += 1
        if self.service.polls[job] < 3:
            return Progress(request_id=job, state="pending", progress=30 * self.service.polls[job])
        return Progress(
            request_id=job, state="done", video_url=self.service.video_url, cost_usd_ticks=10**8
        )

    async def refresh(self, handle: Handle) -> Progress:
        return await self.status(handle)

    async def cancel(self, handle: Handle) -> bool:
        return False

    async def aclose(self) -> None:
        pass


@pytest.fixture
def video_host(tmp_path: Path, sandbox_clip_cache: Path) -> Iterator[str]:
    from grokvid.sandbox.render import render_clip

    clip = render_clip("mock", 1, 160, 96, cache_dir=sandbox_clip_cache)
    root = tmp_path / "cdn"
    root.mkdir()
    (root / "clip.mp4").write_bytes(clip.read_bytes())
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def guess_type(self, path: Any) -> str:
        return "video/mp4"


def run_mock(
    tmp_path: Path, service: FakeService, prompts: list[str]
) -> tuple[Ledger, list[object]]:
    registry.register(INFO, lambda connection: FakeClient(connection, service))
    ledger = Ledger(tmp_path / "ledger.sqlite3")

    async def no_sleep(seconds: float) -> None:
        await asyncio.sleep(0)

    endpoint = Endpoint("mockvid", INFO.default_base_url, SecretStr("mock-key"))
    runner = Runner(ledger, endpoint, sleep=no_sleep)
    plans = [
        ClipPlan(TextToVideo(model="mock-1", prompt=p, duration=1), tmp_path / f"{i}.mp4")
        for i, p in enumerate(prompts)
    ]
    created = runner.create(plans)

    async def main() -> list[object]:
        async with runner:
            return list(await runner.run(created, RunOptions(timeout=60)))

    return ledger, asyncio.run(main())


def test_a_registered_provider_runs_the_whole_flow(tmp_path: Path, video_host: str) -> None:
    service = FakeService(video_host, script=["busy"])
    ledger, outcomes = run_mock(tmp_path, service, ["one", "two"])
    assert len(service.posts) == 3, "the rate-limited POST was re-sent once, the others never"
    for outcome in outcomes:
        assert not isinstance(outcome, BaseException), outcome
    jobs = ledger.list(limit=None)
    assert {job.state for job in jobs} == {JobState.DOWNLOADED}
    assert {job.provider for job in jobs} == {"mockvid"}
    for job in jobs:
        assert job.output_path and Path(job.output_path).is_file()
        assert job.cost_usd_ticks == 10**8
        assert Path(job.output_path).with_suffix(".json").is_file()


def test_the_engine_never_resends_an_unknown_outcome_for_any_provider(
    tmp_path: Path, video_host: str
) -> None:
    service = FakeService(video_host, script=["unknown"])
    ledger, outcomes = run_mock(tmp_path, service, ["one"])
    assert len(service.posts) == 1
    (outcome,) = outcomes
    assert isinstance(outcome, errors.SubmitUnknown)
    assert "mock.example" in str(outcome), "the check hint names the provider's own console"
    (job,) = ledger.list(limit=None)
    assert job.state == JobState.SUBMIT_UNKNOWN


def test_an_operation_the_provider_lacks_is_refused_before_any_row_is_written(
    tmp_path: Path,
) -> None:
    from grokvid.api.specs import EditVideo, MediaInput

    service = FakeService("https://cdn.mock.example/clip.mp4")
    registry.register(INFO, lambda connection: FakeClient(connection, service))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    runner = Runner(ledger, Endpoint("mockvid", INFO.default_base_url, SecretStr("k")))
    edit = EditVideo(
        model="mock-1", prompt="make it snow", video=MediaInput(kind="video", url="https://x/v.mp4")
    )
    with pytest.raises(errors.ValidationError, match="cannot do edit-video"):
        runner.create([ClipPlan(edit, tmp_path / "e.mp4")])
    assert ledger.list(limit=None) == [] and service.posts == []


def test_the_config_table_and_the_registry_agree_on_every_provider() -> None:
    from grokvid.api.config import PROVIDER_KEYS

    for name in registry.names():
        if name not in PROVIDER_KEYS:
            continue  # registered by a test, not shipped
        info, keys = registry.get(name).info, PROVIDER_KEYS[name]
        assert f"{keys.name}.api_key" == info.key_setting
        assert keys.key_env == info.key_env
        assert keys.default_base_url == info.default_base_url
        assert keys.key_from == info.console
