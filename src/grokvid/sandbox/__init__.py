"""The sandbox: a local stand-in for the xAI video API, for first runs, tests and CI.

    from grokvid.sandbox import SandboxConfig, SandboxServer, create_app

    with SandboxServer(SandboxConfig(render_seconds=0.5)) as server:   # a free loopback port
        ...  # point any client at server.base_url, with any key

    app = create_app(SandboxConfig(faults=["429", None]))               # in-process:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")

    config = SandboxConfig.from_env(render_seconds=5)   # GROKVID_SANDBOX_* variables win

It needs the `grokvid[sandbox]` extra (PyAV and numpy, to render real clips); without it,
importing this package raises ImportError naming the install command. It shares no code with
the client (`grokvid.api`), so it can disagree with it the way the real service can; its routes,
faults and limits are described in docs/sandbox.md.
"""

from importlib.util import find_spec

if find_spec("av") is None or find_spec("numpy") is None:
    raise ImportError("the sandbox needs its extra: pip install 'grokvid[sandbox]'")

from grokvid.sandbox.app import LogEntry, SandboxApp, SandboxUnavailable, create_app  # noqa: E402
from grokvid.sandbox.asgi import DropConnection  # noqa: E402
from grokvid.sandbox.config import (  # noqa: E402
    RATE_LIMIT_ENV,
    RENDER_SECONDS_ENV,
    SandboxConfig,
    parse_rate_limit,
    parse_render_seconds,
)
from grokvid.sandbox.faults import Faults, parse_faults  # noqa: E402
from grokvid.sandbox.fronts import FRONTS, Front  # noqa: E402
from grokvid.sandbox.server import HTTPServer, SandboxServer, is_loopback  # noqa: E402
from grokvid.sandbox.store import JobInfo  # noqa: E402

__all__ = [
    "FRONTS",
    "RATE_LIMIT_ENV",
    "RENDER_SECONDS_ENV",
    "DropConnection",
    "Faults",
    "Front",
    "HTTPServer",
    "JobInfo",
    "LogEntry",
    "SandboxApp",
    "SandboxConfig",
    "SandboxServer",
    "SandboxUnavailable",
    "create_app",
    "is_loopback",
    "parse_faults",
    "parse_rate_limit",
    "parse_render_seconds",
]
