"""What generate, status and download share: settings, the backend, the provider, logging."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
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


def sandbox_render_seconds() -> float:
    """GROKVID_SANDBOX_RENDER_SECONDS for --sandbox; a bad value is a one-line usage error."""
    import math

    raw = os.environ.get("GROKVID_SANDBOX_RENDER_SECONDS", "").strip()
    if not raw:
        return 5.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:  # nan fails both comparisons
        raise errors.ConfigError(
            f"GROKVID_SANDBOX_RENDER_SECONDS={raw!r} is not a number of seconds: set it to "
            "0 or more, such as 5, or unset it."
        )
    return value


@contextmanager
def backend(config: Settings, *, sandbox: bool) -> Iterator[Endpoint]:
    """The service to talk to: the in-process sandbox, or xAI (or GROKVID_BASE_URL) with a key."""
    from grokvid.api.runner import Endpoint

    if sandbox:
        render_seconds = sandbox_render_seconds()
        try:
            from grokvid.sandbox import SandboxConfig, SandboxServer

            server = SandboxServer(SandboxConfig(render_seconds=render_seconds), port=0)
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
