"""One self-contained HTML page of clips: opens from `file://`, makes no network request.

Each clip is a card: its poster (inlined as a small `data:` JPEG), a `<video>` playing the local
MP4 by relative path, the prompt, parameters, state, cost and sha256. Failed and moderated jobs
are cards too, with their error. A Content-Security-Policy forbids every fetch except inline data
and local media, so the page stays offline even if a prompt smuggles in markup (all text is
escaped anyway).
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from grokvid.api.errors import ValidationError
from grokvid.api.gallery_html import render_page

if TYPE_CHECKING:
    from grokvid.api.ledger import JobRecord

POSTER_BOX = (320, 320)
SCHEMA_PREFIX = "grokvid.clip/"


@dataclass(frozen=True)
class Card:
    """One clip (or one job that produced none) as the gallery shows it."""

    id: str
    state: str
    prompt: str
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None
    sha256: str | None = None
    bytes: int | None = None
    video: Path | None = None  # the MP4, when it is on disk
    poster: Path | None = None
    sheet: Path | None = None
    animation: Path | None = None
    metadata: Path | None = None
    error: str | None = None
    when: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def card_from_sidecar(sidecar: Path, data: dict[str, Any]) -> Card:
    """A card from a parsed `grokvid.clip/1` sidecar and the files beside it."""
    from grokvid.api.previews import preview_paths

    file = data.get("file") or {}
    clip = sidecar.with_name(str(file.get("name") or sidecar.with_suffix(".mp4").name))
    pictures = {kind: p if p.is_file() else None for kind, p in preview_paths(clip).items()}
    cost = data.get("cost") or {}
    spent = cost.get("actual_usd")
    present = clip.is_file()
    return Card(
        id=str(data.get("local_id") or clip.stem),
        state="downloaded" if present else "missing",
        prompt=str(data.get("prompt") or ""),
        model=data.get("model"),
        params=dict(data.get("request") or {}),
        cost_usd=spent if spent is not None else cost.get("estimated_usd"),
        sha256=file.get("sha256"),
        bytes=file.get("bytes"),
        video=clip if present else None,
        poster=pictures["poster"],
        sheet=pictures["sheet"],
        animation=pictures["animation"],
        metadata=sidecar,
        error=None if present else f"the clip {clip.name} is no longer beside its sidecar",
        when=_when(data.get("downloaded_at") or data.get("completed_at")),
    )


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The parsed sidecar, or None when `path` is not a grokvid sidecar."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict) and str(data.get("schema", "")).startswith(SCHEMA_PREFIX):
        return data
    return None


def cards_from_sidecars(dirs: Sequence[Path]) -> list[Card]:
    """Every clip whose sidecar is directly in one of `dirs`, newest first."""
    cards: list[Card] = []
    seen: set[Path] = set()
    for folder in dirs:
        if not folder.is_dir():
            raise ValidationError(
                f"{folder} is not a folder: give folders that hold grokvid clips and their "
                ".json sidecars.",
                "dirs",
            )
        for sidecar in sorted(folder.glob("*.json")):
            resolved = sidecar.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            data = read_sidecar(sidecar)
            if data is not None:
                cards.append(card_from_sidecar(sidecar, data))
    return sorted(cards, key=lambda c: c.when.timestamp() if c.when else 0.0, reverse=True)


def cards_from_jobs(jobs: Iterable[JobRecord]) -> list[Card]:
    """A card per ledger row: from its sidecar when the clip is on disk, else from the row."""
    from grokvid.api.models import ticks_to_usd

    cards: list[Card] = []
    for job in jobs:
        planned = Path(job.output_path) if job.output_path else None
        data = read_sidecar(planned.with_suffix(".json")) if planned else None
        if planned is not None and data is not None:
            card = card_from_sidecar(planned.with_suffix(".json"), data)
            state = job.state if card.video is not None else "missing"
            cards.append(_replace(card, id=job.local_id, state=state))
            continue
        spent = ticks_to_usd(job.cost_usd_ticks)
        error = None
        if job.error_code or job.error_message:
            error = ": ".join(p for p in (job.error_code, job.error_message) if p)
        elif job.state == "downloaded":
            error = f"the clip {planned.name if planned else ''} is no longer on disk".strip()
        cards.append(
            Card(
                id=job.local_id,
                state="missing" if job.state == "downloaded" else job.state,
                prompt=job.prompt,
                model=job.model,
                params={k: v for k, v in job.params.items() if k not in {"prompt", "image"}},
                cost_usd=spent if spent is not None else job.estimated_cost_usd,
                sha256=job.sha256,
                bytes=job.bytes,
                error=error,
                when=job.created_at,
            )
        )
    return cards


def _replace(card: Card, **changes: Any) -> Card:
    from dataclasses import replace

    return replace(card, **changes)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def poster_data_uri(poster: Path | None) -> str | None:
    """The poster shrunk to fit POSTER_BOX as a `data:image/jpeg` URI; None without Pillow."""
    if poster is None:
        return None
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        return None
    try:
        with Image.open(poster) as image:
            # JPEG can decode straight at 1/2, 1/4 or 1/8 size: far cheaper than a full decode.
            # Ask for the final size, not the box: the draft then picks the deepest scale.
            scale = min(POSTER_BOX[0] / image.width, POSTER_BOX[1] / image.height, 1.0)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image.draft("RGB", size)
            small = image.convert("RGB")
            if small.size != size:
                small = small.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    except (OSError, UnidentifiedImageError):
        return None
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=72)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def relative_url(target: Path, page_dir: Path) -> str:
    """A URL for `target` relative to the page, so the folder can move as a whole."""
    try:
        rel = os.path.relpath(target.absolute(), page_dir.absolute())
    except ValueError:  # another drive on Windows: only an absolute URL can reach it
        return target.absolute().as_uri()
    return quote(Path(rel).as_posix())


def write_gallery(cards: list[Card], out: Path, *, title: str = "grokvid gallery") -> Path:
    """Write the page to `out` atomically and return its path."""
    page_dir = out.absolute().parent
    if not page_dir.is_dir():
        raise ValidationError(
            f"{page_dir} does not exist: create it or write the gallery elsewhere.", "out"
        )
    html = render_page(cards, page_dir=page_dir, title=title)
    temp = out.with_name(f".{out.name}.part")
    try:
        temp.write_text(html, encoding="utf-8")
        temp.replace(out)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return out
