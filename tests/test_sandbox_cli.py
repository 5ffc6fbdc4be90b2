"""`grokvid sandbox serve` as a user runs it: a real process, real signals, one-line errors."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

KEY = {"Authorization": "Bearer sandbox"}
INSTALL_LINE = "grokvid: error: the sandbox needs its extra: pip install 'grokvid[sandbox]'\n"


class Serve:
    """A `grokvid sandbox serve` process whose stderr is read line by line in the background."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grokvid", "sandbox", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.proc.stderr is not None
        stderr = self.proc.stderr
        self.reader = threading.Thread(target=lambda: [self.lines.put(x) for x in stderr])
        self.reader.daemon = True
        self.reader.start()

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.seen:
                if match := re.search(pattern, line):
                    self.seen.remove(line)
                    return match
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line matching {pattern!r} in {self.seen}"
            try:
                self.seen.append(self.lines.get(timeout=remaining))
            except queue.Empty:
                pass

    def stop(self, signum: int = signal.SIGINT) -> tuple[int, str]:
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=20)
        self.reader.join(timeout=5)  # everything the process wrote is queued now
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return code, "".join(self.seen + rest)


@pytest.fixture
def serve(sandbox_clip_cache: Path) -> Iterator[Serve]:
    proc = Serve("--port", "0", "--render-seconds", "0.05", "--clip-cache", str(sandbox_clip_cache))
    yield proc
    if proc.proc.poll() is None:
        proc.proc.kill()
        proc.proc.wait()


def run(*args: str, **kw: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grokvid", "sandbox", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **kw},
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("grokvid: error: ") and result.stderr.count("\n") == 1
    for word in words:
        assert word in result.stderr


def test_serve_answers_logs_and_stops_cleanly_on_ctrl_c(serve: Serve) -> None:
    url = serve.wait_for(r"serving on (http://127\.0\.0\.1:\d+) \(any key works").group(1)
    serve.wait_for(rf"export GROKVID_BASE_URL={re.escape(url)} XAI_API_KEY=sandbox")
    with httpx.Client(base_url=url, headers=KEY) as client:
        response = client.post("/v1/videos/generations", json={"prompt": "fox", "duration": 1})
        request_id = response.json()["request_id"]
        deadline = time.monotonic() + 20
        while (data := client.get(f"/v1/videos/{request_id}").json())["status"] == "pending":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    clip = httpx.get(data["video"]["url"])
    assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"
    serve.wait_for(r"\d\d:\d\d:\d\d POST /v1/videos/generations 200 \d+ ms")
    serve.wait_for(rf"GET /cdn/xai-video-{request_id}\.mp4 200 \d+ ms")
    code, rest = serve.stop()
    assert code == 0
    assert "grokvid sandbox: stopped" in rest and "Traceback" not in rest
    assert serve.proc.stdout is not None and serve.proc.stdout.read() == ""


def test_sigterm_also_stops_cleanly(serve: Serve) -> None:
    serve.wait_for("serving on")
    code, rest = serve.stop(signal.SIGTERM)
    assert code == 0 and "Traceback" not in rest


def test_fault_options_are_announced_and_applied(sandbox_clip_cache: Path) -> None:
    proc = Serve("--port", "0", "--fault", "429", "--fault", "none", "--retry-after", "3")
    try:
        url = proc.wait_for(r"serving on (\S+) ").group(1)
        proc.wait_for(r"faults: scripted 429, none")
        first = httpx.get(f"{url}/v1/videos/x", headers=KEY)
        assert first.status_code == 429 and first.headers["retry-after"] == "3"
        assert httpx.get(f"{url}/v1/videos/x", headers=KEY).status_code == 404
        proc.wait_for(r"GET /v1/videos/x 429 \d+ ms  \(fault 429\)")
    finally:
        code, _ = proc.stop()
    assert code == 0


def test_refuses_a_non_loopback_host() -> None:
    assert_one_line_error(
        run("--host", "0.0.0.0"), "refusing to serve on 0.0.0.0", "--allow-remote"
    )


def test_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run("--port", port)
    assert_one_line_error(result, f"127.0.0.1:{port}", "address already in use", "--port 0")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--render-seconds", "fast"], ["'fast'", "range like 2-5"]),
        (["--render-seconds", "5-2"], ["backwards"]),
        (["--fault", "explode"], ["explode", "429-retry-after"]),
        (["--fault", "upload:500"], ["not a route"]),
        (["--rate-limit-chance", "1.5"], ["--rate-limit-chance must be a probability"]),
        (["--rate-limit", "fast"], ["--rate-limit 'fast'", "submits per second"]),
        (["--rate-limit", "0"], ["--rate-limit '0'", "above 0"]),
        (["--slow-download", "0"], ["--slow-download must be"]),
        (["--port", "70000"], ["70000"]),
        (["--job-ttl", "0"], ["--job-ttl must be more than 0"]),
    ],
)
def test_bad_options_get_one_line(args: list[str], words: list[str]) -> None:
    assert_one_line_error(run(*args), *words)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("av/__init__.py", "raise ImportError('a broken PyAV')\n"),  # installed but broken
        ("sitecustomize.py", "import sys\nsys.modules['av'] = None\n"),  # not installed
    ],
)
def test_missing_extra_is_one_line(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).parent.mkdir(exist_ok=True)
    (tmp_path / name).write_text(text)
    path = f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    result = run("--port", "0", PYTHONPATH=path)
    assert result.returncode == 2 and result.stderr == INSTALL_LINE


def test_help_loads_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from grokvid.cli.main import app\n"
        "try:\n"
        "    app(['sandbox', 'serve', '--help'], prog_name='grokvid')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('av', 'numpy', 'h11', 'grokvid.sandbox') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_rate_limit_flag_is_announced_and_enforced() -> None:
    proc = Serve("--port", "0", "--rate-limit", "1", "--render-seconds", "0")
    try:
        url = proc.wait_for(r"serving on (\S+) ").group(1)
        proc.wait_for(r"faults: at most 1 submits/s, then 429 with Retry-After")
        body = {"prompt": "fox [sandbox:moderate]", "duration": 1}
        with httpx.Client(base_url=url, headers=KEY) as client:
            first = client.post("/v1/videos/generations", json=body)
            second = client.post("/v1/videos/generations", json=body)
            jobs = client.get("/_sandbox/jobs").json()["jobs"]
        assert first.status_code == 200
        assert second.status_code == 429 and second.headers["retry-after"] == "1"
        assert "Requests per Minute (actual/limit): 2/60" in second.json()["error"]
        assert len(jobs) == 1
    finally:
        code, _ = proc.stop()
    assert code == 0


def test_rate_limit_from_the_environment_and_its_one_line_error() -> None:
    assert_one_line_error(
        run("--port", "0", GROKVID_SANDBOX_RATE_LIMIT="lots"),
        "GROKVID_SANDBOX_RATE_LIMIT='lots'",
        "unset GROKVID_SANDBOX_RATE_LIMIT",
    )


def test_localhost_is_resolved_and_served() -> None:
    proc = Serve("--port", "0", "--host", "localhost")
    try:
        url = proc.wait_for(r"serving on (http://localhost:\d+) ").group(1)
        assert httpx.get(url + "/_sandbox/health").status_code == 200
    finally:
        code, _ = proc.stop()
    assert code == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prlimit and /proc are Linux's")
def test_running_out_of_file_descriptors_logs_one_line_and_recovers() -> None:
    import resource

    proc = Serve("--port", "0", "--quiet")
    clients: list[socket.socket] = []
    try:
        url = proc.wait_for(r"serving on (\S+) ").group(1)
        port = int(url.rsplit(":", 1)[1])
        open_fds = len(os.listdir(f"/proc/{proc.proc.pid}/fd"))
        hard = resource.prlimit(proc.proc.pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(proc.proc.pid, resource.RLIMIT_NOFILE, (open_fds + 2, hard))
        for _ in range(12):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        proc.wait_for(r"cannot accept connections: Too many open files; waiting")
        for sock in clients:
            sock.close()
        clients.clear()
        resource.prlimit(proc.proc.pid, resource.RLIMIT_NOFILE, (open_fds + 50, hard))
        deadline = time.monotonic() + 10
        while True:  # the back-off is at most 1 s, so the server is back well within this
            try:
                if httpx.get(url + "/_sandbox/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not recover"
        code, rest = proc.stop()
    finally:
        for sock in clients:
            sock.close()
        if proc.proc.poll() is None:
            proc.proc.kill()
    assert code == 0
    assert "Too many open files" not in rest and "Traceback" not in rest  # said once only
