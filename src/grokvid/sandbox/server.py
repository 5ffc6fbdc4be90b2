"""The sandbox on a real socket, served from a daemon thread (see `httpserver` for the server)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

from grokvid.sandbox.config import SandboxConfig
from grokvid.sandbox.httpserver import HTTPServer as HTTPServer
from grokvid.sandbox.net import is_loopback as is_loopback
from grokvid.sandbox.net import loopback_addresses


class SandboxServer:
    """The sandbox on a real socket, served from a daemon thread; use it as a context manager.

    `port=0` picks a free port; `base_url` tells which. A host other than loopback is refused
    unless `allow_remote` is true: the sandbox accepts any key.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
    ) -> None:
        from grokvid.sandbox.app import create_app

        if not allow_remote:
            try:
                loopback_addresses(host)
            except ValueError as exc:
                raise ValueError(
                    f"refusing to serve the sandbox on {host} ({exc}): it accepts any key; "
                    "use a loopback address or allow_remote=True"
                ) from None
        self.config = config or SandboxConfig()
        self.app = create_app(self.config)
        self.host = host
        self._http = HTTPServer(
            self.app, host, port, body_deadline=self.config.body_deadline_seconds
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> SandboxServer:
        """Listen (errors such as a port in use are raised here) and serve in the background."""
        if self._thread is not None:
            raise RuntimeError("this SandboxServer was already started")
        self._thread = threading.Thread(target=self._run, name="grokvid-sandbox", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("the sandbox server did not start within 30 s")
        if self._error is not None:
            self._thread.join()
            self.app.close()
            raise self._error
        return self

    def stop(self) -> None:
        """Close every connection and stop the thread. Safe to call twice."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.app.close()

    def __enter__(self) -> SandboxServer:
        return self if self._thread is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self._http.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self._http.aclose()
