"""media.probe and media.has_ftyp on real clips rendered with PyAV, and on files that are not."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from typing import Any

import pytest

from grokvid.api import media
from grokvid.api.errors import GrokvidError
from grokvid.api.media import MediaInfo, has_ftyp, has_ftyp_header, probe


def render(
    path: Path, *, frames: int = 12, audio: bool = True, size: tuple[int, int] = (64, 48)
) -> Path:
    """Write a tiny H.264 (+ AAC) MP4 at 24 fps."""
    av = pytest.importorskip("av")
    np = pytest.importorskip("numpy")
    width, height = size
    with av.open(str(path), "w", format="mp4") as box:
        video = box.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = box.add_stream("aac", rate=48000) if audio else None
        for i in range(frames):
            image = np.full((height, width, 3), (i * 20) % 256, np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, "rgb24")):
                box.mux(packet)
        for packet in video.encode():
            box.mux(packet)
        if sound is not None:
            for pts in range(0, 48000 * frames // 24, 1024):
                chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
                chunk.sample_rate, chunk.pts = 48000, pts
                for packet in sound.encode(chunk):
                    box.mux(packet)
            for packet in sound.encode():
                box.mux(packet)
    return path


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("media") / "clip.mp4")


def test_probe_reads_size_rate_duration_and_codecs(clip: Path) -> None:
    info = probe(clip)
    assert info is not None
    assert (info.width, info.height) == (64, 48)
    assert info.fps == pytest.approx(24.0)
    assert info.duration == pytest.approx(0.5, abs=0.1)
    assert info.frames == 12
    assert info.video_codec == "h264"
    assert info.has_audio and info.audio_codec == "aac"


def test_probe_silent_clip(tmp_path: Path) -> None:
    info = probe(render(tmp_path / "silent.mp4", frames=24, audio=False, size=(96, 64)))
    assert info is not None
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert info.model_dump(exclude={"duration"}) == {
        "width": 96,
        "height": 64,
        "fps": 24.0,
        "frames": 24,
        "video_codec": "h264",
        "has_audio": False,
        "audio_codec": None,
    }


def test_probe_result_round_trips_as_json(clip: Path) -> None:
    info = probe(clip)
    assert info is not None
    assert MediaInfo.model_validate_json(info.model_dump_json()) == info


@pytest.mark.parametrize(
    "content",
    [b"<html><body>AccessDenied</body></html>", b"", b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64],
    ids=["html", "empty", "ftyp-only"],
)
def test_probe_refuses_files_that_are_not_playable(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(GrokvidError, match="is not a playable MP4"):
        probe(bad)


def test_probe_refuses_a_truncated_clip(tmp_path: Path, clip: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[:600])  # ftyp intact, moov/mdat cut off
    assert has_ftyp(cut)
    with pytest.raises(GrokvidError, match="is not a playable MP4"):
        probe(cut)


def test_probe_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GrokvidError, match="does not exist"):
        probe(tmp_path / "nope.mp4")


def test_probe_returns_none_without_pyav(monkeypatch: pytest.MonkeyPatch, clip: Path) -> None:
    real_import = builtins.__import__

    def no_av(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "av" or name.startswith("av."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "av", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_av)
    assert probe(clip) is None


def test_has_ftyp(tmp_path: Path, clip: Path) -> None:
    assert has_ftyp(clip)
    html = tmp_path / "page.mp4"
    html.write_bytes(b"<!doctype html><html>")
    assert not has_ftyp(html)
    short = tmp_path / "short.mp4"
    short.write_bytes(b"\x00\x00\x00")
    assert not has_ftyp(short)
    assert not has_ftyp(tmp_path / "missing.mp4")


def test_has_ftyp_header() -> None:
    assert has_ftyp_header(b"\x00\x00\x00\x20ftypmp42")
    assert not has_ftyp_header(b"\x00\x00\x00\x20moov")
    assert not has_ftyp_header(b"ftyp")


def test_importing_media_does_not_load_pyav() -> None:
    import subprocess

    code = "import sys, grokvid.api.media; print('av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert media.__name__ == "grokvid.api.media"
