"""The xAI video API (and the sandbox, which speaks the same protocol).

Retries follow the rule in API.md: a submit is re-sent only when the service cannot have acted
on it (nothing was sent, 429 rate limit, 503); polls retry every transient error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from grokvid import __version__
from grokvid.api import errors
from grokvid.api.models import API_BASE_URL, VideoRequest
from grokvid.api.providers import JobStatus
from grokvid.api.retry import Backoff, retry_after_seconds

log = logging.getLogger("grokvid.http")

DEFAULT_BASE_URL = API_BASE_URL
SUBMIT_PATH = "/v1/videos/generations"
KEY_FIX = "Run `grokvid config set xai.api_key` or set XAI_API_KEY."
_CREDIT_WORDS = ("credits", "spending limit")

# Patched by tests so retries do not really wait.
_sleep = asyncio.sleep


class XAIProvider:
    """Client for `POST /v1/videos/generations` and `GET /v1/videos/{id}`."""

    name = "xai"

    def __init__(
        self,
        api_key: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        *,
        name: str = "xai",
        backoff: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self._on_retry = on_retry
        self.base_url = base_url.rstrip("/")
        self.backoff = backoff or Backoff()
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {api_key.get_secret_value()}",
                "User-Agent": f"grokvid/{__version__}",
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            event_hooks={"request": [_log_request], "response": [_log_response]},
        )

    async def __aenter__(self) -> XAIProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def submit(self, request: VideoRequest) -> str:
        body = request.body()
        for attempt in range(self.backoff.attempts + 1):
            last = attempt == self.backoff.attempts
            try:
                with errors.map_http_errors("submitting the job"):
                    response = await self._client.post(SUBMIT_PATH, json=body)
            except errors.SendFailed:
                if last:
                    raise
                await self._pause(attempt, None, "could not connect")
                continue
            except errors.NetworkError as exc:
                raise errors.SubmitUnknown(
                    f"{exc.message} The service may have created (and will bill) the job."
                ) from exc
            if response.status_code == 429 or response.status_code == 503:
                error = _error_for(response, "submitting the job")
                if isinstance(error, errors.AuthError) or last:
                    raise error
                reason = f"HTTP {response.status_code} on submit"
                await self._pause(attempt, retry_after_seconds(response), reason)
                continue
            if response.status_code in (500, 502, 504):
                error = _error_for(response, "submitting the job")
                rid = response.headers.get("x-request-id")
                raise errors.SubmitUnknown(
                    f"{error} (HTTP {response.status_code}"
                    + (f", x-request-id {rid}" if rid else "")
                    + "). The outcome is unknown: the service may have created (and will bill) "
                    "the job."
                ) from error
            if response.is_error:
                raise _error_for(response, "submitting the job")
            request_id = _json(response).get("request_id")
            if not isinstance(request_id, str) or not request_id:
                raise errors.SubmitUnknown(
                    f"The service answered HTTP {response.status_code} without a request id."
                )
            return request_id
        raise AssertionError("unreachable")  # pragma: no cover

    async def poll(self, request_id: str) -> JobStatus:
        path = f"/v1/videos/{request_id}"
        for attempt in range(self.backoff.attempts + 1):
            last = attempt == self.backoff.attempts
            try:
                with errors.map_http_errors("checking the job"):
                    response = await self._client.get(path)
            except errors.NetworkError as exc:
                if last:
                    raise
                await self._pause(attempt, None, exc.message)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                error = _error_for(response, "checking the job")
                if isinstance(error, errors.AuthError) or last:
                    raise error
                reason = f"HTTP {response.status_code} while checking the job"
                await self._pause(attempt, retry_after_seconds(response), reason)
                continue
            if response.is_error:
                raise _error_for(response, "checking the job")
            return parse_status(request_id, _json(response))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pause(self, attempt: int, retry_after: float | None, reason: str) -> None:
        """Wait before retry `attempt`, saying so (the user sees why nothing moves)."""
        delay = self.backoff.wait(attempt, retry_after)
        message = f"{reason}; retry {attempt + 1}/{self.backoff.attempts} in {delay:.1f} s"
        log.debug("%s", message)
        if self._on_retry is not None:
            self._on_retry(message)
        await _sleep(delay)


def parse_status(request_id: str, data: dict[str, Any]) -> JobStatus:
    """Map one `GET /v1/videos/{id}` body onto JobStatus."""
    status = data.get("status")
    video = _dict(data.get("video"))
    usage = _dict(data.get("usage"))
    error = _dict(data.get("error"))
    common: dict[str, Any] = {
        "request_id": request_id,
        "model": data.get("model"),
        "progress": data.get("progress") if isinstance(data.get("progress"), int) else None,
        "cost_usd_ticks": usage.get("cost_in_usd_ticks"),
    }
    if status == "done":
        url = video.get("url") or None
        duration = video.get("duration")
        common["video_duration"] = float(duration) if isinstance(duration, int | float) else None
        if video.get("respect_moderation") is False:
            return JobStatus(
                state="moderated",
                error_code="moderated",
                error_message="The clip was filtered by the service's moderation (still billed).",
                **common,
            )
        if not url:
            return JobStatus(
                state="failed",
                error_code="no_video",
                error_message="The service reported the job done but gave no video URL.",
                **common,
            )
        return JobStatus(state="done", video_url=url, **common)
    if status == "failed":
        return JobStatus(
            state="failed",
            error_code=str(error.get("code") or "failed"),
            error_message=str(error.get("message") or "The service reported the job failed."),
            **common,
        )
    if status == "expired":
        return JobStatus(
            state="expired",
            error_code="expired",
            error_message="The service no longer knows this request id; nothing can be fetched.",
            **common,
        )
    if status != "pending":
        log.debug("unknown status %r for %s; treating it as pending", status, request_id)
    return JobStatus(state="pending", **common)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error_for(response: httpx.Response, action: str) -> errors.GrokvidError:
    """The one mapping from an HTTP error response to grokvid's error tree."""
    status = response.status_code
    body = _json(response)
    message = body.get("error")
    if isinstance(message, dict):  # tolerate OpenAI's nested shape from proxies
        message = message.get("message")
    text = str(message) if message else (response.text.strip()[:300] or response.reason_phrase)
    code = str(body["code"]) if body.get("code") is not None else None
    request_id = response.headers.get("x-request-id")
    lowered = text.lower()
    if status == 401 or (status == 400 and "api key" in lowered):
        return errors.AuthError(f"{text} {KEY_FIX}", status=status, request_id=request_id)
    if status == 403 or (status == 429 and any(w in lowered for w in _CREDIT_WORDS)):
        advice = (
            ""
            if "console.x.ai" in lowered
            else " Check the key's team and credits at console.x.ai."
        )
        return errors.AuthError(
            f"{text}{advice}",
            status=status,
            request_id=request_id,
        )
    kw: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    if status == 404:
        return errors.NotFound(text, **kw)
    if status == 429:
        return errors.RateLimited(
            f"Rate limited while {action}: {text}",
            retry_after=retry_after_seconds(response),
            **kw,
        )
    if status >= 500:
        return errors.ServerError(f"Server error while {action}: {text}", **kw)
    return errors.APIError(f"The service rejected the request: {text}", **kw)


async def _log_request(request: httpx.Request) -> None:
    if log.isEnabledFor(logging.DEBUG):
        headers = {
            k: ("Bearer ***" if k.lower() == "authorization" else v)
            for k, v in request.headers.items()
        }
        log.debug("> %s %s %s", request.method, request.url, headers)
        if request.content:
            log.debug("> %s", request.content.decode("utf-8", "replace")[:2000])


async def _log_response(response: httpx.Response) -> None:
    if log.isEnabledFor(logging.DEBUG):
        await response.aread()
        log.debug("< %s %s %s", response.status_code, response.request.url, response.text[:2000])
