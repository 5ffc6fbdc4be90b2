"""The main job, step by step: ledger row → submit → poll → download → metadata.

Every step writes the ledger before the next can fail, so a crash, a kill or Ctrl-C never loses
a paid job: `grokvid download ID` picks up from whatever the ledger holds.
"""

from __future__ import annotations

import asyncio
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grokvid.api import errors, metadata
from grokvid.api.download import DownloadResult, download_clip
from grokvid.api.ledger import JobRecord, Ledger
from grokvid.api.media import probe
from grokvid.api.models import VideoRequest
from grokvid.api.poll import PollSchedule
from grokvid.api.providers import JobStatus, Provider

# Patched by tests and the benchmark; the clock is monotonic.
_sleep = asyncio.sleep
_clock = time.monotonic

URL_REFRESHES = 2  # fresh URLs to ask for when the video host says 403/404/410


@dataclass(frozen=True)
class JobEvent:
    """Something the user may want to see; the CLI renders it, the library never prints."""

    local_id: str
    kind: str  # created|submitted|progress|done|downloading|saved|failed|warning
    state: str
    progress: int | None = None
    elapsed: float = 0.0
    bytes_done: int | None = None
    bytes_total: int | None = None
    message: str | None = None


EventSink = Callable[[JobEvent], None]


def _noop(event: JobEvent) -> None:
    pass


@dataclass(frozen=True)
class ClipResult:
    job: JobRecord
    path: Path
    metadata_path: Path


def now() -> datetime:
    return datetime.now(UTC)


def slugify(text: str, max_len: int = 40) -> str:
    """A file-name-safe slug of the prompt's first words ("a-red-fox-trotting")."""
    text = re.sub(r"\[[^\]]*\]", " ", text)  # bracketed notes such as [sandbox:render=3]
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_len:
            break
        slug = candidate
    return slug or "clip"


def url_host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""


def clip_name(prompt: str, local_id: str) -> str:
    return f"{slugify(prompt)}-{local_id.removeprefix('gv-')[:6]}.mp4"


def create_job(
    ledger: Ledger,
    request: VideoRequest,
    *,
    provider: str,
    base_url: str,
    output: Path | None,
    output_dir: Path,
    batch_id: str | None = None,
    variant: int | None = None,
    image_record: dict[str, Any] | None = None,
) -> JobRecord:
    """Write the ledger row (state `created`) before any money can be spent.

    `image_record` describes an image-to-video source in the ledger instead of its base64.
    """
    params = request.body()
    if image_record is not None:
        params["image"] = image_record
    job = ledger.create(
        provider=provider,
        base_url=base_url,
        model=request.model,
        prompt=request.prompt,
        params=params,
        estimated_cost_usd=request.estimated_cost_usd,
        batch_id=batch_id,
        variant=variant,
    )
    hint = request.prompt
    if not hint.strip() and image_record is not None:
        hint = Path(str(image_record.get("file", "image"))).stem
    path = output if output is not None else output_dir / clip_name(hint, job.local_id)
    return ledger.update(job.local_id, output_path=str(path.absolute()))


async def submit(
    ledger: Ledger, provider: Provider, job: JobRecord, request: VideoRequest, emit: EventSink
) -> JobRecord:
    """POST the request; the request id is in the ledger the moment it arrives."""
    # Committed before the first byte goes out: from here on the job may have been billed.
    job = ledger.update(job.local_id, state="submitting")
    try:
        request_id = await provider.submit(request)
    except errors.SubmitUnknown as exc:
        ledger.update(job.local_id, state="submit-unknown", error_message=exc.message)
        exc.local_id = job.local_id
        from grokvid.api.config import is_loopback

        local = job.provider == "sandbox" or is_loopback(url_host(job.base_url))
        check = (
            "a local server charges nothing"
            if local
            else "check your usage at console.x.ai before retrying"
        )
        exc.message = f"{exc.message} Job {job.local_id} is marked submit-unknown; {check}."
        raise
    except errors.NetworkError as exc:  # SendFailed after all retries: nothing was sent
        ledger.update(job.local_id, state="rejected", error_message=exc.message)
        exc.message = (
            f"{exc.message} Nothing was sent: is {job.base_url} right and reachable "
            "(GROKVID_BASE_URL, --base-url)?"
        )
        raise
    except (errors.APIError, errors.AuthError) as exc:
        ledger.update(
            job.local_id,
            state="rejected",
            error_code=getattr(exc, "code", None),
            error_message=exc.message,
        )
        raise
    job = ledger.update(job.local_id, request_id=request_id, state="pending", submitted_at=now())
    emit(JobEvent(job.local_id, "submitted", "pending", progress=0, message=request_id))
    return job


def _record(ledger: Ledger, job: JobRecord, status: JobStatus) -> JobRecord:
    fields: dict[str, object] = {"state": status.state, "progress": status.progress}
    if status.state == "done":
        fields.update(
            video_url=status.video_url,
            video_url_fetched_at=now(),
            cost_usd_ticks=status.cost_usd_ticks,
            completed_at=job.completed_at or now(),
        )
    elif status.state in ("failed", "moderated", "expired"):
        fields.update(
            error_code=status.error_code,
            error_message=status.error_message,
            cost_usd_ticks=status.cost_usd_ticks,
            completed_at=job.completed_at or now(),
        )
    return ledger.update(job.local_id, **fields)


def raise_if_failed(job: JobRecord) -> None:
    if job.state in ("failed", "moderated", "expired", "rejected"):
        what = {
            "failed": "failed",
            "moderated": "was moderated",
            "expired": "expired",
            "rejected": "was rejected",
        }[job.state]
        detail = f": {job.error_message}" if job.error_message else ""
        code = f" [{job.error_code}]" if job.error_code and job.state == "failed" else ""
        request = f" (request {job.request_id})" if job.request_id else ""
        raise errors.JobFailed(
            f"Job {job.local_id}{request} {what}{code}{detail}",
            state=job.state,
            request_id=job.request_id,
            code=job.error_code,
        )


async def refresh(ledger: Ledger, provider: Provider, job: JobRecord) -> JobRecord:
    """Poll once and record the answer."""
    if job.request_id is None:
        return job
    return _record(ledger, job, await provider.poll(job.request_id))


async def wait(
    ledger: Ledger,
    provider: Provider,
    job: JobRecord,
    *,
    timeout: float,
    emit: EventSink = _noop,
    schedule: PollSchedule | None = None,
) -> JobRecord:
    """Poll until the job is done (returned) or failed/moderated/expired (JobFailed raised)."""
    if job.request_id is None:
        raise errors.JobFailed(
            f"Job {job.local_id} has no request id (state {job.state}).", state=job.state
        )
    schedule = schedule or PollSchedule()
    start = _clock()
    since_submit = (now() - job.submitted_at).total_seconds() if job.submitted_at else 0.0
    delay = schedule.first
    last_state = job.state
    while True:
        remaining = timeout - (_clock() - start)
        if remaining <= 0:
            raise errors.WaitTimeout(
                f"Stopped waiting after {_human(timeout)}. {resume_hint(job)}",
                request_id=job.request_id,
            )
        await _sleep(min(delay, remaining))
        job = _record(ledger, job, await provider.poll(job.request_id))
        elapsed = _clock() - start
        if job.state != last_state or job.state == "pending":
            emit(
                JobEvent(
                    job.local_id,
                    "progress" if job.state == "pending" else job.state,
                    job.state,
                    progress=job.progress,
                    elapsed=elapsed + since_submit,
                )
            )
        last_state = job.state
        if job.state == "done":
            return job
        raise_if_failed(job)
        delay = schedule.next_delay(elapsed + since_submit, job.progress)


async def fetch(
    ledger: Ledger,
    provider: Provider | None,
    job: JobRecord,
    *,
    dest: Path,
    force: bool,
    emit: EventSink = _noop,
) -> ClipResult:
    """Download a done job's clip with every check, then write its metadata sidecar.

    When the video host says the URL is gone (403/404/410), poll for a fresh one and resume.
    """
    if not job.video_url:
        raise errors.JobFailed(
            f"Job {job.local_id} has no video URL yet (state {job.state}).",
            state=job.state,
            request_id=job.request_id,
        )
    metadata.check_free(metadata.sidecar_path(dest), force=force)
    dest.parent.mkdir(parents=True, exist_ok=True)

    def progress(done: int, total: int | None) -> None:
        emit(JobEvent(job.local_id, "downloading", job.state, bytes_done=done, bytes_total=total))

    for refresh_no in range(URL_REFRESHES + 1):
        try:
            result = await download_clip(
                job.video_url or "", dest, force=force, on_progress=progress
            )
            break
        except errors.URLExpired:
            if provider is None or refresh_no == URL_REFRESHES:
                raise
            job = await refresh(ledger, provider, job)
            raise_if_failed(job)
            emit(
                JobEvent(
                    job.local_id,
                    "warning",
                    job.state,
                    message="video URL expired; fetched a fresh one",
                )
            )
    return await finish(ledger, job, result, emit=emit)


async def finish(
    ledger: Ledger, job: JobRecord, result: DownloadResult, *, emit: EventSink = _noop
) -> ClipResult:
    """Measure the saved clip, write its sidecar, then mark the job downloaded.

    The sidecar is written before the ledger says `downloaded`, so a row in that state always
    has its metadata beside the clip. A file PyAV cannot read falls back to what the service
    reported, with a warning, rather than failing a clip that was paid for.
    """
    downloaded_at = now()
    try:
        media = await asyncio.to_thread(probe, result.path)
    except errors.GrokvidError as exc:
        emit(JobEvent(job.local_id, "warning", job.state, message=f"{exc}; using the request"))
        media = None
    meta = metadata.build(job, result, media, downloaded_at)
    meta_path = metadata.write(meta, metadata.sidecar_path(result.path))
    job = ledger.update(
        job.local_id,
        state="downloaded",
        output_path=str(result.path.absolute()),
        bytes=result.bytes,
        sha256=result.sha256,
        downloaded_at=downloaded_at,
    )
    emit(JobEvent(job.local_id, "saved", "downloaded", message=str(result.path)))
    return ClipResult(job=job, path=result.path, metadata_path=meta_path)


def resume_hint(job: JobRecord) -> str:
    """How to pick a paid job up again, said the same way by every message."""
    if job.provider == "sandbox":
        return f"Job {job.local_id} ran on the built-in sandbox, which stops with its command."
    return f"Job {job.local_id} goes on at the service: grokvid download {job.local_id} --wait"


@contextmanager
def resumable(job: JobRecord) -> Iterator[None]:
    """After a job is paid for, every failure that can be retried says how to pick it up."""
    try:
        yield
    except (
        errors.NetworkError,
        errors.RateLimited,
        errors.ServerError,
        errors.WaitTimeout,
    ) as exc:
        if job.local_id not in exc.message:
            exc.message = f"{exc.message.rstrip('.')}. {resume_hint(job)}"
        raise


def _human(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
