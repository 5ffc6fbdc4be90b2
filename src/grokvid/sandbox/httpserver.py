"""A small asyncio HTTP/1.1 server (on h11) for any ASGI app.

Why not uvicorn: a fault-injecting server must be able to close a connection without a word
(uvicorn answers 500 first) and to cut a body short. The app raises DropConnection for both.
Keep-alive, request bodies (also chunked, and `Expect: 100-continue`), streaming responses and
many connections at once are supported; HTTP/2, TLS and upgrades are not.

Built to be pointed at by other people's CI: a request body has an overall deadline (a client
trickling a byte a second gets 408), and running out of file descriptors costs one log line and
a back-off in accept, not a traceback per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import socket
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import h11

from grokvid.sandbox.asgi import ASGIApp, DropConnection, Message
from grokvid.sandbox.net import resolve

log = logging.getLogger("grokvid.sandbox")

READ_BYTES = 64 * 1024
KEEP_ALIVE_SECONDS = 75.0
BODY_TIMEOUT_SECONDS = 30.0  # longest silence while reading a body or writing to a client
MAX_HEADER_BYTES = 64 * 1024
MAX_DRAIN_BYTES = 1024 * 1024  # request body left unread by the app that we still swallow
DRAIN_SECONDS = 5.0  # ...and for how long, before closing instead
BODY_DEADLINE_SECONDS = 60.0  # the whole body, however it trickles in
BACKLOG = 128
_STARVED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class HTTPServer:
    """Serve an ASGI app on (host, port) in the running event loop.

    A host name is resolved and every address it has is served on the same port.
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        body_deadline: float = BODY_DEADLINE_SECONDS,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.body_deadline = body_deadline
        self._sockets: list[socket.socket] = []
        self._acceptors: list[asyncio.Task[None]] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._starved = False

    async def start(self) -> None:
        """Bind and listen; OSError (e.g. address in use) if that is impossible."""
        self._sockets = _listen(self.host, self.port)
        self.port = self._sockets[0].getsockname()[1]
        self._acceptors = [asyncio.create_task(self._accept_loop(s)) for s in self._sockets]

    async def aclose(self) -> None:
        """Stop listening and close every connection, idle or busy."""
        for task in self._acceptors:
            task.cancel()
        await asyncio.gather(*self._acceptors, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        pause = 0.0
        while True:
            try:
                conn, _ = await loop.sock_accept(listener)
            except OSError as exc:
                if exc.errno not in _STARVED:
                    if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR):
                        continue  # the client gave up before we took it
                    raise
                if not self._starved:
                    self._starved = True
                    log.warning(
                        "cannot accept connections: %s; waiting for some to close "
                        "(raise the limit with `ulimit -n`)",
                        exc.strerror or exc,
                    )
                # The waiting connection keeps the socket readable: without a pause this spins.
                pause = min(1.0, max(0.05, pause * 2))
                await asyncio.sleep(pause)
                continue
            if self._starved:
                self._starved = False
                log.info("accepting connections again")
            pause = 0.0
            try:
                # Headers and body go out as separate writes: without this, Nagle and the
                # client's delayed ACK add 40 ms to every answer.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                reader, writer = await asyncio.open_connection(sock=conn)
            except OSError:
                conn.close()
                continue
            self._accept(reader, writer)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(self.app, reader, writer, body_deadline=self.body_deadline)
        task = asyncio.create_task(connection.run())
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)


def _listen(host: str, port: int, attempts: int = 5) -> list[socket.socket]:
    """Listening sockets on every address of `host`, all on one port (a free one for 0)."""
    addresses = resolve(host)
    for attempt in range(attempts):
        sockets: list[socket.socket] = []
        try:
            for address in addresses:
                sockets.append(
                    _bind(
                        address,
                        port or (sockets[0].getsockname()[1] if sockets else 0),
                        len(addresses) > 1,
                    )
                )
            return sockets
        except OSError as exc:
            for sock in sockets:
                sock.close()
            # With port 0 the first address's free port may be taken on another: try again.
            if port or exc.errno != errno.EADDRINUSE or attempt == attempts - 1 or not sockets:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _bind(address: str, port: int, several: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if hasattr(socket, "SO_REUSEADDR") and not _windows():
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and several:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _windows() -> bool:
    import sys

    return sys.platform == "win32"


class _ClientGone(Exception):
    """The client stopped sending its request body (closed, stalled or broke the framing)."""


class _BodyDeadline(_ClientGone):
    """The body did not arrive in time, however steadily it trickled."""


class _Connection:
    def __init__(
        self,
        app: ASGIApp,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        body_deadline: float = BODY_DEADLINE_SECONDS,
    ) -> None:
        self.app = app
        self.reader = reader
        self.writer = writer
        self.body_deadline = body_deadline
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)

    async def run(self) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(KEEP_ALIVE_SECONDS):
                        event = await self._next_event()
                except TimeoutError:
                    return
                if not isinstance(event, h11.Request):
                    return  # the client closed, or sent something other than a request
                if not await self._respond(event) or not await self._finish_cycle():
                    return
        except h11.RemoteProtocolError as exc:
            await self._reject(exc)
        except (ConnectionError, OSError):
            pass
        finally:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def _next_event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(READ_BYTES)
            self.conn.receive_data(data)

    async def _write(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            # A reader that stopped reading must not pin the connection forever
            # (TimeoutError is an OSError: the connection is closed). asyncio.timeout, not
            # wait_for: on 3.11 wait_for can swallow a cancel, and stop() would hang.
            async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
                await self.writer.drain()

    async def _reject(self, exc: h11.RemoteProtocolError) -> None:
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = f"Bad request: {exc}\n".encode()
        with contextlib.suppress(Exception):
            await self._write(
                h11.Response(
                    status_code=exc.error_status_hint,
                    headers=[
                        ("content-type", "text/plain"),
                        ("content-length", str(len(body))),
                        ("connection", "close"),
                    ],
                )
            )
            await self._write(h11.Data(data=body))
            await self._write(h11.EndOfMessage())

    async def _finish_cycle(self) -> bool:
        """Read what is left of the request body, then get ready for the next request."""
        if self.conn.our_state is not h11.DONE:
            return False
        drained = 0
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                while self.conn.their_state is h11.SEND_BODY:
                    event = await self._next_event()
                    if isinstance(event, h11.Data):
                        drained += len(event.data)
                    if drained > MAX_DRAIN_BYTES or not isinstance(
                        event, h11.Data | h11.EndOfMessage
                    ):
                        return False
        except TimeoutError:
            return False
        if self.conn.their_state is not h11.DONE:
            return False
        self.conn.start_next_cycle()
        return True

    async def _respond(self, request: h11.Request) -> bool:
        """Run the app for one request; False when the connection must close afterwards."""
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        method = request.method.decode("ascii").upper()
        sockname = self.writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        peername = self.writer.get_extra_info("peername") or ("127.0.0.1", 0)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version.decode("ascii"),
            "method": method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": [(name.lower(), value) for name, value in request.headers],
            "client": tuple(peername[:2]),
            "server": tuple(sockname[:2]),
        }
        body_done = False
        started = finished = False
        response_done = asyncio.Event()
        deadline: float | None = None

        async def receive() -> Message:
            nonlocal body_done, deadline
            if body_done:
                await response_done.wait()
                return {"type": "http.disconnect"}
            if self.conn.they_are_waiting_for_100_continue:
                await self._write(h11.InformationalResponse(status_code=100, headers=[]))
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.body_deadline
            left = deadline - now
            try:
                if left <= 0:
                    raise TimeoutError()
                async with asyncio.timeout(min(BODY_TIMEOUT_SECONDS, left)):
                    event = await self._next_event()
            except TimeoutError as exc:
                if time.monotonic() >= deadline:
                    raise _BodyDeadline(f"no whole body within {self.body_deadline:g} s") from exc
                raise _ClientGone("the client stalled mid-body") from exc
            except h11.RemoteProtocolError as exc:
                # The client hung up mid-body or sent broken framing: not an app crash.
                raise _ClientGone(str(exc)) from exc
            if isinstance(event, h11.Data):
                return {"type": "http.request", "body": bytes(event.data), "more_body": True}
            body_done = True
            if isinstance(event, h11.EndOfMessage):
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {bytes(name).lower() for name, _ in headers}
                if b"date" not in names:
                    headers.append((b"date", formatdate(usegmt=True).encode()))
                if b"server" not in names:
                    headers.append((b"server", b"grokvid-sandbox"))
                status = message["status"]
                await self._write(
                    h11.Response(status_code=status, headers=headers, reason=_reason(status))
                )
                started = True
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                if body and method != "HEAD":
                    await self._write(h11.Data(data=body))
                if not message.get("more_body", False):
                    await self._write(h11.EndOfMessage())
                    finished = True
                    response_done.set()

        try:
            await self.app(scope, receive, send)
        except DropConnection:
            # Before the response started: not a byte. Mid-body: the client sees it cut short.
            return False
        except _BodyDeadline as exc:
            if not started:
                with contextlib.suppress(Exception):
                    await self._json_answer(
                        408,
                        "deadline-exceeded",
                        f"The request body did not arrive: {exc}.",
                        close=True,
                    )
            return False
        except _ClientGone as exc:
            if not started and isinstance(exc.__cause__, h11.RemoteProtocolError):
                await self._reject(exc.__cause__)  # broken framing: 400 (harmless if gone)
            return False
        except (ConnectionError, OSError):
            return False
        except Exception:
            log.exception("the sandbox app failed on %s %s", method, path)
            if started:
                return False
        finally:
            response_done.set()
        if not started:
            await self._internal_error()
            return True
        return finished

    async def _internal_error(self) -> None:
        await self._json_answer(500, "internal", "The sandbox failed to answer; see its log.")

    async def _json_answer(
        self, status: int, code: str, message: str, *, close: bool = False
    ) -> None:
        body = json.dumps({"code": code, "error": message}).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        if close:
            headers.append(("connection", "close"))
        await self._write(h11.Response(status_code=status, headers=headers, reason=_reason(status)))
        await self._write(h11.Data(data=body))
        await self._write(h11.EndOfMessage())


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
