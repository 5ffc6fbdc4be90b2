"""The xAI provider and the retry engine against scripted responses: the resend rule, error
mapping, status parsing (docs/xai-api.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from grokvid.api import errors
from grokvid.api.providers import xai
from grokvid.api.providers.base import Accepted, Connection
from grokvid.api.retry import Backoff, RetryPolicy, call_with_retries, submit_by_rule
from grokvid.api.specs import TextToVideo

KEY = "xai-test-SECRET-0123456789"
SPEC = TextToVideo(
    model="grok-imagine-video", prompt="a red fox trotting through fresh snow", duration=5
)

Step = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries record their delays instead of sleeping."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("grokvid.api.retry.asyncio.sleep", fake_sleep)
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
    """One submit or poll through the provider and the one retry engine, as the runner does."""

    async def go() -> Any:
        connection = Connection(
            "https://api.example.test", SecretStr(KEY), httpx.MockTransport(script)
        )
        client = xai.XAIClient(connection)
        policy = RetryPolicy(Backoff(attempts=3), sleep=asyncio.sleep)
        try:
            if call == "submit":
                accepted = await submit_by_rule(lambda: client.submit(SPEC), policy)
                return accepted.request_id
            return await call_with_retries(lambda: client.status({"request_id": args[0]}), policy)
        finally:
            await client.aclose()

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
    ],
    ids=["connect-failed", "429-rate-limit"],
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
        err(503, "unavailable", "Service temporarily unavailable"),
        err(504, "timeout", "Gateway timeout"),
        httpx.Response(200, text="not json"),
    ],
    ids=["dropped", "read-timeout", "500", "502", "503", "504", "200-without-id"],
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
    assert len(script.requests) == 1, "errors other than rate limits are not retried"
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


def test_poll_of_a_forgotten_id_marks_the_job_expired() -> None:
    script = Script(err(404, "not-found", "No video generation request with id 'x'"))
    status = run(script, "poll", "x")
    assert status.state == "expired"
    assert "404" in (status.error_message or "")


@pytest.mark.parametrize(
    "pending",
    [
        httpx.Response(202, json={"status": "pending", "progress": 40}),
        httpx.Response(202, content=b""),
        httpx.Response(202, content=b"<html>accepted</html>"),
    ],
    ids=["json", "empty", "not-json"],
)
def test_poll_202_with_any_body_or_none_is_pending(pending: httpx.Response) -> None:
    status = run(Script(pending), "poll", "req-1")
    assert status.state == "pending"


def test_poll_400_with_a_cost_is_moderation_and_keeps_the_charge() -> None:
    body = {
        "code": "invalid-argument",
        "error": "The generated video was flagged by moderation.",
        "usage": {"cost_in_usd_ticks": 500_000_000},
    }
    status = run(Script(httpx.Response(400, json=body)), "poll", "req-1")
    assert (status.state, status.cost_usd_ticks) == ("moderated", 500_000_000)
    assert "moderation" in (status.error_message or "")


def test_poll_400_without_a_cost_is_an_error_not_moderation() -> None:
    with pytest.raises(errors.APIError, match="bad id"):
        run(Script(err(400, "invalid-argument", "bad id")), "poll", "req-1")


@pytest.mark.parametrize(
    "message",
    ["[Errno -2] Name or service not known", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate"],
    ids=["dns", "tls"],
)
def test_hopeless_connection_errors_fail_at_once(message: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(message, request=request)

    script = Script(fail, ok_submit())
    with pytest.raises(errors.SendFailed) as info:
        run(script)
    assert len(script.requests) == 1 and info.value.fatal


def test_connection_refused_is_retried_only_briefly(no_wait: list[float]) -> None:
    script = Script(*[connect_fail] * 10)
    with pytest.raises(errors.SendFailed):
        run(script)
    assert len(script.requests) == 4  # the first try and three retries
    assert sum(no_wait) < 5, "seconds, not half a minute"


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


def test_a_hundred_jobs_at_once_share_one_client_over_loopback(server: Any) -> None:
    """Submits and polls of 100 concurrent jobs all get through one client's pools, which
    close with it."""

    async def run() -> list[str]:
        client = xai.XAIClient(Connection(server.base_url, SecretStr(KEY)))
        try:
            answers = await asyncio.gather(*(client.submit(SPEC) for _ in range(100)))
            handles = [a.handle for a in answers if isinstance(a, Accepted)]
            assert len(handles) == 100
            polls = await asyncio.gather(*(client.status(h) for h in handles))
            return [p.state for p in polls]
        finally:
            await client.aclose()

    states = asyncio.run(run())
    assert len(states) == 100 and set(states) <= {"pending", "done"}
    assert len({job.request_id for job in server.app.jobs()}) == 100


def test_the_certificate_bundle_is_loaded_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading the CA bundle costs tens of milliseconds: every pool and client shares one."""
    made: list[bool] = []
    real = httpx.create_ssl_context

    def counting(*args: Any, **kwargs: Any) -> Any:
        made.append(bool(kwargs.get("verify", True)))
        return real(*args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    xai._tls_context.cache_clear()

    async def run() -> None:
        for _ in range(3):
            client = xai.XAIClient(Connection("https://api.x.ai", SecretStr(KEY)))
            await client.aclose()

    asyncio.run(run())
    assert made == [True]
