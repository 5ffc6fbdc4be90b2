"""What a user asks for, by operation, independent of any provider's wire format.

A spec is what the ledger stores (as JSON) and what a provider turns into its own body, so a
job can be picked up, re-estimated or re-checked by any later process. `MediaInput` is the one
type for every image or video a request takes: a local file (inlined or uploaded, as the provider
chooses), a URL, or data already in memory, always with its size and sha256 when known.
"""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from grokvid.api.errors import ValidationError

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # the service refuses larger images with an unread 413

# Magic numbers of the image formats the models take; a file's name is not trusted.
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


class MediaInput(BaseModel):
    """An image or video given to a request: a file, a URL, or inline data.

    `file` is kept as an absolute path; the bytes are read again when the request is sent, and
    checked against `sha256`, so a file changed after planning is caught instead of billed.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["image", "video"] = "image"
    file: str | None = None
    url: str | None = None
    mime: str | None = None
    bytes: int | None = None
    sha256: str | None = None

    @classmethod
    def from_source(cls, source: str, *, kind: Literal["image", "video"] = "image") -> MediaInput:
        """Parse what a user typed: an https:// URL, a data: URI or a local file path."""
        if source.startswith("https://"):
            return cls(kind=kind, url=source)
        if source.startswith("data:"):
            data = _data_uri_bytes(source)
            return cls(
                kind=kind,
                url=source,
                mime=source[5:].split(";", 1)[0] or None,
                bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        if source.startswith("http://"):
            raise ValidationError(
                f"{source} is plain http: the service fetches media over https:// only.", kind
            )
        path = Path(source).expanduser()
        try:
            st = path.stat()
        except OSError as exc:
            raise ValidationError(
                f"Cannot read {source}: {exc.strerror}. Give a PNG, JPEG or WebP file, or an "
                "https:// URL.",
                kind,
            ) from exc
        if not stat.S_ISREG(st.st_mode):  # /dev/zero or a pipe would be read without end
            raise ValidationError(
                f"{source} is not a regular file (a folder, device or pipe): give a PNG, JPEG "
                "or WebP file, or an https:// URL.",
                kind,
            )
        size = st.st_size
        if kind == "image" and size > MAX_IMAGE_BYTES:
            raise ValidationError(
                f"{source} is {size / 1e6:.1f} MB; the service takes images up to "
                f"{MAX_IMAGE_BYTES // (1024 * 1024)} MB. Scale it down or give an https:// URL.",
                kind,
            )
        data = _read(path, source, kind, size)
        mime = image_type(data[:16]) if kind == "image" else "video/mp4"
        if mime is None:
            raise ValidationError(
                f"{source} is not a PNG, JPEG or WebP image: convert it, or give an https:// URL.",
                kind,
            )
        return cls(
            kind=kind,
            file=str(path.absolute()),
            mime=mime,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )

    def data_uri(self) -> str:
        """The media as a `data:` URI (a file is read again and checked against its sha256)."""
        if self.file is None:
            return self.url or ""
        size = self.bytes if self.bytes is not None else MAX_IMAGE_BYTES
        data = _read(Path(self.file), self.file, self.kind, size)
        if self.sha256 is not None and hashlib.sha256(data).hexdigest() != self.sha256:
            raise ValidationError(
                f"{self.file} changed since the request was checked; run the command again.",
                self.kind,
            )
        return f"data:{self.mime};base64,{base64.b64encode(data).decode('ascii')}"

    def record(self) -> dict[str, Any]:
        """How the ledger and the sidecar describe it: never megabytes of base64."""
        if self.file is not None:
            return {
                "file": self.file,
                "type": self.mime,
                "bytes": self.bytes,
                "sha256": self.sha256,
            }
        if self.url is not None and self.url.startswith("data:"):
            return {"url": "data:…", "type": self.mime, "bytes": self.bytes, "sha256": self.sha256}
        return {"url": self.url}

    @property
    def label(self) -> str:
        return Path(self.file).stem if self.file else "image"


def _read(path: Path, shown: str, kind: str, size: int) -> bytes:
    """The file's bytes, never more than `stat` said it held (plus one, to see it grow)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(size + 1)
    except OSError as exc:
        raise ValidationError(f"Cannot read {shown}: {exc.strerror}.", kind) from exc
    if len(data) > size:
        raise ValidationError(f"{shown} changed while grokvid read it: try again.", kind)
    return data


def _data_uri_bytes(uri: str) -> bytes:
    head, _, payload = uri.partition(",")
    if ";base64" not in head:
        raise ValidationError("A data: URI must be base64-encoded (data:image/png;base64,…).")
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError as exc:
        raise ValidationError("The data: URI holds invalid base64.") from exc


class ClipOptions(BaseModel):
    """What every generating operation shares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    prompt: str = ""
    duration: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    audio: bool = True


class TextToVideo(ClipOptions):
    kind: Literal["text-to-video"] = "text-to-video"


class ImageToVideo(ClipOptions):
    kind: Literal["image-to-video"] = "image-to-video"
    image: MediaInput


class ReferenceToVideo(ClipOptions):
    """A clip guided by 1–7 reference images the prompt names as <IMAGE_1>, <IMAGE_2> …"""

    kind: Literal["reference-to-video"] = "reference-to-video"
    references: tuple[MediaInput, ...]


class EditVideo(ClipOptions):
    """Change an existing clip as the prompt says; the output keeps its length and ratio."""

    kind: Literal["edit-video"] = "edit-video"
    video: MediaInput


class ExtendVideo(ClipOptions):
    """Continue an existing clip by `duration` seconds."""

    kind: Literal["extend-video"] = "extend-video"
    video: MediaInput


Spec = Annotated[
    TextToVideo | ImageToVideo | ReferenceToVideo | EditVideo | ExtendVideo,
    Field(discriminator="kind"),
]
_SPEC: TypeAdapter[Spec] = TypeAdapter(Spec)


def clip_spec(
    *,
    model: str,
    prompt: str,
    duration: int | None,
    aspect_ratio: str | None,
    resolution: str | None,
    audio: bool,
    image: MediaInput | None = None,
) -> TextToVideo | ImageToVideo:
    """The spec for one generated clip: text-to-video, or image-to-video when an image is given."""
    if image is None:
        return TextToVideo(
            model=model,
            prompt=prompt,
            duration=duration,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            audio=audio,
        )
    return ImageToVideo(
        model=model,
        prompt=prompt,
        duration=duration,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        audio=audio,
        image=image,
    )


def spec_from_json(data: dict[str, Any]) -> Spec:
    """A spec back from the ledger's JSON."""
    return _SPEC.validate_python(data)


def spec_to_json(spec: Spec) -> dict[str, Any]:
    return spec.model_dump(mode="json")


def media_of(spec: Spec) -> tuple[MediaInput, ...]:
    """Every media input a spec carries, for hashing and pricing."""
    match spec:
        case ImageToVideo():
            return (spec.image,)
        case ReferenceToVideo():
            return spec.references
        case EditVideo() | ExtendVideo():
            return (spec.video,)
    return ()
