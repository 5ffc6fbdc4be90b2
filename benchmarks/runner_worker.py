"""The measured side of bench_runner.py: N jobs in one process, through whichever grokvid is here.

    python benchmarks/runner_worker.py BASE_URL JOBS RENDER_SECONDS OUT_DIR

Run by bench_runner.py with each version's own interpreter, so it imports only the standard
library at the top and picks the API it finds: 0.2's `grokvid.api.runner.Runner` (one pooled
client for every job, concurrency = JOBS), or 0.1's `grokvid.api.jobs` functions with one
`XAIProvider` per job, exactly as 0.1's `generate` drove its variants. GROKVID_HOME (set by the
caller) keeps the ledger out of the user's.

Prints one JSON line: wall and CPU seconds of the whole batch, how many clips were saved, the
longest the event loop was late (a 5 ms ticker measures it), and the time of one more download
of a finished clip (for the "ideal" of one render plus one download).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

KEY = "bench"
PROMPT = "a red fox trotting through fresh snow"
TICK = 0.005


class LoopLag:
    """How late a 5 ms ticker wakes: the longest the loop was blocked by synchronous work."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            self.worst = max(self.worst, time.perf_counter() - before - TICK)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def batch_v02(base_url: str, n: int, prompt: str, out: Path) -> tuple[list[Any], float]:
    from pydantic import SecretStr

    jobs = importlib.import_module("grokvid.api.jobs")
    runner_mod = importlib.import_module("grokvid.api.runner")
    specs = importlib.import_module("grokvid.api.specs")
    ledger_mod = importlib.import_module("grokvid.api.ledger")

    ledger = ledger_mod.Ledger()
    endpoint = runner_mod.Endpoint("xai", base_url, SecretStr(KEY))
    runner = runner_mod.Runner(ledger, endpoint, concurrency=n)
    spec = specs.TextToVideo(
        model="grok-imagine-video", prompt=prompt, duration=8, resolution="480p"
    )
    start = time.perf_counter()
    created = runner.create([runner_mod.ClipPlan(spec, out / "pending.mp4") for _ in range(n)])
    created = [
        ledger.update(job.local_id, output_path=str(out / jobs.clip_name(PROMPT, job.local_id)))
        for job in created
    ]
    async with runner:
        outcomes = await runner.run(created, runner_mod.RunOptions(timeout=600))
    return list(outcomes), time.perf_counter() - start


async def batch_v01(base_url: str, n: int, prompt: str, out: Path) -> tuple[list[Any], float]:
    from pydantic import SecretStr

    jobs = importlib.import_module("grokvid.api.jobs")
    models = importlib.import_module("grokvid.api.models")
    xai = importlib.import_module("grokvid.api.xai")
    ledger_mod = importlib.import_module("grokvid.api.ledger")

    ledger = ledger_mod.Ledger()
    request = models.VideoRequest(prompt=prompt, duration=8, resolution="480p")
    start = time.perf_counter()
    created = [
        jobs.create_job(
            ledger, request, provider="xai", base_url=base_url, output=None, output_dir=out
        )
        for _ in range(n)
    ]

    async def one(job: Any) -> Any:
        async with xai.XAIProvider(SecretStr(KEY), base_url, name="xai") as provider:
            job = await jobs.submit(ledger, provider, job, request, lambda event: None)
            job = await jobs.wait(ledger, provider, job, timeout=600)
            return await jobs.fetch(ledger, provider, job, dest=Path(job.output_path), force=False)

    outcomes = await asyncio.gather(*(one(job) for job in created), return_exceptions=True)
    return list(outcomes), time.perf_counter() - start


async def main(base_url: str, n: int, render: float, out: Path) -> dict[str, Any]:
    from grokvid import __version__

    prompt = f"{PROMPT} [sandbox:render={render:g}]"
    new_api = importlib.util.find_spec("grokvid.api.runner") is not None
    batch = batch_v02 if new_api else batch_v01
    # Imported before the clock starts: the batch's CPU is the jobs', not the start-up's.
    for name in ("runner", "specs") if new_api else ("xai", "models"):
        importlib.import_module(f"grokvid.api.{name}")
    importlib.import_module("grokvid.api.jobs")
    importlib.import_module("grokvid.api.download")
    cpu0 = cpu_seconds()
    with LoopLag() as lag:
        outcomes, wall = await batch(base_url, n, prompt, out)
    cpu = cpu_seconds() - cpu0
    saved = [o for o in outcomes if hasattr(o, "path") and Path(o.path).exists()]
    errors = [f"{type(o).__name__}: {o}" for o in outcomes if not hasattr(o, "path")]
    one_download = None
    if saved:
        download = importlib.import_module("grokvid.api.download")
        url = saved[0].job.video_url
        start = time.perf_counter()
        await download.download_clip(url, out / "again.mp4", force=True)
        one_download = time.perf_counter() - start
    return {
        "version": __version__,
        "api": "Runner" if new_api else "jobs + XAIProvider per job",
        "jobs": n,
        "saved": len(saved),
        "errors": errors[:3],
        "wall": wall,
        "cpu": cpu,
        "loop_lag": lag.worst,
        "one_download": one_download,
    }


if __name__ == "__main__":
    base, count, seconds, folder = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    Path(folder).mkdir(parents=True, exist_ok=True)
    result = asyncio.run(main(base, count, seconds, Path(folder)))
    print(json.dumps(result), flush=True)
