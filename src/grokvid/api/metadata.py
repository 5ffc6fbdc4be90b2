"""The JSON sidecar written beside every clip (`"schema": "grokvid.clip/1"`)."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from grokvid import __version__
from grokvid.api.download import DownloadResult
from grokvid.api.errors import ValidationError, option
from grokvid.api.ledger import JobRecord
from grokvid.api.media import MediaInfo
from grokvid.api.models import FPS, frame_size, ticks_to_usd

SCHEMA = "grokvid.clip/1"
URL_LIFETIME = timedelta(hours=24)  # docs/xai-api.md: result URLs live about a day


class ToolInfo(BaseModel):
    name: str = "grokvid"
    version: str = __version__


class FileInfo(BaseModel):
    name: str
    bytes: int
    sha256: str


class VideoInfo(BaseModel):
    width: int
    height: int
    fps: float
    duration: float
    frames: int | None = None
    has_audio: bool | None
    video_codec: str | None = None
    audio_codec: str | None = None
    measured_by: str = Field(description='"pyav" (read from the file) or "service" (reported)')


class SourceInfo(BaseModel):
    url: str | None
    expires_at: datetime | None


class CostInfo(BaseModel):
    estimated_usd: float | None
    actual_usd: float | None
    actual_usd_ticks: int | None


class ClipMetadata(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    schema_: str = Field(default=SCHEMA, alias="schema")
    tool: ToolInfo = ToolInfo()
    provider: str
    model: str
    local_id: str
    request_id: str | None
    prompt: str
    request: dict[str, Any]
    submitted_at: datetime | None
    completed_at: datetime | None
    downloaded_at: datetime | None
    render_seconds: float | None
    # True when no process watched the render finish (a job picked up later): the figure is
    # submit-to-first-sighting, an upper bound.
    render_seconds_approximate: bool = False
    file: FileInfo
    video: VideoInfo
    source: SourceInfo
    cost: CostInfo
    previews: dict[str, Any] | None = None  # poster, sheet, animation: file names, bytes, sizes


def build(
    job: JobRecord, result: DownloadResult, media: MediaInfo | None, downloaded_at: datetime
) -> ClipMetadata:
    """Describe a downloaded clip from its ledger row, the download and the measured file."""
    if media is not None:
        video = VideoInfo(measured_by="pyav", **media.model_dump())
    else:
        width, height = frame_size(
            str(job.params.get("resolution", "480p")), str(job.params.get("aspect_ratio", "16:9"))
        )
        video = VideoInfo(
            width=width,
            height=height,
            fps=float(FPS),
            duration=float(job.params.get("duration", 0)),
            has_audio=bool(job.params.get("generate_audio", True)),
            measured_by="service",
        )
    render_seconds = job.service_render_seconds
    approximate = False
    if render_seconds is None and job.submitted_at and job.completed_at:
        render_seconds = round((job.completed_at - job.submitted_at).total_seconds(), 2)
        approximate = True
    fetched = job.video_url_fetched_at
    return ClipMetadata(
        provider=job.provider,
        model=job.model,
        local_id=job.local_id,
        request_id=job.request_id,
        prompt=job.prompt,
        request={k: v for k, v in job.params.items() if k != "prompt"},
        submitted_at=job.submitted_at,
        completed_at=job.completed_at,
        downloaded_at=downloaded_at,
        render_seconds=render_seconds,
        render_seconds_approximate=approximate,
        file=FileInfo(name=result.path.name, bytes=result.bytes, sha256=result.sha256),
        video=video,
        source=SourceInfo(
            url=job.video_url, expires_at=fetched + URL_LIFETIME if fetched else None
        ),
        cost=CostInfo(
            estimated_usd=job.estimated_cost_usd,
            actual_usd=ticks_to_usd(job.cost_usd_ticks),
            actual_usd_ticks=job.cost_usd_ticks,
        ),
    )


def sidecar_path(clip: Path) -> Path:
    return clip.with_suffix(".json")


def is_sidecar(path: Path) -> bool:
    """Whether `path` holds a grokvid sidecar (which grokvid may replace), not a user's file."""
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("schema", "")).startswith("grokvid.clip/")


def check_free(path: Path, *, force: bool) -> None:
    """Refuse to put a sidecar over a file that is not one, unless forced."""
    if path.exists() and not force and not is_sidecar(path):
        raise ValidationError(
            f"{path} already exists and is not a grokvid sidecar: the clip's metadata would "
            f"replace it. Pass {option('force')}, or choose another {option('output')}.",
            "output",
        )


def write(meta: ClipMetadata, path: Path) -> Path:
    """Write the sidecar atomically (temp file + rename): never a half-written JSON."""
    text = json.dumps(meta.model_dump(mode="json", by_alias=True), indent=2, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        clip = path.with_suffix(".mp4")
        if clip.exists():  # readable like the clip beside it, not mkstemp's 0600
            os.fchmod(fd, stat.S_IMODE(clip.stat().st_mode))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
