"""Exit codes, and the one place where errors become them.

Per invocation, this module also holds what a message needs to know about the run: whether
`--debug` was given, and the Settings the command resolved, so that a bad value is blamed on
where it came from. `begin_invocation()` resets both (the root callback calls it), so nothing
leaks from one in-process run (CliRunner) to the next. A command that resolves settings calls
`set_origins(settings)` right after `load_settings`; from then on a `ValidationError(field=...)`
about a setting names its real source: "resolution in /home/me/.config/grokvid/config.toml: …"
rather than a "--resolution" the user never typed.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer

from grokvid.api import errors

if TYPE_CHECKING:
    from grokvid.api.config import Settings

P = ParamSpec("P")
R = TypeVar("R")


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    AUTH = 3
    REJECTED = 4
    NETWORK = 5
    JOB_FAILED = 6
    BUDGET = 7  # a cost cap stopped submitting
    INTERRUPTED = 130


def exit_code_for(exc: BaseException) -> ExitCode:
    """The documented exit code for an error (README: "Exit codes")."""
    from grokvid.api.budget import BudgetExceeded

    if _is_ledger_failure(exc):
        return ExitCode.UNEXPECTED  # a local I/O failure, not a bad flag: README's code 1
    match exc:
        case BudgetExceeded():
            return ExitCode.BUDGET
        case errors.ConfigError() | errors.ValidationError():
            return ExitCode.USAGE
        case errors.AuthError():
            return ExitCode.AUTH
        case errors.RateLimited() | errors.ServerError():
            return ExitCode.NETWORK
        case errors.APIError():
            return ExitCode.REJECTED
        case errors.NetworkError() | errors.WaitTimeout() | errors.LedgerWriteFailed():
            return ExitCode.NETWORK
        case errors.SaveFailed():  # paid and still at the service: resume once there's room
            return ExitCode.NETWORK
        case errors.JobFailed(state="rejected"):
            return ExitCode.REJECTED
        case errors.JobFailed(state="not-sent", code="auth"):
            return ExitCode.AUTH  # the same code the command that tried to send it exited with
        case errors.JobFailed(state="not-sent" | "submit-unknown" | "submitting"):
            return ExitCode.NETWORK
        case errors.JobFailed():
            return ExitCode.JOB_FAILED
        case errors.Interrupted() | KeyboardInterrupt():
            return ExitCode.INTERRUPTED
    return ExitCode.UNEXPECTED


def _is_ledger_failure(exc: BaseException) -> bool:
    """A LedgerUnavailable, without importing the ledger (and sqlite3) to ask: an error of
    that class can only exist once its module is loaded."""
    connection = sys.modules.get("grokvid.api.ledger.connection")
    return connection is not None and isinstance(exc, connection.LedgerUnavailable)


class _Invocation:
    """What this run of a command said about itself (reset by begin_invocation)."""

    debug = False
    settings: Settings | None = None


def debug_enabled() -> bool:
    """--debug on the command line (before or after the command), or GROKVID_DEBUG=1."""
    if _Invocation.debug:
        return True
    return os.environ.get("GROKVID_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


def begin_invocation() -> None:
    """Forget the previous run's --debug, settings and log handlers (in-process runs)."""
    _Invocation.debug = False
    _Invocation.settings = None
    logger = logging.getLogger("grokvid")
    logger.handlers[:] = []
    logger.setLevel(logging.NOTSET)
    if debug_enabled():  # GROKVID_DEBUG=1
        enable_debug()


def enable_debug() -> None:
    """Tracebacks on errors and the library's debug log (HTTP traffic, keys redacted) on stderr."""
    _Invocation.debug = True
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("grokvid debug: %(message)s"))
    logger = logging.getLogger("grokvid")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at each record: CliRunner swaps it per run."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def set_origins(settings: Settings) -> None:
    """Tell error messages where each setting of this run came from (see the module doc)."""
    _Invocation.settings = settings


# ValidationError.field -> the option a user typed, so the message names it.
OPTION_FOR_FIELD = {
    "prompt": "PROMPT",
    "prompt_file": "--prompt-file",
    "model": "--model",
    "duration": "--duration",
    "aspect_ratio": "--aspect-ratio",
    "resolution": "--resolution",
    "output": "--output",
    "output_dir": "--output-dir",
    "base_url": "--base-url",
    "image": "--image",
    "state": "--state",
    "no_wait": "--no-wait",
    "max_cost": "--max-cost",
    "timeout": "--timeout",
    "ci": "--ci",
}


def blame(field: str | None) -> str | None:
    """Where the value of a ValidationError's field came from: the option the user typed, or,
    when the command registered its settings, the env var or config file that really set it."""
    if field is None:
        return None
    settings = _Invocation.settings
    if settings is not None:
        from grokvid.api.config import KEYS

        key = {"api_key": "xai.api_key", "base_url": "xai.base_url"}.get(field, field)
        source = settings.sources.get(key)
        if key in KEYS and source is not None and source != "flag":
            return settings.origin(key)
    return OPTION_FOR_FIELD.get(field)


CLI_TERMS = {
    "force": "--force",
    "output": "--output",
    "output_dir": "--output-dir",
    "wait": "--wait",
    "base_url": "--base-url",
    "timeout": "--timeout",
    "sandbox": "--sandbox",
    "fail_fast": "--fail-fast",
}


def for_cli(text: str) -> str:
    """A library message in the command line's terms (`--force`, `grokvid download ID --wait`)."""
    return errors.in_terms(text, CLI_TERMS, "grokvid download {} --wait")


def describe(exc: BaseException) -> str:
    """One line for the user: the message plus, for API errors, status and request id."""
    return for_cli(_describe(exc))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, errors.ValidationError):
        where = blame(exc.field)
        if where is None or where in exc.message:
            return exc.message
        return f"{where}: {exc.message}"
    if isinstance(exc, errors.APIError | errors.AuthError):
        extra = []
        if exc.status is not None:
            extra.append(f"HTTP {exc.status}")
        if exc.request_id:
            extra.append(f"request id {exc.request_id}")
        return f"{exc.message} ({', '.join(extra)})" if extra else exc.message
    if isinstance(exc, errors.GrokvidError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:  # disk full, permission denied, ...
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}. Jobs already submitted are kept: see grokvid status."
    return f"Unexpected error: {type(exc).__name__}: {exc}. Run again with --debug for details."


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command: grokvid errors become `grokvid: error: …` on stderr and their exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except errors.Interrupted as exc:
            _print_error(exc, prefix="interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from exc
        except KeyboardInterrupt as exc:
            from grokvid.cli.render import note

            note("interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from exc
        except Exception as exc:
            if debug_enabled():
                import traceback

                traceback.print_exception(exc, file=sys.stderr)
            _print_error(exc)
            raise typer.Exit(exit_code_for(exc)) from exc

    return wrapper


def print_job_error(exc: BaseException) -> None:
    """One job's failure, as the renderer reports it: its traceback first under --debug (the
    top-level handler never sees per-job errors), then the one `grokvid: error:` line."""
    if debug_enabled() and exc.__traceback__ is not None:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    _print_error(exc)


def _print_error(exc: BaseException, prefix: str = "error") -> None:
    from grokvid.cli.render import note

    note(f"{prefix}: {describe(exc)}")
