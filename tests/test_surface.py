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
    ["config"],
    ["config", "set"],
    ["config", "get"],
    ["config", "unset"],
    ["config", "list"],
    ["config", "path"],
    ["sandbox"],
    ["sandbox", "serve"],
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
        "import sys, grokvid.api.jobs, grokvid.api.xai, grokvid.api.config, grokvid.api.ledger, "
        "grokvid.api.download, grokvid.api.metadata, grokvid.sandbox.app;"
        "bad = sorted(m for m in ('typer', 'rich', 'click') if m in sys.modules);"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_help_and_version_stay_light() -> None:
    code = (
        "import sys; from grokvid.cli.main import app;"
        "heavy = ('httpx', 'pydantic', 'sqlite3', 'av', 'numpy', 'tomlkit');"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
