"""Measure the ledger's write path and the clip download against `curl -o`; print tables.

    .venv/bin/python benchmarks/bench_io.py            # about 30 s
    .venv/bin/python benchmarks/bench_io.py --mib 32   # a smaller clip, quicker

Not a test: one run's numbers on whatever machine runs it, compared with a target.

Ledger: 741 updates spread over 100 jobs, as a batch's polls and saves would write them, once
with the connection kept open (0.2) and once reopened before every call (what 0.1 did: one
connection per call). Download: a clip padded to the given size, served by a small HTTP server
in its own process (os.sendfile, so the server is never the bottleneck), fetched by
`download_clip` in this process and by `curl -s -o`; best of 3 each, after a warm-up pass.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.server
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from grokvid import __version__
from grokvid.api.download import download_clip
from grokvid.api.ledger import Ledger

MiB = 1024 * 1024
UPDATES, JOBS = 741, 100
THROUGHPUT_RATIO_TARGET = 0.7
FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


# -- the ledger -----------------------------------------------------------------------------


def bench_ledger(folder: Path, reopen: bool) -> tuple[float, float]:
    """Total and slowest single update over UPDATES updates of JOBS jobs, in seconds.

    With `reopen`, the connection is closed before every call, as every 0.1 call did. A ledger
    with no close() (0.1's own) connects afresh on every call anyway.
    """
    ledger = Ledger(folder / f"ledger-{'reopen' if reopen else 'kept'}.sqlite3")
    close = getattr(ledger, "close", lambda: None)
    ids = [
        ledger.create(
            provider="sandbox",
            base_url="http://127.0.0.1:1",
            model="grok-imagine-video",
            prompt=f"job {i}",
            params={"duration": 8},
        ).local_id
        for i in range(JOBS)
    ]
    rng = random.Random(7)
    slowest = 0.0
    start = time.perf_counter()
    for n in range(UPDATES):
        if reopen:
            close()
        t0 = time.perf_counter()
        ledger.update(ids[rng.randrange(JOBS)], progress=n % 100)
        slowest = max(slowest, time.perf_counter() - t0)
    total = time.perf_counter() - start
    close()
    return total, slowest


# -- the download ---------------------------------------------------------------------------


def serve(path: str) -> None:
    """A one-file HTTP/1.1 server with Range support, sending with os.sendfile."""
    size = os.path.getsize(path)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's spelling)
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if match:
                start = int(match[1])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(size - start))
            self.end_headers()
            self.wfile.flush()
            with open(path, "rb") as fh:
                offset = start
                while offset < size:
                    sent = os.sendfile(self.connection.fileno(), fh.fileno(), offset, size - offset)
                    if sent == 0:
                        break
                    offset += sent

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_port, flush=True)
    server.serve_forever()


def make_clip(path: Path, size: int) -> str:
    block = FTYP + os.urandom(MiB - len(FTYP))
    hasher = hashlib.sha256()
    with open(path, "wb") as fh:
        for i in range(size // MiB):
            chunk = block if i == 0 else block[i % 997 :] + block[: i % 997]
            fh.write(chunk)
            hasher.update(chunk)
    return hasher.hexdigest()


def time_download(url: str, dest: Path, digest: str) -> float:
    t0 = time.perf_counter()
    result = asyncio.run(download_clip(url, dest, force=True))
    elapsed = time.perf_counter() - t0
    if result.sha256 != digest:
        raise SystemExit(f"download_clip returned sha256 {result.sha256}, expected {digest}")
    return elapsed


def time_curl(curl: str, url: str, dest: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([curl, "-s", "-o", str(dest), url], check=True)
    return time.perf_counter() - t0


def time_curl_like_for_like(curl: str, url: str, dest: Path) -> float:
    """curl, then what download_clip also does: hash the file, fsync it, rename it."""
    part = dest.with_name(dest.name + ".part")
    t0 = time.perf_counter()
    subprocess.run([curl, "-s", "-o", str(part), url], check=True)
    subprocess.run(["sha256sum", str(part)], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["sync", str(part)], check=True)
    os.replace(part, dest)
    return time.perf_counter() - t0


def download_memory(url: str, dest: Path) -> int:
    """Peak Python allocation during one download (tracemalloc), in bytes."""
    tracemalloc.start()
    try:
        asyncio.run(download_clip(url, dest, force=True))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=128, help="clip size in MiB (default 128)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)

    with tempfile.TemporaryDirectory(prefix="grokvid-bench-io-") as tmp:
        folder = Path(tmp)
        print(
            f"grokvid {__version__}, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}"
        )
        print("\n## Ledger: 741 updates over 100 jobs\n")
        print("| connection | total (ms) | per update (ms) | slowest call (ms) |")
        print("|---|---|---|---|")
        cases = [("reopened per call (as 0.1)", True), ("one per process (0.2)", False)]
        if not hasattr(Ledger, "close"):  # 0.1's own ledger: a connection per call, always
            cases = [(f"{__version__}'s own: a connection per call", False)]
        for label, reopen in cases:
            total, slowest = bench_ledger(folder, reopen)
            print(
                f"| {label} | {total * 1000:.0f} | {total * 1000 / UPDATES:.2f} "
                f"| {slowest * 1000:.1f} |"
            )

        size = args.mib * MiB
        clip = folder / "clip.mp4"
        digest = make_clip(clip, size)
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve-file", str(clip)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            url = f"http://127.0.0.1:{port}/clip.mp4"
            _wait_for(port)
            curl = shutil.which("curl")
            dest = folder / "out" / "clip.mp4"
            dest.parent.mkdir()
            ours: list[float] = []
            theirs: list[float] = []
            alike: list[float] = []
            time_download(url, dest, digest)  # warm-up: page cache, first connection
            for _ in range(args.rounds):
                ours.append(time_download(url, dest, digest))
                if curl:
                    theirs.append(time_curl(curl, url, folder / "out" / "curl.mp4"))
                    alike.append(time_curl_like_for_like(curl, url, folder / "out" / "c2.mp4"))
            peak = download_memory(url, dest)
        finally:
            server.terminate()
            server.wait(10)

        print(f"\n## Download of a {args.mib} MiB clip over loopback (best of {args.rounds})\n")
        print("| client | time (s) | MiB/s |")
        print("|---|---|---|")
        best = min(ours)
        print(f"| download_clip (hash, fsync, rename) | {best:.3f} | {args.mib / best:.0f} |")
        if theirs:
            print(f"| curl -s -o | {min(theirs):.3f} | {args.mib / min(theirs):.0f} |")
            print(
                f"| curl -s -o, sha256sum, sync FILE, mv | {min(alike):.3f} "
                f"| {args.mib / min(alike):.0f} |"
            )
            ratio = min(theirs) / best
            verdict = "met" if ratio >= THROUGHPUT_RATIO_TARGET else "missed"
            print(
                f"\nThroughput ratio download_clip / curl -o: {ratio:.2f}x "
                f"(target >= {THROUGHPUT_RATIO_TARGET}x: {verdict}); "
                f"against the like-for-like row: {min(alike) / best:.2f}x"
            )
        else:
            print("\ncurl is not installed: no ratio (apt-get install -y curl)")
        print(f"Peak Python allocation during one download: {peak / MiB:.1f} MiB")
    return 0


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the bench server on port {port} did not start")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-file":
        serve(sys.argv[2])
    else:
        sys.exit(main())
