"""The sandbox's jobs: in memory, thread-safe (one lock), bounded, expiring.

A job's state is derived from the clock, never stored: `pending` until its render time has
passed *and* (for a real clip) the render finished, then `done` or `failed`; `expired` once it
is older than the job TTL. Expired jobs are forgotten (404) after another TTL, and when the
store is full the oldest finished job makes room first.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from grokvid.sandbox.faults import Faults

State = Literal["pending", "done", "failed", "expired"]


@dataclass(frozen=True)
class RenderSpec:
    """What a clip shows, in provider-neutral terms: each front maps its own fields onto it."""

    prompt: str  # the words on the caption, fault words already taken out
    duration: int
    resolution: str  # "480p", "720p", "1080p"
    aspect_ratio: str  # "16:9" ...
    audio: bool


@dataclass
class Job:
    """One generation. Mutable: change it only through JobStore, under its lock."""

    request_id: str
    params: dict[str, Any]
    created_at: float
    render_seconds: float
    faults: Faults
    clip: Path | None = None
    render_finished_at: float | None = None
    render_error: str | None = None
    expired: bool = False
    poll_count: int = 0
    download_count: int = 0
    expired_urls: int = 0
    truncated_downloads: int = 0

    @property
    def renders(self) -> bool:
        """Whether this job needs a real clip (moderated, failed, expiring ones never get one)."""
        f = self.faults
        return not (f.moderate or f.moderate_400 or f.fail or f.expire_job or f.forget_job)

    @property
    def done_at(self) -> float | None:
        """When the job stopped being pending (became done or failed), or None if it hasn't."""
        ready = self.created_at + self.render_seconds
        if not self.renders or self.render_error is not None:
            return ready
        if self.render_finished_at is None:
            return None
        return max(ready, self.render_finished_at)

    def state(self, now: float, ttl: float) -> State:
        if self.expired or now - self.created_at >= ttl:
            return "expired"
        done_at = self.done_at
        if done_at is None or now < done_at:
            return "pending"
        if self.faults.expire_job:  # sat unclaimed until the service forgot it
            return "expired"
        if self.faults.fail or self.render_error is not None:
            return "failed"
        return "done"

    def progress(self, now: float) -> int:
        """0-99 while pending, rising with the share of the render time gone by."""
        if self.render_seconds <= 0:
            return 99
        return max(0, min(99, int(100 * (now - self.created_at) / self.render_seconds)))


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of one job for tests and `/_sandbox/jobs`."""

    request_id: str
    params: dict[str, Any]
    state: State
    created_at: float
    done_at: float | None
    poll_count: int
    download_count: int
    render_seconds: float
    faults: str = ""
    clip: Path | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PollView:
    """What one poll saw, taken under the lock."""

    job: JobInfo
    progress: int
    url_expired: bool  # the URL handed out now must already be expired
    faults: Faults
    render_error: str | None


@dataclass(frozen=True)
class DownloadView:
    """What one download may serve, taken under the lock."""

    job: JobInfo
    moderated: bool
    truncate: bool
    slow: int | None


class JobStore:
    def __init__(self, *, max_jobs: int, ttl: float) -> None:
        self._jobs: dict[str, Job] = {}  # insertion order = age
        self._lock = threading.Lock()
        self._max = max_jobs
        self._ttl = ttl

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)

    def add(self, job: Job) -> bool:
        """Store a new job; False (nothing stored) when every slot holds an unfinished job."""
        now = time.time()
        with self._lock:
            self._forget_old(now)
            while len(self._jobs) >= self._max:
                victim = self._victim(now)
                if victim is None:
                    return False
                del self._jobs[victim]
            self._jobs[job.request_id] = job
            return True

    def finish_render(self, request_id: str, clip: Path | None, error: str | None) -> None:
        with self._lock:
            job = self._jobs.get(request_id)
            if job is not None:
                job.clip, job.render_error = clip, error
                job.render_finished_at = time.time()

    def poll(
        self, request_id: str, *, expire_job: bool, expire_url: bool, forget: bool = False
    ) -> PollView | None:
        """What a poll sees now; None when the job is unknown or has just been forgotten."""
        now = time.time()
        with self._lock:
            job = self._live(request_id, now)
            if job is None:
                return None
            job.expired = job.expired or expire_job
            state = job.state(now, self._ttl)
            if forget or (job.faults.forget_job and state != "pending"):
                del self._jobs[request_id]
                return None
            job.poll_count += 1
            url_expired = expire_url
            if state == "done" and job.renders:
                sticky = job.faults.expire_url
                if sticky is not None and job.expired_urls < sticky:
                    job.expired_urls += 1
                    url_expired = True
            return PollView(
                self._info(job, now), job.progress(now), url_expired, job.faults, job.render_error
            )

    def begin_download(
        self, request_id: str, *, truncate: bool, head: bool = False
    ) -> DownloadView | None:
        """Count a download of a done job (a HEAD is not one); None if there is no clip."""
        now = time.time()
        with self._lock:
            job = self._live(request_id, now)
            if job is None or job.state(now, self._ttl) != "done":
                return None
            if head:
                return DownloadView(self._info(job, now), not job.renders, False, None)
            job.download_count += 1
            sticky = job.faults.truncate
            if not truncate and sticky is not None and job.truncated_downloads < sticky:
                job.truncated_downloads += 1
                truncate = True
            return DownloadView(self._info(job, now), not job.renders, truncate, job.faults.slow)

    def forget(self, request_id: str | None = None) -> int:
        """Drop one job (or, with None, every job), as a restarted service would; how many."""
        with self._lock:
            if request_id is None:
                count = len(self._jobs)
                self._jobs.clear()
                return count
            return 1 if self._jobs.pop(request_id, None) is not None else 0

    def snapshot(self) -> list[JobInfo]:
        now = time.time()
        with self._lock:
            return [self._info(job, now) for job in self._jobs.values()]

    def _info(self, job: Job, now: float) -> JobInfo:
        return JobInfo(
            request_id=job.request_id,
            params=dict(job.params),
            state=job.state(now, self._ttl),
            created_at=job.created_at,
            done_at=job.done_at,
            poll_count=job.poll_count,
            download_count=job.download_count,
            render_seconds=job.render_seconds,
            faults=job.faults.describe(),
            clip=job.clip,
        )

    def _live(self, request_id: str, now: float) -> Job | None:
        """The job, unless it is unknown or so long expired that it is forgotten."""
        job = self._jobs.get(request_id)
        if job is not None and now - job.created_at >= 2 * self._ttl:
            del self._jobs[request_id]
            return None
        return job

    def _forget_old(self, now: float) -> None:
        """Drop jobs that have been expired for a whole TTL: they answer 404 from then on."""
        stale = [k for k, j in self._jobs.items() if now - j.created_at >= 2 * self._ttl]
        for key in stale:
            del self._jobs[key]

    def _victim(self, now: float) -> str | None:
        """The oldest finished job; a pending one is never dropped (its client would get 404)."""
        for key, job in self._jobs.items():
            if job.state(now, self._ttl) != "pending":
                return key
        return None
