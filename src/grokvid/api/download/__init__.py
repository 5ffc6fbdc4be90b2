"""Fetch a finished clip from the video host without ever leaving a bad file behind.

The body streams into `<dest>.part` (constant memory; written and hashed in a worker thread
while the next piece arrives) and is checked (status, Content-Type, Content-Length, the MP4
`ftyp` box) before an fsync and an atomic `os.replace` onto `dest`. A `.part` left by a failed
try is resumed with `Range` by the next try, in this call or a later one with a fresh URL.
Just before the rename, the clip's size and sha256 go into `.part.meta`, so a call interrupted
between the rename and its cleanup recognises its own clip the next time. The video host is a
public CDN: this module builds its own client, so the API key can never reach it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from grokvid import __version__
from grokvid.api import errors
from grokvid.api.download import files
from grokvid.api.download.fetch import DownloadResult, Fetch, ProgressCallback, Restart, Retry
from grokvid.api.download.files import (
    DownloadBusy,
    Finished,
    PartMeta,
    SaveFailed,
    meta_path,
    part_path,
    sha256_of,
)
from grokvid.api.retry import Backoff

__all__ = [
    "DownloadBusy",
    "DownloadResult",
    "ProgressCallback",
    "SaveFailed",
    "download_clip",
    "download_in_progress",
    "finished_clip",
    "part_path",
    "remove_leftover_part",
    "sha256_of",
]

# Module-level so tests can swap in a fake and never really wait.
_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

DEFAULT_BACKOFF = Backoff()  # frozen, so one shared default is safe
_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


async def download_clip(
    url: str,
    dest: Path,
    *,
    force: bool = False,
    on_progress: ProgressCallback | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    transport: httpx.AsyncBaseTransport | None = None,
    user_agent: str = f"grokvid/{__version__}",
    chunk_size: int = 256 * 1024,
    expect_sha256: str | None = None,
    expect_bytes: int | None = None,
) -> DownloadResult:
    """Download the clip at `url` to `dest`, resuming `<dest>.part` if one is there.

    If `dest` already holds this clip (the marker an interrupted call left says so, or it
    matches `expect_sha256` and `expect_bytes`, as the ledger may know them), it is returned
    at once without a download (`resumed_from` = its size). Raises ValidationError if `dest`
    exists otherwise and not `force`, or if anything but a regular file sits at `dest` or its
    `.part`, `.part.meta`, `.part.lock`; URLExpired on 403/404/410 (poll for a fresh URL and
    call again: the .part is kept); NetworkError when the host keeps failing or sends
    something that is not an MP4; SaveFailed when the disk refuses the bytes.
    """
    host = _host_of(url)
    dest = Path(dest)
    if dest.is_symlink():
        files.refuse_special(dest)  # a link, even to a folder, is named as a link
    if dest.is_dir():
        raise errors.ValidationError(
            f"{dest} is a directory: give a file name for {errors.option('output')}.",
            field="output",
        )
    part = part_path(dest)
    for path in (dest, part, meta_path(part), files.lock_path(part)):
        files.refuse_special(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Identity encoding keeps byte offsets (Range, Content-Length) about the file itself.
    headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
    with files.exclusive(part):
        if dest.exists() and not force:
            saved = await _already_saved(dest, expect_sha256, expect_bytes)
            if saved is None:
                raise errors.ValidationError(
                    f"{dest} already exists: pass {errors.option('force')} to overwrite, or choose "
                    f"another {errors.option('output')}.",
                    field="output",
                )
            return saved
        async with httpx.AsyncClient(
            headers=headers,
            timeout=_TIMEOUT,
            follow_redirects=True,
            transport=transport,
            verify=_tls_context(),
        ) as client:
            result = await _with_retries(
                Fetch(client, url, host, dest, chunk_size, on_progress), backoff
            )

        if not force and dest.exists():  # appeared while we were downloading
            raise errors.ValidationError(
                f"{dest} appeared during the download: pass {errors.option('force')} to overwrite, "
                f"or choose another {errors.option('output')}. The clip is kept in {part}.",
                field="output",
            )
        files.refuse_special(dest)  # checked again: the rename must not replace a planted link
        finished = Finished(result.bytes, result.sha256, result.content_type)
        PartMeta(result.bytes, None, None, finished).save(part)
        os.replace(part, dest)
        files.fsync_dir(dest.parent)
        meta_path(part).unlink(missing_ok=True)
    return result


async def _already_saved(
    dest: Path, expect_sha256: str | None, expect_bytes: int | None
) -> DownloadResult | None:
    """The clip at `dest`, if a finished-marker or the caller's expectations vouch for it."""
    part = part_path(dest)
    meta = PartMeta.load(part)
    marker = meta.finished if meta is not None and not part.exists() else None
    candidates = [marker] if marker is not None else []
    if expect_sha256 is not None:
        candidates.append(Finished(expect_bytes or -1, expect_sha256.lower(), None))
    size = files.size_of(dest)
    wanted = [c for c in candidates if c.bytes in (size, -1) and size > 0]
    if not wanted:
        return None
    digest = await asyncio.to_thread(sha256_of, dest)
    for candidate in wanted:
        if candidate.sha256 == digest:
            if marker is not None:
                meta_path(part).unlink(missing_ok=True)
            content_type = marker.content_type if marker is not None else None
            return DownloadResult(dest, size, digest, content_type, resumed_from=size)
    return None


async def finished_clip(
    dest: Path, *, expect_sha256: str | None = None, expect_bytes: int | None = None
) -> DownloadResult | None:
    """The clip an earlier download_clip saved at `dest` and was cut off before reporting
    (its finished-marker says so), or the one `expect_sha256` and `expect_bytes` describe;
    None if `dest` is anything else. Never follows a link."""
    dest = Path(dest)
    if not dest.is_file() or dest.is_symlink():
        return None
    return await _already_saved(dest, expect_sha256, expect_bytes)


def remove_leftover_part(dest: Path) -> bool:
    """Delete `<dest>.part` and its `.part.meta`, e.g. in a full folder once the clip was saved
    elsewhere. Returns True if there was a .part; links are removed, never followed. A .part
    another grokvid is writing right now is left alone (False)."""
    part = part_path(Path(dest))
    existed = os.path.lexists(part)
    if not existed:
        return False
    try:
        with files.exclusive(part):
            files.discard(part)
    except DownloadBusy:
        return False
    return True


def download_in_progress(dest: Path) -> bool:
    """Whether another grokvid process is downloading the clip for `dest` right now."""
    part = part_path(Path(dest))
    try:
        with files.exclusive(part):
            return False
    except DownloadBusy:
        return True


async def _with_retries(fetch: Fetch, backoff: Backoff) -> DownloadResult:
    # `attempt` counts retries in a row that took the .part to no new high: a host that drops
    # the line every few MB but always moves forward is slow, not broken.
    attempt = tries = restarts = 0
    high = files.size_of(fetch.part)
    while True:
        tries += 1
        try:
            return await fetch.once()
        except Restart:
            files.discard(fetch.part)
            restarts += 1
            if restarts == 1:
                continue  # a stale .part: ask for the whole clip at once
            failure = Retry("the host would not resume where the download stopped.")
        except Retry as exc:
            failure = exc
        if (size := files.size_of(fetch.part)) > high:
            high, attempt = size, 0
        if attempt >= backoff.attempts:
            then = (
                f"The {size:,} bytes received are kept in {fetch.part}; the next download "
                "of this clip resumes from there."
                if size
                else "Try again later."
            )
            raise errors.NetworkError(
                f"Could not download the clip from {fetch.host} after {tries} tries: "
                f"{failure.reason.rstrip('.')}. {then}"
            ) from failure
        await _sleep(backoff.wait(attempt, failure.retry_after))
        attempt += 1


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verification, built once: loading the CA bundle costs ~80 ms a call."""
    return httpx.create_ssl_context()


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.ValidationError(
            "The clip URL must be an http(s) URL; poll the job again for a fresh one.",
            field="url",
        )
    return parts.hostname
