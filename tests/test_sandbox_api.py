"""The sandbox's API in-process (httpx.ASGITransport): validation, errors, the job state machine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from grokvid.sandbox import SandboxApp, SandboxConfig, create_app
from grokvid.sandbox import app as app_module

T = TypeVar("T")
TICKS_PER_USD = 10_000_000_000
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3")
SUBMIT = "/v1/videos/generations"
FOX = {"prompt": "a red fox trotting through fresh snow", "duration": 1}
NO_RENDER = {"X-Sandbox-Fault": "moderate"}  # accepted jobs that skip the encode


def call(
    app: SandboxApp, method: str, url: str, *, key: str | None = "sandbox", **kw: Any
) -> httpx.Response:
    """One request through httpx.ASGITransport, from synchronous test code."""
    headers = dict(kw.pop("headers", {}))
    if key is not None:
        headers.setdefault("Authorization", f"Bearer {key}")

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            response = await client.request(method, url, headers=headers, **kw)
            await response.aread()
            return response

    return asyncio.run(go())


def submit(app: SandboxApp, body: dict[str, Any] | None = None, **kw: Any) -> str:
    response = call(app, "POST", SUBMIT, json=FOX if body is None else body, **kw)
    assert response.status_code == 200, response.text
    return str(response.json()["request_id"])


def poll(app: SandboxApp, request_id: str, **kw: Any) -> dict[str, Any]:
    """The poll's body; pending answers come with 202, the others with 200."""
    response = call(app, "GET", f"/v1/videos/{request_id}", **kw)
    data: dict[str, Any] = response.json()
    expected = 202 if data.get("status") == "pending" else 200
    assert response.status_code == expected, response.text
    return data


def wait_until(check: Callable[[], T | None], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def settled(app: SandboxApp, request_id: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        data = poll(app, request_id)
        return None if data["status"] == "pending" else data

    return wait_until(check)


@pytest.fixture
def app(sandbox_clip_cache: Path) -> SandboxApp:
    sandbox = create_app(SandboxConfig(render_seconds=0.05, clip_cache_dir=sandbox_clip_cache))
    yield sandbox
    sandbox.close()


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "error"}
    assert isinstance(body["error"], str) and body["error"]
    if code is not None:
        assert body["code"] == code
    return str(body["error"])


# -- validation -------------------------------------------------------------------------------

LONG = "x" * 10_000


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"prompt": "fox"}, 200),
        ({"prompt": LONG, "duration": 1}, 200),
        ({"prompt": LONG + "x"}, 400),
        ({}, 422),
        ({"prompt": ""}, 400),
        ({"prompt": "   \n"}, 400),
        ({"prompt": 7}, 422),
        ({"prompt": "fox", "duration": 1}, 200),
        ({"prompt": "fox", "duration": 15}, 200),
        ({"prompt": "fox", "duration": 0}, 400),
        ({"prompt": "fox", "duration": 16}, 400),
        ({"prompt": "fox", "duration": "8"}, 422),
        ({"prompt": "fox", "duration": 8.5}, 422),
        ({"prompt": "fox", "duration": True}, 422),
        ({"prompt": "fox", "aspect_ratio": "21:9"}, 400),
        ({"prompt": "fox", "resolution": "720p"}, 200),
        ({"prompt": "fox", "resolution": "1080p"}, 400),
        ({"prompt": "fox", "resolution": "4k"}, 400),
        ({"prompt": "fox", "model": "grok-imagine-video-1.5", "resolution": "1080p"}, 200),
        ({"prompt": "fox", "model": "grok-imagine-video-1.5-lite", "resolution": "1080p"}, 200),
        ({"prompt": "fox", "model": "grok-imagine-video-9"}, 400),
        ({"image": {"url": "https://example.com/fox.png"}}, 200),
        ({"prompt": "", "image": {"url": "data:image/png;base64,iVBORw0KGgo="}}, 200),
        ({"prompt": "fox", "image": "https://example.com/fox.png"}, 422),
        ({"prompt": "fox", "image": {"url": "ftp://example.com/fox.png"}}, 400),
        ({"prompt": "fox", "image_url": "https://example.com/fox.png", "n": 4}, 200),
        ({"prompt": "fox", "generate_audio": False, "user": "u-1"}, 200),
        ({"prompt": "fox", "user": 5}, 422),
    ],
)
def test_submit_validation(app: SandboxApp, body: dict[str, Any], status: int) -> None:
    response = call(app, "POST", SUBMIT, json=body, headers=NO_RENDER)
    if status == 200:
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"request_id"}
    else:
        assert_error(response, status, "invalid-argument" if status == 400 else None)


@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
def test_every_aspect_ratio_is_accepted(app: SandboxApp, ratio: str) -> None:
    submit(app, {"prompt": "fox", "aspect_ratio": ratio}, headers=NO_RENDER)


def test_accepted_request_is_stored_with_defaults_and_without_image_url(app: SandboxApp) -> None:
    body = {"prompt": "fox", "image_url": "https://example.com/a.png"}
    request_id = submit(app, body, headers=NO_RENDER)
    (job,) = app.jobs()
    assert job.request_id == request_id
    assert job.params == {
        "model": "grok-imagine-video",
        "prompt": "fox",
        "duration": 8,
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "generate_audio": True,
    }


def test_bad_bodies_and_content_types(app: SandboxApp) -> None:
    assert_error(call(app, "POST", SUBMIT, content=b"{nope", headers=JSON), 400)
    assert_error(call(app, "POST", SUBMIT, content=b"[1, 2]", headers=JSON), 422)
    text = {"Content-Type": "text/plain"}
    assert_error(call(app, "POST", SUBMIT, content=b'{"prompt": "x"}', headers=text), 415)
    assert_error(call(app, "POST", SUBMIT, files={"prompt": b"fox"}), 415)
    assert_error(call(app, "POST", SUBMIT, data={"prompt": "fox"}), 415)
    assert app.jobs() == []


JSON = {"Content-Type": "application/json"}


def test_prompt_limit_is_configurable(sandbox_clip_cache: Path) -> None:
    strict = create_app(SandboxConfig(max_prompt_chars=4096))
    message = assert_error(call(strict, "POST", SUBMIT, json={"prompt": "y" * 4097}), 400)
    assert "4,096" in message


# -- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["submit", "poll"])
@pytest.mark.parametrize(
    ("authorization", "status", "code", "words"),
    [
        (None, 401, "unauthenticated", "Authorization"),
        ("Basic dXNlcjpwYXNz", 401, "unauthenticated", "Authorization"),
        ("Bearer ", 401, "unauthenticated", "Authorization"),
        ("Bearer xai-bad-0123456789", 400, None, "Incorrect API key provided: xa***89"),
        ("Bearer xai-denied-0123", 403, "permission-denied", "not permitted"),
        ("Bearer xai-broke-0123", 429, "resource-exhausted", "used all available credits"),
    ],
)
def test_documented_keys(
    app: SandboxApp,
    route: str,
    authorization: str | None,
    status: int,
    code: str | None,
    words: str,
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    if route == "submit":
        response = call(app, "POST", SUBMIT, json=FOX, key=None, headers=headers)
    else:
        request_id = submit(app, headers=NO_RENDER)
        response = call(app, "GET", f"/v1/videos/{request_id}", key=None, headers=headers)
    assert words in assert_error(response, status, code)
    assert "0123456789" not in response.text  # the key is masked
    assert len(app.jobs()) == (0 if route == "submit" else 1)


def test_any_other_key_works(app: SandboxApp) -> None:
    submit(app, key="xai-whatever", headers=NO_RENDER)
    submit(app, key="sandbox", headers=NO_RENDER)


# -- routes -----------------------------------------------------------------------------------


def test_unknown_id_route_and_method(app: SandboxApp) -> None:
    message = assert_error(call(app, "GET", "/v1/videos/no-such-id"), 404, "not-found")
    assert "no-such-id" in message
    assert_error(call(app, "GET", "/v1/nothing"), 404, "not-found")
    response = call(app, "GET", SUBMIT)
    assert_error(response, 405)
    assert response.headers["allow"] == "POST"
    assert_error(call(app, "DELETE", "/v1/videos/abc"), 405)


def test_api_answers_carry_a_request_id(app: SandboxApp) -> None:
    ok = call(app, "POST", SUBMIT, json=FOX, headers=NO_RENDER)
    bad = call(app, "GET", "/v1/videos/nope")
    assert ok.headers["x-request-id"] != bad.headers["x-request-id"]


def test_health_and_jobs_endpoints_need_no_key(app: SandboxApp) -> None:
    request_id = submit(app, headers=NO_RENDER)
    assert call(app, "GET", "/_sandbox/health", key=None).json() == {"status": "ok", "jobs": 1}
    (job,) = call(app, "GET", "/_sandbox/jobs", key=None).json()["jobs"]
    assert job["request_id"] == request_id
    assert job["faults"] == "moderate"


# -- the state machine ------------------------------------------------------------------------


def test_pending_with_rising_progress_then_done(sandbox_clip_cache: Path) -> None:
    app = create_app(SandboxConfig(render_seconds=0.6, clip_cache_dir=sandbox_clip_cache))
    request_id = submit(app)
    progress: list[int] = []
    deadline = time.monotonic() + 15
    while (data := poll(app, request_id))["status"] == "pending":
        assert time.monotonic() < deadline
        assert set(data) == {"status", "progress", "model"}
        assert data["model"] == "grok-imagine-video"
        progress.append(data["progress"])
        time.sleep(0.05)
    assert progress == sorted(progress) and 0 <= progress[0] < progress[-1] <= 99
    assert len(progress) >= 3
    assert data == {
        "status": "done",
        "progress": 100,
        "model": "grok-imagine-video",
        "video": {"url": data["video"]["url"], "duration": 1, "respect_moderation": True},
        "usage": {"cost_in_usd_ticks": 500_000_000},  # $0.05 x 1 s
    }
    assert data["video"]["url"].startswith(f"http://sandbox/cdn/xai-video-{request_id}.mp4?")
    (job,) = app.jobs()
    assert job.state == "done" and job.poll_count == len(progress) + 1
    assert job.done_at is not None and job.done_at >= job.created_at + 0.6
    app.close()


# docs/xai-api.md, "Models and prices": USD per output second, and per input image.
PRICES = {
    "grok-imagine-video": ({"480p": 0.05, "720p": 0.07}, 0.002),
    "grok-imagine-video-1.5": ({"480p": 0.08, "720p": 0.14, "1080p": 0.25}, 0.01),
    "grok-imagine-video-1.5-lite": ({"480p": 0.02, "720p": 0.03, "1080p": 0.14}, 0.01),
}
ALIASES = {
    "grok-imagine-video-beta": "grok-imagine-video",
    "grok-imagine-video-1.5-preview": "grok-imagine-video-1.5",
}


@pytest.mark.parametrize("model", [*PRICES, *ALIASES])
@pytest.mark.parametrize("resolution", ["480p", "720p", "1080p"])
@pytest.mark.parametrize("image", [False, True])
def test_cost_follows_the_documented_price_table(
    app: SandboxApp, model: str, resolution: str, image: bool
) -> None:
    per_second, per_image = PRICES[ALIASES.get(model, model)]
    body: dict[str, Any] = {"prompt": "fox", "model": model, "resolution": resolution}
    body["duration"] = 6
    if image:
        body["image"] = {"url": "https://example.com/fox.png"}
    price = per_second.get(resolution)
    if price is None:
        message = assert_error(call(app, "POST", SUBMIT, json=body), 400, "invalid-argument")
        assert resolution in message and "480p, 720p" in message
        return
    data = settled(app, submit(app, body, headers=NO_RENDER))
    usd = price * 6 + (per_image if image else 0)
    assert data["usage"]["cost_in_usd_ticks"] == round(usd * TICKS_PER_USD)


def test_aliases_are_accepted_and_answered_as_the_canonical_model(app: SandboxApp) -> None:
    for alias, model in ALIASES.items():
        request_id = submit(app, {**FOX, "model": alias}, headers=NO_RENDER)
        assert app.jobs()[-1].params["model"] == model
        assert settled(app, request_id)["model"] == model


def test_moderated_job_is_done_without_url_and_still_charged(app: SandboxApp) -> None:
    request_id = submit(app, {**FOX, "prompt": "a fox [sandbox:moderate]"})
    data = settled(app, request_id)
    assert data["status"] == "done"
    assert data["video"] == {"url": "", "duration": 1, "respect_moderation": False}
    assert data["usage"]["cost_in_usd_ticks"] > 0
    assert app.jobs()[0].clip is None  # never rendered


@pytest.mark.parametrize(
    ("spec", "code"),
    [("fail", "internal_error"), ("fail=invalid_argument", "invalid_argument")],
)
def test_failed_job(app: SandboxApp, spec: str, code: str) -> None:
    request_id = submit(app, headers={"X-Sandbox-Fault": spec})
    data = settled(app, request_id)
    assert data["status"] == "failed"
    assert set(data) == {"status", "error"}
    assert data["error"]["code"] == code and data["error"]["message"]


def test_job_expires_after_its_ttl(sandbox_clip_cache: Path) -> None:
    app = create_app(
        SandboxConfig(render_seconds=0, job_ttl_seconds=0.4, clip_cache_dir=sandbox_clip_cache)
    )
    request_id = submit(app, headers=NO_RENDER)
    assert poll(app, request_id)["status"] == "done"
    assert wait_until(lambda: poll(app, request_id) == {"status": "expired"})
    # Expired jobs are forgotten after another TTL.
    wait_until(lambda: call(app, "GET", f"/v1/videos/{request_id}").status_code == 404 or None)
    submit(app, headers=NO_RENDER)  # the purge runs when a job is added
    assert [job.request_id for job in app.jobs()] != [request_id]


def test_expire_job_fault_on_a_poll_and_on_a_submit(app: SandboxApp) -> None:
    first = submit(app, headers=NO_RENDER)
    assert poll(app, first, headers={"X-Sandbox-Fault": "expire-job"}) == {"status": "expired"}
    assert poll(app, first) == {"status": "expired"}
    second = submit(app, {**FOX, "prompt": "fox [sandbox:expire-job,render=0.2]"})
    assert poll(app, second)["status"] == "pending"
    assert settled(app, second) == {"status": "expired"}


def test_render_seconds_from_prompt_word_and_seeded_range(sandbox_clip_cache: Path) -> None:
    def make() -> SandboxApp:
        return create_app(SandboxConfig(render_seconds=(1.0, 9.0), seed=7))

    one, two = make(), make()
    ids = [submit(one, headers=NO_RENDER) for _ in range(3)]
    assert ids == [submit(two, headers=NO_RENDER) for _ in range(3)]
    times = [job.render_seconds for job in one.jobs()]
    assert times == [job.render_seconds for job in two.jobs()]
    assert len(set(times)) == 3 and all(1.0 <= t <= 9.0 for t in times)
    submit(one, {"prompt": "fox [sandbox:render=0.25]"}, headers=NO_RENDER)
    assert one.jobs()[-1].render_seconds == 0.25
    assert one.jobs()[-1].params["prompt"] == "fox [sandbox:render=0.25]"


def test_render_failure_fails_the_job(app: SandboxApp, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kw: object) -> Path:
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(app_module, "render_clip", broken)
    data = settled(app, submit(app))
    assert data["status"] == "failed"
    assert data["error"]["code"] == "internal_error"
    assert "encoder exploded" in data["error"]["message"]


def test_store_is_bounded_and_evicts_finished_jobs_first(sandbox_clip_cache: Path) -> None:
    app = create_app(SandboxConfig(render_seconds=0, max_jobs=3))
    slow = submit(app, {"prompt": "fox [sandbox:render=60]"}, headers=NO_RENDER)
    finished = [submit(app, headers=NO_RENDER) for _ in range(4)]
    assert [job.request_id for job in app.jobs()] == [slow, *finished[-2:]]
    assert call(app, "GET", f"/v1/videos/{finished[0]}").status_code == 404
    assert poll(app, slow)["status"] == "pending"


def test_a_store_full_of_unfinished_jobs_refuses_new_ones_instead_of_dropping_them(
    sandbox_clip_cache: Path,
) -> None:
    app = create_app(SandboxConfig(render_seconds=60, max_jobs=2))
    kept = [submit(app, headers=NO_RENDER) for _ in range(2)]
    refused = call(app, "POST", SUBMIT, json={"prompt": "one more"}, headers=NO_RENDER)
    assert refused.status_code == 429
    assert (
        refused.json()["code"] == "resource-exhausted" and "--max-jobs" in refused.json()["error"]
    )
    assert [poll(app, request_id)["status"] for request_id in kept] == ["pending", "pending"]


def test_request_log_counts_every_request(app: SandboxApp) -> None:
    request_id = submit(app, headers={"X-Sandbox-Fault": "moderate,render=60"})
    poll(app, request_id)
    call(app, "GET", "/nowhere")
    entries = [(e.method, e.path, e.status) for e in app.request_log]
    assert entries == [
        ("POST", SUBMIT, 200),
        ("GET", f"/v1/videos/{request_id}", 202),
        ("GET", "/nowhere", 404),
    ]
    assert all(abs(entry.time - time.time()) < 60 for entry in app.request_log)


def test_lifespan_is_answered(app: SandboxApp) -> None:
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.parametrize("field", [{"generate_audio": "yes"}, {"generate_audio": 0}])
def test_loose_types_are_refused_as_a_typed_service_would(
    app: SandboxApp, field: dict[str, Any]
) -> None:
    response = call(app, "POST", SUBMIT, json={**FOX, **field})
    assert response.status_code == 422
    assert "generate_audio" in response.json()["error"]
