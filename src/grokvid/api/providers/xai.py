"""xAI's video API (docs/xai-api.md), and the sandbox, which speaks the same protocol.

Each wire method makes one attempt and classifies the answer; `grokvid.api.retry` decides what
is tried again. Result videos live on a separate host that needs no key, so the key is bound to
this client's API host and never sent with a download.
"""

from __future__ import annotations

import functools
import logging
import ssl
from typing import Any

import httpx

from grokvid import __version__
from grokvid.api import errors, models
from grokvid.api.providers.base import (
    Accepted,
    Connection,
    Handle,
    NotActedOn,
    OutcomeUnknown,
    Progress,
    ProviderInfo,
    Refused,
    SubmitAnswer,
)
from grokvid.api.providers.registry import register
from grokvid.api.retry import retry_after_seconds
from grokvid.api.specs import ImageToVideo, Spec, TextToVideo

log = logging.getLogger("grokvid.http")

DEFAULT_BASE_URL = models.API_BASE_URL
SUBMIT_PATH = "/v1/videos/generations"
_CREDIT_WORDS = ("credits", "spending limit")

INFO = ProviderInfo(
    name="xai",
    title="xAI",
    key_setting="xai.api_key",
    key_env="XAI_API_KEY",
    base_url_setting="xai.base_url",
    default_base_url=DEFAULT_BASE_URL,
    console="console.x.ai",
    operations=frozenset({"text-to-video", "image-to-video"}),
    can_cancel=False,
    result_url_ttl_s=24 * 3600,
    models=tuple(models.MODELS),
)
KEY_FIX = f"{INFO.key_fix()[0].upper()}{INFO.key_fix()[1:]}."


def request_of(spec: Spec, *, inline: bool = True) -> models.VideoRequest:
    """The wire request for a spec, with the service's defaults filled in.

    `inline=False` leaves a local image unread (checks, estimates and --dry-run need only
    its type and size).
    """
    if not isinstance(spec, TextToVideo | ImageToVideo):
        raise errors.ValidationError(
            f"xai cannot do {spec.kind} through grokvid yet: use text-to-video or image-to-video.",
            "kind",
        )
    image = None
    if isinstance(spec, ImageToVideo):
        media = spec.image
        url = media.data_uri() if inline else (media.url or f"data:{media.mime};base64,")
        image = models.ImageInput(url=url)
    return models.VideoRequest(
        model=spec.model,
        prompt=spec.prompt,
        duration=spec.duration if spec.duration is not None else models.DEFAULT_DURATION,
        aspect_ratio=spec.aspect_ratio or models.DEFAULT_ASPECT_RATIO,
        resolution=spec.resolution or models.DEFAULT_RESOLUTION,
        generate_audio=spec.audio,
        image=image,
    )


def check(spec: Spec) -> list[str]:
    """Every rule of the service, before anything is spent; returns warnings."""
    return models.check_request(request_of(spec, inline=False))


def estimate_usd(spec: Spec) -> float | None:
    return request_of(spec, inline=False).estimated_cost_usd


def dry_body(spec: Spec) -> dict[str, Any]:
    """The body as --dry-run shows it: an inlined file is summarised, not printed."""
    body = request_of(spec, inline=False).body()
    if isinstance(spec, ImageToVideo) and spec.image.file is not None:
        body["image"] = {
            "url": f"data:{spec.image.mime};base64,… ({spec.image.bytes:,} bytes of "
            f"{spec.image.file})"
        }
    return body


# httpcore scans every connection of a pool on each request it starts or ends (and, for every
# idle one, all the others again), so one pool of 64 costs a batch of 100 jobs more CPU than
# their polls do. Eight pools of eight keep the same 64 connections at an eighth of the scan.
POOLS = 8
CONNECTIONS_PER_POOL = 8


@functools.cache
def _tls_context(*, verify: bool) -> ssl.SSLContext:
    """One context for every pool, built once: loading the CA bundle costs 20-60 ms a time.

    Plain http to loopback needs no bundle at all (the context is never used for it).
    """
    return httpx.create_ssl_context(verify=verify)


class XAIClient:
    """`POST /v1/videos/generations` and `GET /v1/videos/{id}` over pooled connections."""

    info = INFO

    def __init__(self, connection: Connection, *, timeout: float = 30.0) -> None:
        self.base_url = connection.base_url.rstrip("/")
        per_pool = httpx.Limits(
            max_connections=CONNECTIONS_PER_POOL, max_keepalive_connections=CONNECTIONS_PER_POOL
        )
        # A given transport (tests) has no pool of httpx's to split.
        pools = 1 if connection.transport is not None else POOLS
        tls = _tls_context(verify=not self.base_url.startswith("http://"))
        self._clients = [
            httpx.AsyncClient(
                base_url=self.base_url,
                headers={
                    "Authorization": f"Bearer {connection.api_key.get_secret_value()}",
                    "User-Agent": f"grokvid/{__version__}",
                    "Accept": "application/json",
                },
                timeout=httpx.Timeout(timeout, connect=10.0),
                transport=connection.transport,
                verify=tls,
                limits=per_pool,
                event_hooks={"request": [_log_request], "response": [_log_response]},
            )
            for _ in range(pools)
        ]
        self._turn = 0

    def _client(self) -> httpx.AsyncClient:
        """The next pool, in turn: concurrent requests spread evenly over all of them."""
        self._turn = (self._turn + 1) % len(self._clients)
        return self._clients[self._turn]

    check = staticmethod(check)
    estimate_usd = staticmethod(estimate_usd)
    body = staticmethod(dry_body)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def submit(self, spec: Spec) -> SubmitAnswer:
        body = request_of(spec).body()
        try:
            with errors.map_http_errors("submitting the job"):
                response = await self._client().post(SUBMIT_PATH, json=body)
        except errors.SendFailed as exc:
            if exc.fatal:
                return Refused(exc)
            return NotActedOn(exc.message, error=exc)
        except errors.NetworkError as exc:
            return OutcomeUnknown(exc.message)
        status = response.status_code
        if status == 429:
            error = _error_for(response, "submitting the job")
            if isinstance(error, errors.AuthError):  # credits, not the rate limiter
                return Refused(error)
            said = error.message.removeprefix("Rate limited while submitting the job: ")
            return NotActedOn(
                f"HTTP 429 on submit ({said})",
                retry_after=retry_after_seconds(response),
                never_sent=False,
                error=error,
            )
        if status >= 500:
            error = _error_for(response, "submitting the job")
            return OutcomeUnknown(f"{error} (HTTP {status})", response.headers.get("x-request-id"))
        if response.is_error:
            return Refused(_error_for(response, "submitting the job"))
        request_id = _json(response).get("request_id")
        if not isinstance(request_id, str) or not request_id:
            return OutcomeUnknown(f"The service answered HTTP {status} without a request id.")
        return Accepted({"request_id": request_id}, request_id)

    async def status(self, handle: Handle) -> Progress:
        request_id = str(handle["request_id"])
        with errors.map_http_errors("checking the job"):
            response = await self._client().get(f"/v1/videos/{request_id}")
        status = response.status_code
        if status == 202:  # still rendering; the body may be JSON or empty
            data = _json(response)
            return parse_status(request_id, {**data, "status": "pending"})
        if status == 400:
            data = _json(response)
            ticks = _dict(data.get("usage")).get("cost_in_usd_ticks")
            if isinstance(ticks, int):  # moderation reported on the poll: filtered, still billed
                return Progress(
                    request_id=request_id,
                    state="moderated",
                    error_code="moderated",
                    error_message=_error_text(response, data)
                    or "The clip was filtered by the service's moderation (still billed).",
                    cost_usd_ticks=ticks,
                )
        if status == 404:
            return Progress(
                request_id=request_id,
                state="expired",
                error_code="not_found",
                error_message="The service no longer knows this request id (HTTP 404); "
                "nothing can be fetched.",
            )
        if response.is_error:
            raise _error_for(response, "checking the job")
        return parse_status(request_id, _json(response))

    async def refresh(self, handle: Handle) -> Progress:
        return await self.status(handle)

    async def cancel(self, handle: Handle) -> bool:
        return False  # the service has no cancel route


def create(connection: Connection) -> XAIClient:
    return XAIClient(connection)


register(INFO, create, estimate_usd)


def parse_status(request_id: str, data: dict[str, Any]) -> Progress:
    """Map one `GET /v1/videos/{id}` body onto Progress."""
    status = data.get("status")
    video = _dict(data.get("video"))
    usage = _dict(data.get("usage"))
    error = _dict(data.get("error"))
    common: dict[str, Any] = {
        "request_id": request_id,
        "model": data.get("model") if isinstance(data.get("model"), str) else None,
        "progress": data.get("progress") if isinstance(data.get("progress"), int) else None,
        "cost_usd_ticks": usage.get("cost_in_usd_ticks")
        if isinstance(usage.get("cost_in_usd_ticks"), int)
        else None,
    }
    if status == "done":
        url = video.get("url") or None
        duration = video.get("duration")
        common["video_duration"] = float(duration) if isinstance(duration, int | float) else None
        if video.get("respect_moderation") is False:
            return Progress(
                state="moderated",
                error_code="moderated",
                error_message="The clip was filtered by the service's moderation (still billed).",
                **common,
            )
        if not url:
            return Progress(
                state="failed",
                error_code="no_video",
                error_message="The service reported the job done but gave no video URL.",
                **common,
            )
        return Progress(state="done", video_url=str(url), **common)
    if status == "failed":
        return Progress(
            state="failed",
            error_code=str(error.get("code") or "failed"),
            error_message=str(error.get("message") or "The service reported the job failed."),
            **common,
        )
    if status == "expired":
        return Progress(
            state="expired",
            error_code="expired",
            error_message="The service no longer knows this request id; nothing can be fetched.",
            **common,
        )
    if status != "pending":
        log.debug("unknown status %r for %s; treating it as pending", status, request_id)
    return Progress(state="pending", **common)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error_text(response: httpx.Response, body: dict[str, Any]) -> str:
    message = body.get("error")
    if isinstance(message, dict):  # tolerate OpenAI's nested shape from proxies
        message = message.get("message")
    return str(message) if message else (response.text.strip()[:300] or response.reason_phrase)


def _error_for(response: httpx.Response, action: str) -> errors.GrokvidError:
    """The one mapping from an HTTP error response to grokvid's error tree."""
    status = response.status_code
    body = _json(response)
    text = _error_text(response, body)
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
        return errors.AuthError(f"{text}{advice}", status=status, request_id=request_id)
    kw: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    if status == 404:
        return errors.NotFound(text, **kw)
    if status == 429:
        return errors.RateLimited(
            f"Rate limited while {action}: {text}", retry_after=retry_after_seconds(response), **kw
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
