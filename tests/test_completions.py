"""The static completion scripts: current with the CLI, valid, and completing the right things."""

from __future__ import annotations

import enum
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import pytest
import typer
import typer.main

from grokvid.cli import completions

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "completions"
BASH = COMMITTED / "grokvid.bash"


def bash_complete(*words: str, cwd: Path | None = None, script: Path = BASH) -> list[str]:
    """COMPREPLY after sourcing `script` and completing `words` (the last one is being typed).

    `set -u` on purpose: the script must not trip over a user's nounset.
    """
    program = "\n".join(
        [
            "set -u",
            f"source {shlex.quote(str(script))}",
            f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})",
            f"COMP_CWORD={len(words) - 1}",
            "_grokvid",
            'printf "%s\\n" "${COMPREPLY[@]}"',
        ]
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return [line for line in done.stdout.splitlines() if line]


# -- the committed scripts ----------------------------------------------------------------------


def test_committed_scripts_are_current() -> None:
    scripts = completions.render_all(completions.grokvid_tree())
    assert sorted(scripts) == sorted(["grokvid.bash", "_grokvid", "grokvid.fish"])
    for name, text in scripts.items():
        assert (COMMITTED / name).read_text(encoding="utf-8") == text, (
            f"completions/{name} is stale: run `python -m grokvid.cli.completions`"
        )


def test_check_passes_in_a_subprocess_like_ci() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "grokvid.cli.completions", "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_write_then_check_then_go_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "completions"
    assert completions.main(["--out", str(out), "--check"]) == 1  # nothing there yet
    capsys.readouterr()
    assert completions.main(["--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["_grokvid", "grokvid.bash", "grokvid.fish"]
    assert completions.main(["--out", str(out), "--check"]) == 0
    capsys.readouterr()
    (out / "_grokvid").write_text("#compdef grokvid\n", encoding="utf-8")
    assert completions.main(["--out", str(out), "--check"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    message = captured.err.strip()
    assert "\n" not in message
    assert "_grokvid" in message and "grokvid.bash" not in message
    assert "python -m grokvid.cli.completions" in message


def test_scripts_say_they_are_generated_and_how_to_install() -> None:
    for name, where in [
        ("grokvid.bash", "~/.local/share/bash-completion/completions/grokvid"),
        ("_grokvid", "$fpath"),
        ("grokvid.fish", "~/.config/fish/completions/"),
    ]:
        head = (COMMITTED / name).read_text(encoding="utf-8")[:800]
        assert "python -m grokvid.cli.completions" in head and "do not edit" in head
        assert where in head


def test_output_is_deterministic() -> None:
    assert completions.render_all(completions.grokvid_tree()) == completions.render_all(
        completions.grokvid_tree()
    )


# -- bash: syntax and behaviour (bash is always there) ------------------------------------------


def test_bash_syntax() -> None:
    done = subprocess.run(["bash", "-n", str(BASH)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_bash_aspect_ratio_values() -> None:
    assert "9:16" in bash_complete("grokvid", "generate", "--aspect-ratio", "")
    assert set(bash_complete("grokvid", "generate", "-a", "")) == {
        "1:1",
        "16:9",
        "9:16",
        "4:3",
        "3:4",
        "3:2",
        "2:3",
    }


def test_bash_top_level_commands() -> None:
    offered = bash_complete("grokvid", "")
    assert {"generate", "status", "download", "config", "sandbox"} <= set(offered)
    assert bash_complete("grokvid", "ge") == ["generate"]
    assert bash_complete("grokvid", "--debug", "st") == ["status"]


def test_bash_nested_commands() -> None:
    assert {"set", "get", "unset", "list", "path"} <= set(bash_complete("grokvid", "config", ""))
    assert bash_complete("grokvid", "sandbox", "") == ["serve"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("generate", "-r", ""), {"480p", "720p", "1080p"}),
        (("generate", "--resolution", "7"), {"720p"}),
        (("generate", "-d", "5", "--model", ""), {"grok-imagine-video", "grok-imagine-video-1.5"}),
        (("status", "--state", "d"), {"done", "downloaded"}),
        (("status", "--state", "done", "--state", "mod"), {"moderated"}),
        (("config", "set", ""), {"xai.api_key", "model", "duration", "aspect_ratio"}),
        (("config", "get", "xai."), {"xai.api_key", "xai.base_url"}),
        (("config", "unset", "out"), {"output_dir"}),
    ],
)
def test_bash_value_sets(words: tuple[str, ...], expected: set[str]) -> None:
    offered = set(bash_complete("grokvid", *words))
    assert expected <= offered
    if words[-1]:
        assert all(o.startswith(words[-1]) for o in offered)


def test_bash_values_split_at_colon_and_equals() -> None:
    # Bash hands "-a 9:" over as "-a" "9" ":", and readline replaces only what follows the ":".
    assert bash_complete("grokvid", "generate", "-a", "9", ":") == ["16"]
    assert bash_complete("grokvid", "generate", "-a", "9", ":", "1") == ["16"]
    assert bash_complete("grokvid", "generate", "-a", "16", ":", "") == ["9"]
    assert "9:16" in bash_complete("grokvid", "generate", "--aspect-ratio", "=", "")
    assert bash_complete("grokvid", "generate", "--aspect-ratio", "=") == [
        "1:1",
        "16:9",
        "9:16",
        "4:3",
        "3:4",
        "3:2",
        "2:3",
    ]
    assert bash_complete("grokvid", "generate", "--aspect-ratio", "=", "9", ":") == ["16"]
    assert bash_complete("grokvid", "generate", "--resolution", "=", "10") == ["1080p"]


def test_bash_options_long_and_short() -> None:
    offered = set(bash_complete("grokvid", "generate", "-"))
    assert {"--aspect-ratio", "-a", "--resolution", "-r", "--model", "-m"} <= offered
    assert {"--prompt-file", "--output", "-o", "--output-dir", "--help", "-h"} <= offered
    assert bash_complete("grokvid", "config", "get", "--show-s") == [
        "--show-secrets",
        "--show-source",
    ]


def test_bash_no_completion_for_free_text() -> None:
    assert bash_complete("grokvid", "generate", "a red fox", "-a", "9:16", "") == []
    assert bash_complete("grokvid", "generate", "--timeout", "") == []
    assert bash_complete("grokvid", "config", "set", "model", "") == []  # the value is free
    assert bash_complete("grokvid", "generate", "--", "-") == []  # after --, not an option


def test_bash_paths(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    (tmp_path / "prompt.txt").write_text("a fox", encoding="utf-8")
    files = set(bash_complete("grokvid", "generate", "--prompt-file", "", cwd=tmp_path))
    assert files == {"clips", "prompt.txt"}
    dirs = bash_complete("grokvid", "generate", "--output-dir", "", cwd=tmp_path)
    assert dirs == ["clips"]
    assert bash_complete("grokvid", "generate", "-o", "pro", cwd=tmp_path) == ["prompt.txt"]


# -- zsh and fish: when the shell is installed --------------------------------------------------

needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
needs_fish = pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")


@needs_zsh
def test_zsh_syntax() -> None:
    script = COMMITTED / "_grokvid"
    done = subprocess.run(["zsh", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@needs_fish
def test_fish_syntax() -> None:
    script = COMMITTED / "grokvid.fish"
    done = subprocess.run(["fish", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@needs_fish
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("grokvid ", {"generate", "status", "download", "config", "sandbox"}),
        ("grokvid config ", {"set", "get", "unset", "list", "path"}),
        ("grokvid generate --aspect-ratio ", {"9:16", "16:9"}),
        ("grokvid generate -r 720p -m ", {"grok-imagine-video-1.5"}),
        ("grokvid config set ", {"xai.api_key", "model"}),
        ("grokvid status --state ", {"done", "expired"}),
    ],
)
def test_fish_completes(line: str, expected: set[str]) -> None:
    script = COMMITTED / "grokvid.fish"
    command = f"source {shlex.quote(str(script))}; complete -C {shlex.quote(line)}"
    done = subprocess.run(
        ["fish", "--no-config", "-c", command], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    offered = {row.split("\t")[0] for row in done.stdout.splitlines()}
    assert expected <= offered


# -- the generator on a small app ---------------------------------------------------------------


class Color(enum.StrEnum):
    red = "red"
    blue = "blue"


def small_app() -> typer.Typer:
    app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})

    @app.command()
    def paint(
        path: Annotated[Path, typer.Argument(help="The canvas.")],
        color: Annotated[Color, typer.Option("--color", "-c", help="Paint [red or blue].")] = (
            Color.red
        ),
        out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Where to.")] = None,
        size: Annotated[str, typer.Option("--size", help="It's 'big' or small.")] = "big",
        secret: Annotated[bool, typer.Option("--secret", hidden=True)] = False,
        tags: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Repeat.")] = None,
        dry: Annotated[bool, typer.Option("--dry-run", "-n", help="Only say.")] = False,
    ) -> None:
        """Paint something.

        More text that is not the summary.
        """

    settings = typer.Typer(help="Settings.")

    @settings.command("set")
    def set_(key: str, value: str) -> None:
        """Store one."""

    @settings.command("zap", hidden=True)
    def zap() -> None:
        """Hidden."""

    app.add_typer(settings, name="settings")
    return app


def small_tree() -> completions.Command:
    hints = completions.Hints(
        options={"--size": completions.words("size", ["big", "small"])},
        arguments={
            ("settings", "key"): completions.words("key", [("a.b", "The a: b [x]"), ("c", "")])
        },
    )
    return completions.build_tree(typer.main.get_command(small_app()), hints)


def test_tree_of_a_small_app() -> None:
    tree = small_tree()
    assert [c.path for c in tree.walk()] == [(), ("paint",), ("settings",), ("settings", "set")]
    paint = tree.subcommands[0]
    assert paint.help == "Paint something."
    by_name = {o.names[0]: o for o in paint.options}
    assert sorted(by_name) == ["--color", "--dry-run", "--help", "--out-dir", "--size", "--tag"]
    assert by_name["--color"].names == ("--color", "-c")
    assert [w for w, _ in by_name["--color"].values.words] == ["red", "blue"]
    assert by_name["--out-dir"].values.kind == "dir"
    assert by_name["--size"].values.words == (("big", ""), ("small", ""))
    assert by_name["--tag"].multiple and by_name["--tag"].takes_value
    assert not by_name["--dry-run"].takes_value
    assert by_name["--help"].names == ("--help", "-h")  # inherited help option names
    assert paint.arguments[0].values.kind == "file"
    set_ = tree.subcommands[1].subcommands[0]
    assert [a.name for a in set_.arguments] == ["key", "value"]
    assert [w for w, _ in set_.arguments[0].values.words] == ["a.b", "c"]


def test_small_app_scripts_work(tmp_path: Path) -> None:
    scripts = completions.render_all(small_tree())
    for name, text in scripts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    bash = tmp_path / "grokvid.bash"
    assert bash_complete("grokvid", "paint", "-c", "", script=bash) == ["red", "blue"]
    assert bash_complete("grokvid", "paint", "--size", "s", script=bash) == ["small"]
    assert bash_complete("grokvid", "settings", "set", "", script=bash) == ["a.b", "c"]
    assert bash_complete("grokvid", "", script=bash) == ["paint", "settings"]  # no hidden
    assert "--secret" not in bash_complete("grokvid", "paint", "--", script=bash)
    assert "'It'\\''s '\\''big'\\''" not in scripts["_grokvid"]  # help is quoted once
    assert "It'\\''s '\\''big'\\'' or small." in scripts["_grokvid"]
    assert "'a.b:The a: b [x]'" in scripts["_grokvid"]
    assert "\\[red or blue\\]" in scripts["_grokvid"]
    if shutil.which("zsh"):
        assert subprocess.run(["zsh", "-n", str(tmp_path / "_grokvid")]).returncode == 0
    if shutil.which("fish"):
        assert subprocess.run(["fish", "-n", str(tmp_path / "grokvid.fish")]).returncode == 0


def test_unsafe_words_are_refused() -> None:
    with pytest.raises(ValueError, match="Cannot complete"):
        completions.words("x", ["fine", "not fine"])
    with pytest.raises(ValueError, match="Cannot complete"):
        completions.words("x", ["$(rm -rf ~)"])


def test_click_style_parameter_types() -> None:
    """Older Typer versions hand over click ParamTypes instead of their type descriptor."""

    def kind(type_name: str, option: str = "--x") -> completions.Values:
        param = SimpleNamespace(name="x", type=SimpleNamespace(name=type_name, choices=None))
        return completions._typed(param, [option])

    assert kind("directory").kind == "dir"
    assert kind("path").kind == "file"
    assert kind("path", "--cache-dir").kind == "dir"
    assert kind("integer").kind == "any"
    param = SimpleNamespace(name="x", type=SimpleNamespace(name="choice", choices=["a", "b"]))
    assert completions._typed(param, ["--x"]).words == (("a", ""), ("b", ""))
