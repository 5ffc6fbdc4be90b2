"""The main job, step by step: ledger row → submit → poll → download → metadata.

Every step writes the ledger before the next can fail, so a crash, a kill or Ctrl-C never loses
a paid job: `grokvid download ID` picks up from whatever the ledger holds.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from grokvid.api import errors, metadata
from grokvid.api.download import DownloadResult, SaveFailed
from grokvid.api.events import EventSink, JobEvent, noop
from grokvid.api.ledger import JobRecord, Ledger, LedgerUnavailable
from grokvid.api.media import probe
from grokvid.api.providers.base import Progress
from grokvid.api.states import JobState


@dataclass(frozen=True)
class ClipResult:
    """A clip on disk, checked, with its sidecar."""

    job: JobRecord
    path: Path
    metadata_path: Path
    reused: bool = False  # already on disk and still matching its sha256: nothing fetched


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


def record(ledger: Ledger, job: JobRecord, status: Progress) -> JobRecord:
    """Write one status answer; the ledger keeps a later state over an earlier one.

    A `downloaded` clip being fetched again only takes the fresh URL: its state stays.
    """
    if job.state == JobState.DOWNLOADED:
        if status.state == "done" and status.video_url:
            return ledger.update(
                job.local_id, video_url=status.video_url, video_url_fetched_at=now()
            )
        return job.model_copy(update={"error_message": status.error_message})
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
    """JobFailed for a job that ended without a clip (the exit code follows its state)."""
    if job.state in ("failed", "moderated", "expired", "rejected", "not-sent"):
        what = {
            "failed": "failed",
            "moderated": "was moderated",
            "expired": "expired",
            "rejected": "was rejected",
            "not-sent": "was never sent",
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


async def finish(
    ledger: Ledger, job: JobRecord, result: DownloadResult, *, emit: EventSink = noop
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


def raise_if_unsent(job: JobRecord) -> None:
    """A job with no request id: say why, with the code its first command exited with."""
    if job.request_id is not None:
        return
    state = JobState(job.state)
    if state in (JobState.REJECTED, JobState.NOT_SENT):
        raise_if_failed(job)
    if state == JobState.CREATED:
        raise errors.JobFailed(
            f"Job {job.local_id} was never submitted: grokvid stopped before sending it.",
            state="not-sent",
        )
    raise errors.SubmitUnknown(
        f"Job {job.local_id} has no request id: its submit "
        + ("may still be on its way" if state == JobState.SUBMITTING else "was cut off")
        + ", so the service may have created (and will bill) it. Check your usage at the "
        "provider's console (console.x.ai) before generating again.",
        local_id=job.local_id,
    )


def sandbox_gone(job: JobRecord) -> errors.JobFailed:
    return errors.JobFailed(
        f"Job {job.local_id} ran on the built-in sandbox, which stopped with its command: the "
        f"clip can't be fetched again. Generate it again with {errors.option('sandbox')}.",
        state="expired",
        request_id=job.request_id,
    )


def end_with_sandbox(ledger: Ledger, ids: list[str]) -> None:
    """The built-in sandbox stops with its command: its unfinished jobs end with it."""
    for local_id in ids:
        job = ledger.get(local_id)
        if job is not None and job.state in ("submitting", "pending", "done"):
            ledger.update(
                local_id,
                state="expired",
                error_code="sandbox_stopped",
                error_message="the built-in sandbox stopped before the clip was saved",
            )


def is_local(base_url: str) -> bool:
    from grokvid.api.config import is_loopback

    return is_loopback(url_host(base_url))


def same_service(a: str, b: str) -> bool:
    """Two base URLs name the same service; localhost, 127.0.0.1 and ::1 are one loopback."""
    from urllib.parse import urlsplit

    ua, ub = urlsplit(a.rstrip("/")), urlsplit(b.rstrip("/"))
    if is_local(a) and is_local(b):
        return ua.scheme == ub.scheme and ua.port == ub.port
    return (ua.scheme, ua.hostname, ua.port, ua.path) == (ub.scheme, ub.hostname, ub.port, ub.path)


def resume_hint(job: JobRecord) -> str:
    """How to pick a paid job up again, said the same way by every message."""
    if job.provider == "sandbox":
        return f"Job {job.local_id} ran on the built-in sandbox, which stops with its command."
    return f"Job {job.local_id} goes on at the service: {errors.resume(job.local_id)}"


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
        SaveFailed,
    ) as exc:
        if job.local_id not in exc.message:
            exc.message = f"{exc.message.rstrip('.')}. {resume_hint(job)}"
        raise
    except LedgerUnavailable as exc:  # mid-render: the job is paid and safe at the service
        request = f" (request {job.request_id})" if job.request_id else ""
        raise errors.LedgerWriteFailed(
            f"{exc.message.rstrip('.')}. {resume_hint(job)}{request}",
            local_id=job.local_id,
            request_id=job.request_id,
        ) from exc


def _human(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
