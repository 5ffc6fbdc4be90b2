"""Start-up time of the grokvid command, against a bare `python -c pass`.

    python benchmarks/bench_startup.py            # 21 runs of each command
    python benchmarks/bench_startup.py --runs 51

Each command runs as a user runs it (the `grokvid` script beside this interpreter, else
`python -m grokvid`), in a scratch GROKVID_HOME, with bytecode compiled first as a wheel install
has it: PYTHONDONTWRITEBYTECODE is removed from the children's environment. Prints the median
wall time of each command, its ratio to `python -c pass`, and the target ratio.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# (label, grokvid arguments, target ratio to `python -c pass`, needs an empty ledger file)
CASES: list[tuple[str, list[str], float, bool]] = [
    ("grokvid --version", ["--version"], 1.5, False),
    ("grokvid --help", ["--help"], 8.0, False),
    ("grokvid generate --help", ["generate", "--help"], 8.0, False),
    ("grokvid status (no ledger yet)", ["status"], 8.0, False),
    ("grokvid status (empty ledger)", ["status"], 8.0, True),
]


def grokvid_command() -> list[str]:
    script = Path(sys.executable).with_name("grokvid")
    return [str(script)] if script.exists() else [sys.executable, "-m", "grokvid"]


def median_seconds(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (median)")
    args = parser.parse_args()

    compileall.compile_dir(SRC, quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("GROKVID_DEBUG", None)
    with tempfile.TemporaryDirectory() as scratch:
        fresh, empty = Path(scratch, "fresh"), Path(scratch, "empty")
        subprocess.run(
            [sys.executable, "-c", "from grokvid.api.ledger import Ledger; Ledger()"],
            env={**env, "GROKVID_HOME": str(empty)},
            check=True,
        )
        base = median_seconds([sys.executable, "-c", "pass"], env, args.runs)
        rows = [("python -c pass", base, 1.0, None)]
        for label, argv, target, needs_ledger in CASES:
            home = empty if needs_ledger else fresh
            seconds = median_seconds(
                [*grokvid_command(), *argv], {**env, "GROKVID_HOME": str(home)}, args.runs
            )
            rows.append((label, seconds, seconds / base, target))

    print(f"median of {args.runs} runs; {sys.executable}")
    print(f"{'command':<32} {'median':>9} {'ratio':>7} {'target':>7}  ok")
    for label, seconds, ratio, goal in rows:
        verdict = "" if goal is None else ("yes" if ratio <= goal else "NO")
        shown_goal = "" if goal is None else f"<={goal:g}x"
        print(f"{label:<32} {seconds * 1000:>7.1f}ms {ratio:>6.1f}x {shown_goal:>7}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
