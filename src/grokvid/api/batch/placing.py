"""A clip saved earlier somewhere else, put where this batch wants it (`--output-dir`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from grokvid.api import errors
from grokvid.api.batch.resume import file_sha256


def place(source: Path, target: Path, sha256: str | None) -> str:
    """Put the clip at `source` at `target` too: a hard link where the file system allows
    (no second copy of the bytes), else a copy; checked against `sha256` before it appears.
    Its sidecar and previews come along. Returns "linked" or "copied"."""
    how = _put(source, target, sha256)
    from grokvid.api.metadata import sidecar_path
    from grokvid.api.previews import preview_paths

    beside = [(sidecar_path(source), sidecar_path(target))]
    beside += list(zip(preview_paths(source).values(), preview_paths(target).values(), strict=True))
    for old, new in beside:
        if old.is_file() and not new.exists():
            _put(old, new, None)
    return how


def _put(source: Path, target: Path, sha256: str | None) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.part")
    temp.unlink(missing_ok=True)
    try:
        os.link(source, temp)
        how = "linked"
    except OSError:  # another file system, or links not allowed: copy the bytes
        try:
            shutil.copyfile(source, temp)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise errors.ValidationError(
                f"Cannot copy {source} to {target}: {exc.strerror or exc}. Free some space or "
                "choose another --output-dir.",
                "output_dir",
            ) from None
        how = "copied"
    if sha256 is not None and file_sha256(temp) != sha256:
        temp.unlink(missing_ok=True)
        raise errors.ValidationError(
            f"The copy of {source} at {target} does not match the clip's sha256: check the "
            "disk, then run the batch again.",
            "output_dir",
        )
    os.replace(temp, target)
    return how


__all__ = ["place"]
