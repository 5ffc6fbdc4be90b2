"""The xAI front's protocol as docs/xai-api.md has it: 202 pending, 400 moderation, 404, models."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from grokvid.sandbox import SandboxApp, SandboxConfig, create_app

SUBMIT = "/v1/videos/generations"
KEY = {"Authorization": "Bearer sandbox"}
FOX = {"prompt": "a red fox trotting through fresh snow", "duration": 2}
SLOW = {"X-Sandbox-Fault": "moderate,render=60"}  # stays pending, never encodes


def call(app: SandboxApp, method: str, url: str, **kw: Any) -> httpx.Response:
    headers = {**KEY, **kw.pop("headers", {})}

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            return await client.request(method, url, headers=headers, **kw)

    return asyncio.run(go())


def submit(app: SandboxApp, body: dict[str, Any] | None = None, **kw: Any) -> str:
    response = call(app, "POST", SUBMIT, json=body or FOX, **kw)
    assert response.status_code == 200, response.text
    return str(response.json()["request_id"])


def until_settled(app: SandboxApp, request_id: str, **kw: Any) -> httpx.Response:
    deadline = time.monotonic() + 15
    while (response := call(app, "GET", f"/v1/videos/{request_id}", **kw)).status_code == 202:
        assert time.monotonic() < deadline, "still pending"
        time.sleep(0.02)
    return response


@pytest.fixture
def app(sandbox_clip_cache: Path) -> SandboxApp:
    return create_app(SandboxConfig(render_seconds=0.05, clip_cache_dir=sandbox_clip_cache))


def test_pending_is_202_with_a_json_body_and_done_is_200(app: SandboxApp) -> None:
    request_id = submit(app, headers=SLOW)
    pending = call(app, "GET", f"/v1/videos/{request_id}")
    assert pending.status_code == 202
    assert pending.json() == {"status": "pending", "progress": 0, "model": "grok-imagine-video"}
    done = until_settled(app, submit(app, headers={"X-Sandbox-Fault": "moderate"}))
    assert done.status_code == 200 and done.json()["status"] == "done"


def test_empty_202_fault_on_the_job_and_on_one_poll(app: SandboxApp) -> None:
    sticky = submit(app, headers={"X-Sandbox-Fault": "moderate,render=60,empty-202"})
    for _ in range(2):
        response = call(app, "GET", f"/v1/videos/{sticky}")
        assert response.status_code == 202 and response.content == b""
    other = submit(app, headers=SLOW)
    once = call(app, "GET", f"/v1/videos/{other}", headers={"X-Sandbox-Fault": "empty-202"})
    assert once.status_code == 202 and once.content == b""
    assert call(app, "GET", f"/v1/videos/{other}").json()["status"] == "pending"


def test_moderation_as_400_on_the_poll_carries_the_cost(app: SandboxApp) -> None:
    request_id = submit(app, {**FOX, "prompt": "a fox [sandbox:moderate-400]"})
    response = until_settled(app, request_id)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid-argument" and "moderation" in body["error"]
    assert body["usage"] == {"cost_in_usd_ticks": 1_000_000_000}  # 2 s x $0.05
    assert app.jobs()[0].clip is None  # a filtered clip is never rendered


def test_forget_job_on_a_poll_answers_404_from_then_on(app: SandboxApp) -> None:
    request_id = submit(app, headers=SLOW)
    forgotten = call(
        app, "GET", f"/v1/videos/{request_id}", headers={"X-Sandbox-Fault": "forget-job"}
    )
    for response in (forgotten, call(app, "GET", f"/v1/videos/{request_id}")):
        assert response.status_code == 404
        assert response.json()["code"] == "not-found" and request_id in response.json()["error"]
    assert app.jobs() == []


def test_forget_job_on_a_submit_strikes_once_the_render_is_over(app: SandboxApp) -> None:
    request_id = submit(app, {**FOX, "prompt": "fox [sandbox:forget-job,render=0.3]"})
    assert call(app, "GET", f"/v1/videos/{request_id}").status_code == 202
    assert until_settled(app, request_id).status_code == 404


def test_forget_jobs_is_a_restart_for_in_process_users(app: SandboxApp) -> None:
    ids = [submit(app, headers=SLOW) for _ in range(3)]
    assert app.forget_jobs(ids[0]) == 1
    assert call(app, "GET", f"/v1/videos/{ids[0]}").status_code == 404
    assert app.forget_jobs() == 2
    assert {call(app, "GET", f"/v1/videos/{i}").status_code for i in ids} == {404}


def test_models_list_shapes(app: SandboxApp) -> None:
    models = call(app, "GET", "/v1/models").json()
    assert models["object"] == "list"
    ids = [entry["id"] for entry in models["data"]]
    assert {"grok-imagine-video", "grok-imagine-video-1.5", "grok-imagine-video-1.5-lite"} <= set(
        ids
    )
    assert "grok-imagine-video-beta" in ids and "grok-imagine-video-1.5-preview" in ids
    for entry in models["data"]:
        assert entry["object"] == "model" and entry["owned_by"] == "xai"
        assert isinstance(entry["created"], int)
    video = call(app, "GET", "/v1/video-generation-models").json()["models"]
    by_id = {entry["id"]: entry for entry in video}
    assert set(by_id) == {
        "grok-imagine-video",
        "grok-imagine-video-1.5",
        "grok-imagine-video-1.5-lite",
    }
    assert by_id["grok-imagine-video"]["aliases"] == ["grok-imagine-video-beta"]
    assert by_id["grok-imagine-video-1.5"]["aliases"] == ["grok-imagine-video-1.5-preview"]
    assert by_id["grok-imagine-video"]["resolutions"] == ["480p", "720p"]
    lite = by_id["grok-imagine-video-1.5-lite"]["price_per_second_in_usd_ticks"]
    assert lite == {"480p": 200_000_000, "720p": 300_000_000, "1080p": 1_400_000_000}


def test_one_model_by_name_or_alias(app: SandboxApp) -> None:
    entry = call(app, "GET", "/v1/video-generation-models/grok-imagine-video-1.5-preview").json()
    assert entry["id"] == "grok-imagine-video-1.5"
    plain = call(app, "GET", "/v1/models/grok-imagine-video-beta").json()
    assert plain["id"] == "grok-imagine-video-beta" and plain["object"] == "model"
    missing = call(app, "GET", "/v1/models/grok-imagine-video-9")
    assert missing.status_code == 404 and missing.json()["code"] == "not-found"


def test_model_listings_need_a_key(app: SandboxApp) -> None:
    response = call(app, "GET", "/v1/models", headers={"Authorization": ""})
    assert response.status_code == 401
    assert call(app, "POST", "/v1/models").status_code == 405
