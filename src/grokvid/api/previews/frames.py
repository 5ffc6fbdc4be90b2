"""One decoding pass over a clip that picks every frame the three pictures need.

H.264 frames depend on each other, so seeking eight times costs more than decoding the clip
once; an 8 s 720p clip decodes in about 0.15 s on one core. The expensive part is turning YUV
frames into RGB pictures, so each picked frame is converted straight to the size it is wanted at
(swscale does the scaling and the colour conversion in one step) and no other frame is converted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image

from grokvid.api.previews.errors import PreviewFailed


@dataclass(frozen=True)
class Sample:
    """The frames picked from one clip, already at their target sizes."""

    width: int
    height: int
    duration: float
    poster: Image.Image
    poster_at: float
    tiles: list[tuple[float, Image.Image]]
    animation: list[Image.Image]


def fit(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The largest even size with the clip's shape inside the box, never larger than the clip."""
    scale = min(box_w / width, box_h / height, 1.0)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration / av.time_base)
    return 0.0


def _frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, rate: float
) -> Iterator[tuple[float, av.VideoFrame]]:
    """(seconds from the first frame, frame) in display order."""
    start: float | None = None
    for index, frame in enumerate(container.decode(stream)):
        at = frame.time if frame.time is not None else index / rate
        if start is None:
            start = at
        yield at - start, frame


def sample(
    path: Path,
    *,
    poster_at: float,
    tiles: int,
    tile_box: tuple[int, int],
    animation_box: tuple[int, int],
    animation_fps: float,
) -> Sample:
    """Decode `path` once; raise PreviewFailed when it holds no decodable video."""
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise PreviewFailed(f"{path} cannot be decoded: {exc}", clip=path) from exc
    with container:
        if not container.streams.video:
            raise PreviewFailed(f"{path} has no video stream to make pictures from.", clip=path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = float(stream.average_rate or stream.guessed_rate or 24)
        duration = _duration(container, stream)
        if duration <= 0 and stream.frames:
            duration = stream.frames / rate
        try:
            return _pick(
                _frames(container, stream, rate),
                path=path,
                size=(width, height),
                duration=duration,
                step=1 / rate,
                poster_at=poster_at,
                tiles=tiles,
                tile_size=fit(width, height, *tile_box),
                animation_size=fit(width, height, *animation_box),
                animation_fps=animation_fps,
            )
        except av.FFmpegError as exc:
            message = f"{path} is damaged and cannot be decoded: {exc}"
            raise PreviewFailed(message, clip=path) from exc


def _pick(
    frames: Iterator[tuple[float, av.VideoFrame]],
    *,
    path: Path,
    size: tuple[int, int],
    duration: float,
    step: float,
    poster_at: float,
    tiles: int,
    tile_size: tuple[int, int],
    animation_size: tuple[int, int],
    animation_fps: float,
) -> Sample:
    # A target time belongs to the frame on screen at that moment: the first frame whose
    # display interval ends after it. Targets past the last frame fall to the last frame.
    poster_time = duration * poster_at
    tile_times = [duration * (i + 0.5) / tiles for i in range(tiles)]
    count = max(1, math.ceil(duration * animation_fps - 1e-6))
    anim_times = [i / animation_fps for i in range(count)]
    poster: Image.Image | None = None
    shown: list[tuple[float, Image.Image]] = []
    animation: list[Image.Image] = []
    last: av.VideoFrame | None = None
    seen = 0
    for at, frame in frames:
        seen += 1
        last = frame
        end = at + step
        if poster is None and end > poster_time:
            poster = _image(frame)
        while len(shown) < tiles and end > tile_times[len(shown)]:
            shown.append((at, _scaled(frame, tile_size, "AREA")))
        while len(animation) < count and end > anim_times[len(animation)]:
            animation.append(_scaled(frame, animation_size, "FAST_BILINEAR"))
    if last is None:
        raise PreviewFailed(f"{path} holds no decodable video frames.", clip=path)
    if poster is None:
        poster = _image(last)
    final_at = (seen - 1) * step
    while len(shown) < tiles:
        shown.append((final_at, _scaled(last, tile_size, "AREA")))
    if len(animation) < count:
        tail = _scaled(last, animation_size, "FAST_BILINEAR")
        animation.extend([tail] * (count - len(animation)))
    return Sample(
        width=size[0],
        height=size[1],
        duration=duration if duration > 0 else seen * step,
        poster=poster,
        poster_at=min(poster_time, final_at),
        tiles=shown,
        animation=animation,
    )


def _scaled(frame: av.VideoFrame, size: tuple[int, int], interpolation: str) -> Image.Image:
    if (frame.width, frame.height) == size:
        return _image(frame)
    rgb = frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation=interpolation)
    return _image(rgb)


def _image(frame: av.VideoFrame) -> Image.Image:
    image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]  # PyAV lacks a stub
    return image
