"""Real processes: the README's command, a kill mid-wait, Ctrl-C mid-wait. Nothing paid is lost."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
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


class HoldingService:
    """A loopback service that reads a request and never answers it: the submit window, held
    open so a signal can land exactly between the POST leaving and its answer arriving."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.got_post = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"POST "):
                self.got_post.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def holding() -> Iterator[HoldingService]:
    service = HoldingService()
    yield service
    service.close()


def ledger_state(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    listed = subprocess.run(
        [sys.executable, "-m", "grokvid", "status", "--json", "--no-refresh"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    return row  # type: ignore[no-any-return]


def start_held_submit(
    holding: HoldingService, tmp_path: Path
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`grokvid generate` whose POST has reached the service and whose answer is held back."""
    env = user_env(tmp_path / "home", GROKVID_BASE_URL=holding.base_url, XAI_API_KEY="xai-k")
    proc = grokvid("generate", "-d", "1", FOX, env=env, cwd=tmp_path)
    assert holding.got_post.wait(20), "the POST never arrived"
    return proc, env


def test_killed_during_the_submit_leaves_an_unknown_outcome_not_never_submitted(
    tmp_path: Path, holding: HoldingService
) -> None:
    proc, env = start_held_submit(holding, tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    row = ledger_state(env, tmp_path)
    assert row["state"] == "submitting", "the row said the POST may be on its way before it left"
    later = subprocess.run(
        [sys.executable, "-m", "grokvid", "download", row["id"]],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert later.returncode == 5, later.stderr
    assert "never submitted" not in later.stderr
    assert "may have created (and will bill) it" in later.stderr
    assert "console.x.ai" in later.stderr


def test_sigterm_during_the_submit_is_handled_like_ctrl_c(
    tmp_path: Path, holding: HoldingService
) -> None:
    proc, env = start_held_submit(holding, tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    assert "grokvid: interrupted:" in stderr and "was cut off" in stderr
    assert "Traceback" not in stderr
    assert ledger_state(env, tmp_path)["state"] == "submit-unknown"


def test_sigterm_mid_wait_prints_the_resume_command(tmp_path: Path, server: SandboxServer) -> None:
    proc, local_id, _ = start_generate(server, tmp_path, f"{FOX} [sandbox:render=30]")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert f"grokvid download {local_id} --wait" in stderr


def test_a_second_ctrl_c_still_exits_130(tmp_path: Path, server: SandboxServer) -> None:
    proc, _, _ = start_generate(server, tmp_path, f"{FOX} [sandbox:render=30]")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
