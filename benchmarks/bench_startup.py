"""Start-up time of the grokvid command, against a bare `python -c pass`; one or two versions.

    python benchmarks/bench_startup.py                                  # 21 runs of each command
    python benchmarks/bench_startup.py --runs 51
    python benchmarks/bench_startup.py --baseline ../v01/.venv/bin/python   # 0.1 beside this one

Each command runs as a user runs it (the `grokvid` script beside each interpreter, else
`python -m grokvid`), in a scratch GROKVID_HOME of its own per version, with bytecode compiled
first as a wheel install has it: each version's package is compiled and PYTHONDONTWRITEBYTECODE
is removed from the children's environment. Every round runs every command of every version once,
in an order that alternates between rounds, so the machine's load drifts over all of them alike.
Prints the median wall time of each command, its ratio to `python -c pass` of the same
interpreter, the target ratio and, with --baseline, the ratio between the versions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# (label, grokvid arguments, target ratio to `python -c pass`, needs an empty ledger file)
CASES: list[tuple[str, list[str], float, bool]] = [
    ("grokvid --version", ["--version"], 1.5, False),
    ("grokvid --help", ["--help"], 8.0, False),
    ("grokvid generate --help", ["generate", "--help"], 8.0, False),
    ("grokvid status (no ledger yet)", ["status"], 8.0, False),
    ("grokvid status (empty ledger)", ["status"], 8.0, True),
]
BARE = "python -c pass"


@dataclass
class Version:
    python: str
    label: str = ""
    env: dict[str, str] = field(default_factory=dict)
    empty_home: str = ""  # a GROKVID_HOME holding an empty ledger of this version
    times: dict[str, list[float]] = field(default_factory=dict)

    def command(self) -> list[str]:
        script = Path(self.python).with_name("grokvid")
        return [str(script)] if script.exists() else [self.python, "-m", "grokvid"]

    def median(self, label: str) -> float:
        return statistics.median(self.times[label])


def once(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def prepare(v: Version, env: dict[str, str], scratch: Path) -> None:
    """Compile the version's package, name it, and give it a fresh and an empty-ledger home."""
    code = "import grokvid as g, os; print(g.__version__, os.path.dirname(g.__file__))"
    out = subprocess.run(
        [v.python, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    v.label = out[0]
    subprocess.run([v.python, "-m", "compileall", "-q", out[1]], env=env, check=True)
    home = Path(tempfile.mkdtemp(prefix=f"grokvid-{v.label}-", dir=scratch))
    fresh, empty = home / "fresh", home / "empty"
    subprocess.run(
        [v.python, "-c", "from grokvid.api.ledger import Ledger; Ledger().list()"],
        env={**env, "GROKVID_HOME": str(empty)},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if not any(path.is_file() for path in empty.rglob("*")):
        raise SystemExit(f"{v.python}: creating an empty ledger under {empty} left no file")
    v.env = {**env, "GROKVID_HOME": str(fresh)}
    v.times = {BARE: [], **{label: [] for label, *_ in CASES}}
    v.empty_home = str(empty)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (median)")
    parser.add_argument("--baseline", metavar="PYTHON", help="an older version's interpreter")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, not {args.runs}")
    if args.baseline and not os.access(args.baseline, os.X_OK):
        parser.error(f"--baseline {args.baseline}: not an executable Python interpreter")

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in env.items() if not k.startswith(("GROKVID_", "XAI_"))}
    versions = [Version(sys.executable)]
    if args.baseline:
        versions.insert(0, Version(args.baseline))
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        for v in versions:
            prepare(v, env, Path(scratch))
        jobs: list[tuple[Version, str, list[str], dict[str, str]]] = []
        for v in versions:
            jobs.append((v, BARE, [v.python, "-c", "pass"], v.env))
            for label, argv, _, needs_ledger in CASES:
                home = {"GROKVID_HOME": v.empty_home} if needs_ledger else {}
                jobs.append((v, label, [*v.command(), *argv], {**v.env, **home}))
        for n in range(args.runs):
            for v, label, command, child_env in jobs if n % 2 == 0 else jobs[::-1]:
                v.times[label].append(once(command, child_env))

    print(f"median of {args.runs} interleaved runs; load average {load:.2f} at start")
    for v in versions:
        print(f"  {v.label}: {v.python}")
    two = len(versions) == 2
    names = " | ".join(f"{v.label} median | {v.label} ratio" for v in versions)
    extra = f" | {versions[-1].label} / {versions[0].label}" if two else ""
    print(f"\n| command | {names}{extra} | target | ok |")
    print("|---|" + "---|" * (2 * len(versions) + (1 if two else 0) + 2))
    for label in [BARE, *(c[0] for c in CASES)]:
        target = next((t for name, _, t, _ in CASES if name == label), None)
        cells = []
        for v in versions:
            seconds = v.median(label)
            cells += [f"{seconds * 1000:.1f} ms", f"{seconds / v.median(BARE):.1f}×"]
        if two:
            cells.append(f"{versions[-1].median(label) / versions[0].median(label):.2f}×")
        new = versions[-1]
        ratio = new.median(label) / new.median(BARE)
        goal = "" if target is None else f"≤ {target:g}×"
        verdict = "" if target is None else ("yes" if ratio <= target else "**NO**")
        print(f"| {label} | {' | '.join(cells)} | {goal} | {verdict} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
