"""The X/Y plot of a matrix batch: posters in a grid whose columns and rows are two axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from grokvid.api.previews import Picture, PreviewFailed
from grokvid.api.previews.errors import PreviewUnavailable

CELL_BOX = (320, 320)


def make_matrix_grid(
    cells: Mapping[tuple[str, str], Path | None],
    *,
    x_axis: tuple[str, Sequence[str]],
    y_axis: tuple[str, Sequence[str]],
    out: Path,
    notes: Mapping[tuple[str, str], str] | None = None,
) -> Picture:
    """Write `out` (e.g. `<summary>.grid.jpg`): one poster per (x value, y value) cell.

    `x_axis`/`y_axis` are (axis name, values in order); a batch with one axis passes
    `("", [""])` as `y_axis`. A cell whose poster is None is drawn as a grey box with its note
    from `notes` (e.g. "moderated"), so a failed combination still shows where it sits.
    """
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise PreviewUnavailable("Pillow") from None
    from grokvid.api.previews import compose

    x_name, xs = x_axis
    y_name, ys = y_axis
    if not xs or not ys:
        raise PreviewFailed("A matrix grid needs at least one value on each axis.", clip=out)
    thumbs: dict[tuple[str, str], Image.Image] = {}
    for key, poster in cells.items():
        if poster is None:
            continue
        try:
            with Image.open(poster) as image:
                image.draft("RGB", CELL_BOX)
                thumb = image.convert("RGB")
                thumb.thumbnail(CELL_BOX)
                thumbs[key] = thumb
        except OSError:
            continue  # drawn as a missing cell
    cell_w = max((t.width for t in thumbs.values()), default=CELL_BOX[0])
    cell_h = max((t.height for t in thumbs.values()), default=CELL_BOX[1] * 9 // 16)
    label = compose.font(16)
    small = compose.font(13)
    gap = compose.GAP
    left = max([int(label.getlength(y)) for y in ys] + [int(small.getlength(y_name))]) + 3 * gap
    left = min(left, 260)
    top = 2 * gap + 2 * 20
    width = left + len(xs) * (cell_w + gap) + gap
    height = top + len(ys) * (cell_h + gap) + gap
    grid = Image.new("RGB", (width, height), compose.BACKGROUND)
    draw = ImageDraw.Draw(grid)
    axes = f"{x_name} →" + (f"   ·   {y_name} ↓" if y_name else "")
    draw.text((gap, gap), axes, font=small, fill=compose.DIM)
    for col, x in enumerate(xs):
        cx = left + col * (cell_w + gap)
        text = compose.ellipsize(x, label, cell_w)
        draw.text((cx, gap + 20), text, font=label, fill=compose.INK)
    for row, y in enumerate(ys):
        cy = top + row * (cell_h + gap)
        text = compose.ellipsize(y, label, left - 2 * gap)
        draw.text((gap, cy + cell_h // 2 - 10), text, font=label, fill=compose.INK)
        for col, x in enumerate(xs):
            cx = left + col * (cell_w + gap)
            found = thumbs.get((x, y))
            if found is not None:
                grid.paste(
                    found, (cx + (cell_w - found.width) // 2, cy + (cell_h - found.height) // 2)
                )
                continue
            draw.rectangle((cx, cy, cx + cell_w - 1, cy + cell_h - 1), fill=(60, 63, 70))
            note = (notes or {}).get((x, y)) or "no clip"
            note = compose.ellipsize(note, small, cell_w - 2 * gap)
            draw.text((cx + gap, cy + cell_h // 2 - 8), note, font=small, fill=compose.INK)
    written = compose.save_jpeg(grid, out, quality=85)
    return Picture(out, written, width, height)
