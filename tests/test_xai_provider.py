"""The xAI provider against scripted responses: the retry rule, error mapping, status parsing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from grokvid.api import errors, xai
from grokvid.api.models import VideoRequest
from grokvid.api.retry import Backoff

KEY = "xai-test-SECRET-0123456789"
REQUEST = VideoRequest(prompt="a red fox trotting through fresh snow", duration=5)

Step = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries record their delays instead of sleeping."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(xai, "_sleep", fake_sleep)
    return slept


class Script:
    """A transport that answers with the next step and records every request."""

    def __init__(self, *steps: Step | httpx.Response) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0)
        return step(request) if callable(step) else step


def err(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "error": message}, headers=headers)


def ok_submit() -> httpx.Response:
    return httpx.Response(200, json={"request_id": "d97415a1-5796-b7ec-379f-4e6819e08fdf"})


def connect_fail(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def dropped(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def run(script: Script, call: str = "submit", *args: Any) -> Any:
    async def go() -> Any:
        provider = xai.XAIProvider(
            SecretStr(KEY),
            "https://api.example.test",
            backoff=Backoff(attempts=3),
            transport=httpx.MockTransport(script),
        )
        async with provider:
            if call == "submit":
                return await provider.submit(REQUEST)
            return await provider.poll(*args)

    return asyncio.run(go())


def test_submit_sends_exactly_the_documented_body_and_headers() -> None:
    script = Script(ok_submit())
    assert run(script) == "d97415a1-5796-b7ec-379f-4e6819e08fdf"
    (request,) = script.requests
    assert request.method == "POST"
    assert request.url.path == "/v1/videos/generations"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"].startswith("grokvid/")
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body == {
        "model": "grok-imagine-video",
        "prompt": "a red fox trotting through fresh snow",
        "duration": 5,
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "generate_audio": True,
    }
    assert "image_url" not in body and "n" not in body


@pytest.mark.parametrize(
    "first",
    [
        connect_fail,
        err(429, "resource-exhausted", "Requests per Minute (actual/limit): 2/2"),
        err(503, "unavailable", "Service temporarily unavailable"),
    ],
    ids=["connect-failed", "429-rate-limit", "503"],
)
def test_submit_is_resent_only_when_the_service_cannot_have_acted(first: Any) -> None:
    script = Script(first, ok_submit())
    assert run(script) == "d97415a1-5796-b7ec-379f-4e6819e08fdf"
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    "failure",
    [
        dropped,
        read_timeout,
        err(500, "internal", "Internal error"),
        err(502, "bad-gateway", "Bad gateway"),
        err(504, "timeout", "Gateway timeout"),
        httpx.Response(200, text="not json"),
    ],
    ids=["dropped", "read-timeout", "500", "502", "504", "200-without-id"],
)
def test_submit_with_unknown_outcome_is_never_resent(failure: Any) -> None:
    script = Script(failure, ok_submit())
    with pytest.raises(errors.SubmitUnknown):
        run(script)
    assert len(script.requests) == 1


def test_retry_after_is_honoured(no_wait: list[float]) -> None:
    script = Script(
        err(429, "resource-exhausted", "slow down", **{"Retry-After": "7"}), ok_submit()
    )
    run(script)
    assert no_wait == [7.0]


def test_rate_limit_gives_up_after_the_retry_budget() -> None:
    script = Script(*[err(429, "resource-exhausted", "Requests per Minute: 2/2")] * 4)
    with pytest.raises(errors.RateLimited, match="Requests per Minute"):
        run(script)
    assert len(script.requests) == 4


@pytest.mark.parametrize(
    ("response", "kind", "text"),
    [
        (
            err(400, "invalid-argument", "Incorrect API key provided: xa***yy"),
            errors.AuthError,
            "Incorrect API key provided",
        ),
        (
            err(401, "unauthenticated", "Missing Authorization header"),
            errors.AuthError,
            "Missing Authorization",
        ),
        (err(403, "permission-denied", "Team is not permitted"), errors.AuthError, "not permitted"),
        (
            err(
                429,
                "resource-exhausted",
                "Your team has used all available credits or reached its monthly spending limit",
            ),
            errors.AuthError,
            "credits",
        ),
        (
            err(400, "Client specified an invalid argument", "Prompt too long"),
            errors.APIError,
            "Prompt too long",
        ),
        (
            err(415, "unsupported-media-type", "Use application/json"),
            errors.APIError,
            "application/json",
        ),
        (err(422, "unprocessable", "duration must be an integer"), errors.APIError, "integer"),
    ],
)
def test_errors_are_mapped_once_with_the_service_words(
    response: httpx.Response, kind: type[Exception], text: str
) -> None:
    script = Script(response, ok_submit())
    with pytest.raises(kind, match=text) as info:
        run(script)
    assert len(script.requests) == 1, "errors other than rate limits and 503 are not retried"
    assert KEY not in str(info.value)
    if kind is errors.AuthError:
        assert "grokvid config set xai.api_key" in str(info.value) or "console.x.ai" in str(
            info.value
        )


def test_request_id_header_is_kept_for_the_message() -> None:
    response = httpx.Response(
        422, json={"code": "x", "error": "bad"}, headers={"x-request-id": "req-42"}
    )
    with pytest.raises(errors.APIError) as info:
        run(Script(response))
    assert info.value.request_id == "req-42"


@pytest.mark.parametrize(
    ("body", "state", "extra"),
    [
        (
            {"status": "pending", "progress": 39, "model": "grok-imagine-video"},
            "pending",
            {"progress": 39},
        ),
        (
            {
                "status": "done",
                "progress": 100,
                "model": "grok-imagine-video",
                "video": {
                    "url": "https://vidgen.x.ai/b/xai-video-1.mp4",
                    "duration": 8,
                    "respect_moderation": True,
                },
                "usage": {"cost_in_usd_ticks": 4000000000},
            },
            "done",
            {
                "video_url": "https://vidgen.x.ai/b/xai-video-1.mp4",
                "cost_usd_ticks": 4000000000,
                "video_duration": 8.0,
            },
        ),
        (
            {"status": "done", "video": {"url": "", "respect_moderation": False}},
            "moderated",
            {"error_code": "moderated"},
        ),
        (
            {"status": "done", "video": {"url": "", "respect_moderation": True}},
            "failed",
            {"error_code": "no_video"},
        ),
        (
            {
                "status": "failed",
                "error": {"code": "invalid_argument", "message": "Prompt cannot be empty."},
            },
            "failed",
            {"error_code": "invalid_argument", "error_message": "Prompt cannot be empty."},
        ),
        ({"status": "expired"}, "expired", {}),
        ({"status": "queued"}, "pending", {}),
    ],
)
def test_poll_maps_every_documented_status(
    body: dict[str, Any], state: str, extra: dict[str, Any]
) -> None:
    status = run(Script(httpx.Response(200, json=body)), "poll", "req-1")
    assert status.state == state
    for key, value in extra.items():
        assert getattr(status, key) == value


@pytest.mark.parametrize(
    "transient",
    [dropped, read_timeout, connect_fail, err(500, "internal", "oops"), err(429, "r", "slow")],
    ids=["dropped", "timeout", "connect", "500", "429"],
)
def test_polls_retry_transient_errors(transient: Any) -> None:
    script = Script(transient, httpx.Response(200, json={"status": "pending", "progress": 5}))
    assert run(script, "poll", "req-1").progress == 5
    assert len(script.requests) == 2


def test_poll_of_unknown_id_is_not_found() -> None:
    script = Script(err(404, "not-found", "No video generation request with id 'x'"))
    with pytest.raises(errors.NotFound, match="No video generation request"):
        run(script, "poll", "x")


def test_unknown_submit_outcome_keeps_the_services_request_id() -> None:
    response = err(502, "bad-gateway", "upstream hiccup", **{"x-request-id": "req-77"})
    with pytest.raises(errors.SubmitUnknown, match="req-77"):
        run(Script(response))


def test_retry_after_is_capped() -> None:
    from grokvid.api.retry import RETRY_AFTER_CAP

    assert Backoff().wait(0, 86_400) == RETRY_AFTER_CAP
    assert Backoff().wait(0, 3) >= 3


def test_retry_after_as_an_http_date_without_a_zone_is_read_as_utc() -> None:
    from grokvid.api.retry import retry_after_seconds

    response = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 -0000"})
    assert retry_after_seconds(response) == 0.0
