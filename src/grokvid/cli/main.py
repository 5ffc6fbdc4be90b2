"""The `grokvid` command: mounts one module per command. Heavy imports wait inside commands."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from grokvid import __version__
from grokvid.cli.commands import config, download, generate, sandbox, status

app = typer.Typer(
    name="grokvid",
    help=(
        "Generate short videos with xAI's Grok Imagine Video.\n\n"
        'Try it without a key: grokvid generate --sandbox "a red fox trotting through fresh snow"'
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
app.add_typer(config.app, name="config")
app.add_typer(sandbox.app, name="sandbox")


def main() -> None:
    app(prog_name="grokvid")
