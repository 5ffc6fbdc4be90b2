"""grokvid: generate short videos with xAI's Grok Imagine Video, from the command line or Python.

The public Python API (everything else is private)::

    import grokvid

    clip = grokvid.Client().generate("a red fox trotting through fresh snow", duration=5)

Names load on first use, so `grokvid --version` stays instant.
"""

from __future__ import annotations

# Not `from typing import …`: `grokvid --version` should not pay for the typing module.
TYPE_CHECKING = False

__version__ = "0.2.0.dev0"

_EXPORTS = {
    "Client": "grokvid.api.client",
    "AsyncClient": "grokvid.api.client",
    "Clip": "grokvid.api.client",
    "Job": "grokvid.api.client",
    "JobState": "grokvid.api.states",
    "TextToVideo": "grokvid.api.specs",
    "ImageToVideo": "grokvid.api.specs",
    "MediaInput": "grokvid.api.specs",
    "JobEvent": "grokvid.api.events",
    "GrokvidError": "grokvid.api.errors",
    "ConfigError": "grokvid.api.errors",
    "ValidationError": "grokvid.api.errors",
    "AuthError": "grokvid.api.errors",
    "APIError": "grokvid.api.errors",
    "RateLimited": "grokvid.api.errors",
    "NotFound": "grokvid.api.errors",
    "ServerError": "grokvid.api.errors",
    "NetworkError": "grokvid.api.errors",
    "SubmitUnknown": "grokvid.api.errors",
    "WaitTimeout": "grokvid.api.errors",
    "JobFailed": "grokvid.api.errors",
    "Interrupted": "grokvid.api.errors",
    "LedgerWriteFailed": "grokvid.api.errors",
}
__all__ = [
    "APIError",
    "AsyncClient",
    "AuthError",
    "Client",
    "Clip",
    "ConfigError",
    "GrokvidError",
    "ImageToVideo",
    "Interrupted",
    "Job",
    "JobEvent",
    "JobFailed",
    "JobState",
    "LedgerWriteFailed",
    "MediaInput",
    "NetworkError",
    "NotFound",
    "RateLimited",
    "ServerError",
    "SubmitUnknown",
    "TextToVideo",
    "ValidationError",
    "WaitTimeout",
    "__version__",
]

if TYPE_CHECKING:
    from typing import Any

    from grokvid.api.client import AsyncClient, Client, Clip, Job
    from grokvid.api.errors import (
        APIError,
        AuthError,
        ConfigError,
        GrokvidError,
        Interrupted,
        JobFailed,
        LedgerWriteFailed,
        NetworkError,
        NotFound,
        RateLimited,
        ServerError,
        SubmitUnknown,
        ValidationError,
        WaitTimeout,
    )
    from grokvid.api.events import JobEvent
    from grokvid.api.specs import ImageToVideo, MediaInput, TextToVideo
    from grokvid.api.states import JobState


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'grokvid' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
