"""Pictures of a clip, made from the downloaded file itself, with no ffmpeg binary.

Beside `<name>.mp4`:

- `<name>.poster.jpg`: the frame at 25 % of the clip, at the clip's own size;
- `<name>.sheet.jpg`: 8 evenly spaced frames in a 4×2 grid, each with its time, under a caption
  strip (the prompt's first line; model, duration, resolution, cost);
- `<name>.preview.webp`: a looping animation, at most 480 px wide (and high), about 12 fps,
  at most 2 MB.

PyAV decodes and Pillow composes (the `preview` extra). Importing this package is cheap: both are
imported only when `make_previews` runs, and their absence is `PreviewUnavailable`.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grokvid import __version__
from grokvid.api.previews.errors import INSTALL, PreviewFailed, PreviewUnavailable

if TYPE_CHECKING:
    from grokvid.api.ledger import JobRecord

__all__ = [
    "INSTALL",
    "Caption",
    "Picture",
    "PreviewFailed",
    "PreviewSet",
    "PreviewUnavailable",
    "make_previews",
    "preview_paths",
    "read_previews",
    "record_in_sidecar",
]

POSTER_AT = 0.25
TILES = 8
TILE_BOX = (400, 400)
ANIMATION_BOX = (480, 480)
ANIMATION_FPS = 12.0
SUFFIXES = {"poster": ".poster.jpg", "sheet": ".sheet.jpg", "animation": ".preview.webp"}


@dataclass(frozen=True)
class Caption:
    """What the contact sheet's caption strip says about the clip."""

    prompt: str = ""
    model: str | None = None
    duration: float | None = None
    resolution: str | None = None
    aspect_ratio: str | None = None
    cost_usd: float | None = None

    @classmethod
    def from_sidecar(cls, data: Mapping[str, Any]) -> Caption:
        """From a parsed `grokvid.clip/1` sidecar."""
        request = data.get("request") or {}
        cost = data.get("cost") or {}
        spent = cost.get("actual_usd")
        return cls(
            prompt=str(data.get("prompt") or ""),
            model=data.get("model"),
            duration=request.get("duration"),
            resolution=request.get("resolution"),
            aspect_ratio=request.get("aspect_ratio"),
            cost_usd=spent if spent is not None else cost.get("estimated_usd"),
        )

    @classmethod
    def from_job(cls, job: JobRecord) -> Caption:
        """From a ledger row (for clips whose sidecar is gone)."""
        from grokvid.api.models import ticks_to_usd

        spent = ticks_to_usd(job.cost_usd_ticks)
        return cls(
            prompt=job.prompt,
            model=job.model,
            duration=job.params.get("duration"),
            resolution=job.params.get("resolution"),
            aspect_ratio=job.params.get("aspect_ratio"),
            cost_usd=spent if spent is not None else job.estimated_cost_usd,
        )

    @property
    def title(self) -> str:
        lines = self.prompt.strip().splitlines()
        return lines[0].strip() if lines else "(no prompt)"

    def details(self, width: int, height: int, measured: float) -> str:
        """`grok-imagine-video · 8 s · 720p 16:9 (1280×720) · $0.40`."""
        seconds = self.duration if self.duration is not None else measured
        size = f"{width}×{height}"
        shape = " ".join(p for p in (self.resolution, self.aspect_ratio) if p)
        parts = [
            self.model or "",
            f"{seconds:g} s",
            f"{shape} ({size})" if shape else size,
            f"${self.cost_usd:.2f}" if self.cost_usd is not None else "",
        ]
        return " · ".join(p for p in parts if p)


@dataclass(frozen=True)
class Picture:
    path: Path
    bytes: int
    width: int
    height: int

    def record(self) -> dict[str, Any]:
        return {"name": self.path.name, "bytes": self.bytes, "width": self.width,
                "height": self.height}  # fmt: skip


@dataclass(frozen=True)
class PreviewSet:
    """The three pictures of one clip. `reused` is true when they were already up to date."""

    clip: Path
    poster: Picture
    sheet: Picture
    animation: Picture
    frames: int
    fps: float
    poster_at: float | None = None
    tile_times: tuple[float, ...] = ()
    reused: bool = False
    made_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_sidecar(self) -> dict[str, Any]:
        """The sidecar's `previews` object: file names (beside the clip), bytes and sizes."""
        return {
            "poster": {**self.poster.record(), "at": _round(self.poster_at)},
            "sheet": {
                **self.sheet.record(),
                "tiles": TILES,
                "columns": 4,
                "rows": 2,
                "times": [round(t, 3) for t in self.tile_times],
            },  # fmt: skip
            "animation": {
                **self.animation.record(),
                "frames": self.frames,
                "fps": round(self.fps, 3),
                "loop": True,
            },  # fmt: skip
            "made_by": f"grokvid {__version__}",
            "made_at": self.made_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }

    def paths(self) -> dict[str, str]:
        """Absolute paths for `--json` objects: {"poster": …, "sheet": …, "animation": …}."""
        return {
            "poster": str(self.poster.path.absolute()),
            "sheet": str(self.sheet.path.absolute()),
            "animation": str(self.animation.path.absolute()),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def preview_paths(clip: Path) -> dict[str, Path]:
    """Where the pictures of `clip` go: {"poster": x.poster.jpg, "sheet": …, "animation": …}."""
    return {kind: clip.with_name(clip.stem + suffix) for kind, suffix in SUFFIXES.items()}


def make_previews(clip: Path, *, caption: Caption, force: bool = False) -> PreviewSet:
    """Make the poster, sheet and animation of `clip` (an MP4) beside it.

    Pictures newer than the clip are kept unless `force`. Raises PreviewUnavailable when
    Pillow or PyAV is missing, PreviewFailed when the clip cannot be decoded or the pictures
    cannot be written (callers turn that into a warning: the clip itself is fine).
    """
    require()
    clip = Path(clip)
    if not clip.is_file():
        raise PreviewFailed(f"{clip} does not exist or is not a file.", clip=clip)
    if not force:
        existing = read_previews(clip)
        if existing is not None:
            return existing
    try:
        return _make(clip, caption)
    except OSError as exc:
        raise PreviewFailed(
            f"Could not write the pictures of {clip}: {exc.strerror or exc}", clip=clip
        ) from exc


def require() -> None:
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise PreviewUnavailable("Pillow") from None
    try:
        import av  # noqa: F401
    except ImportError:
        raise PreviewUnavailable("PyAV") from None


def _make(clip: Path, caption: Caption) -> PreviewSet:
    from grokvid.api.previews import compose, frames

    sample = frames.sample(
        clip,
        poster_at=POSTER_AT,
        tiles=TILES,
        tile_box=TILE_BOX,
        animation_box=ANIMATION_BOX,
        animation_fps=ANIMATION_FPS,
    )
    where = preview_paths(clip)
    poster = Picture(where["poster"], compose.save_jpeg(sample.poster, where["poster"]),
                     sample.width, sample.height)  # fmt: skip
    sheet_image = compose.contact_sheet(
        sample.tiles,
        title=caption.title,
        details=caption.details(sample.width, sample.height, sample.duration),
        right=f"{clip.name} · {_size(clip.stat().st_size)}",
    )
    sheet = Picture(where["sheet"], compose.save_jpeg(sheet_image, where["sheet"], quality=82),
                    *sheet_image.size)  # fmt: skip
    data, count, fps = compose.animated_webp(sample.animation, ANIMATION_FPS)
    if len(data) > compose.MAX_WEBP_BYTES:
        raise PreviewFailed(
            f"The animated preview of {clip} stays over 2 MB even at its smallest; "
            "the poster and sheet were made.",
            clip=clip,
        )
    written = compose.write_bytes(where["animation"], data)
    from PIL import Image

    with Image.open(where["animation"]) as anim:
        anim_size = anim.size
    return PreviewSet(
        clip=clip,
        poster=poster,
        sheet=sheet,
        animation=Picture(where["animation"], written, *anim_size),
        frames=count,
        fps=fps,
        poster_at=sample.poster_at,
        tile_times=tuple(at for at, _ in sample.tiles),
    )


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} kB"


def read_previews(clip: Path) -> PreviewSet | None:
    """The pictures already beside `clip`, if all three exist and are newer than the clip."""
    where = preview_paths(clip)
    try:
        clip_mtime = clip.stat().st_mtime
        stats = {kind: path.stat() for kind, path in where.items()}
    except OSError:
        return None
    if any(s.st_mtime < clip_mtime for s in stats.values()):
        return None
    from PIL import Image, UnidentifiedImageError

    sizes: dict[str, tuple[int, int]] = {}
    try:
        for kind, path in where.items():
            with Image.open(path) as image:
                sizes[kind] = image.size
                if kind == "animation":
                    frames = getattr(image, "n_frames", 1)
                    image.load()  # WebP reports a frame's duration once it is read
                    duration_ms = image.info.get("duration") or 0
    except (OSError, UnidentifiedImageError):
        return None  # damaged: make them again
    recorded = _recorded(clip)
    return PreviewSet(
        clip=clip,
        poster=Picture(where["poster"], stats["poster"].st_size, *sizes["poster"]),
        sheet=Picture(where["sheet"], stats["sheet"].st_size, *sizes["sheet"]),
        animation=Picture(where["animation"], stats["animation"].st_size, *sizes["animation"]),
        frames=frames,
        fps=1000 / duration_ms if duration_ms else ANIMATION_FPS,
        poster_at=(recorded.get("poster") or {}).get("at"),
        tile_times=tuple((recorded.get("sheet") or {}).get("times") or ()),
        reused=True,
    )


def _recorded(clip: Path) -> dict[str, Any]:
    try:
        data = json.loads(clip.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    previews = data.get("previews") if isinstance(data, dict) else None
    return previews if isinstance(previews, dict) else {}


def record_in_sidecar(sidecar: Path, previews: PreviewSet) -> bool:
    """Put `previews.as_sidecar()` under `previews` in a grokvid sidecar, atomically.

    Returns False (and touches nothing) when `sidecar` is missing or is not a grokvid sidecar.
    """
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not (isinstance(data, dict) and str(data.get("schema", "")).startswith("grokvid.clip/")):
        return False
    data["previews"] = previews.as_sidecar()
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{sidecar.name}.", suffix=".tmp", dir=sidecar.parent)
    try:
        os.fchmod(fd, stat.S_IMODE(sidecar.stat().st_mode))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, sidecar)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
