"""What a front is: a provider's protocol (routes, schema, errors, prices) over the core."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Literal

from grokvid.sandbox.asgi import Request, Response
from grokvid.sandbox.faults import StatusFault

if TYPE_CHECKING:
    from grokvid.sandbox.app import SandboxApp

# Answers the core gives on a front's behalf, before the front has seen the request.
CoreError = Literal["too-large", "busy", "bad-fault", "timeout"]


class Front(ABC):
    """One provider's API. The core routes to the first front whose `owns(path)` is true."""

    name: ClassVar[str]

    def __init__(self, core: SandboxApp) -> None:
        self.core = core

    @abstractmethod
    def owns(self, path: str) -> bool:
        """Whether `path` is under this front's prefix (it answers even its own 404s)."""

    @abstractmethod
    async def handle(self, request: Request) -> Response:
        """Answer one request to a path this front owns."""

    @abstractmethod
    def key_error(self, request: Request) -> Response | None:
        """The answer to a missing, malformed or special key; None lets the request through."""

    @abstractmethod
    def status_fault(self, fault: StatusFault) -> Response:
        """The answer a 429/5xx fault asks for, in this provider's words."""

    @abstractmethod
    def core_error(
        self, kind: CoreError, message: str, headers: list[tuple[str, str]] | None = None
    ) -> Response:
        """The core's refusals (body too large, busy, bad fault spec) in this front's shape."""
