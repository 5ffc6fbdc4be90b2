"""The h11 server under the sandbox: keep-alive, bodies, streaming, concurrency, shutdown."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from grokvid.sandbox import DropConnection, HTTPServer, SandboxConfig, SandboxServer

SUBMIT = "/v1/videos/generations"
KEY = {"Authorization": "Bearer sandbox"}
BODY = b'{"prompt": "fox [sandbox:moderate]", "duration": 1}'


@pytest.fixture
def server(sandbox_clip_cache: Path) -> Iterator[SandboxServer]:
    config = SandboxConfig(render_seconds=0.05, clip_cache_dir=sandbox_clip_cache)
    with SandboxServer(config) as srv:
        yield srv


def exchange(port: int, payload: bytes, *, until: bytes = b"", timeout: float = 5) -> bytes:
    """Send raw bytes; read until `until` appears (or the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        return read(sock, until)


def read(sock: socket.socket, until: bytes) -> bytes:
    data = b""
    while not (until and until in data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def post(body: bytes, *extra: str) -> bytes:
    headers = [
        "POST /v1/videos/generations HTTP/1.1",
        "Host: sandbox",
        "Authorization: Bearer sandbox",
        "Content-Type: application/json",
        *extra,
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def test_keep_alive_serves_several_requests_on_one_connection(server: SandboxServer) -> None:
    one = post(BODY, f"Content-Length: {len(BODY)}")
    two = b"GET /v1/videos/nope HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n"
    data = exchange(server.port, one + two, until=b"not-found")
    assert data.count(b"HTTP/1.1 ") == 2
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"HTTP/1.1 404 Not Found\r\n" in data
    assert len(server.app.jobs()) == 1


def test_chunked_request_body(server: SandboxServer) -> None:
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)
    data = exchange(server.port, post(chunked, "Transfer-Encoding: chunked"), until=b"}")
    assert data.startswith(b"HTTP/1.1 200 ") and b"request_id" in data


def test_expect_100_continue(server: SandboxServer) -> None:
    head = post(b"", f"Content-Length: {len(BODY)}", "Expect: 100-continue")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        assert read(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 100 ")
        sock.sendall(BODY)
        assert b"request_id" in read(sock, b"}")


def test_malformed_request_gets_400_and_close(server: SandboxServer) -> None:
    data = exchange(server.port, b"NOT HTTP AT ALL\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 ")


def test_connection_close_is_honoured(server: SandboxServer) -> None:
    request = b"GET /_sandbox/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = exchange(server.port, request)  # returns only because the server closed
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"}")


def test_unread_body_is_drained_before_the_next_request(server: SandboxServer) -> None:
    body = b"x" * 5000
    first = b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + body
    second = b"GET /_sandbox/health HTTP/1.1\r\nHost: x\r\n\r\n"
    data = exchange(server.port, first + second, until=b'"status":"ok"')
    assert b"404 Not Found" in data and b'"status":"ok"' in data


def test_concurrent_clients(server: SandboxServer) -> None:
    def one(_: int) -> str:
        with httpx.Client(base_url=server.base_url, headers=KEY) as client:
            response = client.post(
                SUBMIT, content=BODY, headers={"Content-Type": "application/json"}
            )
            request_id = str(response.json()["request_id"])
            assert client.get(f"/v1/videos/{request_id}").status_code in (200, 202)
            return request_id

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(one, range(48)))
    assert len(set(ids)) == 48
    assert {job.request_id for job in server.app.jobs()} == set(ids)
    assert len(server.app.request_log) == 96


def test_a_slow_download_does_not_block_other_requests(server: SandboxServer) -> None:
    with httpx.Client(base_url=server.base_url, headers=KEY) as client:
        response = client.post(SUBMIT, json={"prompt": "fox", "duration": 1})
        request_id = response.json()["request_id"]
        deadline = time.monotonic() + 15
        while (data := client.get(f"/v1/videos/{request_id}").json())["status"] == "pending":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    slow = {"X-Sandbox-Fault": "slow=20000"}
    with httpx.stream("GET", data["video"]["url"], headers=slow) as download:
        next(download.iter_bytes())  # the download is under way
        started = time.monotonic()
        assert httpx.get(server.base_url + "/_sandbox/health").status_code == 200
        assert time.monotonic() - started < 0.5


def test_stop_closes_idle_and_busy_connections(sandbox_clip_cache: Path) -> None:
    server = SandboxServer(SandboxConfig(render_seconds=0)).start()
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    busy = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    busy.sendall(post(BODY, f"Content-Length: {len(BODY)}", "X-Sandbox-Fault: delay=30"))
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    slow.sendall(b"GET /_sandbox/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read(slow, b"}").startswith(b"HTTP/1.1 200")  # a kept-alive connection, too
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    for sock in (idle, busy, slow):
        assert sock.recv(100) == b""
        sock.close()
    assert server.app.jobs() == []  # the delayed submit never got to run
    # The port can be taken again at once (as a restarted `sandbox serve` would).
    with SandboxServer(SandboxConfig(), port=server.port) as again:
        assert again.port == server.port
    server.stop()  # a second stop is harmless


def test_port_in_use_is_raised_by_start(server: SandboxServer) -> None:
    with pytest.raises(OSError):
        SandboxServer(SandboxConfig(), port=server.port).start()


def test_non_loopback_host_needs_allow_remote() -> None:
    with pytest.raises(ValueError, match="allow_remote"):
        SandboxServer(SandboxConfig(), host="0.0.0.0")
    with SandboxServer(SandboxConfig(), host="0.0.0.0", allow_remote=True) as srv:
        assert httpx.get(f"http://127.0.0.1:{srv.port}/_sandbox/health").status_code == 200


def test_ipv6_loopback(sandbox_clip_cache: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = SandboxServer(SandboxConfig(), host="::1").start()
    except OSError:
        pytest.skip("IPv6 loopback unavailable")
    with server:
        assert server.base_url.startswith("http://[::1]:")
        assert httpx.get(server.base_url + "/_sandbox/health").status_code == 200


# -- any ASGI app -----------------------------------------------------------------------------


async def odd_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/boom":
        raise RuntimeError("bug")
    if scope["path"] == "/drop-mid-body":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise DropConnection()
    if scope["path"] == "/silent":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for piece in (b"streamed ", b"in ", b"pieces"):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def odd_server() -> Iterator[int]:
    loop = asyncio.new_event_loop()
    server = HTTPServer(odd_app)
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield server.port
    asyncio.run_coroutine_threadsafe(server.aclose(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_generic_asgi_app(odd_server: int) -> None:
    base = f"http://127.0.0.1:{odd_server}"
    with httpx.Client(base_url=base) as client:
        streamed = client.get("/stream")
        assert streamed.text == "streamed in pieces"
        assert streamed.headers["transfer-encoding"] == "chunked"
        assert client.get("/boom").status_code == 500  # an app bug is a 500, not a hang
        assert client.get("/silent").status_code == 500
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/drop-mid-body")
        assert client.get("/stream").status_code == 200  # the server lives on


def test_a_client_hanging_up_mid_body_is_not_a_server_error(server: SandboxServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(post(BODY[:10], "Content-Length: 100"))
        sock.shutdown(socket.SHUT_WR)
        answer = read(sock, b"")
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer
    assert all(entry.status != 500 for entry in server.app.request_log)
    assert httpx.get(server.base_url + "/_sandbox/health").status_code == 200


def test_broken_chunked_framing_gets_a_400(server: SandboxServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(post(b"ZZ\r\n", "Transfer-Encoding: chunked"))
        assert read(sock, b"\r\n").startswith(b"HTTP/1.1 400")
