"""One GET of the clip into its .part, with every check on the answer."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx

from grokvid.api import errors
from grokvid.api.download import files
from grokvid.api.download.files import PartMeta, part_path, save_failed
from grokvid.api.download.writer import Writer
from grokvid.api.media import has_ftyp_header
from grokvid.api.retry import retry_after_seconds

ProgressCallback = Callable[[int, int | None], None]

_EXPIRED = frozenset({403, 404, 410})
_OCTET_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
# httpcore reads 64 KiB at a time; a clip arrives far faster in 1 MiB reads (fewer trips
# through the event loop and h11). Set on our own connection only, and only if it is there.
_READ_SIZE = 1 << 20


@dataclass(frozen=True)
class DownloadResult:
    """A clip safely at `path`: its size, SHA-256, the host's Content-Type, and resume point."""

    path: Path
    bytes: int
    sha256: str
    content_type: str | None
    resumed_from: int  # bytes already on disk when the successful response began; 0 if none


class Retry(Exception):
    """A transient failure: wait, then try again from what the .part holds."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Restart(Exception):
    """The .part cannot be resumed: drop it and ask for the whole clip again, at once."""


class Fetch:
    """One GET of the clip, resuming the .part; raises Retry, Restart or a GrokvidError."""

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
        meta = PartMeta.load(self.part) if offset else None
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        if meta is not None and (validator := meta.if_range()):
            headers["If-Range"] = validator  # a changed clip comes back whole (200)
        request = self.client.build_request("GET", self.url, headers=headers)
        with transient(self.what):
            response = await self.client.send(request, stream=True)
        try:
            return await self._receive(response, offset, meta)
        finally:
            await response.aclose()

    def _resumable_size(self) -> int:
        """Bytes of the .part worth resuming; a .part that is not an MP4 start is dropped."""
        size = files.size_of(self.part)
        if size >= 8 and not has_ftyp_header(files.read_bytes(self.part, 8)):
            files.discard(self.part)
            return 0
        return size

    async def _receive(
        self, response: httpx.Response, offset: int, meta: PartMeta | None
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
        seen = PartMeta.of(response, total)
        if start and meta is not None and not meta.same_clip(seen):
            raise Restart  # the .part belongs to another clip (or another version of it)
        if not start or meta is None:
            seen.save(self.part)

        hasher = hashlib.sha256()
        if start:
            files.hash_into(self.part, hasher, self.chunk_size)
        head = files.read_bytes(self.part, 8) if start else b""
        done = start
        self._report(done, total)
        try:
            if start:
                fd = files.open_file(self.part, os.O_WRONLY | os.O_APPEND)
            else:
                fd = files.create_new(self.part)
        except OSError as exc:
            raise save_failed(exc, self.part) from exc
        _widen_reads(response)
        writer = Writer(fd, hasher, self.part)
        finished = False
        try:
            with transient(self.what):
                async for piece in response.aiter_bytes():
                    if len(head) < 8:
                        head += piece[: 8 - len(head)]
                        if len(head) >= 8 and not has_ftyp_header(head):
                            break  # an error page or junk: stop reading it
                    if writer.error is not None:
                        break  # the disk refused: stop receiving; close() says why
                    await writer.put(piece)
                    done = self._advance(len(piece), done, total)
            finished = True
        finally:
            # On an error the .part keeps what arrived (flushed, not fsynced) for a resume.
            await writer.close(sync=finished)
        if len(head) >= 8 and not has_ftyp_header(head):
            self._not_an_mp4("data without an MP4 'ftyp' box")

        # Content-Length counts bytes on the wire; they differ from ours only if the host
        # compressed the body despite `Accept-Encoding: identity`.
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        received = done - start if encoding in ("", "identity") else response.num_bytes_downloaded
        if expected is not None and received > expected:
            files.discard(self.part)
            raise Retry(f"the host sent {received:,} bytes but announced {expected:,}.")
        if expected is not None and received < expected:
            raise Retry(f"the body stopped after {received:,} of {expected:,} bytes.")
        if total is not None and done < total:  # a 206 that covered only part of the rest
            raise Retry(f"got bytes up to {done:,} of {total:,}.")
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
            raise Restart
        if status in (408, 429) or status >= 500:
            raise Retry(f"the host answered HTTP {status}.", retry_after_seconds(response))
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
                raise Restart
            raise errors.NetworkError(
                f"The video host {self.host} sent bytes {start}-{end} when asked for the "
                "whole clip."
            )
        return start, end, total

    def _not_an_mp4(self, what: str) -> NoReturn:
        files.discard(self.part)
        raise errors.NetworkError(
            f"The video host {self.host} returned {what} instead of an MP4; nothing was "
            "saved. Poll the job again for a fresh URL, or report the request id."
        )

    def _advance(self, size: int, done: int, total: int | None) -> int:
        # Pieces come as the network delivers them (so a slow host still shows progress);
        # chunk_size caps how much one progress step covers.
        end = done + size
        while done < end:
            done = min(done + self.chunk_size, end)
            self._report(done, total)
        return done

    def _report(self, done: int, total: int | None) -> None:
        if self.on_progress is not None:
            self.on_progress(done, total)


def _widen_reads(response: httpx.Response) -> None:
    """Let this response's HTTP/1.1 connection read 1 MiB at a time (if it is httpcore's).

    The connection sits a few wrappers down (httpx's bound stream, its httpcore stream, the
    pool's stream); anything else (a mock, another transport) is left as it is.
    """
    stream: object = response.stream
    for _ in range(6):
        if isinstance(getattr(stream, "READ_NUM_BYTES", None), int):
            stream.READ_NUM_BYTES = _READ_SIZE  # type: ignore[attr-defined]
            return
        inner = next(
            (
                getattr(stream, name)
                for name in ("_stream", "_httpcore_stream", "_connection")
                if getattr(stream, name, None) is not None
            ),
            None,
        )
        if inner is None:
            return
        stream = inner


@contextlib.contextmanager
def transient(what: str) -> Iterator[None]:
    """Transport failures (mapped to ours by errors.map_http_errors) are worth a retry."""
    try:
        with errors.map_http_errors(what):
            yield
    except errors.NetworkError as exc:  # only httpx's errors, mapped, are raised in here
        raise Retry(str(exc)) from exc


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
