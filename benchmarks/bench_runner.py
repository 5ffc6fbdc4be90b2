"""Many jobs in one process, CPU per `generate`, and polls of a stalled job: 0.1 beside 0.2.

    .venv/bin/python benchmarks/bench_runner.py --baseline ../v01/.venv/bin/python
    .venv/bin/python benchmarks/bench_runner.py              # this version alone
    .venv/bin/python benchmarks/bench_runner.py --quick      # fewer rounds, 30 jobs

Not a test: one run's numbers, compared with the targets of the 0.2 issue. Every version is
measured in the same run against the same sandbox (this interpreter's, in this process, rendering
in worker processes), interleaved round by round and in alternating order, so the machine's load
hits them alike; the table gives medians and the ratio between versions from this run.

- Many jobs: `runner_worker.py`, run by each version's interpreter, sends JOBS jobs of the same
  prompt (2 s render, a cached clip) through the library in one process. The ideal is one render
  plus one download of the clip in that process.
- CPU per `generate`: user + system seconds of a `python -m grokvid generate` child (os.wait4's
  rusage), one clip with a 2 s render, and per clip of `-n 4`.
- Stalled job: a 1 s render of an uncached 15 s 1080p clip, which the sandbox takes seconds to
  encode; the job sits at 99 % meanwhile. Polls in that window, from the server's request log.

Bytecode is compiled first and PYTHONDONTWRITEBYTECODE is dropped for the children, as a wheel
install has it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grokvid.sandbox import SandboxConfig, SandboxServer

HERE = Path(__file__).resolve().parent
PROMPT = "a red fox trotting through fresh snow"
STALL_PROMPT = "a lighthouse beam sweeping over a night sea"
KEY = "bench"
RENDER = 2.0
BATCH_WALL_TARGET = 3.0  # s for 100 jobs
CPU_RATIO_TARGET = 0.5  # of 0.1's CPU per generate
STALL_RATE_TARGET = 1.0  # polls/s


@dataclass
class Version:
    python: str
    label: str = ""
    batch: list[dict[str, float]] = field(default_factory=list)
    generate_cpu: list[float] = field(default_factory=list)
    generate_wall: list[float] = field(default_factory=list)
    variants_cpu: list[float] = field(default_factory=list)
    stall: list[tuple[float, int, float]] = field(default_factory=list)  # gap, polls, window


@dataclass(frozen=True)
class Plan:
    jobs: int
    rounds: int
    generate_runs: int
    variant_runs: int
    stall_runs: int


FULL = Plan(jobs=100, rounds=3, generate_runs=5, variant_runs=2, stall_runs=2)
QUICK = Plan(jobs=30, rounds=1, generate_runs=2, variant_runs=1, stall_runs=1)


class Bench:
    def __init__(self, root: Path, server: SandboxServer, versions: list[Version]) -> None:
        self.root = root
        self.server = server
        self.versions = versions
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GROKVID_", "XAI_")) and k != "PYTHONDONTWRITEBYTECODE"
        } | {"GROKVID_BASE_URL": server.base_url, "XAI_API_KEY": KEY, "NO_COLOR": "1"}
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            self.env.pop(name, None)

    def home(self) -> dict[str, str]:
        """A fresh GROKVID_HOME (an empty ledger) for one child."""
        path = Path(tempfile.mkdtemp(prefix="home-", dir=self.root))
        return self.env | {"GROKVID_HOME": str(path)}

    def child(self, argv: Sequence[str], timeout: float = 300) -> str:
        """Run argv to completion; its stdout."""
        out = self.root / "child.out"
        with open(out, "wb") as fh:
            proc = subprocess.Popen(
                argv, env=self.home(), cwd=self.root, stdout=fh, stderr=subprocess.PIPE
            )
            try:
                _, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise RuntimeError(f"{' '.join(argv[:4])} … took over {timeout:g} s") from None
        if proc.returncode != 0:
            tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"{' '.join(argv[:4])} … exited {proc.returncode}: {tail}")
        return out.read_text()

    def timed_child(self, argv: Sequence[str], timeout: float = 300) -> tuple[float, float]:
        """Wall and user+system CPU seconds of one child, read from os.wait4's rusage."""
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=self.home(),
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        stderr = proc.stderr.read()  # until the child closes it, at exit
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stderr.close()
        if proc.returncode != 0:
            tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"{' '.join(argv[:5])} … exited {proc.returncode}: {tail}")
        return wall, usage.ru_utime + usage.ru_stime

    def generate(self, v: Version, *args: str) -> tuple[float, float]:
        return self.timed_child([v.python, "-m", "grokvid", "generate", "-q", *args])

    # -- the measurements ---------------------------------------------------------------------

    def prepare(self) -> None:
        for v in self.versions:
            code = "import grokvid as g, os; print(g.__version__, os.path.dirname(g.__file__))"
            out = subprocess.run(
                [v.python, "-c", code], env=self.env, capture_output=True, text=True, check=True
            ).stdout.split()
            v.label = v.label or out[0]
            subprocess.run([v.python, "-m", "compileall", "-q", out[1]], env=self.env, check=True)
        # Renders the clip every measured job reuses, and warms each version's disk caches.
        for v in self.versions:
            self.generate(v, "-d", "8", f"{PROMPT} [sandbox:render=0]")

    def batch(self, v: Version, jobs: int) -> None:
        out = Path(tempfile.mkdtemp(prefix="clips-", dir=self.root))
        worker = [v.python, str(HERE / "runner_worker.py"), self.server.base_url]
        text = self.child([*worker, str(jobs), f"{RENDER:g}", str(out)])
        result = json.loads(text.strip().splitlines()[-1])
        if result["saved"] != jobs:
            raise RuntimeError(f"{v.label}: {result['saved']} of {jobs} saved: {result['errors']}")
        v.batch.append(result)

    def generate_cpu(self, v: Version) -> None:
        wall, cpu = self.generate(v, "-d", "8", f"{PROMPT} [sandbox:render={RENDER:g}]")
        v.generate_wall.append(wall)
        v.generate_cpu.append(cpu)

    def variants_cpu(self, v: Version) -> None:
        _, cpu = self.generate(v, "-n", "4", "-d", "8", f"{PROMPT} [sandbox:render={RENDER:g}]")
        v.variants_cpu.append(cpu / 4)

    def stalled(self, v: Version) -> None:
        render = 1.0
        prompt = f"{STALL_PROMPT} take {uuid.uuid4().hex[:8]} [sandbox:render={render:g}]"
        before = {job.request_id for job in self.server.app.jobs()}
        extra = ("-m", "grok-imagine-video-1.5", "-r", "1080p", "-d", "15")
        self.generate(v, *extra, prompt)
        (job,) = [j for j in self.server.app.jobs() if j.request_id not in before]
        assert job.done_at is not None
        start = job.created_at + render
        path = f"/v1/videos/{job.request_id}"
        polls = [
            e.time
            for e in list(self.server.app.request_log)
            if e.method == "GET" and e.path == path and start <= e.time < job.done_at
        ]
        window = job.done_at - start
        if window >= 1.0 and len(polls) >= 2:
            gap = min(b - a for a, b in zip(polls, polls[1:], strict=False))
            v.stall.append((gap, len(polls), window))


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def table(plan: Plan, versions: list[Version]) -> str:
    base, new = (versions[0], versions[-1])
    two = len(versions) == 2
    head = "| metric | " + " | ".join(v.label for v in versions)
    head += (f" | {new.label} / {base.label}" if two else "") + " | target | verdict |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def row(
        metric: str, values: list[float], fmt: str, target: str = "—", ok: bool | None = None
    ) -> None:
        cells = [fmt.format(x) for x in values]
        ratio = []
        if two:
            ratio = [f"{values[-1] / values[0]:.2f}×" if values[0] else "—"]
        verdict = "info" if ok is None else ("ok" if ok else "**MISS**")
        lines.append("| " + " | ".join([metric, *cells, *ratio, target, verdict]) + " |")

    n = plan.jobs
    walls = [median([b["wall"] for b in v.batch]) for v in versions]
    ideal = [RENDER + median([b["one_download"] for b in v.batch]) for v in versions]
    row(
        f"{n} jobs in one process, 2 s render: wall (median of {plan.rounds})",
        walls,
        "{:.2f} s",
        f"≤ {BATCH_WALL_TARGET:g} s" if n == 100 else "—",
        walls[-1] <= BATCH_WALL_TARGET if n == 100 else None,
    )
    row(
        f"{n} jobs: wall / ideal (2 s render + one download)",
        [w / i for w, i in zip(walls, ideal, strict=True)],
        "{:.2f}×",
    )
    row(
        f"{n} jobs: CPU per job in the batch process",
        [median([b["cpu"] for b in v.batch]) / n * 1000 for v in versions],
        "{:.0f} ms",
    )
    row(
        f"{n} jobs: longest event-loop stall (5 ms ticker)",
        [median([b["loop_lag"] for b in v.batch]) * 1000 for v in versions],
        "{:.0f} ms",
    )
    cpu = [median(v.generate_cpu) for v in versions]
    row(
        f"CPU (user+sys) of `generate`, 1 clip, 2 s render (median of {plan.generate_runs})",
        cpu,
        "{:.2f} s",
        f"≤ {CPU_RATIO_TARGET:g}× {base.label}" if two else "—",
        cpu[-1] <= CPU_RATIO_TARGET * cpu[0] if two else None,
    )
    row(
        f"wall of that `generate` (median of {plan.generate_runs})",
        [median(v.generate_wall) for v in versions],
        "{:.2f} s",
    )
    row(
        f"CPU per clip of `generate -n 4`, 2 s render (median of {plan.variant_runs})",
        [median(v.variants_cpu) for v in versions],
        "{:.2f} s",
    )
    # "At most once a second" is about the gaps: polls per window also counts a fencepost.
    rates = [1 / median([s[0] for s in v.stall]) for v in versions]
    detail = "; ".join(
        f"{v.label}: "
        + ", ".join(
            f"{polls} polls in {window:.1f} s, shortest gap {gap:.2f} s"
            for gap, polls, window in v.stall
        )
        for v in versions
    )
    row(
        f"poll rate while a job sits at 99 %: 1 / shortest gap (median of {plan.stall_runs})",
        rates,
        "{:.2f}/s",
        f"≤ {STALL_RATE_TARGET:g}/s",
        rates[-1] <= STALL_RATE_TARGET,
    )
    return "\n".join(lines) + f"\n\nStalled windows: {detail or 'none long enough (< 1 s)'}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="PYTHON", help="the older version's interpreter")
    parser.add_argument("--quick", action="store_true", help="one round of 30 jobs")
    parser.add_argument("--jobs", type=int, help="jobs in the one-process batch (default 100)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.jobs is not None:
        if args.jobs < 1:
            parser.error(f"--jobs must be at least 1, not {args.jobs}")
        plan = Plan(args.jobs, plan.rounds, plan.generate_runs, plan.variant_runs, plan.stall_runs)
    versions = [Version(sys.executable)]
    if args.baseline:
        if not os.access(args.baseline, os.X_OK):
            parser.error(f"--baseline {args.baseline}: not an executable Python interpreter")
        versions.insert(0, Version(args.baseline))
    began = time.perf_counter()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="grokvid-bench-runner-") as tmp:
        root = Path(tmp)
        config = SandboxConfig(render_seconds=RENDER, clip_cache_dir=root / "clips")
        with SandboxServer(config, port=0) as server:
            bench = Bench(root, server, versions)
            print("… preparing", file=sys.stderr, flush=True)
            bench.prepare()
            steps = (
                ("batch", plan.rounds, lambda v: bench.batch(v, plan.jobs)),
                ("generate", plan.generate_runs, bench.generate_cpu),
                ("generate -n 4", plan.variant_runs, bench.variants_cpu),
                ("stalled job", plan.stall_runs, bench.stalled),
            )
            for name, rounds, step in steps:
                for r in range(rounds):
                    print(f"… {name} {r + 1}/{rounds}", file=sys.stderr, flush=True)
                    # Alternate which version goes first, so neither always runs on a warmer box.
                    for v in versions if r % 2 == 0 else versions[::-1]:
                        step(v)
    print(
        f"Python {sys.version.split()[0]} · {os.cpu_count()} CPUs · load average "
        f"{load[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end · "
        f"{time.perf_counter() - began:.0f} s\n"
    )
    print(table(plan, versions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
