"""The Typer app: one module per command mounted here, with grokvid's own help and usage errors.

Every command is a `GrokvidCommand`, which changes three things about Typer's defaults:

- `--help` shows `--duration SECONDS` and `[ID]...`, not `<int>`, `<list[str]>` or `[[ID...]]...`;
- a value that doesn't parse is one line in our words ("--duration: 'abc' is not valid: use a
  whole number of seconds from 1 to 15."), and the plain types (str, int, float, bool, Path and
  lists of them) are parsed here, so a command's start-up doesn't import pydantic, which Typer
  would load to build a validator for every parameter;
- `--debug` is accepted after the command too (`grokvid status --debug`).

Typer keeps these behind underscored names (`_runtime_param`, `typer._coercion`); they are used
here and nowhere else, so a Typer upgrade that moves them breaks one module, and the snapshot and
start-up tests say so at once.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import typer
from typer._coercion import bool_flag_type_descriptor
from typer.core import TyperCommand, TyperGroup, TyperOption

from grokvid import __version__
from grokvid.cli import exits
from grokvid.cli.commands import (
    batch,
    completions,
    config,
    download,
    gallery,
    generate,
    preview,
    sandbox,
    status,
)

# What an option's value is, in the help's left column (otherwise: by type, TEXT, N, PATH...).
METAVARS = {
    "--model": "NAME",
    "--duration": "SECONDS",
    "--resolution": "RES",
    "--aspect-ratio": "RATIO",
    "--variants": "N",
    "--output-dir": "DIR",
    "--output": "FILE",
    "--prompt-file": "FILE",
    "--timeout": "SECONDS",
    "--base-url": "URL",
    "--limit": "N",
    "--state": "STATE",
}
_TYPE_METAVARS = {str: "TEXT", int: "N", float: "NUMBER", Path: "PATH", bool: "BOOL"}
DEBUG_HELP = "Show tracebacks and HTTP traffic (keys redacted). Same as GROKVID_DEBUG=1."


class UsageProblem(typer.BadParameter):
    """A bad value on the command line, already worded as the one line the user sees."""

    def format_message(self) -> str:
        return self.message


class GrokvidCommand(TyperCommand):
    """A Typer command with grokvid's help layout, value parsing and a `--debug` option."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(_debug_option())
        for param in self.params:
            _install_parser(param)

    def get_help_option(self, ctx: Any) -> Any:
        return _plain_help_option(super().get_help_option(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(_usage_piece(param))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            if getattr(param, "hidden", False):
                continue
            if param.param_type_name == "argument":
                arguments.append((_argument_name(param), _help_text(param)))
            elif param.param_type_name == "option":
                options.append((_option_names(param), _help_text(param)))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class GrokvidGroup(TyperGroup):
    """A Typer group whose own options are parsed without pydantic too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _install_parser(param)

    def get_help_option(self, ctx: Any) -> Any:
        return _plain_help_option(super().get_help_option(ctx))


def _plain_help_option(option: Any) -> Any:
    """The -h/--help option is built afresh per context, outside `params`."""
    if option is not None:
        _install_parser(option)
    return option


def _debug_option() -> TyperOption:
    def turn_on(ctx: Any, param: Any, value: bool) -> bool:
        if value:
            exits.enable_debug()
        return value

    return TyperOption(
        param_decls=["--debug"],
        type_descriptor=bool_flag_type_descriptor(),
        is_flag=True,
        default=False,
        expose_value=False,
        is_eager=True,  # before the other values, so their errors get a traceback too
        callback=turn_on,
        help=DEBUG_HELP,
    )


# -- help -----------------------------------------------------------------------------------


def _annotation(param: Any) -> Any:
    annotation = param.type_descriptor.annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    return annotation


def _bare_name(param: Any) -> str:
    """ID for metavar "[ID...]", PROMPT for an argument named prompt."""
    return re.sub(r"[\[\]{}.]", "", param.metavar or "") or param.name.upper()


def _usage_piece(param: Any) -> str:
    name = _bare_name(param)
    piece = name if param.required else f"[{name}]"
    return piece + ("..." if param.nargs != 1 else "")


def _argument_name(param: Any) -> str:
    return _bare_name(param) + ("..." if param.nargs != 1 else "")


def _option_names(param: Any) -> str:
    names = sorted(param.opts, key=lambda n: (n.startswith("--"), n))
    text = ", ".join(names)
    if param.secondary_opts:
        text += " / " + ", ".join(param.secondary_opts)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return text
    longest = max(param.opts, key=len)
    metavar = param.metavar or METAVARS.get(longest) or _TYPE_METAVARS.get(_annotation(param))
    if metavar is None:
        metavar = "TEXT"
    if _annotation(param) is Path and longest.endswith("-dir") and longest not in METAVARS:
        metavar = "DIR"
    return f"{text} {metavar}"


def _help_text(param: Any) -> str:
    extra = []
    default = param.default
    is_flag = getattr(param, "is_flag", False)
    if (
        param.param_type_name == "option"
        and param.show_default
        and not is_flag
        and default not in (None, (), [])
        and not callable(default)
    ):
        extra.append(f"default: {_number(default)}")
    span = _range_words(getattr(param, "min", None), getattr(param, "max", None))
    if span:
        extra.append(span)
    help_text = " ".join((param.help or "").split())
    return f"{help_text}  [{'; '.join(extra)}]" if extra else help_text


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _range_words(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{_number(low)}-{_number(high)}"
    if low is not None:
        return f"at least {_number(low)}"
    if high is not None:
        return f"at most {_number(high)}"
    return ""


# -- parsing values -------------------------------------------------------------------------


class _PlainParser:
    """Parses a str/int/float/bool/Path value (or a list of them) without pydantic."""

    def __init__(self, kind: type, multi: bool) -> None:
        self.kind = kind
        self.multi = multi

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if self.multi else None
        if self.multi:
            if isinstance(value, str):
                raise UsageProblem(f"{_shown_name(param)}: give one value per use.")
            return [self.one(item, param) for item in value]
        return self.one(value, param)

    def one(self, value: Any, param: Any) -> Any:
        if isinstance(value, self.kind) and not (self.kind is int and isinstance(value, bool)):
            parsed: Any = value
        elif self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            parsed = float(value)  # a default written as 600
        elif not isinstance(value, str):
            raise _bad(param, value)
        elif self.kind is str:
            parsed = value
        elif self.kind is int:
            if not re.fullmatch(r"\s*[+-]?[0-9]{1,30}\s*", value):
                raise _bad(param, value)
            parsed = int(value)
        elif self.kind is float:
            try:
                parsed = float(value)
            except ValueError:
                raise _bad(param, value) from None
            if not math.isfinite(parsed):
                raise _bad(param, value)
        elif self.kind is bool:
            word = value.strip().lower()
            if word not in {"true", "false", "yes", "no", "1", "0", "on", "off"}:
                raise _bad(param, value)
            parsed = word in {"true", "yes", "1", "on"}
        else:  # Path
            parsed = Path(value)
            if parsed.exists() and not os.access(parsed, os.R_OK):
                raise UsageProblem(f"{_shown_name(param)}: {value!r} is not readable.")
        low, high = getattr(param, "min", None), getattr(param, "max", None)
        if (low is not None and parsed < low) or (high is not None and parsed > high):
            raise _bad(param, value)
        return parsed


def _install_parser(param: Any) -> None:
    """Parse plain values ourselves; anything fancier (choices, enums, files) stays Typer's."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or descriptor.is_file or descriptor.is_choice:
        return
    kind = _annotation(param)
    if kind not in _TYPE_METAVARS:
        return
    if kind is Path:
        info = descriptor.parameter_info
        plain = not (info.exists or info.resolve_path or info.writable or info.allow_dash)
        if not (plain and info.file_okay and info.dir_okay):
            return
    param._runtime_param = _PlainParser(kind, param.multiple or param.nargs == -1)


def _shown_name(param: Any) -> str:
    if param.param_type_name == "option":
        return str(max(param.opts, key=len))
    return _bare_name(param)


def _bad(param: Any, value: object) -> UsageProblem:
    return UsageProblem(f"{_shown_name(param)}: {value!r} is not valid: {_rule(param)}.")


def _rule(param: Any) -> str:
    """What to use instead, in words: the setting's own rule when the option sets one."""
    kind = _annotation(param)
    if kind in (int, bool):
        from grokvid.api.config import KEYS  # only on this error path: it loads pydantic

        spec = KEYS.get(param.name)
        if spec is not None and spec.kind in ("int", "bool"):
            return spec.allowed
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    noun = {int: "a whole number", float: "a number", bool: "true or false"}.get(kind, "a value")
    if low is not None and high is not None:
        return f"use {noun} from {_number(low)} to {_number(high)}"
    if low is not None:
        return f"use {noun} of {_number(low)} or more"
    if high is not None:
        return f"use {noun} of {_number(high)} or less"
    return f"use {noun}"


# -- the app --------------------------------------------------------------------------------

app = typer.Typer(
    name="grokvid",
    cls=GrokvidGroup,
    help=(
        "Generate short videos with xAI's Grok Imagine Video.\n\n"
        'Try it without a key: grokvid generate --sandbox "a red fox trotting through fresh snow"'
    ),
    epilog=(
        "Exit codes: 0 ok, 1 unexpected, 2 usage or validation, 3 auth/permission/billing, "
        "4 rejected by the service, 5 network/server/timeout or unknown submit outcome, "
        "6 generation failed/moderated/expired, 7 budget cap reached, 130 interrupted."
    ),
    no_args_is_help=True,
    # `grokvid completions` installs static scripts; Typer's would start Python on every Tab.
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from grokvid.cli.render import out

        out(f"grokvid {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help=DEBUG_HELP)] = False,
) -> None:
    exits.begin_invocation()
    if debug:
        exits.enable_debug()


app.command("generate", no_args_is_help=False, cls=GrokvidCommand)(generate.generate)
app.command("status", cls=GrokvidCommand)(status.status)
app.command("download", cls=GrokvidCommand)(download.download)
app.command("preview", cls=GrokvidCommand)(preview.preview)
app.command("gallery", cls=GrokvidCommand)(gallery.gallery)
app.command("batch", cls=GrokvidCommand)(batch.batch)
app.add_typer(config.app, name="config", cls=GrokvidGroup)
app.add_typer(sandbox.app, name="sandbox", cls=GrokvidGroup)
app.add_typer(completions.app, name="completions", cls=GrokvidGroup)
# Sub-apps register their commands with Typer's class (it fills in the default at once).
for group in (config.app, sandbox.app, completions.app):
    for info in group.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = GrokvidCommand
