"""Fetch a finished clip from the video host without ever leaving a bad file behind.

The body streams into `<dest>.part` (constant memory, hashed on the way) and is checked
(status, Content-Type, Content-Length, the MP4 `ftyp` box) before an fsync and an atomic
`os.replace` onto `dest`. A `.part` left by a failed try is resumed with `Range` by the next
try, in this call or a later one with a fresh URL. The video host is a public CDN: this module
builds its own client, so the API key can never reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn, Protocol
from urllib.parse import urlsplit

import httpx

from grokvid import __version__
from grokvid.api import errors
from grokvid.api.media import has_ftyp_header
from grokvid.api.retry import Backoff, retry_after_seconds

ProgressCallback = Callable[[int, int | None], None]

# Module-level so tests can swap in a fake and never really wait.
_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

DEFAULT_BACKOFF = Backoff()  # frozen, so one shared default is safe
_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_EXPIRED = frozenset({403, 404, 410})
_OCTET_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class DownloadResult:
    """A clip safely at `path`: its size, SHA-256, the host's Content-Type, and resume point."""

    path: Path
    bytes: int
    sha256: str
    content_type: str | None
    resumed_from: int  # bytes already on disk when the successful response began; 0 if none


def part_path(dest: Path) -> Path:
    """Where `dest` is assembled: fox-ab12.mp4 -> fox-ab12.mp4.part."""
    return dest.with_name(dest.name + ".part")


def _meta_path(part: Path) -> Path:
    """What the .part is a piece of (total size, ETag), so a resume never splices two clips.

    JSON inside, but not named *.json, so it is never taken for a clip's metadata sidecar.
    """
    return part.with_name(part.name + ".meta")


@dataclass(frozen=True)
class _PartMeta:
    total: int | None
    etag: str | None
    last_modified: str | None

    @classmethod
    def of(cls, response: httpx.Response, total: int | None) -> _PartMeta:
        return cls(total, response.headers.get("etag"), response.headers.get("last-modified"))

    @classmethod
    def load(cls, part: Path) -> _PartMeta | None:
        try:
            data = json.loads(_meta_path(part).read_text(encoding="utf-8"))
            meta = cls(data.get("total"), data.get("etag"), data.get("last_modified"))
        except (OSError, ValueError, AttributeError):
            return None
        fine = isinstance(meta.total, int | None) and isinstance(meta.etag, str | None)
        return meta if fine and isinstance(meta.last_modified, str | None) else None

    def save(self, part: Path) -> None:
        body = {"total": self.total, "etag": self.etag, "last_modified": self.last_modified}
        _meta_path(part).write_text(json.dumps(body), encoding="utf-8")

    def if_range(self) -> str | None:
        """A validator for If-Range: a strong ETag, else Last-Modified (RFC 9110 13.1.5)."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified

    def same_clip(self, other: _PartMeta) -> bool:
        if None not in (self.total, other.total) and self.total != other.total:
            return False
        return not (self.etag and other.etag and self.etag != other.etag)


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _meta_path(part).unlink(missing_ok=True)


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


class _Retry(Exception):
    """A transient failure: wait, then try again from what the .part holds."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Restart(Exception):
    """The .part cannot be resumed: drop it and ask for the whole clip again, at once."""


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
) -> DownloadResult:
    """Download the clip at `url` to `dest`, resuming `<dest>.part` if one is there.

    Raises ValidationError if `dest` exists and not `force`, URLExpired on 403/404/410 (poll
    for a fresh URL and call again: the .part is kept), NetworkError when the host keeps
    failing or sends something that is not an MP4.
    """
    host = _host_of(url)
    dest = Path(dest)
    if dest.is_dir():
        raise errors.ValidationError(
            f"{dest} is a directory: give a file name for --output.", field="output"
        )
    if dest.exists() and not force:
        raise errors.ValidationError(
            f"{dest} already exists: pass --force to overwrite, or choose another --output.",
            field="output",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    # Identity encoding keeps byte offsets (Range, Content-Length) about the file itself.
    headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
    with _exclusive(part):
        async with httpx.AsyncClient(
            headers=headers, timeout=_TIMEOUT, follow_redirects=True, transport=transport
        ) as client:
            result = await _with_retries(
                _Fetch(client, url, host, dest, chunk_size, on_progress), backoff
            )

        if not force and dest.exists():  # appeared while we were downloading
            raise errors.ValidationError(
                f"{dest} appeared during the download: pass --force to overwrite, or choose "
                f"another --output. The clip is kept in {part}.",
                field="output",
            )
        os.replace(part, dest)
        _fsync_dir(dest.parent)
        _meta_path(part).unlink(missing_ok=True)
    return result


@contextlib.contextmanager
def _exclusive(part: Path) -> Iterator[None]:
    """One writer per .part: a second grokvid fetching the same clip waits its turn elsewhere.

    Two processes appending to one .part would splice a clip that fails its hash, so the second
    is refused at once with a message (advisory lock; POSIX only, a no-op elsewhere).
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    lock = part.with_name(part.name + ".lock")
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise errors.NetworkError(
                f"{part.name.removesuffix('.part')} is being downloaded by another grokvid "
                "process: wait for it to finish, then run the command again."
            ) from None
        try:
            # The holder before us may have removed the lock file as we opened it: a lock on
            # a removed file guards nothing, so take the lock again on the file now there.
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


async def _with_retries(fetch: _Fetch, backoff: Backoff) -> DownloadResult:
    # `attempt` counts retries in a row that took the .part to no new high: a host that drops
    # the line every few MB but always moves forward is slow, not broken.
    attempt = tries = restarts = 0
    high = _size(fetch.part)
    while True:
        tries += 1
        try:
            return await fetch.once()
        except _Restart:
            _discard(fetch.part)
            restarts += 1
            if restarts == 1:
                continue  # a stale .part: ask for the whole clip at once
            failure = _Retry("the host would not resume where the download stopped.")
        except _Retry as exc:
            failure = exc
        if (size := _size(fetch.part)) > high:
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


class _Fetch:
    """One GET of the clip, resuming the .part; raises _Retry, _Restart or a GrokvidError."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        host: str,
        dest: Path,
        chunk_size: int,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.client = client
        self.url = url
        self.host = host
        self.dest = dest
        self.part = part_path(dest)
        self.chunk_size = max(1, chunk_size)
        self.on_progress = on_progress
        self.what = f"downloading the clip from {host}"

    async def once(self) -> DownloadResult:
        offset = self._resumable_size()
        meta = _PartMeta.load(self.part) if offset else None
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        if meta is not None and (validator := meta.if_range()):
            headers["If-Range"] = validator  # a changed clip comes back whole (200)
        request = self.client.build_request("GET", self.url, headers=headers)
        with _transient(self.what):
            response = await self.client.send(request, stream=True)
        try:
            return await self._receive(response, offset, meta)
        finally:
            await response.aclose()

    def _resumable_size(self) -> int:
        """Bytes of the .part worth resuming; a .part that is not an MP4 start is dropped."""
        size = _size(self.part)
        if size >= 8:
            with open(self.part, "rb") as fh:
                if not has_ftyp_header(fh.read(8)):
                    _discard(self.part)
                    return 0
        return size

    async def _receive(
        self, response: httpx.Response, offset: int, meta: _PartMeta | None
    ) -> DownloadResult:
        status = response.status_code
        self._check_status(status, response, offset)
        content_type = response.headers.get("content-type")
        self._check_content_type(content_type, status)

        expected = _int_header(response, "content-length")
        if status == 206:
            start, end, total = self._content_range(response, offset)
            expected = end - start + 1
        else:  # 200: the whole clip, whatever we asked for
            start, total = 0, expected
        seen = _PartMeta.of(response, total)
        if start and meta is not None and not meta.same_clip(seen):
            raise _Restart  # the .part belongs to another clip (or another version of it)
        if not start or meta is None:
            seen.save(self.part)

        hasher = hashlib.sha256()
        if start:
            self._hash_existing(hasher)
        head = self._read_head() if start else b""
        done = start
        self._report(done, total)
        with open(self.part, "ab" if start else "wb") as fh:
            with _transient(self.what):
                async for piece in response.aiter_bytes():
                    if len(head) < 8:
                        head += piece[: 8 - len(head)]
                        if len(head) >= 8 and not has_ftyp_header(head):
                            break  # an error page or junk: stop reading it
                    done = self._write(fh, hasher, piece, done, total)
            fh.flush()
            os.fsync(fh.fileno())
        if len(head) >= 8 and not has_ftyp_header(head):
            self._not_an_mp4("data without an MP4 'ftyp' box")

        # Content-Length counts bytes on the wire; they differ from ours only if the host
        # compressed the body despite `Accept-Encoding: identity`.
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        received = done - start if encoding in ("", "identity") else response.num_bytes_downloaded
        if expected is not None and received > expected:
            _discard(self.part)
            raise _Retry(f"the host sent {received:,} bytes but announced {expected:,}.")
        if expected is not None and received < expected:
            raise _Retry(f"the body stopped after {received:,} of {expected:,} bytes.")
        if total is not None and done < total:  # a 206 that covered only part of the rest
            raise _Retry(f"got bytes up to {done:,} of {total:,}.")
        if len(head) < 8:
            self._not_an_mp4(f"only {done} bytes")
        return DownloadResult(self.dest, done, hasher.hexdigest(), content_type, start)

    def _check_status(self, status: int, response: httpx.Response, offset: int) -> None:
        if status in (200, 206):
            return
        if status in _EXPIRED:
            raise errors.URLExpired(
                f"The video URL answered HTTP {status} ({self.host}): it has expired or is no "
                "longer valid. Poll the job again for a fresh URL.",
                status=status,
            )
        if status == 416 and offset:
            raise _Restart
        if status in (408, 429) or status >= 500:
            raise _Retry(f"the host answered HTTP {status}.", retry_after_seconds(response))
        raise errors.NetworkError(
            f"The video host {self.host} answered HTTP {status} instead of the clip."
        )

    def _check_content_type(self, content_type: str | None, status: int) -> None:
        if content_type is None:
            return
        media_type = content_type.split(";", 1)[0].strip().lower()
        if not media_type or media_type.startswith("video/") or media_type in _OCTET_TYPES:
            return
        raise errors.NetworkError(
            f"The video host returned {media_type} instead of an MP4 (HTTP {status} from "
            f"{self.host}); nothing was saved. The URL may be wrong or expired: poll the job "
            "again for a fresh one."
        )

    def _content_range(self, response: httpx.Response, offset: int) -> tuple[int, int, int | None]:
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if match is None:
            raise errors.NetworkError(
                f"The video host {self.host} answered 206 without a usable Content-Range."
            )
        start, end = int(match[1]), int(match[2])
        total = None if match[3] == "*" else int(match[3])
        sane = start <= end and (total is None or end < total)
        if start != offset or not sane:
            if offset:
                raise _Restart
            raise errors.NetworkError(
                f"The video host {self.host} sent bytes {start}-{end} when asked for the "
                "whole clip."
            )
        return start, end, total

    def _not_an_mp4(self, what: str) -> NoReturn:
        _discard(self.part)
        raise errors.NetworkError(
            f"The video host {self.host} returned {what} instead of an MP4; nothing was "
            "saved. Poll the job again for a fresh URL, or report the request id."
        )

    def _write(
        self, fh: BinaryIO, hasher: _Hasher, piece: bytes, done: int, total: int | None
    ) -> int:
        # Pieces come as the network delivers them (so a slow host still shows progress);
        # chunk_size caps how much one write and one progress step cover.
        view = memoryview(piece)
        for i in range(0, len(view), self.chunk_size):
            block = view[i : i + self.chunk_size]
            fh.write(block)
            hasher.update(block)
            done += len(block)
            self._report(done, total)
        return done

    def _hash_existing(self, hasher: _Hasher) -> None:
        with open(self.part, "rb") as fh:
            while block := fh.read(self.chunk_size):
                hasher.update(block)

    def _read_head(self) -> bytes:
        with open(self.part, "rb") as fh:
            return fh.read(8)

    def _report(self, done: int, total: int | None) -> None:
        if self.on_progress is not None:
            self.on_progress(done, total)


@contextlib.contextmanager
def _transient(what: str) -> Iterator[None]:
    """Transport failures (mapped to ours by errors.map_http_errors) are worth a retry."""
    try:
        with errors.map_http_errors(what):
            yield
    except errors.NetworkError as exc:  # only httpx's errors, mapped, are raised in here
        raise _Retry(str(exc)) from exc


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.ValidationError(
            "The clip URL must be an http(s) URL; poll the job again for a fresh one.",
            field="url",
        )
    return parts.hostname


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); skipped where directories can't be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    with contextlib.suppress(OSError):
        os.fsync(fd)
    os.close(fd)


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """The sha256 of a file on disk, read in chunks (constant memory)."""
    hasher = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            hasher.update(chunk)
    return hasher.hexdigest()
