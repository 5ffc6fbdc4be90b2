"""The download's files on disk: `<dest>.part`, `.part.meta`, `.part.lock`, opened safely.

Every one of them is opened without following symlinks, and anything but a regular file at
those names (or at `dest`) is refused, so a link planted in a shared output folder can never
make grokvid write, truncate or hash somebody else's file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from grokvid.api import errors

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO must not hang the open


SaveFailed = errors.SaveFailed


class DownloadBusy(errors.NetworkError):
    """Another grokvid process holds this clip's .part: it is downloading the same clip."""


def save_failed(exc: OSError, path: Path) -> SaveFailed:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some space, then run the command again; the download resumes from there"
    else:
        fix = "check the disk, then run the command again"
    return SaveFailed(f"{reason} writing {path}: {fix}.", path=path, errno=exc.errno)


def part_path(dest: Path) -> Path:
    """Where `dest` is assembled: fox-ab12.mp4 -> fox-ab12.mp4.part."""
    return dest.with_name(dest.name + ".part")


def meta_path(part: Path) -> Path:
    """What the .part is a piece of (total size, ETag), so a resume never splices two clips.

    JSON inside, but not named *.json, so it is never taken for a clip's metadata sidecar.
    """
    return part.with_name(part.name + ".meta")


def lock_path(part: Path) -> Path:
    return part.with_name(part.name + ".lock")


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _refusal(path: Path, what: str) -> errors.ValidationError:
    return errors.ValidationError(
        f"{path} is {what}, not a regular file: grokvid will not write through it; remove it "
        f"or choose another {errors.option('output')}.",
        field="output",
    )


def refuse_special(path: Path) -> None:
    """Raise ValidationError if something other than a regular file sits at `path`."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise _refusal(path, _kind(mode))


def open_file(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open without following a symlink; refuses anything but a regular file."""
    try:
        fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EISDIR):
            refuse_special(path)  # names what is there
            raise _refusal(path, "a symbolic link or special file") from exc
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _refusal(path, _kind(st.st_mode))
    return fd


def create_new(path: Path) -> int:
    """A fresh, empty file at `path` (whatever was there is unlinked, never followed)."""
    path.unlink(missing_ok=True)
    return open_file(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    fd = open_file(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as fh:
        return fh.read() if limit is None else fh.read(limit)


def hash_into(path: Path, hasher: Any, chunk_size: int = 1 << 20) -> None:
    fd = open_file(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as fh:
        while block := fh.read(chunk_size):
            hasher.update(block)


def size_of(path: Path) -> int:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    meta_path(part).unlink(missing_ok=True)


@dataclass(frozen=True)
class Finished:
    """The clip as it was the moment before the rename: the marker a later call trusts."""

    bytes: int
    sha256: str
    content_type: str | None


@dataclass(frozen=True)
class PartMeta:
    total: int | None
    etag: str | None
    last_modified: str | None
    finished: Finished | None = None

    @classmethod
    def of(cls, response: httpx.Response, total: int | None) -> PartMeta:
        return cls(total, response.headers.get("etag"), response.headers.get("last-modified"))

    @classmethod
    def load(cls, part: Path) -> PartMeta | None:
        try:
            data = json.loads(read_bytes(meta_path(part)).decode("utf-8"))
            meta = cls(data.get("total"), data.get("etag"), data.get("last_modified"))
            done = data.get("finished")
            if isinstance(done, dict):
                finished = Finished(done["bytes"], done["sha256"], done.get("content_type"))
                if isinstance(finished.bytes, int) and isinstance(finished.sha256, str):
                    meta = replace(meta, finished=finished)
        except (OSError, ValueError, AttributeError, KeyError, errors.ValidationError):
            return None
        fine = isinstance(meta.total, int | None) and isinstance(meta.etag, str | None)
        return meta if fine and isinstance(meta.last_modified, str | None) else None

    def save(self, part: Path) -> None:
        body: dict[str, Any] = {
            "total": self.total,
            "etag": self.etag,
            "last_modified": self.last_modified,
        }
        if self.finished is not None:
            body["finished"] = vars(self.finished)
        target = meta_path(part)
        fd = create_new(target)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(json.dumps(body).encode("utf-8"))
        except OSError as exc:
            raise save_failed(exc, target) from exc

    def if_range(self) -> str | None:
        """A validator for If-Range: a strong ETag, else Last-Modified (RFC 9110 13.1.5)."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified

    def same_clip(self, other: PartMeta) -> bool:
        if None not in (self.total, other.total) and self.total != other.total:
            return False
        return not (self.etag and other.etag and self.etag != other.etag)


@contextlib.contextmanager
def exclusive(part: Path) -> Iterator[None]:
    """One writer per .part: a second grokvid fetching the same clip waits its turn elsewhere.

    Two processes appending to one .part would splice a clip that fails its hash, so the second
    is refused at once with a message (advisory lock; POSIX only, a no-op elsewhere).
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    lock = lock_path(part)
    while True:
        fd = open_file(lock, os.O_CREAT | os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DownloadBusy(
                f"{part.name.removesuffix('.part')} is being downloaded by another grokvid "
                "process: wait for it to finish, then run the command again."
            ) from None
        try:
            # The holder before us may have removed the lock file as we opened it: a lock on
            # a removed file guards nothing, so take the lock again on the file now there.
            if os.fstat(fd).st_ino == os.lstat(lock).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def fsync_dir(directory: Path) -> None:
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
