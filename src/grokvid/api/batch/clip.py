"""One clip's merged fields, its identity (fingerprint) and the body a dry run shows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from grokvid.api.batch.resume import JobRecordLike
from grokvid.api.batch.shard import Shard

FINGERPRINT_VERSION = 1
URL_PREFIXES = ("https://", "http://", "data:")
FLAG_FIELDS = frozenset({"model", "duration", "resolution", "aspect_ratio", "audio", "variants"})


@dataclass(frozen=True)
class ClipFields:
    """One clip's request, every layer merged: what `check` validates and the runner sends.

    `image` is an URL as given or an absolute file path; `image_sha256` hashes the file's
    bytes (or the URL's text).
    """

    prompt: str
    model: str
    duration: int
    resolution: str
    aspect_ratio: str
    audio: bool
    image: str | None = None
    image_sha256: str | None = None
    variant: int = 1
    variants: int = 1
    item_id: str | None = None


class SettingsLike(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def duration(self) -> int: ...
    @property
    def resolution(self) -> str: ...
    @property
    def aspect_ratio(self) -> str: ...
    @property
    def generate_audio(self) -> bool: ...


@dataclass(frozen=True)
class BaseFields:
    """Built-ins < config < environment, already resolved (grokvid.api.config.Settings)."""

    model: str
    duration: int
    resolution: str
    aspect_ratio: str
    audio: bool = True

    @classmethod
    def from_settings(cls, settings: SettingsLike) -> BaseFields:
        return cls(
            settings.model,
            settings.duration,
            settings.resolution,
            settings.aspect_ratio,
            settings.generate_audio,
        )


@dataclass(frozen=True)
class PlanOptions:
    """The batch command's choices. `flags` holds only flags the user gave, by field name
    (model, duration, resolution, aspect_ratio, audio, variants), already typed."""

    output_dir: Path
    provider: str
    base_url: str
    name: str | None = None
    flags: Mapping[str, object] = field(default_factory=dict)
    force: bool = False
    retry_failed: bool = False
    retry_unknown: bool = False
    shard: Shard | None = None


Check = Callable[[ClipFields], list[str]]
Lookup = Callable[[str], Sequence[JobRecordLike]]
Estimate = Callable[[ClipFields], float | None]


def fingerprint(clip: ClipFields, *, provider: str, base_url: str) -> str:
    """sha256 over the canonical request: the identity that makes a re-run a resume."""
    image: dict[str, str] | None = None
    if clip.image is not None:
        kind = "url_sha256" if clip.image.startswith(URL_PREFIXES) else "sha256"
        image = {kind: clip.image_sha256 or ""}
    canonical = {
        "v": FINGERPRINT_VERSION,
        "provider": provider,
        "api_host": api_host(base_url),
        "model": clip.model,
        "prompt": clip.prompt,
        "duration": clip.duration,
        "resolution": clip.resolution,
        "aspect_ratio": clip.aspect_ratio,
        "audio": clip.audio,
        "image": image,
        "variant": clip.variant,
        "id": clip.item_id,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def api_host(base_url: str) -> str:
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def request_body(clip: ClipFields) -> dict[str, Any]:
    """The POST body as a dry run shows it; a local image appears as its path and sha256
    (the runner inlines the bytes), so a plan line stays small."""
    body: dict[str, Any] = {
        "model": clip.model,
        "prompt": clip.prompt,
        "duration": clip.duration,
        "aspect_ratio": clip.aspect_ratio,
        "resolution": clip.resolution,
        "generate_audio": clip.audio,
    }
    if clip.image is not None:
        if clip.image.startswith(URL_PREFIXES):
            body["image"] = {"url": clip.image}
        else:
            body["image"] = {"file": clip.image, "sha256": clip.image_sha256}
        if not clip.prompt.strip():
            del body["prompt"]
    return body
