"""xAI's wire request and model table (docs/xai-api.md, "Models"), used by the xAI provider.

Everything the service publishes about its models (resolutions, prices, aliases, limits) lives
here and nowhere else in the client, so a price change is a one-line edit. The sandbox keeps a
table of its own on purpose: it must be able to disagree with us as the real service would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from grokvid.api.errors import ValidationError

API_BASE_URL = "https://api.x.ai"
TICKS_PER_USD = 10_000_000_000
FPS = 24
DEFAULT_MODEL = "grok-imagine-video"
DEFAULT_DURATION = 8
DEFAULT_ASPECT_RATIO = "16:9"
DEFAULT_RESOLUTION = "480p"
MIN_DURATION = 1
MAX_DURATION = 15
MAX_PROMPT_CHARS = 10_000
PROMPT_WARN_CHARS = 4_096

ASPECT_RATIOS: tuple[str, ...] = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3")
RESOLUTIONS: tuple[str, ...] = ("480p", "720p", "1080p")

AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"]
Resolution = Literal["480p", "720p", "1080p"]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    usd_per_second: dict[str, float]  # resolution -> price per output second
    usd_per_image: float = 0.0  # each input image adds this to the charge
    aliases: tuple[str, ...] = ()

    @property
    def resolutions(self) -> tuple[str, ...]:
        return tuple(self.usd_per_second)


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            "grok-imagine-video",
            {"480p": 0.05, "720p": 0.07},
            usd_per_image=0.002,
            aliases=("grok-imagine-video-beta",),
        ),
        ModelInfo(
            "grok-imagine-video-1.5",
            {"480p": 0.08, "720p": 0.14, "1080p": 0.25},
            usd_per_image=0.01,
            aliases=("grok-imagine-video-1.5-preview",),
        ),
        ModelInfo(
            "grok-imagine-video-1.5-lite",
            {"480p": 0.02, "720p": 0.03, "1080p": 0.14},
            usd_per_image=0.01,
        ),
    )
}
ALIASES: dict[str, str] = {alias: m.name for m in MODELS.values() for alias in m.aliases}


def model_info(name: str) -> ModelInfo | None:
    """The table entry for a model name or one of its aliases."""
    return MODELS.get(ALIASES.get(name, name))


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """Pixel (width, height) a clip of this resolution and aspect ratio has.

    The short side is the resolution's line count; the long side is the ratio times that,
    rounded down to a multiple of 8 (480p 16:9 -> 848x480, 720p 9:16 -> 720x1280).
    """
    short = int(resolution.rstrip("p"))
    num, den = (int(part) for part in aspect_ratio.split(":"))
    if num == den:
        return short, short
    long_side = (short * max(num, den) // min(num, den)) // 8 * 8
    return (long_side, short) if num > den else (short, long_side)


def estimate_cost_usd(
    model: str, resolution: str, duration: int, *, images: int = 0
) -> float | None:
    """Estimated price of one clip, or None for a model missing from the table."""
    info = model_info(model)
    if info is None or resolution not in info.usd_per_second:
        return None
    return round(info.usd_per_second[resolution] * duration + info.usd_per_image * images, 4)


def ticks_to_usd(ticks: int | None) -> float | None:
    return None if ticks is None else ticks / TICKS_PER_USD


class ImageInput(BaseModel):
    """Image-to-video source: sent as the nested `image` object, never as top-level image_url."""

    url: str


class VideoRequest(BaseModel):
    """One paid generation request, exactly as it goes on the wire."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = DEFAULT_MODEL
    prompt: str
    duration: int = Field(default=DEFAULT_DURATION, strict=True)
    aspect_ratio: str = DEFAULT_ASPECT_RATIO
    resolution: str = DEFAULT_RESOLUTION
    generate_audio: bool = True
    image: ImageInput | None = None
    user: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body of `POST /v1/videos/generations`.

        An image-to-video request without words leaves the prompt out: it is required for
        text-to-video only.
        """
        body = self.model_dump(exclude_none=True)
        if self.image is not None and not self.prompt.strip():
            del body["prompt"]
        return body

    @property
    def estimated_cost_usd(self) -> float | None:
        images = 0 if self.image is None else 1
        return estimate_cost_usd(self.model, self.resolution, self.duration, images=images)

    @property
    def size(self) -> tuple[int, int]:
        return frame_size(self.resolution, self.aspect_ratio)


def check_request(request: VideoRequest) -> list[str]:
    """Apply every rule of the service before anything is spent.

    Raises ValidationError naming the field and the allowed values; returns warnings
    (unknown model, long prompt) that should be shown but do not stop the request.
    """
    warnings: list[str] = []
    prompt = request.prompt
    if not prompt.strip() and request.image is None:
        raise ValidationError("The prompt is empty: give a text describing the clip.", "prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValidationError(
            f"The prompt is {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}. "
            "Shorten it.",
            "prompt",
        )
    if len(prompt) > PROMPT_WARN_CHARS:
        warnings.append(
            f"The prompt is {len(prompt):,} characters; some deployments reject prompts over "
            f"{PROMPT_WARN_CHARS:,}."
        )
    if not MIN_DURATION <= request.duration <= MAX_DURATION:
        raise ValidationError(
            f"Duration {request.duration} is out of range: use a whole number of seconds "
            f"from {MIN_DURATION} to {MAX_DURATION}.",
            "duration",
        )
    if request.aspect_ratio not in ASPECT_RATIOS:
        raise ValidationError(
            f"Aspect ratio {request.aspect_ratio!r} is not offered: use one of "
            f"{', '.join(ASPECT_RATIOS)}.",
            "aspect_ratio",
        )
    if request.resolution not in RESOLUTIONS:
        raise ValidationError(
            f"Resolution {request.resolution!r} is not offered: use one of "
            f"{', '.join(RESOLUTIONS)}.",
            "resolution",
        )
    info = model_info(request.model)
    if info is None:
        warnings.append(
            f"Model {request.model!r} is not one grokvid knows ({', '.join(MODELS)}); "
            "sending it anyway and letting the service decide."
        )
    elif request.resolution not in info.resolutions:
        raise ValidationError(
            f"{request.model} does not offer {request.resolution}: use one of "
            f"{', '.join(info.resolutions)}, or a model that does (e.g. grok-imagine-video-1.5).",
            "resolution",
        )
    if request.image is not None and not request.image.url.startswith(("https://", "data:image/")):
        raise ValidationError(
            "The image must be an https:// URL or a data:image/...;base64 URI.", "image"
        )
    return warnings
