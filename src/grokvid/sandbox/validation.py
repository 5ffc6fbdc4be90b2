"""What the service checks, and how it says no: flat `{"code", "error"}` bodies.

On a submit, a body that is not JSON is 415 (wrong Content-Type) or 400; type errors (a string
duration, an `image` that is not an object) are 422, as a JSON deserializer reports them; broken
rules (duration 0, 1080p on a model without it, unknown model) are 400 invalid-argument. Unknown
fields, such as a top-level `image_url`, are ignored.
"""

from __future__ import annotations

from typing import Any

import pydantic

from grokvid.api.errors import ValidationError
from grokvid.api.models import MODELS, VideoRequest, check_request
from grokvid.sandbox.asgi import Response, error_response
from grokvid.sandbox.faults import StatusFault

INVALID = "invalid-argument"
UNPROCESSABLE = "unprocessable-entity"
_IMAGE_ONLY_PROMPT = "image-to-video"  # stands in for an absent prompt while checking the rest
RATE_LIMIT_MESSAGE = "Too many requests: Requests per Minute (actual/limit): 71/70."
CREDITS_MESSAGE = (
    "Your team has either used all available credits or reached its monthly spending limit. "
    "To continue making API requests, please purchase more credits or raise your spending limit."
)
_STATUS_FAULTS = {
    500: ("internal", "An internal server error occurred (sandbox fault)."),
    502: ("bad-gateway", "Bad gateway: the upstream service did not answer (sandbox fault)."),
    503: ("unavailable", "The service is temporarily unavailable (sandbox fault)."),
    504: ("deadline-exceeded", "Gateway timeout: the upstream took too long (sandbox fault)."),
}


class Rejected(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def validate_submit(
    content_type: str | None, data: object, *, max_prompt_chars: int
) -> dict[str, Any]:
    """The accepted request with every default filled in; Rejected otherwise.

    `data` is the parsed JSON body, or None if it did not parse.
    """
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise Rejected(
            415, "unsupported-media-type", "Expected request with `Content-Type: application/json`."
        )
    if data is None:
        raise Rejected(400, INVALID, "Failed to parse the request body as JSON.")
    if not isinstance(data, dict):
        raise Rejected(422, UNPROCESSABLE, _deserialize("expected a JSON object"))
    known = {k: v for k, v in data.items() if k in VideoRequest.model_fields and v is not None}
    prompt = known.get("prompt")
    # The prompt is required for text-to-video only: an image alone is a valid request.
    blank = prompt is None or (isinstance(prompt, str) and not prompt.strip())
    image_only = "image" in known and blank
    if image_only:
        known["prompt"] = _IMAGE_ONLY_PROMPT
    try:
        # Strict, as a typed JSON service is: "yes" is not a boolean, "8" is not a number.
        request = VideoRequest.model_validate(known, strict=True)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise Rejected(422, UNPROCESSABLE, _deserialize(f"{where}: {first['msg']}")) from None
    try:
        check_request(request)
    except ValidationError as exc:
        raise Rejected(400, INVALID, exc.message) from None
    if request.model not in MODELS:
        raise Rejected(
            400,
            INVALID,
            f"The model {request.model!r} does not exist or your team does not have access "
            f"to it. Available video models: {', '.join(MODELS)}.",
        )
    if len(request.prompt) > max_prompt_chars:
        raise Rejected(
            400,
            INVALID,
            f"The prompt is {len(request.prompt):,} characters; this deployment accepts at most "
            f"{max_prompt_chars:,}.",
        )
    params = request.body()
    if image_only:
        params["prompt"] = prompt or ""
    return params


def _deserialize(detail: str) -> str:
    return f"Failed to deserialize the JSON body into the target type: {detail}"


def key_error(authorization: str | None) -> Response | None:
    """The documented answers to a missing or special key; any other key is accepted."""
    scheme, _, key = (authorization or "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return error_response(
            401,
            "unauthenticated",
            "Missing or malformed Authorization header: send `Authorization: Bearer <key>`.",
        )
    masked = f"{key[:2]}***{key[-2:]}"
    if key.startswith("xai-bad"):
        return error_response(
            400,
            "Client specified an invalid argument",
            f"Incorrect API key provided: {masked}. "
            "You can obtain an API key from https://console.x.ai.",
        )
    if key.startswith("xai-denied"):
        return error_response(
            403,
            "permission-denied",
            f"The API key {masked} is not permitted to use this model; "
            "check the team's permissions at https://console.x.ai.",
        )
    if key.startswith("xai-broke"):
        return error_response(429, "resource-exhausted", CREDITS_MESSAGE)
    return None


def status_fault(fault: StatusFault, default_retry_after: float | None) -> Response:
    """The answer a 429/5xx fault asks for."""
    if fault.status == 429:
        if fault.credits:
            return error_response(429, "resource-exhausted", CREDITS_MESSAGE)
        wait = fault.retry_after if fault.retry_after is not None else default_retry_after
        extra = [] if wait is None else [("retry-after", f"{wait:g}")]
        return error_response(429, "resource-exhausted", RATE_LIMIT_MESSAGE, extra)
    code, message = _STATUS_FAULTS[fault.status]
    return error_response(fault.status, code, message)
