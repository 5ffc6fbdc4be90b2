"""Faults a paid job must survive: a ledger that stops taking writes after the POST, a full
disk, racing downloads, a crash between the rename and the ledger, a service that forgot the
job, time limits against slow hosts and long Retry-After, planted links. Nothing paid is lost
and nothing is paid twice."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from grokvid.cli.main import app
from grokvid.sandbox import SandboxConfig, SandboxServer

FOX = "a red fox trotting through fresh snow"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def posts(server: SandboxServer) -> int:
    return sum(1 for entry in server.app.request_log if entry.method == "POST")


def clip_gets(server: SandboxServer) -> int:
    """Downloads of a clip from the sandbox's video host (not API polls)."""
    return sum(
        1
        for entry in server.app.request_log
        if entry.method == "GET" and not entry.path.startswith("/v1/")
    )


def errors_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("grokvid: error:")]


def row(local_id: str) -> dict[str, Any]:
    code, stdout, stderr = invoke("status", "--json", "--no-refresh", local_id)
    assert stdout, stderr
    return json.loads(stdout)  # type: ignore[no-any-return]


def submit(*args: str) -> str:
    code, stdout, stderr = invoke("generate", "--no-wait", "-d", "1", *args)
    assert code == 0, stderr
    return stdout.strip()


# --- the ledger stops taking writes after the POST ------------------------------------------


@pytest.fixture
def ledger_fills_up_after_the_post(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """From the write that records a request id on, the disk holding the ledger is full."""
    from grokvid.api.ledger import connection
    from grokvid.api.ledger.store import Ledger

    real_update = Ledger.update
    full = {"on": False}

    def update(self: Ledger, local_id: str, /, **fields: Any) -> Any:
        if "request_id" in fields:
            full["on"] = True
        if full["on"]:
            raise connection.unusable(
                self.path, sqlite3.OperationalError("database or disk is full")
            )
        return real_update(self, local_id, **fields)

    monkeypatch.setattr(Ledger, "update", update)
    yield
    monkeypatch.setattr(Ledger, "update", real_update)


def test_a_ledger_full_after_the_post_keeps_the_request_id_and_says_how_to_resume(
    env: Path, server: SandboxServer, ledger_fills_up_after_the_post: None
) -> None:
    code, stdout, stderr = invoke("generate", "-d", "1", FOX)
    assert code == 5, stderr
    assert "could not record request " in stderr, "the request id is on stderr at once"
    request_id = stderr.split("could not record request ")[1].split(";")[0]
    (line,) = errors_in(stderr)
    assert "is full" in line and "ledger" in line, "mid-render, the ledger's failure is named"
    local_id = line.split("grokvid download ")[1].split()[0]
    assert local_id.startswith("gv-") and f"grokvid download {local_id} --wait" in line
    assert request_id in line
    assert stdout == "" and posts(server) == 1


def test_the_journal_carries_the_request_id_to_the_next_command(
    env: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grokvid.api.ledger import connection
    from grokvid.api.ledger.store import Ledger

    real_update = Ledger.update

    def refuse_request_ids(self: Ledger, local_id: str, /, **fields: Any) -> Any:
        if "request_id" in fields:
            raise connection.unusable(self.path, sqlite3.OperationalError("disk I/O error"))
        return real_update(self, local_id, **fields)

    monkeypatch.setattr(Ledger, "update", refuse_request_ids)
    code, stdout, stderr = invoke("generate", "--no-wait", "-d", "1", FOX)
    assert code == 0, stderr
    local_id = stdout.strip()
    assert "journal" in stderr and "could not record request" in stderr
    monkeypatch.setattr(Ledger, "update", real_update)
    job = row(local_id)  # the next open replays the journal into the ledger
    assert job["state"] == "pending" and job["request_id"] and job["request_id"] in stderr
    assert not list(env.parent.glob("grokvid-home/*.journal"))
    code, stdout, stderr = invoke("download", local_id, "--wait")
    assert code == 0, stderr
    assert Path(stdout.strip()).is_file()
    assert posts(server) == 1, "recovered, never re-sent"


def test_ledger_and_journal_both_refusing_still_print_the_request_id(
    env: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grokvid.api.ledger import connection, journal
    from grokvid.api.ledger.store import Ledger

    real_update = Ledger.update

    def refuse_request_ids(self: Ledger, local_id: str, /, **fields: Any) -> Any:
        if "request_id" in fields:
            raise connection.unusable(self.path, sqlite3.OperationalError("disk is full"))
        return real_update(self, local_id, **fields)

    def no_room(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Ledger, "update", refuse_request_ids)
    monkeypatch.setattr(journal, "append", no_room)
    code, stdout, stderr = invoke("generate", "-d", "1", FOX)
    assert code == 5, stderr
    (line,) = errors_in(stderr)
    (logged,) = [e for e in server.app.request_log if e.method == "POST"]
    assert logged.status == 200
    assert "could not record it" in line and "--wait" in line
    request_id = line.split("accepted as request ")[1].split(",")[0]
    assert f"grokvid download {request_id} --wait" in line
    assert "nothing was sent" not in line.lower()
    assert posts(server) == 1


# --- a full disk ---------------------------------------------------------------------------


def test_a_full_disk_names_the_file_and_the_job_and_the_clip_lands_elsewhere(
    env: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grokvid.api.download import writer

    real_write = writer._write_all

    def enospc(fd: int, data: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer, "_write_all", enospc)
    full = env / "full"
    code, stdout, stderr = invoke("generate", "-d", "1", "--output-dir", str(full), FOX)
    assert code == 5, stderr
    (line,) = errors_in(stderr)
    local_id = line.split("grokvid download ")[1].split()[0]
    assert "No space left on device" in line and str(full) in line and ".mp4.part" in line
    assert f"grokvid download {local_id} --wait" in line
    assert row(local_id)["state"] == "done", "paid and rendered: the ledger keeps it"
    assert list(full.glob("*.part")), "what arrived is kept for a resume"

    monkeypatch.setattr(writer, "_write_all", real_write)
    roomy = env / "roomy"
    code, stdout, stderr = invoke("download", local_id, "--output-dir", str(roomy))
    assert code == 0, stderr
    saved = Path(stdout.strip())
    assert saved.parent == roomy and saved.read_bytes()[4:8] == b"ftyp"
    assert not list(full.glob("*.part*")), "the full folder's leftover is gone"
    assert posts(server) == 1


# --- a crash between the rename and the ledger ---------------------------------------------


def test_a_clip_renamed_before_a_crash_is_recognised_and_finished(
    env: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grokvid.api.download import files

    local_id = submit("-o", "fox.mp4", FOX)
    real_fsync_dir = files.fsync_dir

    def power_cut(directory: Path) -> None:
        raise RuntimeError("power cut")  # right after os.replace put the clip in place

    monkeypatch.setattr(files, "fsync_dir", power_cut)
    code, _, _ = invoke("download", local_id, "--wait")
    assert code != 0
    monkeypatch.setattr(files, "fsync_dir", real_fsync_dir)
    clip = env / "fox.mp4"
    assert clip.is_file() and not (env / "fox.json").exists()
    assert row(local_id)["state"] == "done"
    fetched = clip_gets(server)

    code, stdout, stderr = invoke("download", local_id, "--wait")
    assert code == 0, stderr
    assert "already exists" not in stderr
    assert Path(stdout.strip()) == clip
    assert clip_gets(server) == fetched, "recognised, not fetched again"
    job = row(local_id)
    assert job["state"] == "downloaded"
    assert job["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert (env / "fox.json").is_file()
    assert not (env / "fox.mp4.part.meta").exists()


def test_a_foreign_file_at_the_clip_name_is_still_refused(env: Path, server: SandboxServer) -> None:
    local_id = submit("-o", "fox.mp4", FOX)
    (env / "fox.mp4").write_bytes(b"somebody's own video")
    code, _, stderr = invoke("download", local_id, "--wait")
    assert code == 2 and "already exists" in stderr and "--force" in stderr
    assert (env / "fox.mp4").read_bytes() == b"somebody's own video"


# --- the service forgot the job ------------------------------------------------------------


def test_a_job_the_service_forgot_is_expired_and_named(env: Path, server: SandboxServer) -> None:
    code, stdout, stderr = invoke("generate", "-d", "1", f"{FOX} [sandbox:forget-job]")
    assert code == 6, stderr
    (line,) = errors_in(stderr)
    local_id = line.split("Job ")[1].split()[0]
    assert local_id.startswith("gv-") and "expired" in line
    assert row(local_id)["state"] == "expired"
    assert stdout == "" and posts(server) == 1


# --- time limits ---------------------------------------------------------------------------


def test_timeout_bounds_a_trickling_download(env: Path, server: SandboxServer) -> None:
    # ~100 KB at 2 KB/s would take most of a minute; the limit is 2 s for the whole command.
    code, stdout, stderr = invoke(
        "generate", "-d", "1", "--timeout", "2", f"{FOX} [sandbox:slow=2000]"
    )
    assert code == 5, stderr
    (line,) = errors_in(stderr)
    assert "time limit" in line and "--wait" in line
    assert not list(env.glob("*.mp4")) and stdout == ""


@pytest.fixture
def throttled(
    clip_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[SandboxServer]:
    """A sandbox whose first submit answers 429 with Retry-After: 30."""
    config = SandboxConfig(
        render_seconds=0.3, clip_cache_dir=clip_cache, faults=["submit:429-retry-after=30"]
    )
    with SandboxServer(config, port=0) as srv:
        monkeypatch.setenv("GROKVID_BASE_URL", srv.base_url)
        monkeypatch.setenv("XAI_API_KEY", "xai-test-key-0000")
        work = tmp_path / "work"
        work.mkdir()
        monkeypatch.chdir(work)
        yield srv


def test_a_retry_after_beyond_the_time_limit_gives_up_as_not_sent_everywhere(
    throttled: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from grokvid.api import runner

    waited: list[float] = []
    real_limiter_for = runner.limiter_for

    def counted(*args: Any, **kwargs: Any) -> Any:
        limiter = real_limiter_for(*args, **kwargs)

        async def sleep(seconds: float) -> None:
            waited.append(seconds)
            await asyncio.sleep(seconds)

        if limiter is not None:
            limiter._sleep = sleep
        return limiter

    monkeypatch.setattr(runner, "limiter_for", counted)
    code, stdout, stderr = invoke("generate", "--json", "-d", "1", "--timeout", "2", FOX)
    assert code == 5, stderr
    assert sum(waited) <= 2, "the shared rate's pause for Retry-After: 30 outlived --timeout 2"
    assert posts(throttled) == 1, "did not sit out the 30 s and send again"
    (view,) = [json.loads(line) for line in stdout.splitlines()]
    assert view["state"] == "not-sent"
    assert invoke("status", view["id"])[0] == 5
    code, _, stderr = invoke("download", view["id"])
    assert code == 5 and "never sent" in stderr


# --- planted links -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["fox.mp4", "fox.mp4.part", "fox.mp4.part.meta", "fox.mp4.part.lock"]
)
def test_a_link_planted_at_any_name_is_refused_and_its_target_untouched(
    env: Path, server: SandboxServer, name: str
) -> None:
    local_id = submit("-o", "fox.mp4", FOX)
    victim = env / "victim.txt"
    victim.write_text("somebody else's file")
    (env / name).symlink_to(victim)
    code, stdout, stderr = invoke("download", local_id, "--wait", "--force")
    assert code == 2, stderr
    (line,) = errors_in(stderr)
    assert f"{env / name} is a symbolic link" in line and "remove it" in line
    assert victim.read_text() == "somebody else's file" and stdout == ""
    (env / name).unlink()
    code, stdout, stderr = invoke("download", local_id, "--wait")
    assert code == 0, stderr
    assert Path(stdout.strip()) == env / "fox.mp4"


# --- racing downloads, in real processes ---------------------------------------------------


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "grokvid", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_download_racing_another_reports_the_others_clip(
    env: Path, server: SandboxServer
) -> None:
    local_id = submit("-o", "fox.mp4", f"{FOX} [sandbox:slow=60000]")
    user = dict(os.environ)
    first = _cli(["download", local_id, "--wait"], user, env)
    lock = env / "fox.mp4.part.lock"
    deadline = time.monotonic() + 30
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for a condition (the first has the .part), not for a race
    assert lock.exists(), "the first download never started"
    second = _cli(["download", local_id, "--wait"], user, env)
    out1, err1 = first.communicate(timeout=60)
    out2, err2 = second.communicate(timeout=60)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert out1 == out2 == f"{env / 'fox.mp4'}\n"
    assert clip_gets(server) == 1, "one download, reported twice"


# --- the ledger itself is broken -----------------------------------------------------------


def _ledger_path() -> Path:
    from grokvid.api import paths

    return paths.ledger_file()


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("junk", "not a readable SQLite database"),
        ("no-table", "has no jobs table"),
    ],
)
@pytest.mark.parametrize("command", [["status"], ["generate", "-d", "1", FOX]])
def test_an_unusable_ledger_is_one_line_and_exit_1_and_nothing_is_sent(
    env: Path, server: SandboxServer, damage: str, says: str, command: list[str]
) -> None:
    ledger = _ledger_path()
    ledger.parent.mkdir(parents=True, exist_ok=True)
    if damage == "junk":
        ledger.write_bytes(b"these are not the jobs you are looking for" * 100)
    else:
        with sqlite3.connect(ledger) as db:
            db.execute("CREATE TABLE other (x)")
            db.execute("PRAGMA user_version = 2")
    code, stdout, stderr = invoke(*command)
    assert code == 1, stderr
    (line,) = errors_in(stderr)
    assert str(ledger) in line and says in line
    assert "move" in line and "Traceback" not in stderr and "validation error" not in stderr
    assert stdout == "" and posts(server) == 0


def test_a_malformed_row_is_skipped_in_one_line_and_the_rest_are_listed(
    env: Path, server: SandboxServer
) -> None:
    good, bad = submit(FOX), submit("a heron lifting off a misty lake")
    from grokvid.api import paths

    with sqlite3.connect(paths.ledger_file()) as db:
        db.execute("UPDATE jobs SET params = '{not json' WHERE local_id = ?", (bad,))
    code, stdout, stderr = invoke("status", "--no-refresh")
    assert code == 0, stderr
    assert good in stdout and bad not in stdout
    (warning,) = stderr.splitlines()
    assert warning.startswith("grokvid: warning: Skipped job " + bad)
    assert f"grokvid status {bad}" in warning


# --- a key file others can read ------------------------------------------------------------


def test_a_readable_key_file_is_warned_about_by_generate_and_download(
    env: Path, server: SandboxServer, grokvid_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grokvid.api import paths

    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[xai]\napi_key = "xai-test-key-0000"\n')
    config.chmod(0o644)
    monkeypatch.delenv("XAI_API_KEY")
    code, stdout, stderr = invoke("generate", "--no-wait", "-d", "1", FOX)
    assert code == 0, stderr
    warning = f"warning: {config} holds an API key and is readable by others (mode 644)"
    assert warning in stderr and f"chmod 600 {config}" in stderr
    code, _, stderr = invoke("download", stdout.strip(), "--wait")
    assert code == 0, stderr
    assert warning in stderr
    config.chmod(0o600)
    assert "readable by others" not in invoke("download", stdout.strip())[2]


# --- --debug for one job's failure ---------------------------------------------------------


def test_print_job_error_adds_the_traceback_only_under_debug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from grokvid.api import errors
    from grokvid.cli import exits

    def failing() -> None:
        raise errors.JobFailed("Job gv-abcd1234 failed: boom", state="failed")

    try:
        failing()
    except errors.JobFailed as exc:
        caught = exc
    exits.begin_invocation()
    exits.print_job_error(caught)
    assert capsys.readouterr().err == "grokvid: error: Job gv-abcd1234 failed: boom\n"
    monkeypatch.setenv("GROKVID_DEBUG", "1")
    exits.begin_invocation()
    exits.print_job_error(caught)
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "in failing" in err
    assert err.endswith("grokvid: error: Job gv-abcd1234 failed: boom\n")
    monkeypatch.delenv("GROKVID_DEBUG")
    exits.begin_invocation()
