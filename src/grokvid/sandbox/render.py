"""Render the sandbox's stand-in clips: real H.264/AAC MP4s, an 8 s 480p one in under a second.

A clip is a slowly drifting colour gradient with soft glowing discs moving over it, its palette
and the pitch of its chord derived from a hash of the prompt, so the same prompt always looks and
sounds the same. A caption panel at the top shows the prompt's first words and
"grokvid sandbox"; a panel at the bottom shows the time code (MM:SS:FF) and the frame number, over
a progress bar. Text is drawn with the embedded 5x7 font in `grokvid.sandbox.font`.

Clips are cached on disk by their parameters, so a sandbox serving the same request twice (or a
test suite run again) pays for the encode once. See `render_clip` for the cache's bounds.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import os
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

try:
    import av
    import numpy as np
    from numpy.typing import NDArray
except ImportError as exc:
    raise ImportError(
        f"The sandbox renders clips with PyAV and numpy, and {exc.name or 'one of them'} is not "
        "installed: run `pip install 'grokvid[sandbox]'`."
    ) from exc

from grokvid.sandbox import paths
from grokvid.sandbox.font import CELL_WIDTH, headline, stack, text_mask
from grokvid.sandbox.frames import FPS

__all__ = ["RENDERER_VERSION", "render_clip"]

# Bump whenever the pictures or sound change, so cached clips from older renderers are not served.
RENDERER_VERSION = 1
SAMPLE_RATE = 48_000
MAX_CACHE_FILES = 200
MAX_CACHE_BYTES = 200 * 1024 * 1024
_STALE_PART_SECONDS = 3600  # a temp file this old belongs to a render that died
_KR, _KB = 0.2126, 0.0722  # BT.709 luma weights; the stream is tagged BT.709

Plane = NDArray[np.uint8]
Mask = NDArray[np.bool_]
Weights = NDArray[np.uint16]

# One lock per clip ever rendered by this process: a few hundred bytes each, never worth evicting.
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def render_clip(
    prompt: str,
    duration: int,
    width: int,
    height: int,
    *,
    audio: bool = True,
    cache_dir: Path | None = None,
) -> Path:
    """Path of a finished MP4 for these parameters, rendering it unless it is already cached.

    The file holds `duration * 24` frames of `width`x`height` H.264 (yuv420p) and a 48 kHz mono
    AAC track: a soft chord when `audio` is true, silence otherwise. It is muxed with
    `+faststart`, so the `moov` atom comes before the media and the file streams well.

    The cache lives in `cache_dir`, by default `<grokvid cache dir>/sandbox-clips`. Each clip is
    written to a temp file beside its final name and moved into place with `os.replace`, so a
    reader (another thread or process) never sees a partial file; a per-clip lock stops one
    process rendering the same clip twice at once. The cache is bounded to the
    `MAX_CACHE_FILES` (200) most recently used clips totalling at most `MAX_CACHE_BYTES`
    (200 MiB): enough for every size and aspect of a test suite many times over, while the
    largest clip (15 s at 1080p, a few MB) can never push it past the bound on its own. A cache
    hit refreshes the clip's mtime, so eviction drops the least recently used first.
    """
    _check(duration, width, height)
    directory = cache_dir if cache_dir is not None else paths.clip_cache_dir()
    key = cache_key(prompt, duration, width, height, audio=audio)
    final = directory / f"{key}.mp4"
    if _hit(final):
        return final
    with _lock_for(key):
        if _hit(final):
            return final
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{key[:16]}-", suffix=".part", dir=directory)
        os.close(fd)
        try:
            _encode(Path(temp_name), prompt, duration, width, height, audio=audio)
            os.chmod(temp_name, 0o644)  # mkstemp's 0600 is for secrets; a clip is not one
            os.replace(temp_name, final)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        _prune(directory, keep=final)
    return final


def cache_key(prompt: str, duration: int, width: int, height: int, *, audio: bool) -> str:
    """The sha256 hex digest naming a clip: every parameter that changes its bytes."""
    parts = (str(RENDERER_VERSION), prompt, str(duration), str(width), str(height), str(audio))
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _check(duration: int, width: int, height: int) -> None:
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 1:
        raise ValueError(f"duration must be a whole number of seconds >= 1, not {duration!r}")
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= 8192:
            raise ValueError(f"{name} must be a whole number of pixels from 16 to 8192")
        if value % 2:
            raise ValueError(f"{name} must be even for yuv420p video, not {value}")


def _hit(path: Path) -> bool:
    try:
        os.utime(path)  # refresh for least-recently-used eviction
    except OSError:
        return False
    return True


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _prune(directory: Path, *, keep: Path) -> None:
    """Delete least recently used clips beyond the bounds, and temp files of dead renders."""
    clips: list[tuple[float, int, Path]] = []
    for entry in os.scandir(directory):
        try:
            stat = entry.stat()
        except OSError:
            continue
        if entry.name.endswith(".mp4"):
            clips.append((stat.st_mtime, stat.st_size, Path(entry.path)))
        elif entry.name.endswith(".part") and stat.st_mtime < time.time() - _STALE_PART_SECONDS:
            Path(entry.path).unlink(missing_ok=True)
    clips.sort(key=lambda clip: clip[0], reverse=True)
    count, total = 0, 0
    for _, size, path in clips:
        count, total = count + 1, total + size
        if path != keep and (count > MAX_CACHE_FILES or total > MAX_CACHE_BYTES):
            try:
                path.unlink()
            except OSError:  # in use on Windows, or pruned by another process: leave it
                pass


class _Seed:
    """Deterministic numbers in [0, 1) from the prompt, stable across Python and numpy versions."""

    def __init__(self, prompt: str) -> None:
        data = hashlib.shake_256(b"grokvid-sandbox\0" + prompt.encode("utf-8", "surrogatepass"))
        self._bytes = data.digest(256)
        self._at = 0

    def unit(self) -> float:
        value = int.from_bytes(self._bytes[self._at : self._at + 2], "big") / 65536
        self._at = (self._at + 2) % len(self._bytes)
        return value


def _rgb(hue: float, saturation: float, value: float) -> NDArray[np.float64]:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float64)


def _yuv(rgb: NDArray[np.float64]) -> NDArray[np.float64]:
    """Limited-range BT.709 (Y, Cb, Cr) of RGB in [0, 1] (last axis), before the 16/128 offsets.

    The conversion is linear, so a sum of RGB gradients is the sum of their YUV gradients: that
    lets frames be built straight in yuv420p, skipping a per-frame RGB conversion.
    """
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = _KR * r + (1 - _KR - _KB) * g + _KB * b
    return np.stack([219 * y, 112 * (b - y) / (1 - _KB), 112 * (r - y) / (1 - _KR)], axis=-1)


def _window(
    shape: tuple[int, ...], top: int, left: int, rows: int, cols: int
) -> tuple[slice, slice, slice, slice] | None:
    """Slices of a plane, and of a block placed at (top, left) on it, where the two overlap."""
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(shape[0], top + rows), min(shape[1], left + cols)
    if y0 >= y1 or x0 >= x1:
        return None
    return slice(y0, y1), slice(x0, x1), slice(y0 - top, y1 - top), slice(x0 - left, x1 - left)


def _dim(plane: Plane, offset: int) -> None:
    """Halve a region's distance from black (Y, offset 8) or from grey (chroma, offset 64)."""
    np.right_shift(plane, 1, out=plane)
    plane += np.uint8(offset)


class _Overlay:
    """White text on a darkened panel, aligned to even pixels so the chroma planes line up."""

    def __init__(self, top: int, left: int, mask: Mask, pad: int) -> None:
        rows, cols = mask.shape[0] + mask.shape[0] % 2, mask.shape[1] + mask.shape[1] % 2
        luma = np.zeros((rows, cols), dtype=np.bool_)
        luma[: mask.shape[0], : mask.shape[1]] = mask
        chroma = np.asarray(luma.reshape(rows // 2, 2, cols // 2, 2).any(axis=(1, 3)), np.bool_)
        self._masks: tuple[Mask, Mask, Mask] = (luma, chroma, chroma)
        self._top, self._left, self._pad = top & ~1, left & ~1, pad + pad % 2

    def draw(self, planes: tuple[Plane, Plane, Plane]) -> None:
        for index, (plane, mask) in enumerate(zip(planes, self._masks, strict=True)):
            step = 1 if index == 0 else 2
            top, left, pad = self._top // step, self._left // step, self._pad // step
            rows, cols = mask.shape
            panel = _window(plane.shape, top - pad, left - pad, rows + 2 * pad, cols + 2 * pad)
            if panel is not None:
                _dim(plane[panel[0], panel[1]], 8 if index == 0 else 64)
            text = _window(plane.shape, top, left, rows, cols)
            if text is not None:
                plane[text[0], text[1]][mask[text[2], text[3]]] = 235 if index == 0 else 128


class _Blob:
    """A soft translucent disc on a Lissajous path, pre-weighted for fixed-point blending."""

    def __init__(self, seed: _Seed, hue: float, short: int) -> None:
        radius = max(2, int(short * (0.1 + 0.12 * seed.unit())))
        self.size = 2 * radius + 2
        rgb = _rgb(hue + 0.3 * (seed.unit() - 0.5), 0.45 + 0.3 * seed.unit(), 0.95)
        colour = np.rint(_yuv(rgb) + (16, 128, 128)).astype(np.uint16)
        self.layers: list[tuple[Weights, Weights]] = []
        for index in range(3):
            step = 1 if index == 0 else 2
            centres = (np.arange(0, self.size, step) + step / 2 - self.size / 2) / radius
            falloff = np.clip(1.0 - (centres[:, None] ** 2 + centres[None, :] ** 2), 0.0, 1.0)
            alpha = np.rint(falloff**1.5 * 0.85 * 256).astype(np.uint16)
            self.layers.append((256 - alpha, alpha * colour[index]))
        # Centre (fraction of the frame), swing and cycles per second on each axis, then a phase.
        self.path = [seed.unit() * 0.4 + 0.3, seed.unit() * 0.2 + 0.2, seed.unit() * 0.2 + 0.08]
        self.path += [seed.unit() * 0.4 + 0.3, seed.unit() * 0.2 + 0.2, seed.unit() * 0.2 + 0.08]
        self.path.append(2 * math.pi * seed.unit())

    def draw(self, planes: tuple[Plane, Plane, Plane], seconds: float) -> None:
        cx, sx, fx, cy, sy, fy, phase = self.path
        height, width = planes[0].shape
        x = (cx + sx * math.sin(2 * math.pi * fx * seconds + phase)) * width
        y = (cy + sy * math.cos(2 * math.pi * fy * seconds + phase)) * height
        top, left = (int(y) - self.size // 2) & ~1, (int(x) - self.size // 2) & ~1
        for index, (plane, (keep, add)) in enumerate(zip(planes, self.layers, strict=True)):
            step = 1 if index == 0 else 2
            window = _window(plane.shape, top // step, left // step, *keep.shape)
            if window is None:
                continue
            region = plane[window[0], window[1]]
            mixed = np.multiply(region, keep[window[2], window[3]], dtype=np.uint16)
            mixed += add[window[2], window[3]]
            mixed >>= 8
            region[...] = mixed


class _Picture:
    """Everything about a clip's frames that is fixed before the first one is drawn."""

    def __init__(self, prompt: str, frames: int, width: int, height: int) -> None:
        self.frames, self.width, self.height = frames, width, height
        seed = _Seed(prompt)
        hue = seed.unit()
        short = min(width, height)
        # Two colour waves, one across and one down, each at most half of full scale so their
        # sum never overflows a byte; Y takes its 16 offset from one wave, chroma 64 from each.
        self._across = self._wave(width, _rgb(hue, 0.75, 0.5), _rgb(hue + 0.15, 0.6, 0.3), 16)
        self._down = self._wave(height, _rgb(hue + 0.5, 0.5, 0.35), _rgb(hue - 0.1, 0.7, 0.5), 0)
        self._speed = ((0.5 + seed.unit()) * width / 4, (0.5 + seed.unit()) * height / 6)
        self._blobs = [_Blob(seed, hue, short) for _ in range(4)]
        size = width * height
        self.buffer = np.empty(size * 3 // 2, dtype=np.uint8)
        self._planes = (
            self.buffer[:size].reshape(height, width),
            self.buffer[size : size * 5 // 4].reshape(height // 2, width // 2),
            self.buffer[size * 5 // 4 :].reshape(height // 2, width // 2),
        )
        big = max(1, short // 96)
        self._small = max(1, big // 2)
        self._margin = max(2, short // 24)
        max_chars = max(1, (width - 2 * self._margin) // (CELL_WIDTH * big))
        lines = [text_mask(line, big) for line in headline(prompt, max_chars)]
        lines.append(text_mask("grokvid sandbox", self._small))
        caption = stack(lines)
        self._caption = _Overlay(self._margin, self._margin, caption, 2 * self._small)
        self._caption_bottom = self._margin + caption.shape[0] + 4 * self._small
        self._bar = max(2, short // 90) & ~1

    @staticmethod
    def _wave(
        length: int, a: NDArray[np.float64], b: NDArray[np.float64], luma_offset: int
    ) -> tuple[Plane, Plane, Plane]:
        """Y, Cb, Cr tables of a blend a -> b -> a over 2 * length pixels, doubled for slicing."""
        phase = np.cos(np.linspace(0.0, 2 * math.pi, 2 * length, endpoint=False))[:, None]
        yuv = _yuv((a * (0.5 + 0.5 * phase) + b * (0.5 - 0.5 * phase)) * 0.5)
        table = np.rint(yuv + (luma_offset, 64, 64)).astype(np.uint8)
        table = np.concatenate([table, table])
        return table[:, 0], table[::2, 1].copy(), table[::2, 2].copy()

    def frame(self, index: int) -> Plane:
        """Frame `index` (0-based) as a yuv420p array; the buffer is reused by the next call."""
        planes = self._planes
        x0 = int(index * self._speed[0] / FPS) % (2 * self.width) & ~1
        y0 = int(index * self._speed[1] / FPS) % (2 * self.height) & ~1
        for step, plane, across, down in zip(
            (1, 2, 2), planes, self._across, self._down, strict=True
        ):
            rows, cols = plane.shape
            np.add(
                across[None, x0 // step : x0 // step + cols],
                down[y0 // step : y0 // step + rows, None],
                out=plane,
            )
        for blob in self._blobs:
            blob.draw(planes, index / FPS)
        self._caption.draw(planes)
        ss, ff = divmod(index, FPS)
        code = f"{ss // 60:02d}:{ss % 60:02d}:{ff:02d}  frame {index + 1:03d}/{self.frames:03d}"
        mask = text_mask(code, self._small)
        top = self.height - self._bar - self._margin - mask.shape[0]
        if top >= self._caption_bottom:  # on tiny frames the caption wins
            _Overlay(top, self._margin, mask, 2 * self._small).draw(planes)
        done = self.width * (index + 1) // self.frames & ~1
        for step, plane in zip((1, 2, 2), planes, strict=True):
            bar = plane[(self.height - self._bar) // step :]
            bar[:, : done // step] = 235 if step == 1 else 128
            _dim(bar[:, done // step :], 8 if step == 1 else 64)
        return self.buffer.reshape(self.height * 3 // 2, self.width)


def _soundtrack(prompt: str, duration: int, audio: bool) -> NDArray[np.float32]:
    """Mono samples in [-1, 1]: a soft chord rooted on a prompt-seeded note, or silence."""
    count = duration * SAMPLE_RATE
    if not audio:
        return np.zeros(count, dtype=np.float32)
    seed = _Seed("audio\0" + prompt)
    root = 48 + int(seed.unit() * 12)  # C3..B3
    third = 3 if seed.unit() < 0.5 else 4  # minor or major
    t = np.arange(count, dtype=np.float64) / SAMPLE_RATE
    wave = np.zeros(count, dtype=np.float64)
    for step, level in ((0, 1.0), (third, 0.7), (7, 0.6), (12, 0.3)):
        freq = 440.0 * 2 ** ((root + step - 69) / 12)
        wave += level * np.sin(2 * math.pi * freq * t + 2 * math.pi * seed.unit())
    swell = 0.75 + 0.25 * np.sin(2 * math.pi * (0.2 + 0.3 * seed.unit()) * t)
    fade = np.clip(np.minimum(t / 0.3, (duration - t) / 0.5), 0.0, 1.0)
    wave *= swell * fade * (0.25 / 2.6)  # 2.6 = sum of the levels: peaks stay at a gentle 0.25
    samples: NDArray[np.float32] = wave.astype(np.float32)
    return samples


def _encode(
    path: Path, prompt: str, duration: int, width: int, height: int, *, audio: bool
) -> None:
    """Write the clip to `path` (an MP4 regardless of its name)."""
    frames = duration * FPS
    picture = _Picture(prompt, frames, width, height)
    samples = _soundtrack(prompt, duration, audio)
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast"}
        context = video.codec_context
        context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709
        context.color_range = 1  # limited (16-235), as drawn
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        chunk = sound.codec_context.frame_size or 1024
        sent = 0
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(picture.frame(index), format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
            # Keep the audio level with the video so the muxer can interleave as it goes.
            while sent < min(len(samples), (index + 1) * SAMPLE_RATE // FPS):
                sent = _send_audio(container, sound, samples, sent, chunk)
        while sent < len(samples):
            sent = _send_audio(container, sound, samples, sent, chunk)
        container.mux(video.encode(None))
        container.mux(sound.encode(None))


def _send_audio(
    container: av.container.OutputContainer,
    stream: av.audio.stream.AudioStream,
    samples: NDArray[np.float32],
    start: int,
    chunk: int,
) -> int:
    block = samples[start : start + chunk]
    frame = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
    container.mux(stream.encode(frame))
    return start + len(block)
