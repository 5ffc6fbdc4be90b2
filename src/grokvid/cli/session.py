"""What generate, status and download share: settings, the backend, the provider, logging."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from grokvid.api import errors
from grokvid.api.config import Settings, check_base_url, load_settings

if TYPE_CHECKING:
    from grokvid.api.ledger import JobRecord, Ledger
    from grokvid.api.runner import Endpoint

SANDBOX_KEY = SecretStr("sandbox")
SANDBOX_INSTALL = "pip install 'grokvid[sandbox]'"


def settings(flags: dict[str, Any], *, quiet: bool = False) -> Settings:
    """This run's settings; error messages learn where each came from, and a key file that
    others can read is warned about by every command that reads the key."""
    from grokvid.api.config import key_file_warnings
    from grokvid.cli import exits
    from grokvid.cli.render import note

    setup_logging()
    resolved = load_settings(flags)
    exits.set_origins(resolved)
    for warning in key_file_warnings(resolved):
        note(f"warning: {warning}", quiet=quiet)
    return resolved


def setup_logging() -> None:
    """--debug / GROKVID_DEBUG=1: HTTP traffic on stderr, the key already redacted."""
    from grokvid.cli.exits import debug_enabled

    if debug_enabled():
        from grokvid.cli.render import StderrHandler

        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("grokvid debug: %(message)s"))
        logger = logging.getLogger("grokvid")
        logger.handlers[:] = [handler]
        logger.setLevel(logging.DEBUG)


@contextmanager
def backend(config: Settings, *, sandbox: bool) -> Iterator[Endpoint]:
    """The service to talk to: the in-process sandbox, or xAI (or GROKVID_BASE_URL) with a key."""
    from grokvid.api.runner import Endpoint

    if sandbox:
        try:
            from grokvid.sandbox import SandboxConfig, SandboxServer

            try:  # GROKVID_SANDBOX_RENDER_SECONDS (5, or a range 2-5), _RATE_LIMIT
                sandbox_config = SandboxConfig.from_env(render_seconds=5.0)
            except ValueError as exc:  # names the variable and the fix
                raise errors.ConfigError(str(exc)) from None
            server = SandboxServer(sandbox_config, port=0)
        except ImportError as exc:  # includes SandboxUnavailable: av present but broken
            raise errors.ConfigError(
                f"--sandbox needs the sandbox extra: {SANDBOX_INSTALL}"
            ) from exc
        with server:
            yield Endpoint("xai", server.base_url, SANDBOX_KEY, label="sandbox")
        return
    base_url = check_base_url(config.base_url)
    key = _api_key(config, "To try grokvid without a key, add --sandbox.")
    yield Endpoint("xai", base_url, key)


def _api_key(config: Settings, hint: str = "") -> SecretStr:
    """The configured key; the one 'no key' message (Settings.require_api_key), plus a hint."""
    try:
        config.require_api_key()
    except errors.AuthError as exc:
        exc.message = f"{exc.message} {hint}".strip()
        raise
    assert config.api_key is not None  # require_api_key checked it
    return config.api_key


def resume_endpoint(config: Settings, jobs: list[JobRecord]) -> Endpoint:
    """How to reach the service for jobs picked up from the ledger.

    The key is only ever sent to the base URL configured now (the runner refuses a job
    recorded against another host). A run made only of built-in sandbox jobs needs no key.
    """
    from grokvid.api.runner import Endpoint

    base_url = check_base_url(config.base_url)
    if jobs and all(job.provider == "sandbox" for job in jobs):
        return Endpoint("xai", base_url, SANDBOX_KEY, label="gone")
    if all(job.request_id is None for job in jobs):
        return Endpoint("xai", base_url, config.api_key or SANDBOX_KEY)
    return Endpoint("xai", base_url, _api_key(config))


def find_job(ledger: Ledger, ident: str) -> JobRecord:
    if len(ident.strip().lower().removeprefix("gv-")) < 4:
        raise errors.ValidationError(
            f"{ident!r} is too short to name a job: give at least 4 characters of its id "
            "(`grokvid status` lists them).",
            "id",
        )
    job = ledger.get(ident)
    if job is None:
        raise errors.ValidationError(
            f"No job {ident!r} in the ledger: `grokvid status` lists recent jobs.", "id"
        )
    return job


def find_or_adopt(ledger: Ledger, ident: str, config: Settings) -> JobRecord:
    """A job of the ledger, or one the ledger never recorded, named by the service's request id.

    When the ledger and its journal both failed after a POST, grokvid printed the request id
    and `grokvid download REQUEST_ID --wait`: this records that request at the configured
    service, so the download (and everything after it) works as for any other job.
    """
    from grokvid.api.jobs import clip_name
    from grokvid.api.states import JobState
    from grokvid.cli.render import note

    try:
        return find_job(ledger, ident)
    except errors.ValidationError:
        if not _looks_like_request_id(ident):
            raise
    base_url = check_base_url(config.base_url)
    job = ledger.create(provider="xai", base_url=base_url, model=config.model, prompt="", params={})
    ledger.update(job.local_id, state=JobState.SUBMITTING)
    path = Path.cwd() / clip_name(f"request {ident[:8]}", job.local_id)
    job = ledger.update(
        job.local_id,
        state=JobState.PENDING,
        request_id=ident.strip(),
        handle={"request_id": ident.strip()},
        output_path=str(path.absolute()),
    )
    note(
        f"{job.local_id}: request {ident} was not in the ledger; recorded it as a job at "
        f"{base_url} to fetch it"
    )
    return job


def _looks_like_request_id(ident: str) -> bool:
    """The service's ids are uuid-shaped; grokvid's own start with gv-."""
    text = ident.strip()
    return not text.lower().startswith("gv-") and len(text) >= 16 and "-" in text
