"""`grokvid config`: read and change settings. The library side is grokvid.api.config."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from grokvid.cli import render
from grokvid.cli.exits import handle_errors

if TYPE_CHECKING:
    from grokvid.api.config import ConfigFile, KeySpec, Settings

app = typer.Typer(
    help=(
        "Read and change grokvid's settings (config file, env vars, flags).\n\n"
        "Precedence: command-line flags > environment variables > config file > defaults."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

KEY_HELP = (
    "xai.api_key, xai.base_url, model, duration, resolution, aspect_ratio, output_dir "
    "or generate_audio."
)
Key = Annotated[str, typer.Argument(help=f"The setting: {KEY_HELP}", show_default=False)]
ShowSecrets = Annotated[
    bool, typer.Option("--show-secrets", help="Print the API key in clear instead of masked.")
]


@app.command("set")
@handle_errors
def set_(
    key: Key,
    value: Annotated[
        str | None,
        typer.Argument(
            help="The value. Omit it to be prompted (hidden for the key) or to read one line "
            "from stdin.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Store a setting in the config file (written 0600).

    For the API key, run `grokvid config set xai.api_key` and paste it at the hidden prompt.

    Example: grokvid config set duration 10
    """
    from grokvid.api.config import ConfigFile, mask_secret, spec_for

    spec = spec_for(key)
    file = ConfigFile.load()  # a broken file is reported before the user types anything
    if value is None:
        value = _read_value(spec)
    elif spec.secret:
        _err(
            "grokvid: warning: a key given on the command line is visible in shell history and "
            f"`ps`; next time run `grokvid config set {key}` and paste it at the prompt."
        )
    file.set(key, value)
    file.save()
    stored = file.get(key)
    if spec.secret:
        _err(f"Saved {key} to {file.path} ({mask_secret(str(stored))})")
    else:
        _err(f"Saved {key} = {_plain(stored)} to {file.path}")
    _note_env_override(spec)
    if key in ("model", "resolution"):
        _warn_model_lacks_resolution(file)


@app.command("get")
@handle_errors
def get(
    key: Key,
    show_secrets: ShowSecrets = False,
    show_source: Annotated[
        bool, typer.Option("--show-source", help="Also say on stderr where the value came from.")
    ] = False,
) -> None:
    """Print a setting's effective value (env > config file > default).

    Prints only the value on stdout. Exits 1 with no output when the setting has no value at
    all (like `git config`), e.g. no API key anywhere.

    Example: grokvid config get model
    """
    from grokvid.api.config import ConfigFile, load_settings, spec_for

    spec = spec_for(key)
    file = ConfigFile.load()
    settings = load_settings(config=file)
    if spec.secret:
        _warn_key_file(file)
    value = _display(spec, settings, show_secrets)
    if show_source:
        _err(f"{key}: {_source_text(spec, settings, str(file.path))}")
    if value is None:
        raise typer.Exit(1)
    render.out(value)


@app.command("unset")
@handle_errors
def unset(key: Key) -> None:
    """Remove a setting from the config file.

    Its env var or built-in default applies again. Succeeds also when the key was not set.

    Example: grokvid config unset duration
    """
    from grokvid.api.config import ConfigFile, spec_for

    spec = spec_for(key)
    file = ConfigFile.load()
    if file.unset(key):
        file.save()
        _err(f"Removed {key} from {file.path}")
    else:
        _err(f"{key} was not set in {file.path}")
    _note_env_override(spec)


@app.command("list")
@handle_errors
def list_(
    show_secrets: ShowSecrets = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help='Print a JSON object: {"key": {"value": …, "source": …}, …}.'),
    ] = False,
) -> None:
    """Show every setting with its effective value and where it comes from.

    Sources: env (environment variable), config (the config file) or default.

    Example: grokvid config list --json
    """
    from grokvid.api.config import KEYS, ConfigFile, load_settings

    file = ConfigFile.load()
    for warning in file.warnings():
        _err(f"grokvid: warning: {warning}")
    settings = load_settings(config=file)
    if as_json:
        data = {
            key: {
                "value": _json_value(spec, settings, show_secrets),
                "source": settings.sources[spec.name],
            }
            for key, spec in KEYS.items()
        }
        render.out(json.dumps(data, indent=2))
        return
    tty = _stdout_is_tty()
    rows = [
        (
            key,
            _display(spec, settings, show_secrets) or "(not set)",
            # On a terminal the (long) file path goes in the caption, not in every row.
            _source_text(spec, settings, "" if tty else str(file.path)),
        )
        for key, spec in KEYS.items()
    ]
    if tty:
        _print_table(rows, caption=f"config file: {file.path}")
    else:
        for key, value, source in rows:
            render.out(f"{key} = {value}  ({source})")


@app.command("path")
@handle_errors
def path(
    data: Annotated[
        bool, typer.Option("--data", help="Print the data directory (job ledger) instead.")
    ] = False,
) -> None:
    """Print where the config file is (set GROKVID_HOME to move it).

    Example: grokvid config path
    """
    from grokvid.api import paths

    render.out(str(paths.data_dir() if data else paths.config_file()))


def _read_value(spec: KeySpec) -> str:
    """The value from a prompt on a TTY (hidden for secrets), else one line of stdin."""
    from grokvid.api.errors import ConfigError

    if _stdin_is_tty():
        answer: str = typer.prompt(spec.name, hide_input=spec.secret, err=True)
        return answer
    line = sys.stdin.readline()
    if not line.strip():
        raise ConfigError(
            f"No value for {spec.name}: give it as an argument, type it at the prompt, "
            "or pipe it on stdin."
        )
    return line


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def _display(spec: KeySpec, settings: Settings, show_secrets: bool) -> str | None:
    """A resolved value as text for a terminal; secrets masked unless asked."""
    from grokvid.api.config import mask_secret

    value = settings.value(spec.name)
    if value is None:
        return None
    if spec.secret:
        secret = str(getattr(value, "get_secret_value", lambda: value)())
        return secret if show_secrets else mask_secret(secret)
    return _plain(value)


def _json_value(spec: KeySpec, settings: Settings, show_secrets: bool) -> object:
    value = settings.value(spec.name)
    if value is None or isinstance(value, bool | int):
        return value
    return _display(spec, settings, show_secrets)


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _source_text(spec: KeySpec, settings: Settings, file_path: str) -> str:
    source = settings.sources.get(spec.name, "default")
    if source == "env":
        return f"env {spec.env}"
    if source == "config":
        return f"config {file_path}".rstrip()
    return source


def _warn_key_file(file: ConfigFile) -> None:
    from grokvid.api.config import key_file_warnings

    for warning in key_file_warnings(file):
        _err(f"grokvid: warning: {warning}")


def _warn_model_lacks_resolution(file: ConfigFile) -> None:
    """`config set resolution 1080p` is valid on its own, but generate would refuse it with the
    model in effect: say so now rather than at the next (possibly scripted) generate."""
    from grokvid.api import models
    from grokvid.api.config import load_settings
    from grokvid.api.errors import GrokvidError

    try:
        settings = load_settings(config=file)
    except GrokvidError:
        return  # a bad env var is reported by the command that uses it
    info = models.MODELS.get(settings.model)
    if info is None or settings.resolution in info.resolutions:
        return
    offering = [name for name, m in models.MODELS.items() if settings.resolution in m.resolutions]
    fix = f"`grokvid config set model {offering[0]}`" if offering else "another resolution"
    _err(
        f"grokvid: warning: resolution {settings.resolution} is saved, but the model in effect "
        f"({settings.model}, from {settings.origin('model')}) does not offer it: generate will "
        f"refuse it. Use {fix}, or pass --model."
    )


def _note_env_override(spec: KeySpec) -> None:
    if os.environ.get(spec.env, "").strip():
        _err(f"grokvid: note: {spec.env} is set in the environment and overrides the config file.")


def _print_table(rows: list[tuple[str, str, str]], caption: str) -> None:
    render.print_rows(("key", "value", "source"), rows, caption)


def _err(message: str) -> None:
    render.err(message)
