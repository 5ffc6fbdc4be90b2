"""Measure the sandbox server: poll throughput while clips render, and memory under big bodies.

    .venv/bin/python benchmarks/bench_sandbox.py            # about a minute
    .venv/bin/python benchmarks/bench_sandbox.py --seconds 2

Each sandbox runs in its own process (so this script's client never shares its GIL), with a
fresh clip cache so every clip really encodes. One client polls a pending job over one
keep-alive connection as fast as it can: with nothing rendering (idle: the mean of a window
before and one after the renders), and right after four uncached 15 s 1080p clips were
submitted. It is run twice: rendering in worker processes
(the default) and in threads (what 0.1 did). The table says whether the renders were still
going when the window closed, so a fast machine cannot pass by finishing them early.

The memory row sends 30 concurrent 30 MiB submits (a data: URI image each) and reads the
server's peak RSS (VmHWM) before and after. Linux only for that row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

KEY = {"Authorization": "Bearer bench"}
SUBMIT = "/v1/videos/generations"
RATIO_TARGET = 0.9
SERVER = """
import dataclasses, sys
from pathlib import Path
from grokvid.sandbox import SandboxConfig, SandboxServer
options = {"render_seconds": 0, "clip_cache_dir": Path(sys.argv[1])}
if any(f.name == "render_processes" for f in dataclasses.fields(SandboxConfig)):
    options["render_processes"] = sys.argv[2] == "processes"
config = SandboxConfig(**options)
with SandboxServer(config) as server:
    print(server.port, flush=True)
    sys.stdin.read()
"""


@contextmanager
def sandbox(mode: str, cache: Path, python: str = sys.executable) -> Iterator[tuple[str, int]]:
    """A sandbox in its own process; `python` picks the grokvid version that serves."""
    proc = subprocess.Popen(
        [python, "-c", SERVER, str(cache), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def poll_rate(client: httpx.Client, request_id: str, seconds: float) -> float:
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        response = client.get(f"/v1/videos/{request_id}")
        # 0.2 answers a pending job 202, as the service does; 0.1's sandbox answered 200.
        pending = response.status_code == 202 or (
            response.status_code == 200 and response.json().get("status") == "pending"
        )
        if not pending:
            raise RuntimeError(f"expected a pending job, got {response.status_code}")
        count += 1
    return count / seconds


def polls_while_rendering(
    mode: str, seconds: float, python: str = sys.executable
) -> dict[str, object]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp,
        sandbox(mode, Path(tmp), python) as (
            url,
            _,
        ),
        httpx.Client(base_url=url, headers=KEY) as client,
    ):
        parked = client.post(
            SUBMIT,
            json={"prompt": "parked", "duration": 1},
            headers={"X-Sandbox-Fault": "moderate,render=3600"},
        ).json()["request_id"]
        poll_rate(client, parked, 0.5)  # warm up the connection and the server's code paths
        idle = poll_rate(client, parked, seconds)
        ids = []
        for index in range(4):
            body = {
                "prompt": f"bench clip {index} {uuid.uuid4()}",  # never in any cache
                "duration": 15,
                "resolution": "1080p",
                "model": "grok-imagine-video-1.5",
            }
            ids.append(client.post(SUBMIT, json=body).json()["request_id"])
        busy = poll_rate(client, parked, seconds)
        still = sum(1 for state in states(client, ids) if state == "pending")
        deadline = time.monotonic() + 300
        while "pending" in states(client, ids) and time.monotonic() < deadline:
            time.sleep(0.2)
        # Idle again once the renders are over: a shared machine's load drifts, and the mean
        # of the windows either side is fairer than the one before.
        after = poll_rate(client, parked, seconds)
    return {
        "mode": mode,
        "idle": (idle + after) / 2,
        "before": idle,
        "after": after,
        "busy": busy,
        "still_rendering": still,
    }


def states(client: httpx.Client, ids: list[str]) -> list[str]:
    jobs = {j["request_id"]: j for j in client.get("/_sandbox/jobs").json()["jobs"]}
    return [str(jobs[i]["state"]) for i in ids]


def vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def big_bodies(count: int = 30, mib: int = 30) -> dict[str, object]:
    payload = b"A" * (mib * 1024 * 1024 - 200)
    body = (
        b'{"prompt": "big", "duration": 1, "image": {"url": "data:image/png;base64,'
        + payload
        + b'"}}'
    )
    headers = {**KEY, "Content-Type": "application/json", "X-Sandbox-Fault": "moderate"}
    with (
        tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp,
        sandbox("processes", Path(tmp)) as (url, pid),
    ):
        before = vm_hwm_kib(pid)
        barrier = threading.Barrier(count)

        def send(_: int) -> int:
            barrier.wait()
            with httpx.Client(timeout=120) as c:
                return c.post(url + SUBMIT, content=body, headers=headers).status_code

        with ThreadPoolExecutor(max_workers=count) as pool:
            statuses = list(pool.map(send, range(count)))
        after = vm_hwm_kib(pid)
    return {"before": before, "after": after, "statuses": statuses}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each poll window")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the 30 x 30 MiB row")
    parser.add_argument(
        "--modes", default="processes,threads", help="render modes to compare (comma-separated)"
    )
    parser.add_argument(
        "--baseline", metavar="PYTHON", help="also measure the sandbox of an older version"
    )
    args = parser.parse_args()
    if args.baseline and not os.access(args.baseline, os.X_OK):
        parser.error(f"--baseline {args.baseline}: not an executable Python interpreter")
    runs = [(mode, mode, sys.executable) for mode in args.modes.split(",")]
    if args.baseline:
        version = subprocess.run(
            [args.baseline, "-c", "import grokvid; print(grokvid.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        runs.insert(0, (f"{version}'s own sandbox", "threads", args.baseline))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.seconds:g} s windows, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print()
    print(
        "| render mode | idle polls/s (before, after) | polls/s, 4 clips rendering | ratio "
        "| target | renders still going |"
    )
    print("|---|---|---|---|---|---|")
    for label, mode, python in runs:
        row = polls_while_rendering(mode, args.seconds, python)
        idle, busy = float(row["idle"]), float(row["busy"])  # type: ignore[arg-type]
        ratio = busy / idle
        verdict = "ok" if ratio >= RATIO_TARGET else "MISSED"
        print(
            f"| {label} | {idle:.0f} ({row['before']:.0f}, {row['after']:.0f}) | {busy:.0f} "
            f"| {ratio:.2f}x | >= {RATIO_TARGET}x ({verdict}) "
            f"| {row['still_rendering']} of 4 |"
        )
    if not args.skip_memory:
        mem = big_bodies()
        statuses = mem["statuses"]
        assert isinstance(statuses, list)
        counts = {s: statuses.count(s) for s in sorted(set(statuses))}
        before, after = mem["before"], mem["after"]
        peak = "n/a" if not isinstance(after, int) else f"{after / 1024:.0f} MiB"
        start = "n/a" if not isinstance(before, int) else f"{before / 1024:.0f} MiB"
        print()
        print("| 30 concurrent 30 MiB submits | server peak RSS before | after | answers |")
        print("|---|---|---|---|")
        print(f"| budget 96 MiB in flight | {start} | {peak} | {json.dumps(counts)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
