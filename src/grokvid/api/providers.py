"""The provider protocol: what every video service maps its wire format onto."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

from grokvid.api.models import VideoRequest

RemoteState = Literal["pending", "done", "failed", "moderated", "expired"]


class JobStatus(BaseModel):
    """One poll's answer, in grokvid's terms.

    `moderated` is the service's `done` with `respect_moderation: false`; a `done` without a
    URL for another reason is reported as `failed` with code `no_video`.
    """

    request_id: str
    state: RemoteState
    progress: int | None = None
    model: str | None = None
    video_url: str | None = None
    video_duration: float | None = None
    cost_usd_ticks: int | None = None
    error_code: str | None = None
    error_message: str | None = None


class Provider(Protocol):
    name: str
    base_url: str

    async def submit(self, request: VideoRequest) -> str:
        """Send one paid request; return the service's request id."""
        ...

    async def poll(self, request_id: str) -> JobStatus: ...

    async def aclose(self) -> None: ...
