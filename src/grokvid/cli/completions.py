"""Static shell completion scripts for bash, zsh and fish, generated from the CLI itself.

    python -m grokvid.cli.completions           # rewrite completions/ at the repo root
    python -m grokvid.cli.completions --check   # exit 1 if a committed script is stale (CI)

The scripts carry the whole command tree (subcommands, options, fixed value sets, config keys),
so pressing Tab runs no Python, unlike the scripts of Typer's `--install-completion`, which start
the interpreter on every press. Change the CLI, then regenerate; never edit the scripts by hand.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

PROG = "grokvid"
FILES = {"bash": "grokvid.bash", "zsh": "_grokvid", "fish": "grokvid.fish"}
REGENERATE = "python -m grokvid.cli.completions"
# Anything completed is written unquoted into all three shells: keep it to plain characters.
_SAFE = re.compile(r"[\w.:/@%+,-]+")

Kind = Literal["any", "file", "dir", "words"]


@dataclass(frozen=True)
class Values:
    """What an option's value or a positional argument completes to."""

    kind: Kind = "any"
    name: str = ""  # of a word list: "aspect ratio"
    words: tuple[tuple[str, str], ...] = ()  # (word, description or "")


@dataclass(frozen=True)
class Option:
    names: tuple[str, ...]  # long names first: ("--aspect-ratio", "-a")
    help: str
    takes_value: bool
    multiple: bool
    values: Values


@dataclass(frozen=True)
class Argument:
    name: str
    required: bool
    variadic: bool
    values: Values


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]  # () for the program itself, ("config", "set")
    help: str
    options: tuple[Option, ...]
    arguments: tuple[Argument, ...]
    subcommands: tuple[Command, ...]

    def walk(self) -> Iterator[Command]:
        yield self
        for sub in self.subcommands:
            yield from sub.walk()


@dataclass(frozen=True)
class Hints:
    """Value sets the parameter types don't carry (grokvid's options are plain `str`)."""

    options: Mapping[str, Values] = field(default_factory=dict)  # by long option name
    # by (top-level command, argument name): ("config", "key") covers config set/get/unset
    arguments: Mapping[tuple[str, str], Values] = field(default_factory=dict)


def words(name: str, items: Iterable[str | tuple[str, str]]) -> Values:
    """A fixed word list, checked to be safe to write unquoted into a shell script."""
    if not re.fullmatch(r"[\w .-]*", name):
        raise ValueError(f"Cannot name a word list {name!r}: use letters, digits, spaces, . -")
    pairs = tuple((item, "") if isinstance(item, str) else item for item in items)
    for word, _ in pairs:
        _check_word(word)
    return Values("words", name, pairs)


def _check_word(word: str) -> str:
    if not _SAFE.fullmatch(word):
        raise ValueError(f"Cannot complete {word!r}: use letters, digits and . : / @ % + , - _")
    return word


# -- the command tree -------------------------------------------------------------------------


def build_tree(cli: Any, hints: Hints | None = None) -> Command:
    """The tree of `cli`, a command as `typer.main.get_command` returns it (duck-typed)."""
    return _command(cli, (), None, hints or Hints())


def _command(cmd: Any, path: tuple[str, ...], parent: Any, hints: Hints) -> Command:
    # A context, as click builds one, so inherited settings (help option names) apply.
    settings = dict(getattr(cmd, "context_settings", None) or {})
    ctx = cmd.context_class(cmd, info_name=path[-1] if path else PROG, parent=parent, **settings)
    options: list[Option] = []
    arguments: list[Argument] = []
    for param in cmd.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "option":
            options.append(_option(param, hints))
        elif param.param_type_name == "argument":
            values = hints.arguments.get((path[0] if path else "", param.name))
            variadic = param.nargs == -1
            arguments.append(
                Argument(param.name, bool(param.required), variadic, values or _typed(param, ()))
            )
    subs: Mapping[str, Any] = getattr(cmd, "commands", None) or {}
    return Command(
        path=path,
        help=_summary(getattr(cmd, "short_help", None) or getattr(cmd, "help", None)),
        options=tuple(sorted(options, key=lambda o: o.names)),
        arguments=tuple(arguments),
        subcommands=tuple(
            _command(sub, (*path, _check_word(name)), ctx, hints)
            for name, sub in sorted(subs.items())
            if not getattr(sub, "hidden", False)
        ),
    )


def _option(param: Any, hints: Hints) -> Option:
    names = tuple(sorted([*param.opts, *param.secondary_opts], key=lambda n: (n[:2] != "--", n)))
    for name in names:
        _check_word(name)
    flag = bool(getattr(param, "is_flag", False) or getattr(param, "count", False))
    hinted = next((hints.options[n] for n in names if n in hints.options), None)
    return Option(
        names=names,
        help=" ".join(str(getattr(param, "help", None) or "").split()),
        takes_value=not flag,
        multiple=bool(param.multiple),
        values=hinted or _typed(param, names),
    )


def _typed(param: Any, names: Sequence[str]) -> Values:
    """Values from the parameter's type: a choice list, files or directories, else anything."""
    desc = getattr(param, "type_descriptor", None)  # Typer's own type info
    ptype = getattr(param, "type", None)  # a click-style ParamType (older Typer)
    choices = getattr(desc if desc is not None else ptype, "choices", None)
    if choices:
        return words(param.name, (str(getattr(c, "value", c)) for c in choices))
    if desc is not None:
        is_path = bool(getattr(desc, "is_path", False) or getattr(desc, "is_file", False))
        dir_only = is_path and getattr(desc, "path_type", "") == "dir"
    else:
        type_name = getattr(ptype, "name", "")
        is_path = type_name in ("path", "directory", "file", "filename")
        dir_only = type_name == "directory"
    if not is_path:
        # A str option that takes a file or a URL says so in its metavar (--image FILE|URL).
        metavar = str(getattr(param, "metavar", "") or "")
        return Values("file") if "FILE" in metavar.split("|") else Values()
    # A plain `Path` can't say it wants a directory; the option's name can (--output-dir).
    return Values("dir" if dir_only or any(n.endswith("-dir") for n in names) else "file")


def _summary(text: str | None) -> str:
    """The first paragraph of a help text, on one line."""
    return " ".join((text or "").strip().split("\n\n")[0].split())


def grokvid_hints() -> Hints:
    """Where grokvid's fixed value sets live: the model table, the ledger, the config keys."""
    import importlib

    from grokvid.api import models
    from grokvid.cli.commands import status

    states: Any = status.STATES
    if isinstance(states, str):
        states = re.split(r"[,\s]+", states.strip())
    elif isinstance(states, set | frozenset):
        states = sorted(states)
    keys: Mapping[str, Any] = getattr(importlib.import_module("grokvid.api.config"), "KEYS", {})
    key_words = ((k, " ".join(str(getattr(s, "help", "")).split())) for k, s in keys.items())
    return Hints(
        options={
            "--resolution": words("resolution", models.RESOLUTIONS),
            "--aspect-ratio": words("aspect ratio", models.ASPECT_RATIOS),
            "--model": words("model", models.MODELS),
            "--state": words("state", (str(s) for s in states)),
        },
        arguments={("config", "key"): words("config key", key_words)} if keys else {},
    )


def grokvid_tree() -> Command:
    import typer.main

    from grokvid.cli.app import app

    return build_tree(typer.main.get_command(app), grokvid_hints())


# -- bash -------------------------------------------------------------------------------------

_BASH_HEAD = """\
# bash completion for grokvid.
# Generated by `python -m grokvid.cli.completions` from the CLI itself: do not edit.
#
# Install: `source` this file from ~/.bashrc, or copy it to
#   ~/.local/share/bash-completion/completions/grokvid
# Completing runs no Python, so it is instant.
"""

_BASH_MAIN = r"""
# The completion function: finds the subcommand and the argument the cursor is on.
_F() {
    local i w n cur raw before lead="" path="" nargs=0 dashdash="" expect=""
    local _F_kind="" _F_reply=""
    local -a words=()
    # Bash cuts words at ':' and '=' (COMP_WORDBREAKS): "9:16" comes as "9" ":" "16".
    # Glue the pieces back so options and values read as typed.
    for ((i = 0; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]-}
        n=${#words[@]}
        if ((n > 1)) && { _F_is_break "$w" || _F_is_break "${COMP_WORDS[i - 1]}"; }; then
            words[n - 1]+=$w
        else
            words[n]=$w
        fi
    done
    n=${#words[@]}
    cur=${words[n - 1]}
    raw=${COMP_WORDS[COMP_CWORD]-}
    # Readline replaces the text after the last ':' or '=', even when COMP_WORDS ends with it.
    if _F_is_break "$raw"; then raw=""; fi
    before=${cur%"$raw"}
    for ((i = 1; i < n - 1; i++)); do
        w=${words[i]}
        if [[ -n $expect ]]; then
            expect=""
        elif [[ -z $dashdash && $w == -- ]]; then
            dashdash=1
        elif [[ -z $dashdash && $w == -?* ]]; then
            if [[ $w != *=* ]]; then
                _F_option "$path" "$w"
                if [[ $_F_kind != flag ]]; then expect=$w; fi
            fi
        else
            _F_commands "$path"
            if ((nargs == 0)) && [[ " $_F_reply " == *" $w "* ]]; then
                path=${path:+$path }$w
            else
                nargs=$((nargs + 1))
            fi
        fi
    done
    if [[ -n $expect ]]; then
        _F_option "$path" "$expect"
    elif [[ -z $dashdash && $cur == --*=* ]]; then
        lead=${cur%%=*}=
        _F_option "$path" "${cur%%=*}"
        cur=${cur#*=}
    elif [[ -z $dashdash && $cur == -* ]]; then
        _F_options "$path"
    else
        _F_commands "$path"
        if [[ -z $_F_reply ]] || ((nargs > 0)); then
            _F_argument "$path" "$nargs"
        fi
    fi
    COMPREPLY=()
    case $_F_kind in
        words) COMPREPLY=($(compgen -W "$_F_reply" -- "$cur")) ;;
        file | dir)
            local IFS=$'\n'
            if [[ $_F_kind == dir ]]; then
                COMPREPLY=($(compgen -d -- "$cur"))
            else
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
            compopt -o filenames 2>/dev/null  # bash 4+, inside a real completion
            ;;
    esac
    # Bash replaces only the last piece of a glued word: drop what comes before it.
    if ((${#COMPREPLY[@]})) && [[ -n $lead$before ]]; then
        COMPREPLY=("${COMPREPLY[@]/#/$lead}")
        COMPREPLY=("${COMPREPLY[@]#"$before"}")
    fi
    return 0
}

_F_is_break() { [[ -n $1 && -z ${1//[:=]/} ]]; }

complete -F _F PROG
"""


def render_bash(tree: Command, prog: str = PROG) -> str:
    fn = "_" + _ident(prog)
    commands = list(tree.walk())

    def case(name: str, doc: str, default: str, arms: Iterable[str], args: str = "") -> str:
        body = "".join(f"        {arm}\n" for arm in arms)
        return (
            f'# {doc}\n{name}() {{\n    {default} {fn}_reply=""\n    case "$1{args}" in\n{body}'
            f"    esac\n}}\n"
        )

    def kind(values: Values) -> str:
        listed = " ".join(word for word, _ in values.words)
        return f"{fn}_kind={values.kind}" + (f' {fn}_reply="{listed}"' if listed else "")

    def key(command: Command, suffix: str = "") -> str:
        return '"' + " ".join(command.path) + suffix + '"'

    sub_arms = [
        f'{key(c)}) {fn}_reply="{" ".join(s.path[-1] for s in c.subcommands)}" ;;'
        for c in commands
        if c.subcommands
    ]
    opt_arms = [
        f'{key(c)}) {fn}_reply="{" ".join(sorted(n for o in c.options for n in o.names))}" ;;'
        for c in commands
        if c.options
    ]
    value_arms = [
        f"{' | '.join(key(c, '|' + n) for n in o.names)}) {kind(o.values)} ;;"
        for c in commands
        for o in c.options
        if o.takes_value
    ]
    arg_arms = []
    for c in commands:
        tests = [
            f"(($2 {'>=' if a.variadic else '=='} {i})); then {kind(a.values)}"
            for i, a in enumerate(c.arguments)
            if a.values.kind != "any"
        ]
        if tests:
            arg_arms.append(f"{key(c)}) if {'; elif '.join(tests)}; fi ;;")
    parts = [
        _BASH_HEAD,
        case(f"{fn}_commands", "Subcommands of a command path.", f"{fn}_kind=words", sub_arms),
        case(f"{fn}_options", "Options of a command path.", f"{fn}_kind=words", opt_arms),
        case(
            f"{fn}_option",
            "What the value of option $2 of command path $1 completes to (flag: no value).",
            f"{fn}_kind=flag",
            value_arms,
            "|$2",
        ),
        case(
            f"{fn}_argument",
            "What positional argument $2 (from 0) of command path $1 completes to.",
            f"{fn}_kind=any",
            arg_arms,
        ),
    ]
    main = _BASH_MAIN.replace("_F", fn).replace("PROG", prog)
    return "\n".join(parts) + main


# -- zsh --------------------------------------------------------------------------------------

_ZSH_HEAD = """\
#compdef PROG
# zsh completion for grokvid.
# Generated by `python -m grokvid.cli.completions` from the CLI itself: do not edit.
#
# Install: put this file, named _grokvid, in a directory on $fpath before compinit runs, e.g.
#   mkdir -p ~/.zfunc && cp _grokvid ~/.zfunc/    # and in ~/.zshrc: fpath=(~/.zfunc $fpath)
# then open a new shell (rm -f ~/.zcompdump* if an old dump hides it). Sourcing it after
# compinit works too. Completing runs no Python, so it is instant.
"""

_ZSH_GROUP = """\
NAME() {
    local curcontext="$curcontext" state state_descr line ret=1
    typeset -A opt_args
    _arguments -C -s -S \\
SPECS && ret=0
    case $state in
        (command)
            local -a commands=(
LISTING            )
            _describe -t commands TITLE commands && ret=0
            ;;
        (argument)
            curcontext="${curcontext%:*:*}:CONTEXT-${words[1]}:"
            case ${words[1]} in
DISPATCH            esac
            ;;
    esac
    return ret
}
"""

_ZSH_TAIL = """
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _F "$@"  # autoloaded from $fpath
else
    compdef _F PROG  # sourced after compinit
fi
"""


def render_zsh(tree: Command, prog: str = PROG) -> str:
    fn = "_" + _ident(prog)
    helpers: dict[Values, str] = {}

    def action(values: Values) -> str:
        if values.kind != "words":
            return {"file": "_files", "dir": "_files -/", "any": " "}[values.kind]
        if values not in helpers:
            base = name = f"_{fn}_words_{_ident(values.name or 'value')}"
            n = 1
            while name in helpers.values():  # a different list of the same name
                n += 1
                name = f"{base}_{n}"
            helpers[values] = name
        return helpers[values]

    def option(o: Option) -> str:
        tail = "[" + re.sub(r"([\\\[\]])", r"\\\1", o.help) + "]"
        if o.takes_value:
            message = o.values.name or o.names[0].lstrip("-").replace("-", " ")
            tail += f":{_zsh_colons(message)}:{action(o.values)}"
        decls = [n + ("=" if n[:2] == "--" else "+") if o.takes_value else n for n in o.names]
        star = "*" if o.multiple else ""
        if len(decls) == 1:
            return _sq(star + decls[0] + tail)
        exclusive = "" if o.multiple else "(" + " ".join(o.names) + ")"
        return _sq(exclusive + star) + "{" + ",".join(decls) + "}" + _sq(tail)

    def argument(i: int, a: Argument) -> str:
        message = _zsh_colons(a.values.name or a.name.replace("_", " "))
        position = "*:" if a.variadic else f"{i}:" if a.required else f"{i}::"
        return _sq(f"{position}{message}:{action(a.values)}")

    functions = []
    for c in tree.walk():
        name = fn + "".join("_" + _ident(p) for p in c.path)
        specs = [option(o) for o in c.options]
        if not c.subcommands:
            specs += [argument(i, a) for i, a in enumerate(c.arguments, 1)]
            body = "    _arguments -s -S \\\n" + " \\\n".join(f"        {s}" for s in specs)
            functions.append(f"{name}() {{\n{body}\n}}\n")
            continue
        specs += [_sq("1: :->command"), _sq("*:: :->argument")]
        listing = "".join(
            f"                {_sq(_zsh_colons(s.path[-1]) + ':' + s.help)}\n"
            for s in c.subcommands
        )
        dispatch = "".join(
            f"                ({s.path[-1]}) {name}_{_ident(s.path[-1])} && ret=0 ;;\n"
            for s in c.subcommands
        )
        functions.append(
            _ZSH_GROUP.replace("NAME", name)
            .replace("SPECS", " \\\n".join(f"        {s}" for s in specs))
            .replace("LISTING", listing)
            .replace("TITLE", _sq(" ".join((prog, *c.path, "command"))))
            .replace("CONTEXT", "-".join((prog, *c.path)))
            .replace("DISPATCH", dispatch)
        )
    word_functions = [
        f"{name}() {{\n    local -a items=(\n"
        + "".join(f"        {_sq(_zsh_colons(w) + (':' + d if d else ''))}\n" for w, d in v.words)
        + f"    )\n    _describe -t {_ident(v.name or 'value').replace('_', '-')} "
        f"{_sq(v.name or 'value')} items\n}}\n"
        for v, name in helpers.items()
    ]
    head = _ZSH_HEAD.replace("PROG", prog)
    tail = _ZSH_TAIL.replace("_F", fn).replace("PROG", prog)
    return "\n".join([head, *functions, *word_functions]) + tail


def _zsh_colons(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


# -- fish -------------------------------------------------------------------------------------

_FISH_HEAD = """\
# fish completion for grokvid.
# Generated by `python -m grokvid.cli.completions` from the CLI itself: do not edit.
#
# Install: copy this file to ~/.config/fish/completions/grokvid.fish
# Completing runs no Python, so it is instant.
"""

_FISH_AT = r"""
# True when the command line is at subcommand path $argv[1] ("" for the program itself) and,
# if $argv[2] is given, that many arguments follow it there ("1" exactly, "0+" at least).
function _F_at
    set -l subcommands SUBCOMMANDS
    set -l takes_value TAKES_VALUE
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l path ''
    set -l next ''
    set -l nargs 0
    set -l skip 0
    set -l dashdash 0
    for token in $tokens
        if test $skip = 1
            set skip 0
        else if test $dashdash = 0; and test "x$token" = x--
            set dashdash 1
        else if test $dashdash = 0; and string match -q -- '-?*' $token
            if contains -- "$path|$token" $takes_value
                set skip 1
            end
        else
            set next $token
            test -n "$path"; and set next "$path $token"
            if test $nargs = 0; and contains -- $next $subcommands
                set path $next
            else
                set nargs (math $nargs + 1)
            end
        end
    end
    test "$path" = "$argv[1]"; or return 1
    set -q argv[2]; or return 0
    if string match -q -- '*+' $argv[2]
        test $nargs -ge (string trim -r -c + -- $argv[2])
    else
        test $nargs -eq $argv[2]
    end
end
"""


def render_fish(tree: Command, prog: str = PROG) -> str:
    fn = "__" + _ident(prog)
    commands = list(tree.walk())
    at = _FISH_AT.replace("_F", fn)
    at = at.replace("SUBCOMMANDS", " ".join(_fq(" ".join(c.path)) for c in commands[1:]))
    at = at.replace(
        "TAKES_VALUE",
        " ".join(
            _fq(" ".join(c.path) + "|" + n)
            for c in commands
            for o in c.options
            if o.takes_value
            for n in o.names
        ),
    )
    lines = [_FISH_HEAD, at.lstrip("\n"), f"complete -c {prog} -f  # files only where asked for"]

    def line(condition: str, spec: str, help: str = "") -> None:
        described = f" -d {_fq(help)}" if help else ""
        lines.append(f"complete -c {prog} -n {_fq(f'{fn}_at {condition}')} {spec}{described}")

    def value(values: Values) -> str:
        if values.kind == "file":
            return "-F"
        if values.kind == "dir":
            return "-a " + _fq("(__fish_complete_directories)")
        # Each word's description is its list's name: fish would repeat the option's help.
        label = f'\\t"{values.name}"' if values.name else ""
        return "-a " + _fq(" ".join(w + label for w, _ in values.words)) if values.words else ""

    for c in commands:
        where = '"' + " ".join(c.path) + '"'
        lines.append(f"\n# {' '.join((prog, *c.path))}")
        for s in c.subcommands:
            line(f"{where} 0", f"-a {s.path[-1]}", s.help)
        for o in c.options:
            spec = " ".join(_fish_name(n) for n in o.names)
            if o.takes_value:
                spec += " -r -F" if o.values.kind == "file" else f" -x {value(o.values)}".rstrip()
            line(where, spec, o.help)
        for i, a in enumerate(c.arguments):
            at = f"{where} {i}{'+' if a.variadic else ''}"
            if any(d for _, d in a.values.words):
                for w, d in a.values.words:
                    line(at, f"-a {w}", d)
            elif a.values.kind != "any":
                line(at, value(a.values))
    return "\n".join(lines) + "\n"


def _fish_name(name: str) -> str:
    if name.startswith("--"):
        return f"-l {name[2:]}"
    return f"-s {name[1:]}" if len(name) == 2 else f"-o {name[1:]}"


# -- shared -----------------------------------------------------------------------------------


def _ident(text: str) -> str:
    return re.sub(r"\W", "_", text)


def _sq(text: str) -> str:
    """Single-quoted for bash and zsh."""
    return "'" + text.replace("'", "'\\''") + "'"


def _fq(text: str) -> str:
    """Single-quoted for fish."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_all(tree: Command, prog: str = PROG) -> dict[str, str]:
    """Every script by file name."""
    return {
        FILES["bash"]: render_bash(tree, prog),
        FILES["zsh"]: render_zsh(tree, prog),
        FILES["fish"]: render_fish(tree, prog),
    }


def default_dir() -> Path:
    """completions/ at the root of the repository this module sits in."""
    return Path(__file__).resolve().parents[3] / "completions"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=REGENERATE, description="Write grokvid's shell completion scripts from the CLI."
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="default: completions/")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a script is stale"
    )
    args = parser.parse_args(argv)
    out: Path = args.out or default_dir()
    scripts = render_all(grokvid_tree())
    if args.check:
        stale = [_shown(out / name) for name, text in scripts.items() if _read(out / name) != text]
        if stale:
            command = REGENERATE + (f" --out {_shown(out)}" if args.out else "")
            sys.stderr.write(
                f"Shell completions out of date: {', '.join(stale)}. "
                f"Run `{command}` and commit the result.\n"
            )
            return 1
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in scripts.items():
        if _read(out / name) != text:
            (out / name).write_text(text, encoding="utf-8", newline="\n")
            sys.stderr.write(f"wrote {_shown(out / name)}\n")
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    raise SystemExit(main())
