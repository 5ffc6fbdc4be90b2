"""The shared token bucket: two real processes never exceed the rate together, and AIMD."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grokvid.api.errors import ValidationError
from grokvid.api.ratelimit import SharedRateLimiter, bucket_key, check_rate

WORKER = """
import asyncio, sys, time
from pathlib import Path
from grokvid.api.ratelimit import SharedRateLimiter
db, key, rate, count, ready, go = sys.argv[1:]
limiter = SharedRateLimiter(key, float(rate), path=Path(db))
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.005)
async def main():
    for _ in range(int(count)):
        print(repr(await limiter.acquire()), flush=True)
asyncio.run(main())
"""


def worst_excess(times: list[float], rate: float, burst: float) -> float:
    """How far the busiest window goes past what a bucket allows: burst + rate * span."""
    times = sorted(times)
    worst = float("-inf")
    for i in range(len(times)):
        for j in range(i, len(times)):
            worst = max(worst, (j - i + 1) - (burst + rate * (times[j] - times[i])))
    return worst


def run_pair(tmp_path: Path, dbs: tuple[Path, Path], rate: float, count: int) -> list[float]:
    go = tmp_path / "go"
    procs = []
    for n, db in enumerate(dbs):
        ready = tmp_path / f"ready{n}"
        args = [str(db), "xai|api.x.ai|k", str(rate), str(count), str(ready), str(go)]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, *args], stdout=subprocess.PIPE, text=True
            )
        )
    while not all((tmp_path / f"ready{n}").exists() for n in range(2)):
        assert all(p.poll() is None for p in procs), "a worker died before starting"
        time.sleep(0.01)
    go.touch()
    times: list[float] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        times += [float(line) for line in out.split()]
    return times


@pytest.mark.slow
def test_two_processes_sharing_a_bucket_stay_under_the_rate(tmp_path: Path) -> None:
    rate, count = 20.0, 12
    times = run_pair(tmp_path, (tmp_path / "rl.db", tmp_path / "rl.db"), rate, count)
    assert len(times) == 2 * count
    # The bucket's own arithmetic bounds every window; 1e-3 token covers float rounding only.
    assert worst_excess(times, rate, burst=1.0) <= 1e-3


@pytest.mark.slow
def test_separate_buckets_would_exceed_it(tmp_path: Path) -> None:
    # The control: without a shared file the same check fails, so the test above can fail.
    rate, count = 20.0, 12
    times = run_pair(tmp_path, (tmp_path / "a.db", tmp_path / "b.db"), rate, count)
    assert worst_excess(times, rate, burst=1.0) > 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def limiter(tmp_path: Path, clock: Clock, rate: float = 2.0) -> SharedRateLimiter:
    return SharedRateLimiter(
        "xai|api.x.ai|k",
        rate,
        path=tmp_path / "rl.db",
        clock=clock,
        sleep=clock.sleep,
        recovery_seconds=10.0,
    )


def test_tokens_come_at_the_rate(tmp_path: Path) -> None:
    clock = Clock()
    bucket = limiter(tmp_path, clock)
    assert bucket.try_acquire() == (True, clock.now)
    taken, wait = bucket.try_acquire()
    assert not taken and wait == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.try_acquire()[0]


def test_acquire_waits_for_the_next_token(tmp_path: Path) -> None:
    clock = Clock()
    bucket = limiter(tmp_path, clock, rate=4.0)
    start = clock.now
    times = asyncio.run(_take(bucket, 5))
    assert times[0] == start
    assert [round(t - start, 6) for t in times] == [0.0, 0.25, 0.5, 0.75, 1.0]


async def _take(bucket: SharedRateLimiter, n: int) -> list[float]:
    return [await bucket.acquire() for _ in range(n)]


def test_429_halves_the_rate_pauses_everyone_then_recovers(tmp_path: Path) -> None:
    clock = Clock()
    mine, theirs = limiter(tmp_path, clock), limiter(tmp_path, clock)  # two processes
    assert mine.try_acquire()[0]
    assert mine.on_rate_limited(retry_after=3.0) == 1.0
    assert theirs.on_rate_limited(retry_after=3.0) == 1.0  # same event: halved once
    taken, wait = theirs.try_acquire()
    assert not taken and wait == pytest.approx(3.0)  # the other process honours Retry-After
    clock.now += 3.0
    assert theirs.state().rate == pytest.approx(1.0)
    clock.now += 5.0  # recovery: +2/s per 10 s, linearly
    assert theirs.state().rate == pytest.approx(2.0)
    clock.now += 5.0
    assert theirs.state().rate == pytest.approx(2.0)  # never above the configured rate


def test_repeated_429s_stop_at_the_floor(tmp_path: Path) -> None:
    clock = Clock()
    bucket = limiter(tmp_path, clock)
    rates = []
    for _ in range(10):
        clock.now += 1.0
        rates.append(bucket.on_rate_limited(retry_after=0))
    assert rates[:3] == [1.0, 0.5, 0.25] and rates[-1] == 0.05


def test_key_is_hashed_never_stored(tmp_path: Path) -> None:
    key = bucket_key("xai", "https://API.x.ai/v1", "xai-secret-key-123")
    assert key.startswith("xai|api.x.ai|") and "secret" not in key
    clock = Clock()
    SharedRateLimiter(key, path=tmp_path / "rl.db", clock=clock).try_acquire()
    assert b"xai-secret-key-123" not in (tmp_path / "rl.db").read_bytes()
    assert bucket_key("xai", "https://api.x.ai", "other") != key


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_unusable_rates_are_refused(bad: float) -> None:
    with pytest.raises(ValidationError, match="give a number above 0") as caught:
        check_rate(bad)
    assert caught.value.field == "rate"


def test_many_limiters_opening_one_new_file_at_once_never_fail_locked(tmp_path: Path) -> None:
    """Concurrent clients in one process each open the bucket file: the WAL switch races."""
    import threading

    path = tmp_path / "rate.sqlite3"
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def one(i: int) -> None:
        limiter = SharedRateLimiter(f"k{i}", 1000.0, path=path, burst=5)
        start.wait()
        try:
            limiter.try_acquire()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
