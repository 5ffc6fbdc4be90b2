"""Pillow work: the poster, the contact sheet, the animated WebP, and the fonts they use."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

BACKGROUND = (17, 19, 24)
INK = (235, 237, 242)
DIM = (150, 156, 170)
GAP = 8
COLUMNS, ROWS = 4, 2
MAX_WEBP_BYTES = 2 * 1024 * 1024
# Each step trades quality for bytes until the animation fits; the last one always does.
_WEBP_STEPS: tuple[tuple[int, float, int], ...] = (
    (60, 1.0, 1),  # (quality, scale, keep every Nth frame)
    (40, 1.0, 1),
    (30, 0.75, 1),
    (25, 0.5, 2),
    (20, 0.5, 4),
)
# Fonts with wide coverage that most Linux and macOS machines have; Pillow's own is the fallback.
_FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
)


@functools.cache
def font(size: int) -> Font:
    for candidate in _FONT_FILES:
        if Path(candidate).is_file():
            try:
                return ImageFont.truetype(candidate, size)
            except OSError:
                continue
    return ImageFont.load_default(size)


def save_jpeg(image: Image.Image, path: Path, *, quality: int = 85) -> int:
    """Write atomically (temp file + rename) and return the byte count."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return write_bytes(path, buffer.getvalue())


def write_bytes(path: Path, data: bytes) -> int:
    temp = path.with_name(f".{path.name}.part")
    try:
        temp.write_bytes(data)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return len(data)


def timestamp(seconds: float) -> str:
    """`0:02.5`: minutes and tenths, enough for clips of a few seconds."""
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{rest:04.1f}"


def ellipsize(text: str, face: Font, width: int) -> str:
    if face.getlength(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with its ellipsis
        mid = (low + high + 1) // 2
        if face.getlength(text[:mid].rstrip() + "…") <= width:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + "…"


def contact_sheet(
    tiles: Sequence[tuple[float, Image.Image]], *, title: str, details: str, right: str
) -> Image.Image:
    """Tiles in a COLUMNS×ROWS grid under a caption strip, each stamped with its time."""
    tile_w, tile_h = tiles[0][1].size
    width = COLUMNS * tile_w + (COLUMNS + 1) * GAP
    big, small = font(max(14, min(22, width // 70))), font(max(11, min(16, width // 100)))
    strip = GAP + _line_height(big) + 4 + _line_height(small) + GAP
    sheet = Image.new("RGB", (width, strip + ROWS * tile_h + (ROWS + 1) * GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    draw.text((GAP, GAP), ellipsize(title, big, width - 2 * GAP), font=big, fill=INK)
    right_w = int(small.getlength(right))
    line_y = GAP + _line_height(big) + 4
    draw.text(
        (GAP, line_y), ellipsize(details, small, width - 3 * GAP - right_w), font=small, fill=DIM
    )
    draw.text((width - GAP - right_w, line_y), right, font=small, fill=DIM)
    stamp = font(max(11, min(18, tile_h // 12)))
    for index, (at, tile) in enumerate(tiles[: COLUMNS * ROWS]):
        left = GAP + (index % COLUMNS) * (tile_w + GAP)
        top = strip + GAP + (index // COLUMNS) * (tile_h + GAP)
        sheet.paste(tile, (left, top))
        _stamp(draw, timestamp(at), stamp, left + tile_w, top + tile_h)
    return sheet


def _line_height(face: Font) -> int:
    box = face.getbbox("Hgjy")
    return int(box[3] - box[1]) + 2


def _stamp(draw: ImageDraw.ImageDraw, text: str, face: Font, right: int, bottom: int) -> None:
    """A time label in the tile's bottom-right corner, on a dark box so it reads on any frame."""
    box = draw.textbbox((0, 0), text, font=face)
    w, h = int(box[2] - box[0]), int(box[3] - box[1])
    pad = 3
    x0, y0 = right - w - 2 * pad - 4, bottom - h - 2 * pad - 4
    draw.rectangle((x0, y0, x0 + w + 2 * pad, y0 + h + 2 * pad), fill=(0, 0, 0))
    draw.text((x0 + pad - box[0], y0 + pad - box[1]), text, font=face, fill=INK)


def animated_webp(frames: Sequence[Image.Image], fps: float) -> tuple[bytes, int, float]:
    """An endlessly looping WebP under MAX_WEBP_BYTES: (data, frame count, frames per second)."""
    data, kept, rate = b"", 0, fps
    for quality, scale, every in _WEBP_STEPS:
        chosen = list(frames[::every])
        if scale != 1.0:
            w, h = chosen[0].size
            size = (max(2, round(w * scale)), max(2, round(h * scale)))
            chosen = [frame.resize(size, Image.Resampling.BILINEAR) for frame in chosen]
        rate = fps / every
        buffer = io.BytesIO()
        # kmin=kmax=0: one key frame, then sub-frames only: 2x faster than libwebp's default
        # key-frame search, and smaller for clips that move smoothly.
        chosen[0].save(
            buffer,
            "WEBP",
            save_all=True,
            append_images=chosen[1:],
            duration=round(1000 / rate),
            loop=0,
            quality=quality,
            method=0,
            kmin=0,
            kmax=0,
        )
        data, kept = buffer.getvalue(), len(chosen)
        if len(data) <= MAX_WEBP_BYTES:
            break
    return data, kept, rate
