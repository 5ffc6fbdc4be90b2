"""Time the batch planner on 1,000-item files and measure its peak memory; print a table.

    .venv/bin/python benchmarks/bench_batch_plan.py          # a few seconds
    .venv/bin/python benchmarks/bench_batch_plan.py --items 5000

Not a test: one run's numbers on this machine. Each format gets the same 1,000 prompts (YAML as
literal items); the measured step is read + plan + one dry-run JSON line per clip, with the same
check a `generate` request gets. Peak memory is tracemalloc's peak for that step (Python
allocations only), so it reads as "how much the planner holds", not the process's RSS.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from grokvid.api.batch import BaseFields, ClipFields, PlanOptions, plan_batch, read_batch
from grokvid.api.errors import ValidationError
from grokvid.api.models import VideoRequest, check_request, estimate_cost_usd

BASE = BaseFields("grok-imagine-video", 8, "480p", "16:9", True)
ANIMALS = ["fox", "otter", "heron", "lynx", "badger", "owl", "hare", "wolf"]


def check(clip: ClipFields) -> list[str]:
    try:
        check_request(
            VideoRequest(
                model=clip.model,
                prompt=clip.prompt,
                duration=clip.duration,
                aspect_ratio=clip.aspect_ratio,
                resolution=clip.resolution,
                generate_audio=clip.audio,
            )
        )
    except ValidationError as exc:
        return [exc.message]
    return []


def prompts(n: int) -> list[str]:
    return [f"a {ANIMALS[i % 8]} crossing a frozen river at dawn, shot {i}" for i in range(n)]


def write_files(root: Path, n: int) -> dict[str, Path]:
    lines = prompts(n)
    files = {fmt: root / f"clips.{fmt}" for fmt in ("jsonl", "csv", "txt", "yaml")}
    files["jsonl"].write_text(
        "".join(json.dumps({"prompt": p, "duration": 6}) + "\n" for p in lines)
    )
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["prompt", "duration"])
    writer.writerows([p, 6] for p in lines)
    files["csv"].write_text(buf.getvalue())
    files["txt"].write_text("".join(p + "\n" for p in lines))
    files["yaml"].write_text(
        "defaults: {duration: 6}\nitems:\n" + "".join(f"  - {json.dumps(p)}\n" for p in lines)
    )
    return files


def plan_once(path: Path, out: Path) -> tuple[int, int]:
    """Read, plan and render every dry-run line; (clips, bytes of dry-run output)."""
    options = PlanOptions(output_dir=out, provider="xai", base_url="https://api.x.ai")
    plan = plan_batch(
        read_batch(str(path)),
        BASE,
        options,
        check=check,
        lookup=lambda fp: [],
        estimate=lambda c: estimate_cost_usd(c.model, c.resolution, c.duration),
    )
    size = sum(len(clip.dry_run_line()) + 1 for clip in plan.clips)
    return len(plan.clips), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for fmt, path in write_files(root, args.items).items():
            plan_once(path, root / "out")  # warm imports and caches outside the timing
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                clips, size = plan_once(path, root / "out")
                times.append(time.perf_counter() - start)
            tracemalloc.start()
            plan_once(path, root / "out")
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rows.append((fmt, clips, statistics.median(times), min(times), peak, size))
    print(
        f"Batch planning, {args.items} items, median of {args.repeat} runs "
        f"(Python {sys.version.split()[0]})\n"
    )
    print("| format | clips | median s | best s | per clip ms | peak MiB | dry-run KiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for fmt, clips, median, best, peak, size in rows:
        print(
            f"| {fmt} | {clips} | {median:.3f} | {best:.3f} | {median / clips * 1000:.3f} "
            f"| {peak / 2**20:.1f} | {size / 1024:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
