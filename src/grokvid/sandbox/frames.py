"""Picture geometry the renderer needs: frame rate and pixel size per resolution and ratio."""

from __future__ import annotations

FPS = 24


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """Pixel (width, height) of a clip: the short side is the resolution's line count.

    The long side is the ratio times that, rounded down to a multiple of 8, as encoders like
    (480p 16:9 -> 848x480, 720p 9:16 -> 720x1280).
    """
    short = int(resolution.rstrip("p"))
    num, den = (int(part) for part in aspect_ratio.split(":"))
    if num == den:
        return short, short
    long_side = (short * max(num, den) // min(num, den)) // 8 * 8
    return (long_side, short) if num > den else (short, long_side)
