"""The sandbox's clips: real H.264/AAC MP4s of the requested shape, that move, and are cached."""

from __future__ import annotations

import importlib
import os
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray

from grokvid.api.models import FPS, frame_size
from grokvid.sandbox import render
from grokvid.sandbox.render import render_clip

PROMPT = "A red fox running through fresh snow at dawn, cinematic"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 2 s 480p 16:9 clip with sound, shared by the tests that only read it."""
    return render_clip(PROMPT, 2, 848, 480, cache_dir=tmp_path_factory.mktemp("clips"))


@pytest.fixture
def encodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Records every real encode, so a test can tell a cache hit from a render."""
    calls: list[Path] = []
    original: Callable[..., None] = render._encode

    def counting(path: Path, *args: object, **kwargs: object) -> None:
        calls.append(path)
        original(path, *args, **kwargs)

    monkeypatch.setattr(render, "_encode", counting)
    yield calls


def video_frames(path: Path) -> list[NDArray[np.uint8]]:
    with av.open(str(path)) as container:
        return [
            np.asarray(f.to_ndarray(format="rgb24"), np.uint8) for f in container.decode(video=0)
        ]


def audio_samples(path: Path) -> NDArray[np.float32]:
    with av.open(str(path)) as container:
        blocks = [frame.to_ndarray().ravel() for frame in container.decode(audio=0)]
    return np.concatenate(blocks)


def top_level_boxes(path: Path) -> list[str]:
    data = path.read_bytes()
    boxes, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[at + 8 : at + 16])
        elif size == 0:
            size = len(data) - at
        boxes.append(kind.decode("latin-1"))
        at += size
    return boxes


@pytest.mark.parametrize(
    ("resolution", "aspect", "size"),
    [
        ("480p", "16:9", (848, 480)),
        ("720p", "9:16", (720, 1280)),
        ("480p", "1:1", (480, 480)),
        ("720p", "3:2", (1080, 720)),
        ("1080p", "4:3", (1440, 1080)),
    ],
)
def test_clip_is_h264_of_the_requested_size_rate_and_length(
    tmp_path: Path, resolution: str, aspect: str, size: tuple[int, int]
) -> None:
    width, height = frame_size(resolution, aspect)
    assert (width, height) == size

    path = render_clip("a lighthouse in a storm", 1, width, height, cache_dir=tmp_path)

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.width, video.height) == size
        assert video.pix_fmt == "yuv420p"
        assert video.average_rate == FPS
        assert video.duration is not None and video.time_base is not None
        assert abs(float(video.duration * video.time_base) - 1.0) <= 1 / FPS
        assert container.duration is not None
        assert abs(container.duration / av.time_base - 1.0) <= 1 / FPS
        assert [stream.codec_context.name for stream in container.streams.audio] == ["aac"]
        assert container.streams.audio[0].rate == 48_000
        assert sum(1 for _ in container.decode(video=0)) == FPS


def test_frame_count_is_duration_times_24(clip: Path) -> None:
    assert len(video_frames(clip)) == 2 * FPS


def test_file_starts_with_ftyp_and_puts_moov_before_the_media(clip: Path) -> None:
    assert clip.read_bytes()[4:8] == b"ftyp"
    boxes = top_level_boxes(clip)
    assert boxes[0] == "ftyp"
    assert boxes.index("moov") < boxes.index("mdat")  # +faststart: playable while downloading


def test_audio_is_a_tone_when_on_and_pure_silence_when_off(tmp_path: Path, clip: Path) -> None:
    silent = render_clip(PROMPT, 2, 848, 480, audio=False, cache_dir=tmp_path)

    assert np.abs(audio_samples(silent)).max() == 0
    samples = audio_samples(clip)
    assert len(samples) >= 2 * 48_000 - 1024
    assert 0.05 < np.abs(samples).max() < 0.5  # audible, but soft


def test_the_picture_moves_and_shows_a_caption(clip: Path) -> None:
    frames = video_frames(clip)
    first, middle = frames[0].astype(np.int16), frames[FPS].astype(np.int16)

    assert np.abs(first - middle).mean() > 2
    caption = first[20:60, 20:200]  # top-left: white text on a darkened panel
    assert caption.min() < 64 and caption.max() > 200


def test_a_cache_hit_returns_the_same_file_without_rendering(
    tmp_path: Path, encodes: list[Path]
) -> None:
    first = render_clip(PROMPT, 1, 64, 48, cache_dir=tmp_path)
    content = first.read_bytes()

    again = render_clip(PROMPT, 1, 64, 48, cache_dir=tmp_path)

    assert again == first
    assert len(encodes) == 1
    assert again.read_bytes() == content


def test_concurrent_renders_of_one_clip_encode_it_once(tmp_path: Path, encodes: list[Path]) -> None:
    start = threading.Barrier(4)

    def render_after_barrier(_: int) -> Path:
        start.wait()
        return render_clip(PROMPT, 1, 64, 48, cache_dir=tmp_path)

    with ThreadPoolExecutor(4) as pool:
        paths = set(pool.map(render_after_barrier, range(4)))

    assert len(paths) == 1 and len(encodes) == 1
    assert len(video_frames(paths.pop())) == FPS
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".mp4")] == []


def test_each_parameter_gets_its_own_file_and_a_prompt_its_own_look(tmp_path: Path) -> None:
    fox = render_clip("a fox", 1, 64, 48, cache_dir=tmp_path)
    owl = render_clip("an owl", 1, 64, 48, cache_dir=tmp_path)
    quiet_fox = render_clip("a fox", 1, 64, 48, audio=False, cache_dir=tmp_path)
    fox_elsewhere = render_clip("a fox", 1, 64, 48, cache_dir=tmp_path / "other")

    assert len({fox, owl, quiet_fox}) == 3
    assert not np.array_equal(video_frames(fox)[0], video_frames(owl)[0])
    assert np.array_equal(video_frames(fox)[0], video_frames(fox_elsewhere)[0])


def test_default_cache_dir_is_resolved_under_grokvid_home_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROKVID_HOME", str(tmp_path))

    path = render_clip("a fox", 1, 32, 32)

    assert path.parent == tmp_path / "cache" / "sandbox-clips"


def test_a_failed_render_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object, index: int) -> None:
        raise RuntimeError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(render._Picture, "frame", broken)
        with pytest.raises(RuntimeError, match="disk on fire"):
            render_clip(PROMPT, 1, 64, 48, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []

    assert len(video_frames(render_clip(PROMPT, 1, 64, 48, cache_dir=tmp_path))) == FPS


def test_the_cache_keeps_only_the_most_recently_used_clips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encodes: list[Path]
) -> None:
    monkeypatch.setattr(render, "MAX_CACHE_FILES", 2)
    old = render_clip("first", 1, 32, 32, cache_dir=tmp_path)
    used = render_clip("second", 1, 32, 32, cache_dir=tmp_path)
    os.utime(old, (1_000_000, 1_000_000))
    os.utime(used, (2_000_000, 2_000_000))
    render_clip("second", 1, 32, 32, cache_dir=tmp_path)  # a hit makes it the freshest

    newest = render_clip("third", 1, 32, 32, cache_dir=tmp_path)

    assert sorted(tmp_path.iterdir()) == sorted([used, newest])
    assert len(encodes) == 3


@pytest.mark.parametrize(
    ("duration", "width", "height", "message"),
    [(0, 64, 48, "duration"), (1, 63, 48, "even"), (1, 64, 8, "height")],
)
def test_rejects_clips_it_cannot_encode(
    tmp_path: Path, duration: int, width: int, height: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render_clip(PROMPT, duration, width, height, cache_dir=tmp_path)


def test_importing_without_pyav_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    monkeypatch.delitem(sys.modules, "grokvid.sandbox.render")

    with pytest.raises(ImportError, match=r"pip install 'grokvid\[sandbox\]'"):
        importlib.import_module("grokvid.sandbox.render")
