"""The sandbox core as an ASGI app: jobs, faults, renders, the video host, limits; fronts on top.

Routes the core answers itself (no key):
    GET  /cdn/xai-video-{id}.mp4  the clip (signed URL; no key)   -> video/mp4, Range support
    GET  /_sandbox/health         liveness for CI scripts         -> {"status": "ok", "jobs": N}
    GET  /_sandbox/jobs           every job, for CI assertions    -> {"jobs": [...]}
Everything else goes to the first front that owns the path (`grokvid.sandbox.fronts`); the xAI
front serves `/v1/…`. docs/sandbox.md describes every route, fault and limit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from grokvid.sandbox import cdn, paths
from grokvid.sandbox.asgi import (
    BodyBusy,
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
from grokvid.sandbox.faults import FaultPlan, Faults, Route, faults_in_prompt, parse_faults
from grokvid.sandbox.frames import frame_size
from grokvid.sandbox.fronts import FRONTS, Front
from grokvid.sandbox.limits import BodyBudget, TokenBucket
from grokvid.sandbox.pool import RenderPool, shared_pool
from grokvid.sandbox.store import Job, JobInfo, JobStore, PollView, RenderSpec

log = logging.getLogger("grokvid.sandbox")

FAULT_HEADER = "x-sandbox-fault"
INSTALL_HINT = "the sandbox needs its extra: pip install 'grokvid[sandbox]'"
MAX_LOG_ENTRIES = 100_000
BODY_WAIT_SECONDS = 10.0  # how long a body waits for room in the shared budget before a 429


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
        self._bucket = TokenBucket(config.rate_limit) if config.rate_limit else None
        self.body_budget = BodyBudget(config.max_body_bytes_in_flight)
        seeded = config.seed is not None
        self._rng = random.Random(f"{config.seed}:jobs" if seeded else None)
        self._rng_lock = threading.Lock()
        self._seeded = seeded
        self._closed = False
        self.fronts: tuple[Front, ...] = tuple(front(self) for front in FRONTS)

    @property
    def renderer(self) -> RenderPool:
        return shared_pool(processes=self.config.render_processes)

    def jobs(self) -> list[JobInfo]:
        """A snapshot of every job the store holds, oldest first."""
        return self._store.snapshot()

    def forget_jobs(self, request_id: str | None = None) -> int:
        """Forget one job, or all, as a restarted service would: their polls answer 404."""
        return self._store.forget(request_id)

    def scripted_faults_left(self) -> int:
        return self._plan.remaining()

    def close(self) -> None:
        """Stop rendering for this app; its jobs still rendering stay pending forever."""
        self._closed = True

    # -- ASGI ---------------------------------------------------------------------------------

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
        request: Request | None = None
        try:
            try:
                request = await read_request(
                    scope,
                    receive,
                    max_body=self.config.max_body_bytes,
                    budget=self.body_budget,
                    wait_seconds=BODY_WAIT_SECONDS,
                )
            except BodyTooLarge as exc:
                response = self._front(path).core_error("too-large", f"Rejected: {exc}.")
            except BodyBusy as exc:
                response = self._front(path).core_error(
                    "busy", f"Try again shortly: {exc}.", [("retry-after", "1")]
                )
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
            if request is not None:
                self.body_budget.release(request.reserved)
            if not recorded:
                self._record(LogEntry(started, method, path, status), clock, notes)

    def _front(self, path: str) -> Front:
        """The front that owns `path`; the first one speaks for paths no front owns."""
        return next((f for f in self.fronts if f.owns(path)), self.fronts[0])

    async def _dispatch(self, request: Request) -> Response:
        method, path = request.method, request.path
        try:
            if path.startswith(cdn.PREFIX):
                if method not in ("GET", "HEAD"):
                    return _not_allowed(method, path, "GET, HEAD")
                return await self._download(request, path[len(cdn.PREFIX) :])
            if path == "/_sandbox/health" and method == "GET":
                return json_response(200, {"status": "ok", "jobs": len(self._store)})
            if path == "/_sandbox/jobs" and method == "GET":
                return json_response(200, {"jobs": [_job_json(job) for job in self.jobs()]})
            for front in self.fronts:
                if front.owns(path):
                    response = await front.handle(request)
                    # Like the services, every API answer carries an id for a support request.
                    response.headers.append(("x-request-id", str(uuid.uuid4())))
                    return response
        except BadFault as exc:
            return self._front(path).core_error("bad-fault", f"Bad sandbox fault: {exc}")
        return error_response(404, "not-found", f"No route for {method} {path}.")

    async def _download(self, request: Request, name: str) -> Response:
        faults = self.faults_for(request, "download", None)
        return await self.guarded(
            None, request, faults, lambda: self._host.serve(request, name, faults)
        )

    # -- what fronts build on -----------------------------------------------------------------

    def faults_for(self, request: Request, route: Route | None, prompt: str | None) -> Faults:
        """Header, then prompt words, then the server's script and dice: first setting wins.

        `route` None (a listing, say) takes only the header's faults. BadFault names a bad spec.
        """
        try:
            faults = parse_faults(request.header(FAULT_HEADER) or "")
            if prompt:
                faults = faults | faults_in_prompt(prompt)[1]
        except ValueError as exc:
            raise BadFault(str(exc)) from None
        if route is not None:
            faults = faults | self._plan.draw(route)
        if faults:
            request.notes.append(f"fault {faults.describe()}")
        return faults

    async def guarded(
        self, front: Front | None, request: Request, faults: Faults, act: Callable[[], Response]
    ) -> Response:
        """Run `act` inside the request-level faults: delay, drops, error statuses, the key.

        With `front` None (the video host) no key is checked and status faults use the xAI
        front's shape, as the one CDN serves every front.
        """
        speaker = front or self.fronts[0]
        if faults.delay:
            await asyncio.sleep(faults.delay)
        if faults.drop == "before":
            raise DropConnection()
        if front is not None and (denied := front.key_error(request)) is not None:
            return denied
        if faults.reply is not None and not faults.reply.after:
            return speaker.status_fault(faults.reply)
        response = act()
        if faults.drop == "after":
            raise DropConnection()
        if faults.reply is not None and response.status < 400:
            return speaker.status_fault(faults.reply)
        return response

    def take_submit_slot(self) -> float | None:
        """None when a submit may go ahead under --rate-limit, else seconds until one may."""
        return None if self._bucket is None else self._bucket.take()

    def submit_rate(self) -> tuple[int, int]:
        """(submits in the last minute, the limit per minute), for the 429's message."""
        return (0, 0) if self._bucket is None else self._bucket.per_minute()

    def add_job(self, params: dict[str, Any], render: RenderSpec, faults: Faults) -> Job | None:
        """Store a new job and start its render; None (nothing stored) when the store is full."""
        sticky = faults.job_level()
        job = Job(
            request_id=self._new_id(),
            params=params,
            created_at=time.time(),
            render_seconds=sticky.render if sticky.render is not None else self._render_time(),
            faults=sticky,
        )
        if not self._store.add(job):
            return None
        if job.renders:
            self._start_render(job.request_id, render)
        return job

    def poll_job(self, request_id: str, faults: Faults) -> PollView | None:
        """Count a poll and see the job; None if it is unknown or (forget-job) just forgotten."""
        return self._store.poll(
            request_id,
            expire_job=faults.expire_job,
            expire_url=faults.expire_url is not None,
            forget=faults.forget_job,
        )

    def video_url(self, request: Request, request_id: str, expired: bool) -> str:
        return self._host.url(request.base_url, request_id, expired=expired)

    # -- internals ----------------------------------------------------------------------------

    def _start_render(self, request_id: str, spec: RenderSpec) -> None:
        width, height = frame_size(spec.resolution, spec.aspect_ratio)
        # Resolved here, not in the worker: a worker process keeps the environment it was
        # started with, and GROKVID_HOME may have changed since.
        cache = self.config.clip_cache_dir or paths.clip_cache_dir()
        args = (spec.prompt, spec.duration, width, height, spec.audio, cache)

        def done(clip: Path | None, error: str | None) -> None:
            if error is not None:
                log.error("rendering %s failed: %s", request_id, error)
            self._store.finish_render(request_id, clip, error)

        self.renderer.submit(render_clip, args, done, lambda: self._closed)

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


class BadFault(ValueError):
    """A fault spec in a header or prompt that the grammar does not know."""


def render_clip(
    prompt: str, duration: int, width: int, height: int, audio: bool, cache_dir: Path
) -> Path:
    """The renderer, imported on first use so importing the sandbox stays light.

    Module-level, so worker processes can be sent it by name.
    """
    from grokvid.sandbox.render import render_clip as render

    return render(prompt, duration, width, height, audio=audio, cache_dir=cache_dir)


def _not_allowed(method: str, path: str, allowed: str) -> Response:
    return error_response(
        405, "method-not-allowed", f"{method} is not allowed on {path}.", [("allow", allowed)]
    )


def _job_json(job: JobInfo) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(job).items() if k != "clip"}


__all__ = ["BadFault", "LogEntry", "SandboxApp", "SandboxUnavailable", "create_app"]
