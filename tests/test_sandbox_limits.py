"""Limits for a sandbox that CI points at: rate limit, body caps and deadlines, bad input."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from grokvid.sandbox import SandboxApp, SandboxConfig, SandboxServer, create_app, net, parse_faults
from grokvid.sandbox import app as app_module

SUBMIT = "/v1/videos/generations"
KEY = {"Authorization": "Bearer sandbox"}
BODY = json.dumps({"prompt": "fox [sandbox:moderate]", "duration": 1}).encode()


def call(app: SandboxApp, method: str, url: str, **kw: Any) -> httpx.Response:
    headers = {**KEY, **kw.pop("headers", {})}

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            return await client.request(method, url, headers=headers, **kw)

    return asyncio.run(go())


def head(length: int, *extra: str) -> bytes:
    lines = [
        "POST /v1/videos/generations HTTP/1.1",
        "Host: sandbox",
        "Authorization: Bearer sandbox",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- rate limit -------------------------------------------------------------------------------


def test_submits_beyond_the_rate_limit_get_429_with_retry_after_and_no_job() -> None:
    app = create_app(SandboxConfig(render_seconds=0, rate_limit=2))
    statuses = [call(app, "POST", SUBMIT, content=BODY, headers=JSON).status_code for _ in range(2)]
    refused = call(app, "POST", SUBMIT, content=BODY, headers=JSON)
    assert statuses == [200, 200]
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "code": "resource-exhausted",
        "error": "Too many requests: Requests per Minute (actual/limit): 3/120.",
    }
    assert len(app.jobs()) == 2
    # Polls are not metered, and the bucket refills: a submit goes through again within a second.
    assert call(app, "GET", f"/v1/videos/{app.jobs()[0].request_id}").status_code == 200
    wait_for(lambda: call(app, "POST", SUBMIT, content=BODY, headers=JSON).status_code == 200)
    assert len(app.jobs()) == 3


JSON = {"Content-Type": "application/json"}


def test_from_env_reads_the_rate_limit_and_render_time() -> None:
    env = {"GROKVID_SANDBOX_RATE_LIMIT": "0.5", "GROKVID_SANDBOX_RENDER_SECONDS": "2-4"}
    config = SandboxConfig.from_env(env, render_seconds=5.0)
    assert config.rate_limit == 0.5 and config.render_seconds == (2.0, 4.0)
    assert SandboxConfig.from_env({}, render_seconds=5.0).rate_limit is None
    assert SandboxConfig.from_env({"GROKVID_SANDBOX_RATE_LIMIT": " "}).rate_limit is None
    with pytest.raises(ValueError, match=r"GROKVID_SANDBOX_RATE_LIMIT='fast'.*unset it"):
        SandboxConfig.from_env({"GROKVID_SANDBOX_RATE_LIMIT": "fast"})
    with pytest.raises(ValueError, match=r"GROKVID_SANDBOX_RENDER_SECONDS='soon'"):
        SandboxConfig.from_env({"GROKVID_SANDBOX_RENDER_SECONDS": "soon"})
    with pytest.raises(ValueError, match="rate_limit must be more than 0"):
        SandboxConfig(rate_limit=0)


# -- request bodies ---------------------------------------------------------------------------


@pytest.fixture
def small(sandbox_clip_cache: Path) -> Iterator[SandboxServer]:
    """Bodies up to 64 KiB, 128 KiB of them at once, each within 1 s."""
    config = SandboxConfig(
        render_seconds=0,
        clip_cache_dir=sandbox_clip_cache,
        max_body_bytes=64 * 1024,
        max_body_bytes_in_flight=128 * 1024,
        body_deadline_seconds=1.0,
    )
    with SandboxServer(config) as srv:
        yield srv


def test_declared_length_over_the_limit_is_413_before_the_body_is_sent(
    small: SandboxServer,
) -> None:
    with socket.create_connection(("127.0.0.1", small.port), timeout=5) as sock:
        sock.sendall(head(40 * 1024 * 1024))  # and never a byte of the body
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"payload-too-large" in answer and b"Content-Length: 41943040" in answer
    assert small.app.body_budget.peak == 0


def test_a_chunked_body_growing_past_the_limit_is_413(small: SandboxServer) -> None:
    big = b"x" * (65 * 1024)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)
    lines = head(0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")
    with socket.create_connection(("127.0.0.1", small.port), timeout=5) as sock:
        sock.sendall(lines + chunked)
        assert read_answer(sock).startswith(b"HTTP/1.1 413 ")


def test_concurrent_bodies_share_a_bounded_budget(
    small: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "BODY_WAIT_SECONDS", 0.3)
    body = BODY + b" " * (60_000 - len(BODY))
    holders = [socket.create_connection(("127.0.0.1", small.port), timeout=5) for _ in range(2)]
    try:
        for sock in holders:
            sock.sendall(head(len(body)) + body[:1000])  # reserve, then dawdle
        wait_for(lambda: small.app.body_budget.used == 120_000)
        with socket.create_connection(("127.0.0.1", small.port), timeout=5) as third:
            third.sendall(head(len(body)) + body)
            busy = read_answer(third)
        assert busy.startswith(b"HTTP/1.1 429 ") and b"retry-after: 1" in busy.lower()
        for sock in holders:
            sock.sendall(body[1000:])
            assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in holders:
            sock.close()
    assert small.app.body_budget.peak <= 128 * 1024
    wait_for(lambda: small.app.body_budget.used == 0)
    assert len(small.app.jobs()) == 2  # the refused one created nothing


def test_a_trickling_body_gets_408_at_the_deadline(small: SandboxServer) -> None:
    stop = threading.Event()

    def trickle(sock: socket.socket) -> None:
        while not stop.wait(0.05):
            try:
                sock.send(b" ")
            except OSError:
                return

    with socket.create_connection(("127.0.0.1", small.port), timeout=5) as sock:
        sock.sendall(head(10_000))
        sender = threading.Thread(target=trickle, args=(sock,), daemon=True)
        started = time.monotonic()
        sender.start()
        try:
            answer = read_answer(sock)
        finally:
            stop.set()
            sender.join(5)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"deadline-exceeded" in answer
    assert time.monotonic() - started < 4  # 1 s deadline; a per-read timeout alone is 30 s
    assert httpx.get(small.base_url + "/_sandbox/health").status_code == 200


# -- bad input is a 400, never a 500 ----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"],
    ids=["top-level", "in-a-field"],
)
def test_deeply_nested_json_is_a_400(small: SandboxServer, body: bytes) -> None:
    config = SandboxConfig(render_seconds=0)
    app = create_app(config)
    response = call(app, "POST", SUBMIT, content=body, headers=JSON)
    assert response.status_code == 400 and "nested too deeply" in response.json()["error"]
    over_socket = httpx.post(
        small.base_url + SUBMIT, content=body[:60_000], headers={**KEY, **JSON}
    )
    assert over_socket.status_code == 400


def test_non_ascii_signature_on_a_cdn_url_is_a_400(sandbox_clip_cache: Path) -> None:
    config = SandboxConfig(render_seconds=0, clip_cache_dir=sandbox_clip_cache)
    with SandboxServer(config) as srv, httpx.Client(base_url=srv.base_url, headers=KEY) as c:
        request_id = c.post(SUBMIT, json={"prompt": "fox", "duration": 1}).json()["request_id"]
        wait_for(lambda: c.get(f"/v1/videos/{request_id}").status_code == 200)
        url = httpx.URL(c.get(f"/v1/videos/{request_id}").json()["video"]["url"])
        expires = url.params["expires"]
        for query in (f"expires={expires}&sig=%C3%A9%C3%A9", "expires=%D9%A1%D9%A2&sig=ab"):
            response = httpx.get(url.copy_with(query=query.encode()))
            assert response.status_code == 400 and "Malformed signed URL" in response.text
        assert all(entry.status != 500 for entry in srv.app.request_log)


def test_the_delay_fault_is_capped() -> None:
    assert parse_faults("delay=120").delay == 120
    with pytest.raises(ValueError, match="at most 120 seconds"):
        parse_faults("delay=121")
    app = create_app(SandboxConfig(render_seconds=0))
    response = call(app, "GET", "/v1/videos/x", headers={"X-Sandbox-Fault": "delay=3600"})
    assert response.status_code == 400 and "at most 120" in response.json()["error"]


# -- where it listens -------------------------------------------------------------------------


def test_localhost_is_resolved_and_served(sandbox_clip_cache: Path) -> None:
    with SandboxServer(SandboxConfig(), host="localhost") as srv:
        assert srv.base_url == f"http://localhost:{srv.port}"
        assert httpx.get(srv.base_url + "/_sandbox/health").status_code == 200


def test_a_name_resolving_off_loopback_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def hosts_file(host: str, *args: Any, **kw: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 0)),
        ]

    monkeypatch.setattr(net.socket, "getaddrinfo", hosts_file)
    with pytest.raises(ValueError, match=r"10\.1\.2\.3.*allow_remote"):
        SandboxServer(SandboxConfig(), host="localhost")
    assert not net.is_loopback("localhost")
    assert net.is_loopback("127.0.0.2") and net.is_loopback("::1")
