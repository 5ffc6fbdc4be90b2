"""The xAI front: `/v1/…` as docs/xai-api.md describes the service.

Routes (all need `Authorization: Bearer <any key>`):
    POST /v1/videos/generations              submit                 -> 200 {"request_id"}
    GET  /v1/videos/{id}                     poll                   -> 202 pending, 200 done/failed/
                                                                       expired, 400 moderated, 404
    GET  /v1/models[/{id}]                   every model (OpenAI-style list)
    GET  /v1/video-generation-models[/{id}]  the video models, with aliases, limits and prices
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from grokvid.sandbox.asgi import Request, Response, error_response, json_response
from grokvid.sandbox.faults import FAIL_MESSAGES, Faults, StatusFault, faults_in_prompt
from grokvid.sandbox.fronts.base import CoreError, Front
from grokvid.sandbox.fronts.xai_models import (
    CREATED,
    TICKS_PER_USD,
    canonical,
    cost_ticks,
    models_listing,
    video_model,
    video_models_listing,
)
from grokvid.sandbox.fronts.xai_schema import Rejected, parse_json, validate_submit
from grokvid.sandbox.store import PollView, RenderSpec

PREFIX = "/v1"
SUBMIT_PATH = "/v1/videos/generations"
POLL_PREFIX = "/v1/videos/"
MODELS_PATH = "/v1/models"
VIDEO_MODELS_PATH = "/v1/video-generation-models"

RATE_LIMIT_MESSAGE = "Too many requests: Requests per Minute (actual/limit): {actual}/{limit}."
FAULT_RATE_LIMIT = RATE_LIMIT_MESSAGE.format(actual=71, limit=70)
CREDITS_MESSAGE = (
    "Your team has either used all available credits or reached its monthly spending limit. "
    "To continue making API requests, please purchase more credits or raise your spending limit."
)
MODERATED_MESSAGE = (
    "The generated video was filtered by content moderation; the request is still charged."
)
_STATUS_FAULTS = {
    500: ("internal", "An internal server error occurred (sandbox fault)."),
    502: ("bad-gateway", "Bad gateway: the upstream service did not answer (sandbox fault)."),
    503: ("unavailable", "The service is temporarily unavailable (sandbox fault)."),
    504: ("deadline-exceeded", "Gateway timeout: the upstream took too long (sandbox fault)."),
}
_CORE_ERRORS: dict[CoreError, tuple[int, str]] = {
    "too-large": (413, "payload-too-large"),
    "busy": (429, "resource-exhausted"),
    "bad-fault": (400, "invalid-argument"),
    "timeout": (408, "deadline-exceeded"),
}


class XAIFront(Front):
    name: ClassVar[str] = "xai"

    def owns(self, path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    async def handle(self, request: Request) -> Response:
        method, path = request.method, request.path
        if path == SUBMIT_PATH:
            if method != "POST":
                return _not_allowed(method, path, "POST")
            return await self._submit(request)
        tail = path[len(POLL_PREFIX) :] if path.startswith(POLL_PREFIX) else None
        if tail and "/" not in tail:
            if method != "GET":
                return _not_allowed(method, path, "GET")
            return await self._poll(request, tail)
        for listing in (MODELS_PATH, VIDEO_MODELS_PATH):
            name = path[len(listing) + 1 :] if path.startswith(listing + "/") else None
            if path == listing or (name and "/" not in name):
                if method != "GET":
                    return _not_allowed(method, path, "GET")
                return await self._models(request, listing, name)
        return error_response(404, "not-found", f"No route for {method} {path}.")

    # -- what the core asks of a front --------------------------------------------------------

    def key_error(self, request: Request) -> Response | None:
        scheme, _, key = (request.header("authorization") or "").strip().partition(" ")
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

    def status_fault(self, fault: StatusFault) -> Response:
        if fault.status == 429:
            if fault.credits:
                return error_response(429, "resource-exhausted", CREDITS_MESSAGE)
            wait = fault.retry_after
            if wait is None:
                wait = self.core.config.rate_limit_retry_after
            extra = [] if wait is None else [("retry-after", f"{wait:g}")]
            return error_response(429, "resource-exhausted", FAULT_RATE_LIMIT, extra)
        code, message = _STATUS_FAULTS[fault.status]
        return error_response(fault.status, code, message)

    def core_error(
        self, kind: CoreError, message: str, headers: list[tuple[str, str]] | None = None
    ) -> Response:
        status, code = _CORE_ERRORS[kind]
        return error_response(status, code, message, headers)

    # -- routes -------------------------------------------------------------------------------

    async def _submit(self, request: Request) -> Response:
        data: object
        try:
            data = parse_json(request.body)
        except Rejected as exc:
            data = exc
        prompt = data.get("prompt") if isinstance(data, dict) else None
        faults = self.core.faults_for(request, "submit", prompt if isinstance(prompt, str) else "")

        def act() -> Response:
            wait = self.core.take_submit_slot()
            if wait is not None:
                actual, limit = self.core.submit_rate()
                message = RATE_LIMIT_MESSAGE.format(actual=actual, limit=limit)
                # Retry-After is whole seconds (RFC 9110); round up so a retry is never early.
                after = [("retry-after", str(max(1, math.ceil(wait))))]
                return error_response(429, "resource-exhausted", message, after)
            try:
                params = validate_submit(
                    request.header("content-type"),
                    data,
                    max_prompt_chars=self.core.config.max_prompt_chars,
                )
            except Rejected as exc:
                return error_response(exc.status, exc.code, exc.message)
            render = RenderSpec(
                prompt=faults_in_prompt(params["prompt"])[0] or "image-to-video",
                duration=params["duration"],
                resolution=params["resolution"],
                aspect_ratio=params["aspect_ratio"],
                audio=params["generate_audio"],
            )
            job = self.core.add_job(params, render, faults)
            if job is None:
                return error_response(
                    429,
                    "resource-exhausted",
                    f"The sandbox holds {self.core.config.max_jobs} unfinished jobs "
                    "(--max-jobs): wait for some to finish.",
                )
            return json_response(200, {"request_id": job.request_id})

        return await self.core.guarded(self, request, faults, act)

    async def _poll(self, request: Request, request_id: str) -> Response:
        faults = self.core.faults_for(request, "poll", None)

        def act() -> Response:
            view = self.core.poll_job(request_id, faults)
            if view is None:
                return error_response(
                    404, "not-found", f"No video generation request with id {request_id!r} exists."
                )
            return self._poll_answer(request, view, faults)

        return await self.core.guarded(self, request, faults, act)

    def _poll_answer(self, request: Request, view: PollView, faults: Faults) -> Response:
        job, params = view.job, view.job.params
        sticky = view.faults
        if job.state == "pending":
            if faults.empty_pending or sticky.empty_pending:
                return Response(202)
            body = {"status": "pending", "progress": view.progress, "model": params["model"]}
            return json_response(202, body)
        if job.state == "failed":
            code = sticky.fail or "internal_error"
            message = FAIL_MESSAGES.get(code, f"Video generation failed ({code}).")
            if view.render_error is not None:
                message = f"The sandbox could not render the clip: {view.render_error}"
            error = {"code": code, "message": message}
            return json_response(200, {"status": "failed", "error": error})
        if job.state == "expired":
            return json_response(200, {"status": "expired"})
        usage = {"cost_in_usd_ticks": _cost(params)}
        if faults.moderate_400 or sticky.moderate_400:
            return json_response(
                400, {"code": "invalid-argument", "error": MODERATED_MESSAGE, "usage": usage}
            )
        moderated = sticky.moderate or faults.moderate
        url = "" if moderated else self.core.video_url(request, job.request_id, view.url_expired)
        video = {"url": url, "duration": params["duration"], "respect_moderation": not moderated}
        done: dict[str, Any] = {
            "status": "done",
            "progress": 100,
            "model": params["model"],
            "video": video,
            "usage": usage,
        }
        return json_response(200, done)

    async def _models(self, request: Request, listing: str, name: str | None) -> Response:
        def act() -> Response:
            model = canonical(name) if name is not None else None
            if name is None:
                listed = models_listing() if listing == MODELS_PATH else video_models_listing()
                return json_response(200, listed)
            if model is None:
                return error_response(404, "not-found", f"The model {name!r} does not exist.")
            if listing == MODELS_PATH:
                entry = {"id": name, "object": "model", "created": CREATED, "owned_by": "xai"}
                return json_response(200, entry)
            return json_response(200, video_model(model))

        faults = self.core.faults_for(request, None, None)
        return await self.core.guarded(self, request, faults, act)


def _cost(params: dict[str, Any]) -> int:
    model = canonical(params["model"])
    if model is None:  # params hold canonical names; a table edit under a live job lands here
        return 0
    images = 1 if "image" in params else 0
    return cost_ticks(model, params["resolution"], params["duration"], images)


def _not_allowed(method: str, path: str, allowed: str) -> Response:
    return error_response(
        405, "method-not-allowed", f"{method} is not allowed on {path}.", [("allow", allowed)]
    )


__all__ = ["TICKS_PER_USD", "XAIFront"]
