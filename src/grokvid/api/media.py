"""What a downloaded clip contains: size, frame rate, duration, codecs.

PyAV (the `sandbox` extra) does the reading and is imported only when `probe` runs; without
it `probe` returns None and callers fall back to what the API said about the clip.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from grokvid.api.errors import GrokvidError

FTYP = b"ftyp"


class MediaInfo(BaseModel):
    """The facts of one clip, read from its container and streams."""

    width: int
    height: int
    fps: float
    duration: float
    frames: int | None
    video_codec: str
    has_audio: bool
    audio_codec: str | None


def has_ftyp_header(head: bytes) -> bool:
    """True when `head` (a file's first bytes) opens with an MP4/ISO-BMFF `ftyp` box."""
    return len(head) >= 8 and head[4:8] == FTYP


def has_ftyp(path: Path) -> bool:
    """True when the file at `path` starts with an `ftyp` box; False if it is missing or short."""
    try:
        with open(path, "rb") as fh:
            return has_ftyp_header(fh.read(8))
    except OSError:
        return False


def probe(path: Path) -> MediaInfo | None:
    """Read a clip's streams with PyAV; None when PyAV is not installed.

    Raises GrokvidError when the file is missing or PyAV cannot read a video stream from it.
    """
    try:
        import av
    except ImportError:
        return None

    if not Path(path).is_file():
        raise GrokvidError(f"{path} does not exist or is not a file.")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise GrokvidError(f"{path} is not a playable MP4: {exc}") from exc
    with container:
        if not container.streams.video:
            raise GrokvidError(f"{path} is not a playable MP4: it has no video stream.")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        rate = video.average_rate or video.guessed_rate or video.base_rate
        if container.duration is not None:
            duration = container.duration / av.time_base
        elif video.duration is not None and video.time_base is not None:
            duration = float(video.duration * video.time_base)
        else:
            duration = 0.0
        return MediaInfo(
            width=video.codec_context.width,
            height=video.codec_context.height,
            fps=float(rate) if rate else 0.0,
            duration=float(duration),
            frames=video.frames or None,
            video_codec=video.codec_context.name,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
        )
