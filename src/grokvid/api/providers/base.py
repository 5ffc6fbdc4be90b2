"""The provider contract: what every video service maps its wire format onto.

A provider is described by data (`ProviderInfo`: its name, key setting, env var, base URL,
models and what it can do) and speaks through a `ProviderClient`, whose wire methods each make
**one** attempt and *classify* the answer. The retry engine (`grokvid.api.retry`) alone decides
what is re-sent, so no provider can get the paid-POST rule wrong (docs/xai-api.md, "Retry rule").

A `Handle` is the small JSON object a provider needs to find a job again (xAI: its request id;
fal: follow-up URLs). It is saved in the ledger, so any later process can pick the job up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    import httpx
    from pydantic import SecretStr

    from grokvid.api.errors import GrokvidError
    from grokvid.api.specs import Spec

Handle = dict[str, Any]
RemoteState = Literal["pending", "done", "failed", "moderated", "expired"]
Operation = Literal[
    "text-to-video", "image-to-video", "reference-to-video", "edit-video", "extend-video"
]


class Progress(BaseModel):
    """One status answer, in grokvid's terms.

    `moderated` is a filtered clip (still billed); a `done` without a URL for any other reason
    is reported as `failed` with code `no_video`.
    """

    request_id: str
    state: RemoteState
    progress: int | None = None
    model: str | None = None
    video_url: str | None = None
    video_duration: float | None = None
    cost_usd_ticks: int | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class ProviderInfo:
    """Everything grokvid knows about a platform, as data."""

    name: str
    title: str
    key_setting: str  # "xai.api_key"
    key_env: str  # "XAI_API_KEY"
    base_url_setting: str  # "xai.base_url"
    default_base_url: str
    console: str  # where a user checks usage and billing
    operations: frozenset[Operation]
    can_cancel: bool = False
    result_url_ttl_s: float = 24 * 3600
    models: tuple[str, ...] = ()

    def key_fix(self) -> str:
        return f"run `grokvid config set {self.key_setting}` or set {self.key_env}"


# --- how a provider classifies one submit attempt -----------------------------------------


@dataclass(frozen=True)
class Accepted:
    """The service created the job; the handle finds it again."""

    handle: Handle
    request_id: str


@dataclass(frozen=True)
class NotActedOn:
    """Provably not acted on (never sent, or refused by the rate limiter): safe to re-send."""

    reason: str
    retry_after: float | None = None
    never_sent: bool = True  # False for a 429: it reached the service, which did nothing
    error: GrokvidError | None = None  # what to raise when the retries run out


@dataclass(frozen=True)
class OutcomeUnknown:
    """The POST may have created a paid job: record it, never re-send it by ourselves."""

    reason: str
    x_request_id: str | None = None


@dataclass(frozen=True)
class Refused:
    """The service said no; nothing was made (or, for auth and credits, nothing will be)."""

    error: GrokvidError


SubmitAnswer = Accepted | NotActedOn | OutcomeUnknown | Refused


@dataclass
class Connection:
    """How to reach one provider's API: the host, the key for it, the transport for tests."""

    base_url: str
    api_key: SecretStr
    transport: httpx.AsyncBaseTransport | None = None
    on_retry: Callable[[str], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ProviderClient(Protocol):
    """One pooled HTTP client for one provider, for the length of one run."""

    info: ProviderInfo
    base_url: str

    def check(self, spec: Spec) -> list[str]:
        """Raise ValidationError for what the service would refuse; return warnings."""
        ...

    def estimate_usd(self, spec: Spec) -> float | None: ...

    def body(self, spec: Spec) -> dict[str, Any]:
        """The wire body, as `--dry-run` shows it (inline media summarised)."""
        ...

    async def submit(self, spec: Spec) -> SubmitAnswer:
        """Send the paid request once and classify the answer. Never retries."""
        ...

    async def status(self, handle: Handle) -> Progress:
        """Ask once about a job. Transient trouble raises NetworkError, RateLimited or
        ServerError, which the retry engine retries; anything else is final."""
        ...

    async def refresh(self, handle: Handle) -> Progress:
        """A fresh answer with a fresh result URL (the old one expired)."""
        ...

    async def cancel(self, handle: Handle) -> bool:
        """Ask the service to stop the job; False where the provider cannot cancel."""
        ...

    async def aclose(self) -> None: ...
