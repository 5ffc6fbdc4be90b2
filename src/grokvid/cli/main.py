"""The `grokvid` entry point. Kept tiny: `--version` answers before Typer is even imported.

The app itself (commands, help layout) is `grokvid.cli.app`; `grokvid.cli.main.app` still
names it, loaded on first use.
"""

from __future__ import annotations

import sys

VERSION_FLAGS = ("--version", "-V")


def __getattr__(name: str) -> object:
    if name == "app":
        from grokvid.cli.app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Run grokvid; a usage error is one line, as every other error is."""
    argv = sys.argv[1:]
    if len(argv) == 1 and argv[0] in VERSION_FLAGS:
        from grokvid import __version__

        sys.stdout.write(f"grokvid {__version__}\n")
        sys.exit(0)
    from grokvid.cli.app import app

    try:
        code = app(prog_name="grokvid", standalone_mode=False)
    except Exception as exc:
        sys.exit(_usage_error(exc))
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc: Exception) -> int:
    """Print one of Typer's (click's) exceptions as one line; return its exit code.

    typer re-raises click's exceptions here; we read them by their documented attributes
    rather than importing click (see STYLE.md).
    """
    from grokvid.cli.render import err

    name = type(exc).__name__
    if name == "NoArgsIsHelpError":
        err(exc.format_message())  # type: ignore[attr-defined]
        return 2
    if name == "Abort":  # Ctrl-C (or end of input) at a prompt
        err("grokvid: interrupted")
        return 130
    if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "grokvid"
        message = " ".join(str(exc.format_message()).split())
        err(f"grokvid: error: {message} (see '{where} --help')")
        return int(exc.exit_code)
    raise exc
