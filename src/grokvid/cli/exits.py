"""Exit codes, and the one place where errors become them."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import ParamSpec, TypeVar

import typer

from grokvid.api import errors

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
    INTERRUPTED = 130


def exit_code_for(exc: BaseException) -> ExitCode:
    """The documented exit code for an error (README: "Exit codes")."""
    match exc:
        case errors.ConfigError() | errors.ValidationError():
            return ExitCode.USAGE
        case errors.AuthError():
            return ExitCode.AUTH
        case errors.RateLimited() | errors.ServerError():
            return ExitCode.NETWORK
        case errors.APIError():
            return ExitCode.REJECTED
        case errors.NetworkError() | errors.WaitTimeout():
            return ExitCode.NETWORK
        case errors.JobFailed(state="rejected"):
            return ExitCode.REJECTED
        case errors.JobFailed():
            return ExitCode.JOB_FAILED
        case errors.Interrupted() | KeyboardInterrupt():
            return ExitCode.INTERRUPTED
    return ExitCode.UNEXPECTED


def debug_enabled() -> bool:
    return os.environ.get("GROKVID_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


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
}


def describe(exc: BaseException) -> str:
    """One line for the user: the message plus, for API errors, status and request id."""
    if isinstance(exc, errors.ValidationError) and exc.field in OPTION_FOR_FIELD:
        option = OPTION_FOR_FIELD[exc.field]
        return exc.message if option in exc.message else f"{option}: {exc.message}"
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
            sys.stderr.write("grokvid: interrupted\n")
            raise typer.Exit(ExitCode.INTERRUPTED) from exc
        except Exception as exc:
            if debug_enabled():
                import traceback

                traceback.print_exception(exc, file=sys.stderr)
            _print_error(exc)
            raise typer.Exit(exit_code_for(exc)) from exc

    return wrapper


def _print_error(exc: BaseException, prefix: str = "error") -> None:
    sys.stderr.write(f"grokvid: {prefix}: {describe(exc)}\n")
