"""download_clip: streaming to .part, checks before the atomic rename, resume and retries.

Scripted responses go through httpx.MockTransport; a few tests use a real loopback HTTP server
so h11's own truncation and streaming behaviour is exercised too.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import io
import re
import socket
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from grokvid import __version__
from grokvid.api import download as dl
from grokvid.api import errors
from grokvid.api.download import DownloadResult, download_clip, part_path
from grokvid.api.retry import Backoff

URL = "https://vidgen.example/xai-video-abc.mp4?sig=SECRET-SIGNATURE"
FAST = Backoff(initial=0.01, maximum=0.05, attempts=3)
Handler = Callable[[httpx.Request], httpx.Response]


def fake_mp4(size: int = 50_000, seed: int = 1) -> bytes:
    """Only the header matters to download_clip: a 24-byte ftyp box, then noise."""
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (head + body)[:size]


@pytest.fixture(scope="session")
def real_mp4() -> bytes:
    """A real 0.5 s H.264 + AAC clip, 64x48, rendered with PyAV."""
    av = pytest.importorskip("av")
    np = pytest.importorskip("numpy")
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as box:
        video = box.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = box.add_stream("aac", rate=48000)
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), "rgb24")
            for packet in video.encode(frame):
                box.mux(packet)
        for packet in video.encode():
            box.mux(packet)
        for pts in range(0, 24000, 1024):
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
            sound.sample_rate, sound.pts = 48000, pts
            for packet in audio.encode(sound):
                box.mux(packet)
        for packet in audio.encode():
            box.mux(packet)
    return buf.getvalue()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replace the retry sleep with one that records the delay and returns at once."""
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(dl, "_sleep", fake_sleep)
    return slept


@dataclass
class Script:
    """A MockTransport handler that plays responses in order and keeps every request."""

    steps: list[Handler]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        return step(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    @property
    def ranges(self) -> list[str | None]:
        return [r.headers.get("range") for r in self.requests]


def serve(data: bytes, content_type: str | None = "video/mp4", **headers: str) -> Handler:
    """A well-behaved host: honours `Range: bytes=N-` with 206, answers 416 past the end."""

    def handler(request: httpx.Request) -> httpx.Response:
        base = dict(headers)
        if content_type is not None:
            base["content-type"] = content_type
        match = re.fullmatch(r"bytes=(\d+)-", request.headers.get("range", ""))
        if match is None:
            return httpx.Response(200, headers=base, content=data)
        start = int(match[1])
        if start >= len(data):
            return httpx.Response(416, headers={"content-range": f"bytes */{len(data)}"})
        base["content-range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        return httpx.Response(206, headers=base, content=data[start:])

    return handler


def truncated(data: bytes, keep: int, status: int = 200) -> Handler:
    """Announces the whole body but sends only `keep` bytes, as a dropped CDN edge would."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            headers={"content-type": "video/mp4", "content-length": str(len(data))},
            content=data[:keep],
        )

    return handler


def reply(status: int, body: bytes = b"", /, **headers: str) -> Handler:
    return lambda request: httpx.Response(status, headers=headers, content=body)


def fetch(dest: Path, script: Script, **kw: Any) -> DownloadResult:
    kw.setdefault("backoff", FAST)
    return asyncio.run(download_clip(URL, dest, transport=script.transport, **kw))


def only_final(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir())


# -- the happy path -------------------------------------------------------------------------


def test_part_path() -> None:
    assert part_path(Path("out/fox-ab12.mp4")) == Path("out/fox-ab12.mp4.part")


def test_download_writes_file_hash_and_leaves_nothing_else(tmp_path: Path, real_mp4: bytes) -> None:
    dest = tmp_path / "fox-ab12.mp4"
    progress: list[tuple[int, int | None]] = []
    script = Script([serve(real_mp4)])
    result = fetch(dest, script, on_progress=lambda done, total: progress.append((done, total)))

    assert dest.read_bytes() == real_mp4
    assert result == DownloadResult(
        path=dest,
        bytes=len(real_mp4),
        sha256=hashlib.sha256(real_mp4).hexdigest(),
        content_type="video/mp4",
        resumed_from=0,
    )
    assert only_final(dest) == ["fox-ab12.mp4"]
    assert progress[-1] == (len(real_mp4), len(real_mp4))


def test_no_authorization_header_reaches_the_video_host(tmp_path: Path) -> None:
    data = fake_mp4()
    moved = reply(302, location="https://cdn2.example/clip.mp4")
    script = Script([moved, serve(data)])
    fetch(tmp_path / "a.mp4", script)

    assert [str(r.url.host) for r in script.requests] == ["vidgen.example", "cdn2.example"]
    for request in script.requests:
        assert "authorization" not in request.headers
        assert request.headers["user-agent"] == f"grokvid/{__version__}"


def test_creates_missing_parent_directory(tmp_path: Path) -> None:
    dest = tmp_path / "clips" / "day1" / "a.mp4"
    fetch(dest, Script([serve(fake_mp4())]))
    assert dest.read_bytes() == fake_mp4()


@pytest.mark.parametrize(
    "content_type",
    [
        "video/mp4",
        "video/mp4; codecs=avc1",
        "application/octet-stream",
        "binary/octet-stream",
        None,
    ],
)
def test_accepted_content_types(tmp_path: Path, content_type: str | None) -> None:
    dest = tmp_path / "a.mp4"
    result = fetch(dest, Script([serve(fake_mp4(), content_type)]))
    assert result.content_type == content_type
    assert dest.read_bytes() == fake_mp4()


# -- the destination ------------------------------------------------------------------------


def test_existing_dest_is_refused_without_force(tmp_path: Path) -> None:
    dest = tmp_path / "a.mp4"
    dest.write_bytes(b"keep me")
    script = Script([serve(fake_mp4())])
    with pytest.raises(errors.ValidationError, match="already exists: pass force=True") as info:
        fetch(dest, script)
    assert info.value.field == "output"
    # The command line spells the same message in its own terms.
    from grokvid.cli.exits import describe

    assert "already exists: pass --force to overwrite" in describe(info.value)
    assert script.requests == []
    assert dest.read_bytes() == b"keep me"


def test_force_replaces_only_once_the_new_clip_is_complete(tmp_path: Path) -> None:
    dest = tmp_path / "a.mp4"
    dest.write_bytes(b"old clip")
    seen_during: list[bytes] = []
    data = fake_mp4(200_000)
    result = fetch(
        dest,
        Script([serve(data)]),
        force=True,
        chunk_size=16 * 1024,
        on_progress=lambda done, total: seen_during.append(dest.read_bytes()),
    )
    assert set(seen_during) == {b"old clip"}
    assert dest.read_bytes() == data
    assert result.bytes == len(data)


def test_directory_dest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.ValidationError, match="is a directory"):
        fetch(tmp_path, Script([serve(fake_mp4())]), force=True)


def test_non_http_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.ValidationError, match="http"):
        asyncio.run(download_clip("file:///etc/passwd", tmp_path / "a.mp4"))


# -- bodies that are not a clip -------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html; charset=utf-8", b"<html><body>AccessDenied</body></html>"),
        ("application/json", b'{"error": "expired"}'),
        ("text/plain", b"nope"),
        ("application/xml", b"<Error><Code>SignatureDoesNotMatch</Code></Error>"),
    ],
)
def test_error_body_is_never_saved(
    tmp_path: Path, sleeps: list[float], content_type: str, body: bytes
) -> None:
    dest = tmp_path / "a.mp4"
    script = Script([reply(200, body, **{"content-type": content_type})])
    media_type = content_type.split(";")[0]
    with pytest.raises(errors.NetworkError, match=f"returned {media_type} instead of an MP4"):
        fetch(dest, script)
    assert len(script.requests) == 1  # not retried
    assert list(tmp_path.iterdir()) == []


def test_body_without_ftyp_is_refused_and_the_part_deleted(
    tmp_path: Path, sleeps: list[float]
) -> None:
    dest = tmp_path / "a.mp4"
    script = Script([serve(b"\x00" * 4 + b"moov" + b"x" * 5000)])
    with pytest.raises(errors.NetworkError, match="'ftyp'"):
        fetch(dest, script)
    assert len(script.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_tiny_body_is_not_an_mp4(tmp_path: Path) -> None:
    with pytest.raises(errors.NetworkError, match="only 3 bytes instead of an MP4"):
        fetch(tmp_path / "a.mp4", Script([serve(b"abc")]))
    assert list(tmp_path.iterdir()) == []


# -- expired URLs and other refusals --------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404, 410])
def test_expired_url_raises_at_once_and_keeps_the_part(
    tmp_path: Path, sleeps: list[float], status: int
) -> None:
    dest = tmp_path / "a.mp4"
    data = fake_mp4()
    part_path(dest).write_bytes(data[:1000])
    script = Script([reply(status, b"<Error/>", **{"content-type": "application/xml"})])
    with pytest.raises(errors.URLExpired, match="fresh URL") as info:
        fetch(dest, script)
    assert info.value.status == status
    assert len(script.requests) == 1 and sleeps == []
    assert part_path(dest).read_bytes() == data[:1000]
    assert not dest.exists()


def test_fresh_url_after_expiry_resumes_the_part(tmp_path: Path, sleeps: list[float]) -> None:
    dest = tmp_path / "a.mp4"
    data = fake_mp4()
    with pytest.raises(errors.URLExpired):
        fetch(dest, Script([truncated(data, 20_000), reply(403)]))
    assert part_path(dest).stat().st_size == 20_000
    assert only_final(dest) == ["a.mp4.part", "a.mp4.part.meta"]  # what the .part is of

    script = Script([serve(data)])
    result = fetch(dest, script)  # "polled again": same clip, new URL
    assert script.ranges == ["bytes=20000-"]
    assert result.resumed_from == 20_000
    assert dest.read_bytes() == data
    assert only_final(dest) == ["a.mp4"]
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_other_client_errors_are_not_retried(tmp_path: Path, sleeps: list[float]) -> None:
    script = Script([reply(400, b"bad")])
    with pytest.raises(errors.NetworkError, match="HTTP 400"):
        fetch(tmp_path / "a.mp4", script)
    assert len(script.requests) == 1 and sleeps == []


# -- transient failures, retries and resume -------------------------------------------------


def test_truncated_body_keeps_part_and_resumes_with_range(
    tmp_path: Path, sleeps: list[float]
) -> None:
    dest = tmp_path / "a.mp4"
    data = fake_mp4(100_000)
    script = Script([truncated(data, 30_000), serve(data)])
    result = fetch(dest, script)

    assert script.ranges == [None, "bytes=30000-"]
    assert len(sleeps) == 1
    assert result.resumed_from == 30_000
    assert result.sha256 == hashlib.sha256(data).hexdigest()  # old bytes re-hashed
    assert dest.read_bytes() == data
    assert only_final(dest) == ["a.mp4"]


def test_truncation_that_never_heals_gives_up_naming_host_not_query(
    tmp_path: Path, sleeps: list[float]
) -> None:
    dest = tmp_path / "a.mp4"
    data = fake_mp4()
    # The host ignores Range and always stops at the same byte: no progress, so it counts.
    script = Script([truncated(data, 10_000)])
    with pytest.raises(errors.NetworkError) as info:
        fetch(dest, script)
    message = str(info.value)
    assert "vidgen.example" in message and "resumes from there" in message
    assert "SECRET" not in message and "sig=" not in message
    assert len(script.requests) == FAST.attempts + 1
    assert len(sleeps) == FAST.attempts
    assert not dest.exists()
    assert part_path(dest).stat().st_size == 10_000  # kept for a later resume


def test_retry_after_is_honoured(tmp_path: Path, sleeps: list[float]) -> None:
    data = fake_mp4()
    script = Script(
        [reply(503, **{"retry-after": "7"}), reply(429, **{"retry-after": "3"}), serve(data)]
    )
    result = fetch(tmp_path / "a.mp4", script)
    assert sleeps == [7.0, 3.0]
    assert result.bytes == len(data)


def test_server_errors_give_up_after_the_backoff_attempts(
    tmp_path: Path, sleeps: list[float]
) -> None:
    script = Script([reply(502, b"bad gateway", **{"content-type": "text/html"})])
    with pytest.raises(errors.NetworkError, match=r"after 4 tries: the host answered HTTP 502"):
        fetch(tmp_path / "a.mp4", script)
    assert len(script.requests) == 4
    assert list(tmp_path.iterdir()) == []


def test_connect_error_is_retried(tmp_path: Path, sleeps: list[float]) -> None:
    data = fake_mp4()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = fetch(tmp_path / "a.mp4", Script([refuse, refuse, serve(data)]))
    assert len(sleeps) == 2
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_connection_dropped_mid_body_resumes(tmp_path: Path, sleeps: list[float]) -> None:
    data = fake_mp4(100_000)

    def drop_after_half(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            yield data[:50_000]
            raise httpx.ReadError("connection reset by peer", request=request)

        headers = {"content-type": "video/mp4", "content-length": str(len(data))}
        return httpx.Response(200, headers=headers, content=body())

    script = Script([drop_after_half, serve(data)])
    result = fetch(tmp_path / "a.mp4", script)
    assert script.ranges == [None, "bytes=50000-"]
    assert result.resumed_from == 50_000
    assert (tmp_path / "a.mp4").read_bytes() == data


def test_progress_resets_the_retry_budget(tmp_path: Path, sleeps: list[float]) -> None:
    """A host that keeps dropping but keeps moving forward is slow, not broken."""
    data = fake_mp4(100_000)

    def ten_k_at_a_time(request: httpx.Request) -> httpx.Response:
        response = serve(data)(request)
        content = response.content[:10_000]
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    script = Script([ten_k_at_a_time])
    result = fetch(tmp_path / "a.mp4", script, backoff=Backoff(initial=0.01, attempts=1))
    assert len(script.requests) == 10
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_server_that_ignores_range_restarts_from_zero(tmp_path: Path) -> None:
    dest = tmp_path / "a.mp4"
    data = fake_mp4()
    part_path(dest).write_bytes(data[:5000])
    script = Script([reply(200, data, **{"content-type": "video/mp4"})])
    result = fetch(dest, script)
    assert script.ranges == ["bytes=5000-"]
    assert result.resumed_from == 0
    assert dest.read_bytes() == data


def test_part_larger_than_the_clip_gets_416_and_restarts(tmp_path: Path) -> None:
    dest = tmp_path / "a.mp4"
    data = fake_mp4()
    part_path(dest).write_bytes(fake_mp4(len(data) + 500, seed=2))
    script = Script([serve(data)])
    result = fetch(dest, script)
    assert script.ranges == [f"bytes={len(data) + 500}-", None]
    assert result.resumed_from == 0
    assert dest.read_bytes() == data


def test_content_range_that_does_not_match_restarts(tmp_path: Path) -> None:
    dest = tmp_path / "a.mp4"
    data = fake_mp4()
    part_path(dest).write_bytes(data[:5000])
    wrong_start = reply(
        206,
        data[4000:],
        **{"content-type": "video/mp4", "content-range": f"bytes 4000-{len(data) - 1}/{len(data)}"},
    )
    script = Script([wrong_start, serve(data)])
    result = fetch(dest, script)
    assert script.ranges == ["bytes=5000-", None]
    assert dest.read_bytes() == data and result.resumed_from == 0


def test_part_of_another_clip_is_never_spliced(tmp_path: Path, sleeps: list[float]) -> None:
    dest = tmp_path / "a.mp4"
    clip_a, clip_b = fake_mp4(60_000, seed=1), fake_mp4(80_000, seed=2)
    with pytest.raises(errors.URLExpired):
        fetch(dest, Script([truncated(clip_a, 30_000), reply(404)]))

    # Same output name, different clip: the recorded total (60,000) does not match.
    script = Script([serve(clip_b)])
    result = fetch(dest, script, force=True)
    assert script.ranges == ["bytes=30000-", None]
    assert dest.read_bytes() == clip_b
    assert result.sha256 == hashlib.sha256(clip_b).hexdigest()


def test_etag_is_sent_as_if_range_when_resuming(tmp_path: Path, sleeps: list[float]) -> None:
    dest = tmp_path / "a.mp4"
    data = fake_mp4()
    script = Script([truncated(data, 9000), serve(data, etag='"v1"')])
    script.steps[0] = lambda r: httpx.Response(
        200,
        headers={"content-type": "video/mp4", "content-length": str(len(data)), "etag": '"v1"'},
        content=data[:9000],
    )
    fetch(dest, script)
    assert script.requests[1].headers["if-range"] == '"v1"'
    assert dest.read_bytes() == data


# -- streaming ------------------------------------------------------------------------------


def test_body_is_streamed_in_bounded_chunks_with_constant_memory(tmp_path: Path) -> None:
    piece = fake_mp4(64 * 1024)
    pieces = 256  # 16 MiB in all

    def big(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(pieces):
                yield piece

        headers = {"content-type": "video/mp4", "content-length": str(len(piece) * pieces)}
        return httpx.Response(200, headers=headers, content=body())

    steps: list[int] = []
    last = 0

    def on_progress(done: int, total: int | None) -> None:
        nonlocal last
        steps.append(done - last)
        last = done

    tracemalloc.start()
    try:
        result = fetch(
            tmp_path / "a.mp4", Script([big]), chunk_size=32 * 1024, on_progress=on_progress
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.bytes == len(piece) * pieces
    assert max(steps) == 32 * 1024 and len(steps) == 2 * pieces + 1
    assert peak < 4 * 1024 * 1024, f"peak {peak:,} bytes for a 16 MiB body"


# -- over real loopback HTTP ----------------------------------------------------------------


@dataclass
class Loopback:
    """What the loopback host serves and what it saw."""

    data: bytes = b""
    drop_first_after: int | None = None  # close the first response after this many bytes
    piece: int = 64 * 1024
    pause: float = 0.0  # between pieces: a slow host
    seen: list[dict[str, str]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loopback]:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    state = Loopback()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's spelling)
            state.seen.append({k.lower(): v for k, v in self.headers.items()})
            data, start = state.data, 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if match:
                start = int(match[1])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:]
            if state.drop_first_after is not None and len(state.seen) == 1:
                body = body[: state.drop_first_after]
                self.close_connection = True
            for i in range(0, len(body), state.piece):
                self.wfile.write(body[i : i + state.piece])
                self.wfile.flush()
                time.sleep(state.pause)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_port}/xai-video-1.mp4?sig=SECRET"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_loopback_download_of_a_real_clip(
    tmp_path: Path, loopback: Loopback, real_mp4: bytes
) -> None:
    loopback.data = real_mp4
    dest = tmp_path / "fox.mp4"
    result = asyncio.run(download_clip(loopback.url, dest, backoff=FAST))
    assert dest.read_bytes() == real_mp4
    assert result.sha256 == hashlib.sha256(real_mp4).hexdigest()
    assert "authorization" not in loopback.seen[0]
    assert only_final(dest) == ["fox.mp4"]


def test_loopback_dropped_connection_resumes_with_range(
    tmp_path: Path, loopback: Loopback, sleeps: list[float]
) -> None:
    loopback.data = fake_mp4(300_000)
    loopback.drop_first_after = 100_000
    dest = tmp_path / "fox.mp4"
    result = asyncio.run(download_clip(loopback.url, dest, backoff=FAST))
    assert [s.get("range") for s in loopback.seen] == [None, "bytes=100000-"]
    assert result.resumed_from == 100_000
    assert dest.read_bytes() == loopback.data
    assert len(sleeps) == 1


def test_loopback_slow_host_reports_progress_per_piece(tmp_path: Path, loopback: Loopback) -> None:
    loopback.data = fake_mp4(40_000)
    loopback.piece, loopback.pause = 4_000, 0.01
    progress: list[int] = []
    asyncio.run(
        download_clip(
            loopback.url,
            tmp_path / "fox.mp4",
            on_progress=lambda done, total: progress.append(done),
        )
    )
    # Far more steps than the one a 256 KiB chunk buffer would give.
    assert len(progress) >= 5
    assert progress == sorted(progress) and progress[-1] == 40_000


def test_loopback_unreachable_host_names_host_only(tmp_path: Path, sleeps: list[float]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/clip.mp4?sig=SECRET"
    with pytest.raises(errors.NetworkError) as info:
        asyncio.run(download_clip(url, tmp_path / "a.mp4", backoff=FAST))
    assert "127.0.0.1" in str(info.value) and "SECRET" not in str(info.value)
    assert len(sleeps) == FAST.attempts
    assert list(tmp_path.iterdir()) == []


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_second_download_of_the_same_clip_is_refused_while_the_first_runs(
    tmp_path: Path,
) -> None:
    """Two writers on one .part would splice a clip; the second is turned away at once."""
    data = fake_mp4(200_000)
    dest = tmp_path / "fox.mp4"
    started = asyncio.Event()

    async def trickle() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 50_000):
            started.set()
            await asyncio.sleep(0.02)
            yield data[i : i + 50_000]

    def slow(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "video/mp4", "content-length": str(len(data))}
        return httpx.Response(200, headers=headers, content=trickle())

    async def both() -> tuple[object, object]:
        first = asyncio.create_task(
            download_clip(URL, dest, transport=httpx.MockTransport(slow), backoff=FAST)
        )
        await started.wait()
        second = await asyncio.gather(
            download_clip(URL, dest, transport=httpx.MockTransport(slow), backoff=FAST),
            return_exceptions=True,
        )
        return await first, second[0]

    first, second = asyncio.run(both())
    assert isinstance(first, DownloadResult) and dest.read_bytes() == data
    assert isinstance(second, errors.NetworkError)
    assert "another grokvid process" in str(second)
    assert only_final(dest) == ["fox.mp4"], "no .part or .lock left behind"


# -- 0.2: planted links and other non-files -------------------------------------------------


@pytest.mark.parametrize("name", ["a.mp4", "a.mp4.part", "a.mp4.part.meta", "a.mp4.part.lock"])
def test_a_symlink_at_any_of_the_download_names_is_refused(tmp_path: Path, name: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / name).symlink_to(victim)
    script = Script([serve(fake_mp4())])
    for force in (False, True):
        with pytest.raises(errors.ValidationError) as info:
            fetch(out / "a.mp4", script, force=force)
        from grokvid.cli.exits import for_cli

        assert for_cli(info.value.message) == (
            f"{out / name} is a symbolic link, not a regular file: grokvid will not write "
            "through it; remove it or choose another --output."
        )
        assert info.value.field == "output"
    assert victim.read_bytes() == b"precious"
    assert script.requests == []
    assert (out / name).is_symlink()


def test_a_named_pipe_at_the_part_is_refused_without_hanging(tmp_path: Path) -> None:
    import os

    dest = tmp_path / "a.mp4"
    os.mkfifo(part_path(dest))
    with pytest.raises(errors.ValidationError, match="is a named pipe, not a regular file"):
        fetch(dest, Script([serve(fake_mp4())]))


@pytest.mark.parametrize("name", ["a.mp4.part", "a.mp4.part.meta", "a.mp4.part.lock"])
def test_a_link_planted_after_the_checks_is_still_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The opens themselves never follow a link, so a race past the checks is safe too:
    a link where a new file goes is replaced by the file, and the lock refuses one."""
    from grokvid.api.download import files

    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    dest = tmp_path / "a.mp4"
    (tmp_path / name).symlink_to(victim)
    monkeypatch.setattr(files, "refuse_special", lambda path: None)
    data = fake_mp4()
    if name.endswith(".lock"):
        with pytest.raises(errors.ValidationError, match="not a regular file"):
            fetch(dest, Script([serve(data)]))
    else:
        assert fetch(dest, Script([serve(data)])).bytes == len(data)
        assert dest.read_bytes() == data and not (tmp_path / name).exists()
    assert victim.read_bytes() == b"precious"


# -- 0.2: a finished clip is recognised -----------------------------------------------------


def test_a_call_cut_short_after_the_rename_recognises_its_clip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grokvid.api.download import files

    dest = tmp_path / "a.mp4"
    data = fake_mp4(80_000)

    def killed(directory: Path) -> None:
        raise KeyboardInterrupt  # the process dies between the rename and its cleanup

    with monkeypatch.context() as patch:
        patch.setattr(files, "fsync_dir", killed)
        with pytest.raises(KeyboardInterrupt):
            fetch(dest, Script([serve(data)]))
    assert dest.read_bytes() == data
    assert only_final(dest) == ["a.mp4", "a.mp4.part.meta"]

    script = Script([serve(data)])
    result = fetch(dest, script)  # the resume: no "already exists", no download
    assert script.requests == []
    assert result == DownloadResult(
        path=dest,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="video/mp4",
        resumed_from=len(data),
    )
    assert only_final(dest) == ["a.mp4"]  # the marker is cleaned up


def test_a_marker_does_not_vouch_for_a_file_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grokvid.api.download import files

    dest = tmp_path / "a.mp4"
    with monkeypatch.context() as patch:
        patch.setattr(files, "fsync_dir", lambda d: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            fetch(dest, Script([serve(fake_mp4(80_000))]))
    dest.write_bytes(fake_mp4(80_000, seed=9))  # same size, other bytes
    with pytest.raises(errors.ValidationError, match="already exists"):
        fetch(dest, Script([serve(fake_mp4(80_000))]))


def test_the_ledgers_sha256_recognises_a_saved_clip(tmp_path: Path) -> None:
    dest = tmp_path / "a.mp4"
    data = fake_mp4(60_000)
    dest.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    script = Script([serve(data)])
    result = fetch(dest, script, expect_sha256=digest, expect_bytes=len(data))
    assert script.requests == [] and result.sha256 == digest and result.bytes == len(data)
    for wrong in ({"expect_sha256": "00" * 32}, {"expect_sha256": digest, "expect_bytes": 5}):
        with pytest.raises(errors.ValidationError, match="already exists"):
            fetch(dest, script, **wrong)
    assert script.requests == []


# -- 0.2: the disk refuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words", "fix"),
    [
        (28, "No space left on device", "free some space"),
        (5, "Input/output error", "check the disk"),
    ],
)
def test_a_full_or_failing_disk_names_the_file_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str, fix: str
) -> None:
    import os

    from grokvid.api.download import writer

    real = writer._write_all
    calls = 0

    def failing(fd: int, data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OSError(code, os.strerror(code))
        real(fd, data)

    monkeypatch.setattr(writer, "_write_all", failing)
    dest = tmp_path / "a.mp4"
    data = fake_mp4(300_000)

    def pieces(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            for i in range(0, len(data), 50_000):
                yield data[i : i + 50_000]

        headers = {"content-type": "video/mp4", "content-length": str(len(data))}
        return httpx.Response(200, headers=headers, content=body())

    script = Script([pieces])
    with pytest.raises(dl.SaveFailed) as info:
        fetch(dest, script)
    message = str(info.value)
    assert message.startswith(f"{words} writing {part_path(dest)}: {fix}")
    assert "\n" not in message and info.value.errno == code
    assert len(script.requests) == 1  # not retried: the host is not at fault
    assert part_path(dest).read_bytes() == data[:50_000]  # kept for a resume
    assert not dest.exists()

    assert dl.remove_leftover_part(dest) is True
    assert only_final(dest) == []
    assert dl.remove_leftover_part(dest) is False
