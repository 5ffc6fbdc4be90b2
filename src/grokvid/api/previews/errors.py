"""The two ways making pictures can fail; both are GrokvidErrors with one-line messages."""

from __future__ import annotations

from pathlib import Path

from grokvid.api.errors import ConfigError, GrokvidError

INSTALL = "pip install 'grokvid[preview]'"


class PreviewUnavailable(ConfigError):
    """Pillow or PyAV is not installed; the message names the install command."""

    def __init__(self, missing: str) -> None:
        super().__init__(f"Making previews needs {missing}, which is not installed: run {INSTALL}")
        self.missing = missing


class PreviewFailed(GrokvidError):
    """This clip could not be decoded or its pictures not written; callers warn and go on."""

    def __init__(self, message: str, *, clip: Path) -> None:
        super().__init__(message)
        self.clip = clip
