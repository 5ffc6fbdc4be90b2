"""The small slice of ASGI the sandbox needs: read a request, send a response, drop a connection."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from grokvid.sandbox.limits import BodyBudget

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 32 * 1024 * 1024  # room for a data: URI image
CHUNK_BYTES = 64 * 1024


class DropConnection(httpx.RemoteProtocolError):
    """Raised by an app to close the connection at once, without (finishing) the answer.

    `SandboxServer` closes the socket: before the response started the client sees a
    disconnect with no answer, mid-body a truncated one. It subclasses httpx's
    RemoteProtocolError so that a client driving the app in-process through
    `httpx.ASGITransport` gets the same exception type a client on a real socket gets.
    """

    def __init__(self, message: str = "Server disconnected without sending a response.") -> None:
        super().__init__(message)


class BodyTooLarge(Exception):
    """The body is (or says it will be) over the per-request limit: answer 413."""


class BodyBusy(Exception):
    """Other requests hold the whole body budget and it did not free up in time."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    base_url: str  # scheme://host[:port] as the client addressed us
    notes: list[str] = field(default_factory=list)  # for the log line
    reserved: int = 0  # bytes of the body budget this request holds until it is answered

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


async def read_request(
    scope: Scope,
    receive: Receive,
    *,
    max_body: int = MAX_BODY_BYTES,
    budget: BodyBudget | None = None,
    wait_seconds: float = 10.0,
) -> Request:
    """Collect the whole request within the body limit and the shared body budget.

    A declared Content-Length over `max_body` raises BodyTooLarge before a byte is read;
    so does a body that grows past it. The bytes are reserved from `budget` (the declared length
    at once, a chunked body piece by piece), waiting up to `wait_seconds` for room, else
    BodyBusy. On success the caller must `budget.release(request.reserved)` once it has
    answered; on an exception this function has already released them.
    """
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    request = Request(
        method=scope["method"].upper(),
        path=scope["path"],
        query=query,
        headers=headers,
        body=b"",
        base_url=f"{scope.get('scheme', 'http')}://{host}",
    )
    too_large = f"the request body is over the {_size(max_body)} limit"
    declared = _content_length(headers.get("content-length"))
    if declared is not None and declared > max_body:
        raise BodyTooLarge(f"{too_large} (Content-Length: {declared})")
    deadline = time.monotonic() + wait_seconds
    try:
        if budget is not None and declared:
            await _reserve(budget, request, declared, deadline)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body:
                raise BodyTooLarge(too_large)
            if budget is not None and size > request.reserved:
                await _reserve(budget, request, size - request.reserved, deadline)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        request.body = b"".join(chunks)
    except BaseException:
        if budget is not None:
            budget.release(request.reserved)
            request.reserved = 0
        raise
    return request


async def _reserve(budget: BodyBudget, request: Request, size: int, deadline: float) -> None:
    if not await budget.reserve(size, deadline):
        raise BodyBusy(
            f"other requests hold the sandbox's {_size(budget.capacity)} of request bodies"
        )
    request.reserved += size


def _content_length(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None  # the HTTP server has already refused a malformed one
    return int(value)


def _size(count: int) -> str:
    mib = count / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 else f"{count:,} bytes"


@dataclass(frozen=True)
class FileBody:
    """Bytes `start..start+length` of a file, optionally throttled or cut short."""

    path: Path
    start: int
    length: int
    bytes_per_second: int | None = None
    cut_at: int | None = None  # send this many bytes, then drop the connection


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    file: FileBody | None = None


def json_response(
    status: int, payload: object, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, [("content-type", "application/json"), *(headers or [])])


def error_response(
    status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None
) -> Response:
    """The service's flat error shape: `{"code": ..., "error": ...}`."""
    return json_response(status, {"code": code, "error": message}, headers)


def text_response(status: int, text: str) -> Response:
    return Response(status, text.encode(), [("content-type", "text/plain; charset=utf-8")])


async def send_response(send: Send, response: Response, *, head: bool = False) -> None:
    """Send `response`; a HEAD gets the headers (with the real Content-Length) and no body."""
    length = response.file.length if response.file else len(response.body)
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(length).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if head or response.file is None:
        await send({"type": "http.response.body", "body": b"" if head else response.body})
        return
    await _send_file(send, response.file)


async def _send_file(send: Send, body: FileBody) -> None:
    rate = body.bytes_per_second
    # A throttled body goes out in ~20 pieces a second, so the rate holds over short clips too.
    chunk_size = CHUNK_BYTES if rate is None else max(1, min(CHUNK_BYTES, rate // 20))
    limit = body.length if body.cut_at is None else min(body.cut_at, body.length)
    sent = 0
    started = time.monotonic()
    with body.path.open("rb") as fh:
        fh.seek(body.start)
        while sent < limit:
            chunk = fh.read(min(chunk_size, limit - sent))
            if not chunk:
                break  # the file shrank under us: the client sees a short body
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += len(chunk)
            if rate is not None:
                ahead = started + sent / rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
    if body.cut_at is not None and body.cut_at < body.length:
        raise DropConnection(f"truncated after {sent} of {body.length} bytes (sandbox fault)")
    await send({"type": "http.response.body", "body": b""})
