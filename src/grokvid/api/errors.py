"""grokvid's error tree; the CLI maps each branch to one exit code (see grokvid.cli.exits).

    GrokvidError
    ├── ConfigError           bad or unreadable config file, unknown key, bad value
    ├── ValidationError       a request that breaks a rule of the service (field names the option)
    ├── AuthError             missing/incorrect key, permission denied, credits exhausted
    ├── APIError              the service said no (status, message, request id, code)
    │   ├── RateLimited       429 rate limit that outlived our retries
    │   ├── NotFound          404: unknown request id
    │   └── ServerError       5xx that outlived our retries
    ├── NetworkError          connect/read failures, a download that failed its checks
    │   ├── URLExpired        the video URL answered 403/404/410 (poll for a fresh one)
    │   ├── SendFailed        the request never left this machine (safe to re-send)
    │   └── SubmitUnknown     the POST may or may not have created a paid job
    ├── LedgerWriteFailed     a paid job could not be recorded (its request id is in the message)
    ├── SaveFailed            the clip could not be written (disk full, I/O error)
    ├── WaitTimeout           --timeout passed; the job is still running remotely
    ├── JobFailed             failed, moderated or expired generation
    └── Interrupted           Ctrl-C; the jobs are kept in the ledger

httpx's exceptions become ours in exactly one place: `map_http_errors` below.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The library never names a CLI flag: a message refers to an option as `option("force")` and to
# the way to pick a job up as `resume("gv-…")`, and whoever shows it says it in its own terms:
# `--force` and `grokvid download gv-… --wait` on the command line (grokvid.cli.exits), or
# `force=True` and `client.download('gv-…')` in Python (`str()` of the error).
_TOKEN = re.compile("\u2039([a-z_]+)(?::([^\u203a]*))?\u203a")
PYTHON_TERMS = {
    "force": "force=True",
    "output": "output",
    "output_dir": "output_dir",
    "wait": "wait=True",
    "base_url": "base_url",
    "timeout": "timeout",
    "sandbox": "a sandbox",
    "fail_fast": "fail_fast",
}


def option(name: str) -> str:
    """A reference to a user-facing option, put in the caller's own words when shown."""
    return f"\u2039{name}\u203a"


def resume(ident: str) -> str:
    """How to pick a job up again, put in the caller's own words when shown."""
    return f"\u2039resume:{ident}\u203a"


def in_terms(text: str, terms: dict[str, str], resume_as: str) -> str:
    """`text` with its option and resume references spelled with `terms` and `resume_as`
    (a format string taking the job id)."""

    def spell(match: re.Match[str]) -> str:
        name, arg = match.group(1), match.group(2)
        if name == "resume" and arg is not None:
            return resume_as.format(arg)
        return terms.get(name, name)

    return _TOKEN.sub(spell, text)


def for_python(text: str) -> str:
    return in_terms(text, PYTHON_TERMS, "client.download({!r})")


class GrokvidError(Exception):
    """Base of every error grokvid raises on purpose. `str()` is the one-line message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return for_python(self.message)


class ConfigError(GrokvidError):
    """The config file or a config value is wrong."""


class ValidationError(GrokvidError):
    """A request breaks one of the service's rules; nothing was sent."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AuthError(GrokvidError):
    """The key is missing, wrong, not permitted, or out of credits."""

    def __init__(
        self, message: str, *, status: int | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id


class APIError(GrokvidError):
    """The service rejected a call; carries its own words verbatim."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


class RateLimited(APIError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class NotFound(APIError):
    pass


class ServerError(APIError):
    pass


class NetworkError(GrokvidError):
    """The network or the far end failed; retrying later may work."""


class URLExpired(NetworkError):
    """The video host answered 403/404/410: the temporary URL is gone; poll for a fresh one."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class SubmitUnknown(NetworkError):
    """The submit may have created a paid job, but no request id came back."""

    def __init__(self, message: str, *, local_id: str | None = None) -> None:
        super().__init__(message)
        self.local_id = local_id


class WaitTimeout(GrokvidError):
    """We stopped waiting; the job goes on at the service."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class JobFailed(GrokvidError):
    """The generation ended without a clip: failed, moderated or expired."""

    def __init__(
        self,
        message: str,
        *,
        state: str,
        request_id: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.state = state
        self.request_id = request_id
        self.code = code


class Interrupted(GrokvidError):
    """The user pressed Ctrl-C; the jobs named were kept in the ledger."""

    def __init__(self, message: str, *, job_ids: list[str] | None = None) -> None:
        super().__init__(message)
        self.job_ids = job_ids or []


class SendFailed(NetworkError):
    """The request never left this machine, so even a POST is safe to re-send.

    `fatal` marks failures a retry cannot mend (the name does not resolve, the certificate is
    wrong): they fail at once instead of after half a minute of retries.
    """

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class SaveFailed(GrokvidError):
    """The clip could not be written to disk (full disk, quota, I/O error).

    `path` is the file being written; the caller adds the job id to the message.
    """

    def __init__(self, message: str, *, path: Path, errno: int | None) -> None:
        super().__init__(message)
        self.path = path
        self.errno = errno


class LedgerWriteFailed(GrokvidError):
    """Neither the ledger nor its journal could record a paid job: the message carries what
    would otherwise be lost (its request id, above all)."""

    def __init__(
        self,
        message: str,
        *,
        local_id: str,
        request_id: str | None = None,
        fields: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.local_id = local_id
        self.fields = fields or {}
        self.request_id = request_id or _text(self.fields.get("request_id"))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


_HOPELESS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "getaddrinfo",
    "no address associated",
    "certificate",
    "ssl",
    "tls",
    "wrong version number",
)


def _hopeless(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _HOPELESS)


@contextmanager
def map_http_errors(what: str) -> Iterator[None]:
    """Turn httpx's transport errors into NetworkError (or SendFailed when nothing was sent).

    `what` names the action for the message, e.g. "submitting the job".
    """
    import httpx  # here, not at the top: `grokvid --help` must not pay for it

    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        text = str(exc) or type(exc).__name__
        if _hopeless(text):
            raise SendFailed(f"Could not connect while {what}: {text}", fatal=True) from exc
        raise SendFailed(f"Could not connect while {what}: {text}") from exc
    except httpx.LocalProtocolError as exc:  # we could not even write a valid request
        raise SendFailed(f"Could not send the request while {what}: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise NetworkError(f"Timed out while {what}.") from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise NetworkError(
            f"The connection dropped while {what}: {exc or type(exc).__name__}"
        ) from exc
    except httpx.HTTPError as exc:
        raise NetworkError(f"HTTP error while {what}: {exc or type(exc).__name__}") from exc
