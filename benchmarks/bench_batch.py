"""`grokvid batch` against the sandbox, end to end in real processes; prints a table.

    .venv/bin/python benchmarks/bench_batch.py             # about two minutes on 2 cores
    .venv/bin/python benchmarks/bench_batch.py --clips 40 --big 300   # a quicker look

Not a test: one run's numbers on this machine. The sandbox (render 2 s, 1-second clips) runs in
this process on loopback; each `grokvid batch` is a fresh process with its own GROKVID_HOME, and
the POST count and times come from the sandbox's own request log.

Rows: a batch at --rate 10 --concurrency 16, wall against the ideal (the larger of clips/rate
and ceil(clips/16) x render, plus one download); the same with the sandbox limited to 5
submits/s (429s with Retry-After); a rerun of the finished batch (every clip reused); a
1,000-item --dry-run; and the peak RSS of a 1,000-clip run (renders 0.2 s, --rate 100).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grokvid.sandbox import SandboxConfig, SandboxServer

SUBMIT = "/v1/videos/generations"
RSS_PROBE = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
)


def run(
    args: list[str], home: Path, server: SandboxServer, cwd: Path, *, rss: bool = False
) -> tuple[float, int, int | None]:
    """(wall seconds, exit code, peak RSS in KiB when asked) of one `grokvid batch`."""
    env = {k: v for k, v in os.environ.items() if "GROKVID" not in k and k != "XAI_API_KEY"}
    env.update(GROKVID_HOME=str(home), GROKVID_BASE_URL=server.base_url, XAI_API_KEY="xai-b")
    command = [sys.executable, "-m", "grokvid", "batch", *args, "-q"]
    if rss:
        command = [sys.executable, "-c", RSS_PROBE, *command]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if not rss:
        return wall, done.returncode, None
    kib, code = done.stdout.split()[-2:]
    return wall, int(code), int(kib)


def posts(server: SandboxServer) -> list[float]:
    return [e.time for e in server.app.request_log if e.method == "POST" and e.path == SUBMIT]


def write_shots(folder: Path, n: int, tag: str) -> Path:
    path = folder / f"{tag}.txt"
    path.write_text("".join(f"{tag} shot {i}\n" for i in range(n)), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--big", type=int, default=1000, help="items for dry run and RSS rows")
    opts = parser.parse_args()
    n, render, rate, conc = opts.clips, 2.0, 10.0, 16
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cache = work / "clip-cache"
        base = ["-d", "1", "--rate", str(rate), "-j", str(conc)]

        config = SandboxConfig(render_seconds=render, clip_cache_dir=cache)
        with SandboxServer(config, port=0) as server:
            write_shots(work, n, "a")
            wall, code, _ = run(["a.txt", *base, "--output-dir", "a"], work / "h1", server, work)
            stamps = posts(server)
            download = 0.1
            ideal = max(n / rate, math.ceil(n / conc) * render) + download
            rows.append(
                (
                    f"{n} clips, --rate {rate:g} -j {conc}, render {render:g} s",
                    f"wall {wall:.1f} s, ideal {ideal:.1f} s: {wall / ideal:.2f}x",
                    f"exit {code}, {len(stamps)} POSTs",
                )
            )
            wall, code, _ = run(["a.txt", *base, "--output-dir", "a"], work / "h1", server, work)
            rows.append(
                (
                    f"rerun of the finished {n}-clip batch",
                    f"wall {wall:.2f} s",
                    f"exit {code}, {len(posts(server)) - len(stamps)} new POSTs",
                )
            )

        limited = SandboxConfig(render_seconds=render, clip_cache_dir=cache, rate_limit=5)
        with SandboxServer(limited, port=0) as server:
            write_shots(work, n, "b")
            wall, code, _ = run(["b.txt", *base, "--output-dir", "b"], work / "h2", server, work)
            log = [e for e in server.app.request_log if e.method == "POST"]
            accepted = sorted(e.time for e in log if e.status == 200)
            refused = sum(1 for e in log if e.status == 429)
            span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
            achieved = (len(accepted) - 1) / span if span else 0.0
            saved = len(list((work / "b").glob("*.mp4")))
            rows.append(
                (
                    f"the same, sandbox limited to 5/s ({refused} answered 429)",
                    f"achieved {achieved:.2f}/s ({achieved / 5:.2f} of 5/s), wall {wall:.1f} s",
                    f"exit {code}, {saved} saved, {len(accepted)} accepted POSTs for {n} clips",
                )
            )

        fast = SandboxConfig(render_seconds=0.2, clip_cache_dir=cache)
        with SandboxServer(fast, port=0) as server:
            write_shots(work, opts.big, "c")
            wall, code, _ = run(["c.txt", "--dry-run", "-d", "1"], work / "h3", server, work)
            rows.append((f"{opts.big}-item --dry-run", f"wall {wall:.2f} s", f"exit {code}"))
            wall, code, kib = run(
                ["c.txt", "-d", "1", "--rate", "100", "-j", "64", "--output-dir", "c"],
                work / "h3",
                server,
                work,
                rss=True,
            )
            rows.append(
                (
                    f"{opts.big}-clip run, --rate 100 -j 64, render 0.2 s",
                    f"peak RSS {(kib or 0) / 1024:.0f} MB, wall {wall:.1f} s",
                    f"exit {code}, {len(posts(server))} POSTs",
                )
            )
    width = max(len(r[0]) for r in rows)
    middle = max(len(r[1]) for r in rows)
    print(f"{'case':<{width}}  {'measured':<{middle}}  notes")
    for case, measured, notes in rows:
        print(f"{case:<{width}}  {measured:<{middle}}  {notes}")


if __name__ == "__main__":
    main()
