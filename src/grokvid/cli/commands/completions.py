"""`grokvid completions`: print or install the shell completion scripts shipped in the wheel."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from grokvid.cli import render
from grokvid.cli.exits import handle_errors

SHELLS = ("bash", "zsh", "fish")
ZSHRC_LINE = "fpath=(~/.zfunc $fpath); autoload -Uz compinit && compinit"

app = typer.Typer(
    help="Shell completion for grokvid (bash, zsh, fish): print the script or install it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("show")
@handle_errors
def show(
    shell: Annotated[
        str, typer.Argument(metavar="SHELL", help="bash, zsh or fish.", show_default=False)
    ],
) -> None:
    """Print the completion script for a shell on stdout.

    Example: grokvid completions show bash > ~/.grokvid-completion.bash
    """
    render.out_raw(script(_checked(shell, "the SHELL argument")))


@app.command("install")
@handle_errors
def install(
    shell: Annotated[
        str | None,
        typer.Argument(
            metavar="SHELL",
            help="bash, zsh or fish [default: the shell in $SHELL].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write the completion script where the shell looks for it, and say where.

    bash: ~/.local/share/bash-completion/completions/grokvid; zsh: ~/.zfunc/_grokvid (plus one
    line for ~/.zshrc, printed); fish: ~/.config/fish/completions/grokvid.fish.

    Example: grokvid completions install
    """
    name = _checked(shell, "the SHELL argument") if shell else _from_environment()
    target = install_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(script(name), encoding="utf-8", newline="\n")
    _err(f"grokvid: wrote the {name} completion script to {target}")
    if name == "zsh":
        _err(f"grokvid: add this line to ~/.zshrc (before any other compinit): {ZSHRC_LINE}")
    else:
        _err("grokvid: it takes effect in new shells")


def install_path(shell: str) -> Path:
    """The per-user location each shell loads completions from without any setup."""
    home = Path.home()
    if shell == "bash":
        data = os.environ.get("XDG_DATA_HOME", "").strip() or str(home / ".local" / "share")
        return Path(data) / "bash-completion" / "completions" / "grokvid"
    if shell == "zsh":
        return home / ".zfunc" / "_grokvid"
    config = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(home / ".config")
    return Path(config) / "fish" / "completions" / "grokvid.fish"


def script(shell: str) -> str:
    """The script as shipped: in the wheel (grokvid/completions/), else in a source checkout's
    completions/, else generated from the CLI (the same text; CI checks they match)."""
    from grokvid.cli import completions

    name = completions.FILES[shell]
    shipped = Path(__file__).resolve().parents[2] / "completions" / name
    for path in (shipped, completions.default_dir() / name):
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            continue
    return completions.render_all(completions.grokvid_tree())[name]


def _checked(shell: str, where: str) -> str:
    from grokvid.api.errors import ValidationError

    name = shell.strip().lower()
    if name not in SHELLS:
        raise ValidationError(
            f"No completion for {shell!r} (from {where}): use bash, zsh or fish.", "shell"
        )
    return name


def _from_environment() -> str:
    from grokvid.api.errors import ValidationError

    value = os.environ.get("SHELL", "").strip()
    name = Path(value).name
    if name in SHELLS:
        return name
    shown = f"SHELL={value!r}" if value else "SHELL is not set"
    raise ValidationError(
        f"Cannot tell your shell ({shown}): name it, e.g. `grokvid completions install bash` "
        "(bash, zsh or fish).",
        "shell",
    )


def _err(message: str) -> None:
    render.err(message)
