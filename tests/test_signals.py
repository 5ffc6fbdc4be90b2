"""Real processes: the README's command, a kill mid-wait, Ctrl-C mid-wait. Nothing paid is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from grokvid.sandbox import SandboxServer

pytestmark = pytest.mark.slow
FOX = "a red fox trotting through fresh snow"


def grokvid(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "grokvid", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def user_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k != "XAI_API_KEY" and not k.startswith("GROKVID")
    }
    env.update(GROKVID_HOME=str(home), **extra)
    return env


def wait_for_line(proc: subprocess.Popen[str], text: str, deadline: float = 20) -> str:
    """Read stderr lines until one contains `text` (the job is then in the ledger)."""
    assert proc.stderr is not None
    end = time.monotonic() + deadline
    seen = []
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"never saw {text!r} in stderr: {''.join(seen)}")


def test_readme_main_command_in_a_fresh_process(tmp_path: Path) -> None:
    env = user_env(tmp_path / "home", GROKVID_SANDBOX_RENDER_SECONDS="0.5")
    proc = grokvid("generate", "--sandbox", "-d", "2", FOX, env=env, cwd=tmp_path)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    clip = Path(stdout.strip())
    assert clip.is_file() and clip.with_suffix(".json").is_file()
    assert "\x1b[" not in stderr


def start_generate(
    server: SandboxServer, tmp_path: Path, prompt: str
) -> tuple[Any, str, dict[str, str]]:
    """`grokvid generate` in a real process, once its job is submitted: (process, id, env)."""
    env = user_env(tmp_path / "home", GROKVID_BASE_URL=server.base_url, XAI_API_KEY="xai-k")
    proc = grokvid("generate", "-d", "1", prompt, env=env, cwd=tmp_path)
    line = wait_for_line(proc, "submitted")
    return proc, line.split("grokvid: ")[1].split()[0], env


def test_killed_mid_wait_then_recovered_with_download(
    tmp_path: Path, server: SandboxServer
) -> None:
    proc, local_id, env = start_generate(server, tmp_path, f"{FOX} [sandbox:render=3]")
    proc.kill()
    proc.wait(timeout=10)
    assert not list(tmp_path.glob("*.mp4"))
    status = subprocess.run(
        [sys.executable, "-m", "grokvid", "status", "--json", "--no-refresh", local_id],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(status.stdout)["state"] == "pending"
    done = subprocess.run(
        [sys.executable, "-m", "grokvid", "download", local_id, "--wait"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_file()


def test_ctrl_c_mid_wait_exits_130_with_the_resume_command(
    tmp_path: Path, server: SandboxServer
) -> None:
    proc, local_id, _ = start_generate(server, tmp_path, f"{FOX} [sandbox:render=30]")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert f"grokvid download {local_id} --wait" in stderr
    assert "Traceback" not in stderr
