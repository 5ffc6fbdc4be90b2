"""The CLI's surface: --help of every command (golden files), --version, the import boundary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grokvid import __version__
from grokvid.cli.main import app

SNAPSHOTS = Path(__file__).parent / "snapshots"
# Read at import: the autouse fixture clears GROKVID_* variables before each test.
UPDATE = os.environ.get("GROKVID_UPDATE_SNAPSHOTS") == "1"
COMMANDS = [
    [],
    ["generate"],
    ["status"],
    ["download"],
    ["preview"],
    ["gallery"],
    ["batch"],
    ["config"],
    ["config", "set"],
    ["config", "get"],
    ["config", "unset"],
    ["config", "list"],
    ["config", "path"],
    ["sandbox"],
    ["sandbox", "serve"],
    ["completions"],
    ["completions", "show"],
    ["completions", "install"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c) or "grokvid")
def test_help_matches_snapshot(command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """After a deliberate change: GROKVID_UPDATE_SNAPSHOTS=1 pytest tests/test_surface.py"""
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TERM", "dumb")
    result = CliRunner().invoke(app, [*command, "--help"], prog_name="grokvid")
    assert result.exit_code == 0, result.output
    golden = SNAPSHOTS / f"help-{'-'.join(command) or 'grokvid'}.txt"
    if UPDATE:
        golden.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == golden.read_text(encoding="utf-8")


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"grokvid {__version__}\n"


def test_library_never_imports_the_terminal_stack() -> None:
    code = (
        "import sys, grokvid.api.jobs, grokvid.api.runner, grokvid.api.providers.xai, "
        "grokvid.api.config, grokvid.api.ledger, "
        "grokvid.api.download, grokvid.api.metadata, grokvid.sandbox.app;"
        "bad = sorted(m for m in ('typer', 'rich', 'click') if m in sys.modules);"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["generate", "--help"]])
def test_help_and_version_stay_light(args: list[str]) -> None:
    """Start-up loads none of the heavy modules: they wait inside the command that needs them."""
    heavy = ["httpx", "sqlite3", "av", "numpy", "tomlkit", "asyncio"]
    if args[0].startswith("--"):
        heavy.append("pydantic")  # a command's own --help: typer 0.29 itself loads pydantic
    code = (
        "import sys\n"
        "from grokvid.cli.main import main\n"
        f"sys.argv = ['grokvid', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"heavy = {heavy!r}\n"
        "sys.stderr.write(','.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout, "the command printed its answer"
    assert result.stderr == ""


def test_ctrl_c_at_the_key_prompt_exits_130(tmp_path: Path) -> None:
    """On a terminal `config set xai.api_key` prompts; Ctrl-C there is an interruption."""
    import pty
    import select
    import signal
    import time

    env = {**os.environ, "GROKVID_HOME": str(tmp_path)}
    env.pop("XAI_API_KEY", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: grokvid on a real terminal
        os.execvpe(
            sys.executable, [sys.executable, "-m", "grokvid", "config", "set", "xai.api_key"], env
        )
    seen = b""
    deadline = time.monotonic() + 30
    while b":" not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            seen += os.read(fd, 1024)
    assert b"key" in seen.lower(), seen
    os.kill(pid, signal.SIGINT)
    _, status = os.waitpid(pid, 0)
    rest = b""
    try:
        while select.select([fd], [], [], 0.2)[0]:
            rest += os.read(fd, 1024)
    except OSError:
        pass
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130, seen + rest
    assert not (tmp_path / "config.toml").exists()


def test_status_help_lists_every_job_state() -> None:
    from grokvid.api.states import JobState
    from grokvid.cli.commands.status import STATES as SHOWN

    assert SHOWN.split(", ") == [str(state) for state in JobState]
    assert set(JobState) >= set(__import__("grokvid.api.ledger").api.ledger.STATES)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c) or "grokvid")
def test_help_shows_no_type_tags_or_doubled_brackets(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], prog_name="grokvid")
    assert "<" not in result.stdout, result.stdout
    assert "[[" not in result.stdout and "{" not in result.stdout.splitlines()[0]


def run_main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """The real entry point, in this process: what a user's shell would see."""
    from grokvid.cli.main import main

    monkeypatch.setattr(sys, "argv", ["grokvid", *args])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["generate", "-d", "abc", "a fox"],
            "grokvid: error: --duration: 'abc' is not valid: use a whole number of seconds "
            "from 1 to 15. (see 'grokvid generate --help')",
        ),
        (
            ["generate", "-n", "9", "a fox"],
            "grokvid: error: --variants: '9' is not valid: use a whole number from 1 to 4. "
            "(see 'grokvid generate --help')",
        ),
        (
            ["generate", "--timeout", "soon", "a fox"],
            "grokvid: error: --timeout: 'soon' is not valid: use a number of 1 or more. "
            "(see 'grokvid generate --help')",
        ),
        (
            ["status", "--limit", "99999999999999999999"],
            "grokvid: error: --limit: '99999999999999999999' is not valid: use a whole number "
            "from 1 to 1000000. (see 'grokvid status --help')",
        ),
        (
            ["status", "--limit", "0"],
            "grokvid: error: --limit: '0' is not valid: use a whole number from 1 to 1000000. "
            "(see 'grokvid status --help')",
        ),
    ],
)
def test_a_bad_value_is_one_line_in_our_words_and_exits_2(
    args: list[str],
    line: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_main(args, monkeypatch, capsys)
    assert (code, out, err) == (2, "", line + "\n")
    assert "Input should be" not in err and "is not a valid integer" not in err


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_from_the_entry_point(
    flag: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main([flag], monkeypatch, capsys) == (0, f"grokvid {__version__}\n", "")


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--debug", "gv-nope"],
        ["--debug", "status", "gv-nope"],
        ["config", "get", "--debug", "nope"],
    ],
)
def test_debug_before_or_after_the_command_adds_the_traceback(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("grokvid: error: ")


def test_debug_does_not_leak_into_the_next_in_process_run() -> None:
    import logging

    runner = CliRunner()
    assert "Traceback" in runner.invoke(app, ["status", "--debug", "gv-nope"]).stderr
    result = runner.invoke(app, ["status", "gv-nope"])
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert logging.getLogger("grokvid").handlers == []
    assert os.environ.get("GROKVID_DEBUG") is None


def test_the_renderer_is_the_only_writer_to_stdout_and_stderr() -> None:
    """Commands hand their results to cli/render.py; none writes to the streams itself."""
    import re

    cli = Path(__file__).parent.parent / "src" / "grokvid" / "cli"
    writes = re.compile(r"sys\.(stdout|stderr)\.write|typer\.echo|\bprint\(|Console\(")
    allowed = {
        "render.py",  # the renderer
        "display.py",  # its batch view: the live board and plain lines of `grokvid batch`
        "main.py",  # `--version` answers before anything else is imported
        "completions.py",  # the generator run at build time (`python -m grokvid.cli.completions`)
    }
    offenders = [
        f"{path.relative_to(cli)}:{n}"
        for path in sorted(cli.rglob("*.py"))
        if path.name not in allowed
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if writes.search(line) and "logging" not in line and "self.format(record)" not in line
    ]
    assert offenders == []
