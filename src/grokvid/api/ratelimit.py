"""The submit rate, shared by every grokvid process on the machine that uses the same key.

A token bucket lives in a small SQLite file beside the ledger (`ratelimit.sqlite3` in the data
directory), one row per provider + API host + a hash of the key (never the key itself). Every
read-modify-write is one `BEGIN IMMEDIATE` transaction, so two batches, or `xargs -P` over
`generate`, take tokens from the same bucket and never exceed the rate together.

AIMD: a 429 halves the shared rate (not below a floor) and blocks every process until its
Retry-After has passed; the rate then climbs back linearly to the configured one. Several 429s
within a short window count as one event, so eight concurrent failures halve the rate once.
Times are wall-clock seconds (`time.time`): the bucket outlives processes, and reboots.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from grokvid.api import paths
from grokvid.api.errors import ConfigError, ValidationError

FILE_NAME = "ratelimit.sqlite3"
DEFAULT_RATE = 1.0  # submits per second
MIN_RATE = 0.05  # the floor a run of 429s can push the rate down to
DEFAULT_BURST = 1.0  # tokens the bucket can hold: 1 spaces submits evenly
RECOVERY_SECONDS = 30.0  # from the floor back to the configured rate, after a 429
DECREASE_WINDOW = 1.0  # 429s this close to a halving are the same congestion event
MAX_SLEEP = 1.0  # waiters look again at least this often, to see a 429 from elsewhere
BUSY_TIMEOUT_S = 5.0


def bucket_key(provider: str, base_url: str, api_key: str) -> str:
    """The bucket's name: provider, API host and a hash of the key, never the key."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if parts.port:
        host = f"{host}:{parts.port}"
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    return f"{provider}|{host}|{digest}"


def check_rate(value: float, field: str = "rate") -> float:
    """A usable submits-per-second value, or ValidationError naming `field` and the fix."""
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValidationError(
            f"A rate of {value!r} submits per second is not usable: give a number above 0, "
            "e.g. 0.5 for one submit every two seconds.",
            field,
        )
    return float(value)


def rate_file() -> Path:
    return paths.data_dir() / FILE_NAME


@dataclass(frozen=True)
class BucketState:
    tokens: float
    rate: float  # the current shared rate (below the configured one after a 429)
    updated: float
    blocked_until: float
    last_decrease: float


class SharedRateLimiter:
    """A token bucket shared through SQLite; `await acquire()` before every submit.

    `rate` is this process's configured ceiling; the shared rate never climbs above the
    ceiling of whichever process is taking tokens. `clock` and `sleep` are injectable so
    tests can drive time.
    """

    def __init__(
        self,
        key: str,
        rate: float = DEFAULT_RATE,
        *,
        path: Path | None = None,
        burst: float = DEFAULT_BURST,
        floor: float = MIN_RATE,
        recovery_seconds: float = RECOVERY_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.key = key
        self.ceiling = check_rate(rate)
        self.path = path if path is not None else rate_file()
        self.burst = max(1.0, burst)
        self.floor = min(floor, self.ceiling)
        self.recovery_seconds = recovery_seconds
        self._clock = clock
        self._sleep = sleep
        self._ready = False

    # -- the bucket -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"Cannot open the rate-limit file {self.path}: {exc}. Check that the data "
                "directory is writable (GROKVID_HOME relocates it)."
            ) from exc
        try:
            if not self._ready:
                _use_wal(db)
                db.execute(
                    "CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT "
                    "NULL, rate REAL NOT NULL, updated REAL NOT NULL, blocked_until REAL NOT "
                    "NULL, last_decrease REAL NOT NULL)"
                )
                self._ready = True
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def _load(self, db: sqlite3.Connection, now: float) -> BucketState:
        """The bucket brought up to `now`: refilled, and its rate crept back up."""
        row = db.execute(
            "SELECT tokens, rate, updated, blocked_until, last_decrease FROM buckets WHERE key = ?",
            (self.key,),
        ).fetchone()
        if row is None:
            return BucketState(self.burst, self.ceiling, now, 0.0, 0.0)
        tokens, rate, updated, blocked_until, last_decrease = (float(v) for v in row)
        # Nothing accrues while blocked, or if the clock stepped back.
        elapsed = max(0.0, now - max(updated, blocked_until))
        tokens = min(self.burst, tokens + elapsed * rate)
        rate = min(self.ceiling, rate + self.ceiling / self.recovery_seconds * elapsed)
        return BucketState(tokens, rate, max(now, updated), blocked_until, last_decrease)

    def _save(self, db: sqlite3.Connection, state: BucketState) -> None:
        db.execute(
            "INSERT INTO buckets (key, tokens, rate, updated, blocked_until, last_decrease) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET tokens = excluded.tokens, "
            "rate = excluded.rate, updated = excluded.updated, "
            "blocked_until = excluded.blocked_until, last_decrease = excluded.last_decrease",
            (
                self.key,
                state.tokens,
                state.rate,
                state.updated,
                state.blocked_until,
                state.last_decrease,
            ),
        )

    # -- public -----------------------------------------------------------------------------

    def try_acquire(self) -> tuple[bool, float]:
        """Take a token if one is there: (True, the bucket time it was taken) or
        (False, seconds to wait before trying again)."""
        now = self._clock()
        with self._transaction() as db:
            state = self._load(db, now)
            if now < state.blocked_until:
                self._save(db, state)
                return False, state.blocked_until - now
            if state.tokens >= 1.0:
                self._save(db, _replace(state, tokens=state.tokens - 1.0))
                return True, now
            self._save(db, state)
            return False, (1.0 - state.tokens) / state.rate

    async def acquire(self) -> float:
        """Wait for a token and take it; returns the bucket time it was taken at."""
        while True:
            taken, value = await asyncio.to_thread(self.try_acquire)
            if taken:
                return value
            await self._sleep(min(value, MAX_SLEEP))

    def on_rate_limited(self, retry_after: float | None = None) -> float:
        """Record a 429: halve the shared rate (once per event) and pause every process
        until `retry_after` seconds from now (or one token's time). Returns the new rate."""
        now = self._clock()
        with self._transaction() as db:
            state = self._load(db, now)
            rate, last = state.rate, state.last_decrease
            if now - last >= DECREASE_WINDOW:
                rate, last = max(self.floor, rate / 2), now
            pause = retry_after if retry_after is not None and retry_after > 0 else 1.0 / rate
            self._save(
                db,
                BucketState(
                    min(state.tokens, 0.0),
                    rate,
                    now,
                    max(state.blocked_until, now + pause),
                    last,
                ),
            )
            return rate

    def state(self) -> BucketState:
        """The bucket as of now (for a status line: the current rate, any pause)."""
        now = self._clock()
        with self._transaction() as db:
            return self._load(db, now)


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL. SQLite answers "database is locked" at once, without waiting
    for the busy timeout, when another connection (another process, or a concurrent client in
    this one) holds the file during the switch; the switch is idempotent, so try again."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _replace(state: BucketState, *, tokens: float) -> BucketState:
    return BucketState(tokens, state.rate, state.updated, state.blocked_until, state.last_decrease)
