"""The xAI front's own account of the service's models, limits and prices (docs/xai-api.md).

The sandbox keeps this table apart from the client's on purpose: a sandbox that read the
client's table could never disagree with it the way the real service can.
"""

from __future__ import annotations

from dataclasses import dataclass

TICKS_PER_USD = 10_000_000_000
MAX_PROMPT_CHARS = 10_000
MIN_DURATION, MAX_DURATION, DEFAULT_DURATION = 1, 15, 8
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3")
DEFAULT_ASPECT_RATIO = "16:9"
DEFAULT_RESOLUTION = "480p"
DEFAULT_MODEL = "grok-imagine-video"
CREATED = 1_754_006_400  # 2025-08-01: a fixed "created" stamp, so listings are stable


@dataclass(frozen=True)
class VideoModel:
    id: str
    usd_per_second: dict[str, float]  # resolution -> price per output second
    usd_per_input_image: float
    aliases: tuple[str, ...] = ()
    upscaled: tuple[str, ...] = ()  # resolutions rendered lower and scaled up

    @property
    def resolutions(self) -> tuple[str, ...]:
        return tuple(self.usd_per_second)


MODELS: dict[str, VideoModel] = {
    m.id: m
    for m in (
        VideoModel(
            "grok-imagine-video",
            {"480p": 0.05, "720p": 0.07},
            0.002,
            aliases=("grok-imagine-video-beta",),
        ),
        VideoModel(
            "grok-imagine-video-1.5",
            {"480p": 0.08, "720p": 0.14, "1080p": 0.25},
            0.01,
            aliases=("grok-imagine-video-1.5-preview",),
        ),
        VideoModel(
            "grok-imagine-video-1.5-lite",
            {"480p": 0.02, "720p": 0.03, "1080p": 0.14},
            0.01,
            upscaled=("1080p",),
        ),
    )
}
ALIASES = {alias: m.id for m in MODELS.values() for alias in m.aliases}
RESOLUTIONS = tuple(dict.fromkeys(r for m in MODELS.values() for r in m.resolutions))


def canonical(name: str) -> VideoModel | None:
    """The model a name or alias stands for, or None for a name the service does not know."""
    return MODELS.get(ALIASES.get(name, name))


def cost_ticks(model: VideoModel, resolution: str, duration: int, images: int) -> int:
    """What one clip is charged: output seconds at the resolution's price, plus input images."""
    usd = model.usd_per_second[resolution] * duration + model.usd_per_input_image * images
    return round(usd * TICKS_PER_USD)


def models_listing() -> dict[str, object]:
    """`GET /v1/models`: the OpenAI-style list every xAI model appears in (aliases too)."""
    ids = [name for m in MODELS.values() for name in (m.id, *m.aliases)]
    return {
        "data": [
            {"id": name, "object": "model", "created": CREATED, "owned_by": "xai"} for name in ids
        ],
        "object": "list",
    }


def video_model(model: VideoModel) -> dict[str, object]:
    """One entry of `GET /v1/video-generation-models`, prices in USD ticks."""
    return {
        "id": model.id,
        "fingerprint": f"fp_sandbox_{model.id.replace('-', '_').replace('.', '_')}",
        "created": CREATED,
        "object": "model",
        "owned_by": "xai",
        "version": "1.0.0",
        "aliases": list(model.aliases),
        "input_modalities": ["text", "image"],
        "output_modalities": ["video"],
        "resolutions": list(model.resolutions),
        "durations": {"min": MIN_DURATION, "max": MAX_DURATION, "default": DEFAULT_DURATION},
        "aspect_ratios": list(ASPECT_RATIOS),
        "price_per_second_in_usd_ticks": {
            res: round(usd * TICKS_PER_USD) for res, usd in model.usd_per_second.items()
        },
        "price_per_input_image_in_usd_ticks": round(model.usd_per_input_image * TICKS_PER_USD),
    }


def video_models_listing() -> dict[str, object]:
    return {"models": [video_model(m) for m in MODELS.values()]}
