"""`grokvid batch` in real processes: kill -9 and rerun, Ctrl-C, two batches sharing one rate."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grokvid.sandbox import SandboxServer

pytestmark = pytest.mark.slow
SUBMIT = "/v1/videos/generations"


def user_env(home: Path, server: SandboxServer) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "XAI_API_KEY" and "GROKVID" not in k}
    env.update(GROKVID_HOME=str(home), GROKVID_BASE_URL=server.base_url, XAI_API_KEY="xai-k")
    return env


def batch(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "grokvid", "batch", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(proc: subprocess.Popen[str], text: str, times: int = 1) -> list[str]:
    assert proc.stderr is not None
    seen: list[str] = []
    end = time.monotonic() + 30
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if sum(text in s for s in seen) >= times:
            return seen
    raise AssertionError(f"never saw {text!r} {times}x: {''.join(seen)}")


def accepted_posts(server: SandboxServer) -> int:
    return sum(1 for e in server.app.request_log if e.method == "POST" and e.path == SUBMIT)


def request_ids_per_clip(home: Path) -> dict[str, int]:
    ledger = next(home.rglob("ledger*.sqlite3"))
    with sqlite3.connect(ledger) as db:
        rows = db.execute(
            "SELECT fingerprint, count(request_id) FROM jobs GROUP BY fingerprint"
        ).fetchall()
    return dict(rows)


def shots(cwd: Path, n: int, name: str = "shots.txt") -> Path:
    path = cwd / name
    path.write_text("".join(f"{name} shot {i}\n" for i in range(n)), encoding="utf-8")
    return path


def test_kill_9_mid_batch_then_rerun_sends_no_clip_twice(
    server: SandboxServer, tmp_path: Path
) -> None:
    env = user_env(tmp_path / "home", server)
    shots(tmp_path, 8)
    args = ("shots.txt", "-d", "1", "--rate", "8", "-j", "4", "--results", "r.jsonl")
    proc = batch(*args, env=env, cwd=tmp_path)
    wait_for(proc, "submitted", times=3)
    proc.kill()
    proc.wait()
    assert accepted_posts(server) < 8, "killed before the end"

    again = batch(*args, env=env, cwd=tmp_path)
    stdout, stderr = again.communicate(timeout=60)
    per_clip = request_ids_per_clip(tmp_path / "home")
    assert len(per_clip) == 8 and max(per_clip.values()) == 1, "one request id per clip"
    assert accepted_posts(server) <= 8, "no clip was POSTed twice"
    unknown = stderr.count("outcome is unknown")
    assert again.returncode == (5 if unknown else 0), stderr
    assert len(stdout.split()) == 8 - unknown
    for line in (tmp_path / "r.jsonl").read_text().splitlines():
        assert line.startswith("{") and line.endswith("}"), "a valid prefix, then more lines"


def test_ctrl_c_says_the_same_command_resumes_and_it_does(
    server: SandboxServer, tmp_path: Path
) -> None:
    env = user_env(tmp_path / "home", server)
    shots(tmp_path, 6)
    args = ("shots.txt", "-d", "1", "--rate", "6", "-j", "2")
    proc = batch(*args, env=env, cwd=tmp_path)
    wait_for(proc, "saved")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "resume with: grokvid batch shots.txt -d 1 --rate 6 -j 2" in stderr
    sent = accepted_posts(server)

    again = batch(*args, env=env, cwd=tmp_path)
    stdout, stderr = again.communicate(timeout=60)
    unknown = stderr.count("outcome is unknown")
    assert again.returncode == (5 if unknown else 0), stderr
    assert len(stdout.split()) == 6 - unknown
    assert max(request_ids_per_clip(tmp_path / "home").values()) == 1
    assert accepted_posts(server) <= 6 and accepted_posts(server) >= sent


def test_two_batches_share_one_rate(server: SandboxServer, tmp_path: Path) -> None:
    """Each asks for 4/s; together they stay within 4/s: the bucket holds one token, so n
    submits need at least (n - 1) / 4 seconds between the first and the last."""
    env = user_env(tmp_path / "home", server)
    shots(tmp_path, 5, "a.txt")
    shots(tmp_path, 5, "b.txt")
    procs = [batch(f, "-d", "1", "--rate", "4", env=env, cwd=tmp_path) for f in ("a.txt", "b.txt")]
    for proc in procs:
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
    times = sorted(e.time for e in server.app.request_log if e.method == "POST")
    assert len(times) == 10
    span = times[-1] - times[0]
    # 9 intervals at 4/s is 2.25 s; allow the bucket's clock and the log's a little slack
    assert span >= 9 / 4 * 0.9, f"10 submits in {span:.2f} s is faster than 4/s together"
