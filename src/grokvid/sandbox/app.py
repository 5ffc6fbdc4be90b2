"""The sandbox as an ASGI app: the xAI video API of API.md, real clips, and faults on request.

Routes:
    POST /v1/videos/generations   submit (key required)          -> {"request_id"}
    GET  /v1/videos/{id}          poll (key required)            -> pending/done/failed/expired
    GET  /cdn/xai-video-{id}.mp4  the clip (no key; signed URL)  -> video/mp4, Range support
    GET  /_sandbox/health         liveness for CI scripts        -> {"status": "ok"}
    GET  /_sandbox/jobs           every job, for CI assertions   -> {"jobs": [...]}
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from grokvid.api.models import TICKS_PER_USD, estimate_cost_usd, frame_size
from grokvid.sandbox import cdn
from grokvid.sandbox.asgi import (
    BodyTooLarge,
    DropConnection,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    error_response,
    json_response,
    read_request,
    send_response,
)
from grokvid.sandbox.config import SandboxConfig
from grokvid.sandbox.faults import (
    FAIL_MESSAGES,
    FaultPlan,
    Faults,
    Route,
    faults_in_prompt,
    parse_faults,
)
from grokvid.sandbox.store import Job, JobInfo, JobStore
from grokvid.sandbox.validation import Rejected, key_error, status_fault, validate_submit

log = logging.getLogger("grokvid.sandbox")

SUBMIT_PATH = "/v1/videos/generations"
POLL_PREFIX = "/v1/videos/"
FAULT_HEADER = "x-sandbox-fault"
INSTALL_HINT = "the sandbox needs its extra: pip install 'grokvid[sandbox]'"
MAX_LOG_ENTRIES = 100_000


class SandboxUnavailable(ImportError):
    """The `grokvid[sandbox]` extra (PyAV, numpy) is not installed."""


class LogEntry(NamedTuple):
    """One request: start time (time.time()), method, path, status (0: dropped unanswered)."""

    time: float
    method: str
    path: str
    status: int


def require_extra() -> None:
    """Import the renderer's dependencies now; SandboxUnavailable names the install command."""
    for module in ("numpy", "av"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise SandboxUnavailable(INSTALL_HINT) from exc


class _DaemonPool:
    """Render workers that never hold up the process's exit.

    A ThreadPoolExecutor is joined at interpreter exit, so Ctrl-C on `generate --sandbox`
    would wait for a render nobody needs any more; these daemon threads are simply dropped.
    """

    def __init__(self, workers: int) -> None:
        self._tasks: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if self._closed:
                return
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name="sandbox-render", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._tasks.put((fn, args))

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
        for _ in self._threads:
            self._tasks.put(None)

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None and not self._closed:
            fn, args = task
            try:
                fn(*args)
            except Exception:  # a worker must outlive one bad task
                log.exception("sandbox render task failed")


def create_app(config: SandboxConfig | None = None) -> SandboxApp:
    """A new sandbox (its own jobs, faults and log). Raises SandboxUnavailable without the extra."""
    require_extra()
    return SandboxApp(config or SandboxConfig())


class SandboxApp:
    """An ASGI app: serve it with SandboxServer, or drive it with httpx.ASGITransport(app=...).

    Connection drops surface in-process as httpx.RemoteProtocolError (see DropConnection), but
    only a real socket shows a client the partial body of a truncated download.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.request_log: list[LogEntry] = []
        self._log_lock = threading.Lock()
        self._store = JobStore(max_jobs=config.max_jobs, ttl=config.job_ttl_seconds)
        self._host = cdn.VideoHost(
            self._store,
            url_ttl=config.url_ttl_seconds,
            bytes_per_second=config.download_bytes_per_second,
        )
        self._plan = FaultPlan(
            config.faults,
            seed=config.seed,
            rate_limit_probability=config.rate_limit_probability,
            rate_limit_retry_after=config.rate_limit_retry_after,
            error_probability=config.error_probability,
            error_statuses=config.error_statuses,
            drop_probability=config.drop_probability,
        )
        seeded = config.seed is not None
        self._rng = random.Random(f"{config.seed}:jobs" if seeded else None)
        self._rng_lock = threading.Lock()
        self._seeded = seeded
        self._renderer = _DaemonPool(workers=2)

    def jobs(self) -> list[JobInfo]:
        """A snapshot of every job the store holds, oldest first."""
        return self._store.snapshot()

    def scripted_faults_left(self) -> int:
        return self._plan.remaining()

    def close(self) -> None:
        """Stop rendering; jobs still rendering stay pending forever."""
        self._renderer.shutdown()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            self.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        started, clock = time.time(), time.perf_counter()
        status = 0
        method, path = scope["method"].upper(), scope["path"]
        notes: list[str] = []
        recorded = False
        try:
            try:
                request = await read_request(scope, receive)
            except BodyTooLarge as exc:
                response = error_response(413, "payload-too-large", f"Rejected: {exc}.")
            else:
                notes = request.notes
                response = await self._dispatch(request)
            status = response.status
            # Logged before the body goes out, so a client that has its answer can count on
            # finding the request in request_log (tests and the benchmark do).
            self._record(LogEntry(started, method, path, status), clock, notes)
            recorded = True
            await send_response(send, response, head=method == "HEAD")
        except DropConnection:
            notes.append("connection dropped")
            raise
        finally:
            if not recorded:
                self._record(LogEntry(started, method, path, status), clock, notes)

    async def _dispatch(self, request: Request) -> Response:
        method, path = request.method, request.path
        if path == SUBMIT_PATH:
            if method != "POST":
                return _not_allowed(method, path, "POST")
            return await self._api(request, "submit", "")
        if path.startswith(POLL_PREFIX) and "/" not in path[len(POLL_PREFIX) :]:
            if method != "GET":
                return _not_allowed(method, path, "GET")
            return await self._api(request, "poll", path[len(POLL_PREFIX) :])
        if path.startswith(cdn.PREFIX):
            if method not in ("GET", "HEAD"):
                return _not_allowed(method, path, "GET, HEAD")
            return await self._download(request, path[len(cdn.PREFIX) :])
        if path == "/_sandbox/health" and method == "GET":
            return json_response(200, {"status": "ok", "jobs": len(self._store)})
        if path == "/_sandbox/jobs" and method == "GET":
            return json_response(200, {"jobs": [_job_json(job) for job in self.jobs()]})
        return error_response(404, "not-found", f"No route for {method} {path}.")

    async def _api(self, request: Request, route: Route, request_id: str) -> Response:
        payload: object = None
        if route == "submit":
            try:
                payload = json.loads(request.body)
            except ValueError:
                payload = None
        try:
            faults = self._faults(request, route, payload)
        except ValueError as exc:
            return error_response(400, "invalid-argument", f"Bad sandbox fault: {exc}")

        def act() -> Response:
            if route == "submit":
                return self._submit(request, payload, faults)
            return self._poll(request, request_id, faults)

        response = await self._guarded(request, faults, act, check_key=True)
        # Like the service, every API answer carries an id to quote in a support request.
        response.headers.append(("x-request-id", str(uuid.uuid4())))
        return response

    async def _download(self, request: Request, name: str) -> Response:
        try:
            faults = self._faults(request, "download", None)
        except ValueError as exc:
            return error_response(400, "invalid-argument", f"Bad sandbox fault: {exc}")
        return await self._guarded(
            request, faults, lambda: self._host.serve(request, name, faults), check_key=False
        )

    def _faults(self, request: Request, route: Route, payload: object) -> Faults:
        """Header, then prompt words, then the server's script and dice: first setting wins."""
        faults = parse_faults(request.header(FAULT_HEADER) or "")
        if isinstance(payload, dict) and isinstance(payload.get("prompt"), str):
            faults = faults | faults_in_prompt(payload["prompt"])[1]
        faults = faults | self._plan.draw(route)
        if faults:
            request.notes.append(f"fault {faults.describe()}")
        return faults

    async def _guarded(
        self, request: Request, faults: Faults, act: Callable[[], Response], *, check_key: bool
    ) -> Response:
        """Run `act` inside the request-level faults: delay, drops, error statuses."""
        if faults.delay:
            await asyncio.sleep(faults.delay)
        if faults.drop == "before":
            raise DropConnection()
        if check_key and (denied := key_error(request.header("authorization"))) is not None:
            return denied
        if faults.reply is not None and not faults.reply.after:
            return status_fault(faults.reply, self._plan.retry_after)
        response = act()
        if faults.drop == "after":
            raise DropConnection()
        if faults.reply is not None and response.status < 400:
            return status_fault(faults.reply, self._plan.retry_after)
        return response

    def _submit(self, request: Request, payload: object, faults: Faults) -> Response:
        try:
            params = validate_submit(
                request.header("content-type"),
                payload,
                max_prompt_chars=self.config.max_prompt_chars,
            )
        except Rejected as exc:
            return error_response(exc.status, exc.code, exc.message)
        sticky = faults.job_level()
        job = Job(
            request_id=self._new_id(),
            params=params,
            created_at=time.time(),
            render_seconds=sticky.render if sticky.render is not None else self._render_time(),
            faults=sticky,
        )
        if not self._store.add(job):
            return error_response(
                429,
                "resource-exhausted",
                f"The sandbox holds {self.config.max_jobs} unfinished jobs (--max-jobs): "
                "wait for some to finish.",
            )
        if job.renders:
            prompt = faults_in_prompt(params["prompt"])[0] or "image-to-video"
            self._renderer.submit(self._render, job.request_id, prompt, params)
        return json_response(200, {"request_id": job.request_id})

    def _poll(self, request: Request, request_id: str, faults: Faults) -> Response:
        view = self._store.poll(
            request_id, expire_job=faults.expire_job, expire_url=faults.expire_url is not None
        )
        if view is None:
            return error_response(
                404, "not-found", f"No video generation request with id {request_id!r} exists."
            )
        job, params = view.job, view.job.params
        body: dict[str, Any]
        if job.state == "pending":
            body = {"status": "pending", "progress": view.progress, "model": params["model"]}
        elif job.state == "failed":
            code = view.faults.fail or "internal_error"
            message = FAIL_MESSAGES.get(code, f"Video generation failed ({code}).")
            if view.render_error is not None:
                message = f"The sandbox could not render the clip: {view.render_error}"
            body = {"status": "failed", "error": {"code": code, "message": message}}
        elif job.state == "expired":
            body = {"status": "expired"}
        else:
            moderated = view.faults.moderate
            url = (
                ""
                if moderated
                else self._host.url(request.base_url, request_id, expired=view.url_expired)
            )
            usd = estimate_cost_usd(params["model"], params["resolution"], params["duration"])
            body = {
                "status": "done",
                "progress": 100,
                "model": params["model"],
                "video": {
                    "url": url,
                    "duration": params["duration"],
                    "respect_moderation": not moderated,
                },
                "usage": {"cost_in_usd_ticks": round((usd or 0.0) * TICKS_PER_USD)},
            }
        return json_response(200, body)

    def _render(self, request_id: str, prompt: str, params: dict[str, Any]) -> None:
        width, height = frame_size(params["resolution"], params["aspect_ratio"])
        try:
            clip = render_clip(
                prompt,
                params["duration"],
                width,
                height,
                audio=params["generate_audio"],
                cache_dir=self.config.clip_cache_dir,
            )
        except Exception as exc:  # a failed render fails the job, like the real service
            log.exception("rendering %s failed", request_id)
            self._store.finish_render(request_id, None, f"{type(exc).__name__}: {exc}")
        else:
            self._store.finish_render(request_id, clip, None)

    def _new_id(self) -> str:
        if not self._seeded:
            return str(uuid.uuid4())
        with self._rng_lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _render_time(self) -> float:
        render = self.config.render_seconds
        if isinstance(render, tuple):
            with self._rng_lock:
                return round(self._rng.uniform(*render), 3)
        return render

    def _record(self, entry: LogEntry, clock: float, notes: list[str]) -> None:
        with self._log_lock:
            self.request_log.append(entry)
            if len(self.request_log) > MAX_LOG_ENTRIES:
                del self.request_log[: MAX_LOG_ENTRIES // 2]
        if log.isEnabledFor(logging.INFO):
            ms = (time.perf_counter() - clock) * 1000
            status = str(entry.status) if entry.status else "---"
            extra = f"  ({'; '.join(notes)})" if notes else ""
            log.info("%s %s %s %.0f ms%s", entry.method, entry.path, status, ms, extra)


def render_clip(
    prompt: str, duration: int, width: int, height: int, *, audio: bool, cache_dir: Path | None
) -> Path:
    """The renderer, imported on first use so importing the sandbox stays light."""
    from grokvid.sandbox.render import render_clip as render

    return render(prompt, duration, width, height, audio=audio, cache_dir=cache_dir)


def _not_allowed(method: str, path: str, allowed: str) -> Response:
    return error_response(
        405, "method-not-allowed", f"{method} is not allowed on {path}.", [("allow", allowed)]
    )


def _job_json(job: JobInfo) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(job).items() if k != "clip"}


__all__ = ["LogEntry", "SandboxApp", "SandboxUnavailable", "create_app"]
