"""The video host: signed, expiring URLs to the rendered clips, with HTTP Range support.

Like the real CDN it needs no key; unlike a sloppy one it answers 400 to a request that carries
an Authorization header anyway, as signed-URL stores do ("only one auth mechanism allowed"), so a
client that leaks its API key to the video host fails its tests.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from email.utils import formatdate
from typing import Literal

from grokvid.sandbox.asgi import FileBody, Request, Response, text_response
from grokvid.sandbox.faults import Faults
from grokvid.sandbox.store import JobStore

PREFIX = "/cdn/"
_NAME = re.compile(r"xai-video-([A-Za-z0-9_-]{1,100})\.mp4")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class VideoHost:
    def __init__(
        self, store: JobStore, *, url_ttl: float, bytes_per_second: int | None = None
    ) -> None:
        self._store = store
        self._url_ttl = url_ttl
        self._rate = bytes_per_second
        self._secret = secrets.token_bytes(16)

    def url(self, base_url: str, request_id: str, *, expired: bool = False) -> str:
        """A fresh signed URL; `expired` gives one whose time has already run out."""
        now = time.time()
        expires = f"{(now - 1 if expired else now + self._url_ttl):.3f}"
        return f"{base_url}{PREFIX}xai-video-{request_id}.mp4?expires={expires}&sig=" + self._sign(
            request_id, expires
        )

    def serve(self, request: Request, name: str, faults: Faults) -> Response:
        if request.header("authorization") is not None:
            return text_response(
                400,
                "Only one auth mechanism allowed: this signed URL carries its own signature, "
                "so send no Authorization header to the video host.",
            )
        match = _NAME.fullmatch(name)
        if match is None:
            return text_response(404, "No such object.")
        request_id = match.group(1)
        expires, sig = request.query.get("expires", ""), request.query.get("sig", "")
        malformed_expires = bool(expires) and (not expires.isascii() or _seconds(expires) is None)
        if not sig.isascii() or malformed_expires:
            # compare_digest refuses non-ASCII text: this must be a 400, never a crash.
            return text_response(
                400, "Malformed signed URL: `expires` must be a number and `sig` hex digits."
            )
        if not hmac.compare_digest(sig, self._sign(request_id, expires)):
            return text_response(403, "Access denied: the URL's signature does not match.")
        if faults.expire_url is not None or float(expires) <= time.time():
            return text_response(
                403, "Access denied: this URL has expired. Poll the request for a fresh one."
            )
        view = self._store.begin_download(
            request_id, truncate=faults.truncate is not None, head=request.method == "HEAD"
        )
        if view is None or view.moderated or view.job.clip is None:
            return text_response(404, "No such object: the clip is gone.")
        clip = view.job.clip
        try:
            stat = clip.stat()
        except OSError:
            return text_response(404, "No such object: the clip is gone.")
        size = stat.st_size
        # The clip's name is a hash of what it shows; mtime is not stable (the cache touches it).
        etag = f'"{clip.stem[:24]}-{size:x}"'
        headers = [
            ("content-type", "video/mp4"),
            ("accept-ranges", "bytes"),
            ("etag", etag),
            ("last-modified", formatdate(view.job.done_at or view.job.created_at, usegmt=True)),
            ("cache-control", "private, max-age=86400"),
        ]
        status, start, length = 200, 0, size
        wanted = request.header("range")
        if_range = request.header("if-range")
        if wanted is not None and (if_range is None or if_range == etag):
            span = byte_range(wanted, size)
            if isinstance(span, str):
                return Response(416, b"", [("content-range", f"bytes */{size}")])
            if span is not None:
                start, end = span
                status, length = 206, end - start + 1
                headers.append(("content-range", f"bytes {start}-{end}/{size}"))
        slow = faults.slow or view.slow or self._rate
        cut = length // 2 if view.truncate else None
        if view.truncate:
            request.notes.append(f"truncated at {cut} of {length} bytes")
        return Response(status, headers=headers, file=FileBody(clip, start, length, slow, cut))

    def _sign(self, request_id: str, expires: str) -> str:
        message = f"{request_id}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def byte_range(header: str, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """The inclusive (start, end) a single `Range: bytes=…` asks for.

    None means "ignore the header and send everything" (not bytes, several ranges, malformed),
    as RFC 9110 allows; "unsatisfiable" means answer 416.
    """
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)
