"""Start-up cost, checked by what gets imported (never by a timing: see benchmarks/).

Each case runs the real entry point in a fresh interpreter and lists the heavy modules that
ended up in sys.modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import grokvid

pytestmark = pytest.mark.slow  # each case starts an interpreter

HEAVY = ("typer", "rich", "click", "httpx", "pydantic", "sqlite3", "asyncio", "tomlkit", "av")

PROBE = """\
import json, sys
args, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = ["grokvid", *args]
from grokvid.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = [m for m in watched if m in sys.modules]
sys.stderr.write("\\nLOADED " + json.dumps({"code": code, "heavy": heavy}) + "\\n")
"""


def loaded(args: list[str], home: Path) -> tuple[int, set[str], str]:
    env = {**os.environ, "GROKVID_HOME": str(home), "COLUMNS": "100"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    report = json.loads(result.stderr.rpartition("\nLOADED ")[2])
    return report["code"], set(report["heavy"]), result.stdout


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_imports_no_framework_at_all(flag: str, grokvid_env: Path) -> None:
    code, heavy, stdout = loaded([flag], grokvid_env)
    assert (code, stdout) == (0, f"grokvid {grokvid.__version__}\n")
    assert heavy == set()


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["status", "--help"],
        ["download", "--help"],
        ["config", "--help"],
        ["config", "set", "--help"],
        ["completions", "--help"],
        ["sandbox", "serve", "--help"],
    ],
    ids=" ".join,
)
def test_help_loads_only_typer(args: list[str], grokvid_env: Path) -> None:
    code, heavy, stdout = loaded(args, grokvid_env)
    assert code == 0 and stdout.startswith("Usage: grokvid")
    assert heavy <= {"typer", "click"}, heavy - {"typer", "click"}


def test_generate_help_loads_only_typer(grokvid_env: Path) -> None:
    """generate.py is imported for every command; its top-level imports decide this."""
    code, heavy, stdout = loaded(["generate", "--help"], grokvid_env)
    assert code == 0 and "--duration SECONDS" in stdout
    assert heavy <= {"typer", "click"}, heavy - {"typer", "click"}


def test_status_on_a_fresh_install_reads_no_settings(grokvid_env: Path) -> None:
    code, heavy, _ = loaded(["status"], grokvid_env)
    assert code == 0
    assert heavy <= {"typer", "click"}, heavy - {"typer", "click"}


def test_status_on_an_empty_ledger_needs_only_sqlite(grokvid_env: Path) -> None:
    from grokvid.api.ledger import Ledger

    Ledger()  # creates the file and its schema, with no jobs in it
    code, heavy, _ = loaded(["status", "--state", "failed"], grokvid_env)
    assert code == 0
    assert heavy <= {"typer", "click", "sqlite3"}, heavy - {"typer", "click", "sqlite3"}
