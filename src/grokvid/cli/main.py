"""The `grokvid` command: mounts one module per command. Heavy imports wait inside commands."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from grokvid import __version__
from grokvid.cli.commands import config, download, gallery, generate, preview, sandbox, status

app = typer.Typer(
    name="grokvid",
    help=(
        "Generate short videos with xAI's Grok Imagine Video.\n\n"
        'Try it without a key: grokvid generate --sandbox "a red fox trotting through fresh snow"'
    ),
    epilog=(
        "Exit codes: 0 ok, 1 unexpected, 2 usage or validation, 3 auth/permission/billing, "
        "4 rejected by the service, 5 network/server/timeout or unknown submit outcome, "
        "6 generation failed/moderated/expired, 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"grokvid {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show tracebacks and HTTP traffic (keys redacted). Same as GROKVID_DEBUG=1.",
        ),
    ] = False,
) -> None:
    if debug:
        os.environ["GROKVID_DEBUG"] = "1"


app.command("generate", no_args_is_help=False)(generate.generate)
app.command("status")(status.status)
app.command("download")(download.download)
app.command("preview")(preview.preview)
app.command("gallery")(gallery.gallery)
app.add_typer(config.app, name="config")
app.add_typer(sandbox.app, name="sandbox")


def main() -> None:
    """Entry point: like `app()`, but a usage error is one line, as every other error is."""
    try:
        code = app(prog_name="grokvid", standalone_mode=False)
    except Exception as exc:
        # typer re-raises click's exceptions here; we read them by their documented attributes
        # rather than importing click (see STYLE.md).
        name = type(exc).__name__
        if name == "NoArgsIsHelpError":
            sys.stderr.write(exc.format_message() + "\n")  # type: ignore[attr-defined]
            sys.exit(2)
        if name == "Abort":  # Ctrl-C (or end of input) at a prompt
            sys.stderr.write("grokvid: interrupted\n")
            sys.exit(130)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "grokvid"
            sys.stderr.write(f"grokvid: error: {exc.format_message()} (see '{where} --help')\n")
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
