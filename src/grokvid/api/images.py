"""Image-to-video sources: an https:// URL as given, or a local file sent as a data URI."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from grokvid.api.errors import ValidationError
from grokvid.api.models import ImageInput

# Magic numbers of the formats image models take; the file's name is not trusted.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"WEBP", 8, "image/webp"),
)


def image_type(head: bytes) -> str | None:
    for magic, offset, mime in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return mime
    return None


def load_image(source: str) -> tuple[ImageInput, dict[str, Any]]:
    """The `image` object to send, and how the ledger and sidecar describe it.

    A local file is read, checked to be PNG, JPEG or WebP and inlined as base64; the record
    keeps its path, size and sha256 rather than megabytes of base64.
    """
    if source.startswith(("https://", "data:image/")):
        record: dict[str, Any] = {
            "url": source if source.startswith("https://") else "data:image/…"
        }
        return ImageInput(url=source), record
    if source.startswith("http://"):
        raise ValidationError(
            f"{source} is plain http: the service fetches images over https:// only.", "image"
        )
    path = Path(source).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"Cannot read {source}: {exc.strerror}. Give a PNG, JPEG or WebP file, or an "
            "https:// URL.",
            "image",
        ) from exc
    mime = image_type(data[:16])
    if mime is None:
        raise ValidationError(
            f"{source} is not a PNG, JPEG or WebP image: convert it, or give an https:// URL.",
            "image",
        )
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    record = {
        "file": str(path.absolute()),
        "type": mime,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return ImageInput(url=url), record
