"""What the xAI front checks on a submit, and how it says no (docs/xai-api.md, "Errors").

A body that is not JSON is 415 (wrong Content-Type) or 400; type errors (a string duration, an
`image` that is not an object) are 422, as a typed JSON deserializer reports them; broken rules
(duration 0, 1080p on a model without it, unknown model) are 400 invalid-argument. Unknown
fields, such as a top-level `image_url`, are ignored, as the service ignores them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from grokvid.sandbox.fronts.xai_models import (
    ASPECT_RATIOS,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_DURATION,
    DEFAULT_MODEL,
    DEFAULT_RESOLUTION,
    MAX_DURATION,
    MAX_PROMPT_CHARS,
    MIN_DURATION,
    MODELS,
    RESOLUTIONS,
    canonical,
)

INVALID = "invalid-argument"
UNPROCESSABLE = "unprocessable-entity"
MAX_KEPT_URI_CHARS = 4096  # longer data: URIs are kept as a digest (a job store of 27 MB images)

# (field, JSON type the service deserializes it as), in the service's field order.
_FIELDS: tuple[tuple[str, type], ...] = (
    ("model", str),
    ("prompt", str),
    ("duration", int),
    ("aspect_ratio", str),
    ("resolution", str),
    ("generate_audio", bool),
    ("image", dict),
    ("user", str),
)
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object"}


class Rejected(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def parse_json(body: bytes) -> object:
    """The parsed body; Rejected 400 for anything that is not JSON (or nests absurdly deep)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise Rejected(
            400, INVALID, "Failed to parse the request body: nested too deeply."
        ) from None
    except ValueError:  # includes UnicodeDecodeError
        raise Rejected(400, INVALID, "Failed to parse the request body as JSON.") from None


def validate_submit(
    content_type: str | None, data: object, *, max_prompt_chars: int = MAX_PROMPT_CHARS
) -> dict[str, Any]:
    """The accepted request with every default filled in and the model made canonical.

    `data` is what `parse_json` gave for the body, or the Rejected it raised.
    """
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise Rejected(
            415, "unsupported-media-type", "Expected request with `Content-Type: application/json`."
        )
    if isinstance(data, Rejected):
        raise data
    if not isinstance(data, dict):
        raise Rejected(422, UNPROCESSABLE, _deserialize("body: expected a JSON object"))
    known = {name: data[name] for name, _ in _FIELDS if data.get(name) is not None}
    image_only = "image" in known and not str(known.get("prompt") or "").strip()
    for name, kind in _FIELDS:
        if name not in known:
            if name == "prompt" and not image_only:
                raise Rejected(422, UNPROCESSABLE, _deserialize("missing field `prompt`"))
            continue
        value = known[name]
        # Strict, as a typed JSON service is: "yes" is not a boolean, "8" and 8.5 not integers.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise Rejected(
                422, UNPROCESSABLE, _deserialize(f"{name}: expected {_TYPE_NAMES[kind]}")
            )
    if "image" in known and not isinstance(known["image"].get("url"), str):
        raise Rejected(422, UNPROCESSABLE, _deserialize("image.url: expected a string"))
    params = _with_defaults(known)
    _check_rules(params, max_prompt_chars)
    if "image" in params:
        params["image"] = {"url": _kept_url(params["image"]["url"])}
    return params


def _with_defaults(known: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": known.get("model", DEFAULT_MODEL),
        "prompt": known.get("prompt", ""),
        "duration": known.get("duration", DEFAULT_DURATION),
        "aspect_ratio": known.get("aspect_ratio", DEFAULT_ASPECT_RATIO),
        "resolution": known.get("resolution", DEFAULT_RESOLUTION),
        "generate_audio": known.get("generate_audio", True),
    }
    if "image" in known:
        params["image"] = {"url": known["image"]["url"]}
    if "user" in known:
        params["user"] = known["user"]
    return params


def _check_rules(params: dict[str, Any], max_prompt_chars: int) -> None:
    prompt: str = params["prompt"]
    if not prompt.strip() and "image" not in params:
        raise Rejected(400, INVALID, "Prompt cannot be empty.")
    limit = min(max_prompt_chars, MAX_PROMPT_CHARS)
    if len(prompt) > limit:
        raise Rejected(
            400,
            INVALID,
            f"The prompt is {len(prompt):,} characters; this deployment accepts at most {limit:,}.",
        )
    if not MIN_DURATION <= params["duration"] <= MAX_DURATION:
        raise Rejected(
            400,
            INVALID,
            f"Invalid duration {params['duration']}: it must be between {MIN_DURATION} and "
            f"{MAX_DURATION} seconds.",
        )
    if params["aspect_ratio"] not in ASPECT_RATIOS:
        raise Rejected(
            400,
            INVALID,
            f"Invalid aspect_ratio {params['aspect_ratio']!r}: supported values are "
            f"{', '.join(ASPECT_RATIOS)}.",
        )
    model = canonical(params["model"])
    if model is None:
        raise Rejected(
            400,
            INVALID,
            f"The model {params['model']!r} does not exist or your team does not have access "
            f"to it. Available video models: {', '.join(MODELS)}.",
        )
    params["model"] = model.id  # an alias is answered as the model it stands for
    if params["resolution"] not in model.resolutions:
        known = "unknown" if params["resolution"] not in RESOLUTIONS else "not offered"
        raise Rejected(
            400,
            INVALID,
            f"Resolution {params['resolution']!r} is {known} for {model.id}: supported values "
            f"are {', '.join(model.resolutions)}.",
        )
    if "image" in params and not params["image"]["url"].startswith(("https://", "data:image/")):
        raise Rejected(
            400, INVALID, "image.url must be an https:// URL or a data:image/...;base64 URI."
        )


def _kept_url(url: str) -> str:
    """The image URL as the job store keeps it: a long data: URI becomes its head and digest."""
    if len(url) <= MAX_KEPT_URI_CHARS:
        return url
    head = url[: url.find(",") + 1] if "," in url[:100] else url[:40]
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{head}<{len(url):,} characters, sha256 {digest}>"


def _deserialize(detail: str) -> str:
    return f"Failed to deserialize the JSON body into the target type: {detail}"
