"""The video host: real clips (checked with PyAV), Range requests, signed and expiring URLs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from grokvid.api.models import FPS, frame_size
from grokvid.sandbox import SandboxConfig, SandboxServer
from grokvid.sandbox.cdn import byte_range

SUBMIT = "/v1/videos/generations"
KEY = {"Authorization": "Bearer sandbox"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    cache = tmp_path_factory.mktemp("cdn-clips")
    with SandboxServer(SandboxConfig(render_seconds=0.05, clip_cache_dir=cache)) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=KEY, timeout=30) as c:
        yield c


def finished(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post(SUBMIT, json={"prompt": "a red fox in snow", "duration": 1, **body})
    assert response.status_code == 200, response.text
    request_id = response.json()["request_id"]
    deadline = time.monotonic() + 30
    while (data := client.get(f"/v1/videos/{request_id}").json())["status"] == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert data["status"] == "done", data
    return dict(data)


@pytest.fixture(scope="module")
def clip(client: httpx.Client) -> tuple[str, bytes]:
    url = finished(client)["video"]["url"]
    response = httpx.get(url)
    assert response.status_code == 200
    return url, response.content


@pytest.mark.parametrize(
    ("body", "seconds"),
    [
        ({"duration": 1}, 1),
        ({"duration": 2, "aspect_ratio": "9:16", "resolution": "720p"}, 2),
        ({"duration": 1, "aspect_ratio": "1:1", "generate_audio": False}, 1),
    ],
)
def test_rendered_clip_is_a_real_video(
    client: httpx.Client, tmp_path: Path, body: dict[str, Any], seconds: int
) -> None:
    data = finished(client, **body)
    response = httpx.get(data["video"]["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(response.content)
    path = tmp_path / "clip.mp4"
    path.write_bytes(response.content)
    width, height = frame_size(body.get("resolution", "480p"), body.get("aspect_ratio", "16:9"))
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (width, height)
        assert video.average_rate == Fraction(FPS)
        frames = sum(1 for _ in container.decode(video=0))
        assert abs(frames - seconds * FPS) <= 1
        assert container.duration is not None
        assert abs(container.duration / av.time_base - seconds) <= 1 / FPS + 0.05
        audio = container.streams.audio
        assert len(audio) == 1 and audio[0].codec_context.name == "aac"
    assert data["video"]["duration"] == seconds


def test_head_matches_get(clip: tuple[str, bytes]) -> None:
    url, content = clip
    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(content)
    assert head.headers["accept-ranges"] == "bytes" and head.headers["etag"]


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None)],
)
def test_range_requests(
    clip: tuple[str, bytes], range_header: str, start: int, end: int | None
) -> None:
    url, content = clip
    size = len(content)
    response = httpx.get(url, headers={"Range": range_header})
    assert response.status_code == 206
    expected = content[start : None if end is None else end + 1]
    assert response.content == expected
    first = start % size
    assert response.headers["content-range"] == f"bytes {first}-{first + len(expected) - 1}/{size}"
    assert int(response.headers["content-length"]) == len(expected)


def test_range_past_the_end_is_416_and_odd_ranges_are_ignored(clip: tuple[str, bytes]) -> None:
    url, content = clip
    size = len(content)
    response = httpx.get(url, headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416 and response.headers["content-range"] == f"bytes */{size}"
    for ignored in ("bytes=0-1,5-9", "items=0-1", "bytes=9-2"):
        response = httpx.get(url, headers={"Range": ignored})
        assert response.status_code == 200 and response.content == content
    clipped = httpx.get(url, headers={"Range": f"bytes={size - 10}-{size + 1000}"})
    assert clipped.status_code == 206 and clipped.content == content[-10:]


def test_if_range_resumes_only_the_same_clip(clip: tuple[str, bytes]) -> None:
    url, content = clip
    etag = httpx.head(url).headers["etag"]
    same = httpx.get(url, headers={"Range": "bytes=10-", "If-Range": etag})
    assert same.status_code == 206 and same.content == content[10:]
    other = httpx.get(url, headers={"Range": "bytes=10-", "If-Range": '"something-else"'})
    assert other.status_code == 200 and other.content == content


def test_etag_is_stable_across_jobs_of_the_same_clip(client: httpx.Client) -> None:
    first = httpx.head(finished(client)["video"]["url"]).headers
    second = httpx.head(finished(client)["video"]["url"]).headers
    assert first["etag"] == second["etag"]


def test_video_host_needs_no_key_and_refuses_one(clip: tuple[str, bytes]) -> None:
    url, _ = clip
    response = httpx.get(url, headers=KEY)
    assert response.status_code == 400 and "Authorization" in response.text


def test_tampered_or_unknown_urls(clip: tuple[str, bytes], server: SandboxServer) -> None:
    url, _ = clip
    base, _, query = url.partition("?")
    later = query.replace("expires=", "expires=9")
    assert httpx.get(f"{base}?{later}").status_code == 403
    assert httpx.get(base).status_code == 403
    assert httpx.get(f"{server.base_url}/cdn/other.mp4").status_code == 404
    assert httpx.post(url).status_code == 405


def test_moderated_job_has_nothing_to_download(client: httpx.Client) -> None:
    data = finished(client, prompt="fox [sandbox:moderate]")
    assert data["video"]["url"] == ""


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", (0, 0)),
        ("bytes=5-", (5, 99)),
        ("bytes=-1", (99, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=90-200", (90, 99)),
        ("bytes = 1 - 2", (1, 2)),
        ("bytes=100-", "unsatisfiable"),
        ("bytes=-0", "unsatisfiable"),
        ("bytes=3-1", None),
        ("bytes=-", None),
        ("bytes=0-1,4-5", None),
        ("pages=1-2", None),
    ],
)
def test_byte_range(header: str, expected: object) -> None:
    assert byte_range(header, 100) == expected
