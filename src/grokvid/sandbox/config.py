"""How one sandbox behaves: render time, lifetimes, bounds, limits and the server-wide faults."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grokvid.sandbox.faults import ERROR_STATUSES, parse_script_item
from grokvid.sandbox.fronts.xai_models import MAX_PROMPT_CHARS

DAY = 24 * 3600.0
MiB = 1024 * 1024
RENDER_SECONDS_ENV = "GROKVID_SANDBOX_RENDER_SECONDS"
RATE_LIMIT_ENV = "GROKVID_SANDBOX_RATE_LIMIT"


@dataclass(frozen=True)
class SandboxConfig:
    """Settings for one sandbox app. Invalid values raise ValueError naming the field.

    `render_seconds` is a fixed time or a `(min, max)` range drawn per job (seeded by `seed`).
    The probabilities apply to each API request (submit or poll); `faults` is a scripted
    sequence taken one entry per request before them (see `grokvid.sandbox.faults`).
    """

    render_seconds: float | tuple[float, float] = 2.0
    seed: int | None = None
    job_ttl_seconds: float = DAY
    url_ttl_seconds: float = DAY
    max_jobs: int = 1000
    clip_cache_dir: Path | None = None
    rate_limit_probability: float = 0.0
    rate_limit_retry_after: float | None = None
    error_probability: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    drop_probability: float = 0.0
    faults: Sequence[str | None] = ()
    download_bytes_per_second: int | None = None
    max_prompt_chars: int = MAX_PROMPT_CHARS
    rate_limit: float | None = None
    render_processes: bool = True
    max_body_bytes: int = 32 * MiB
    max_body_bytes_in_flight: int = 96 * MiB
    body_deadline_seconds: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **defaults: Any) -> SandboxConfig:
        """A config from the keyword defaults, overridden by the sandbox's environment variables.

        GROKVID_SANDBOX_RENDER_SECONDS (`5` or a range `2-5`) sets render_seconds and
        GROKVID_SANDBOX_RATE_LIMIT (submits per second) sets rate_limit; an empty one is unset.
        A bad value raises ValueError naming the variable and the fix.
        """
        env = os.environ if environ is None else environ
        values = dict(defaults)
        if raw := env.get(RENDER_SECONDS_ENV, "").strip():
            try:
                values["render_seconds"] = parse_render_seconds(raw)
            except ValueError as exc:
                raise ValueError(
                    f"{RENDER_SECONDS_ENV}={raw!r}: {exc}; set it to seconds such as 5 or a "
                    "range such as 2-5, or unset it"
                ) from None
        if raw := env.get(RATE_LIMIT_ENV, "").strip():
            try:
                values["rate_limit"] = parse_rate_limit(raw)
            except ValueError as exc:
                raise ValueError(
                    f"{RATE_LIMIT_ENV}={raw!r}: {exc}; set it to submits per second such as 2 "
                    "or 0.5, or unset it"
                ) from None
        return cls(**values)

    def __post_init__(self) -> None:
        render = self.render_seconds
        if isinstance(render, Sequence) and not isinstance(render, str):
            if len(render) != 2:
                raise ValueError("render_seconds: give one number or a (min, max) pair")
            low, high = (_number("render_seconds", v) for v in render)
            if low > high:
                raise ValueError(f"render_seconds: the range {low:g}-{high:g} is backwards")
            object.__setattr__(self, "render_seconds", (low, high))
        else:
            object.__setattr__(self, "render_seconds", _number("render_seconds", render))
        for name in ("job_ttl_seconds", "url_ttl_seconds"):
            if _number(name, getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be more than 0")
        if self.rate_limit_retry_after is not None:
            _number("rate_limit_retry_after", self.rate_limit_retry_after)
        for name in ("rate_limit_probability", "error_probability", "drop_probability"):
            if not 0 <= _number(name, getattr(self, name)) <= 1:
                raise ValueError(f"{name} must be a probability from 0 to 1")
        if not isinstance(self.max_jobs, int) or self.max_jobs < 1:
            raise ValueError("max_jobs must be a whole number >= 1")
        if not isinstance(self.max_prompt_chars, int) or self.max_prompt_chars < 1:
            raise ValueError("max_prompt_chars must be a whole number >= 1")
        statuses = tuple(self.error_statuses)
        if not statuses or any(s not in ERROR_STATUSES for s in statuses):
            raise ValueError(f"error_statuses must be chosen from {ERROR_STATUSES}")
        object.__setattr__(self, "error_statuses", statuses)
        if self.download_bytes_per_second is not None and self.download_bytes_per_second < 1:
            raise ValueError("download_bytes_per_second must be a whole number >= 1")
        if isinstance(self.faults, str):
            raise ValueError("faults is a sequence of fault specs, e.g. ['429', None, '503']")
        for item in self.faults:
            parse_script_item(item)  # raises ValueError on a bad entry
        object.__setattr__(self, "faults", tuple(self.faults))
        if self.rate_limit is not None:
            if _number("rate_limit", self.rate_limit) <= 0:
                raise ValueError("rate_limit must be more than 0 submits per second")
            object.__setattr__(self, "rate_limit", float(self.rate_limit))
        for name in ("max_body_bytes", "max_body_bytes_in_flight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
                raise ValueError(f"{name} must be a whole number of bytes >= 1024")
        if self.max_body_bytes > self.max_body_bytes_in_flight:
            raise ValueError("max_body_bytes must not be more than max_body_bytes_in_flight")
        if _number("body_deadline_seconds", self.body_deadline_seconds) <= 0:
            raise ValueError("body_deadline_seconds must be more than 0")
        if self.clip_cache_dir is not None:
            object.__setattr__(self, "clip_cache_dir", Path(self.clip_cache_dir))


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, not {value!r}")
    return float(value)


def parse_rate_limit(text: str) -> float:
    """`"2"` -> 2.0 submits per second; ValueError unless it is a number above 0."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number of submits per second") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text!r}: the rate limit must be more than 0 submits per second")
    return value


def parse_render_seconds(text: str) -> float | tuple[float, float]:
    """`"2"` -> 2.0, `"2-5"` -> (2.0, 5.0); ValueError otherwise."""
    low, sep, high = text.strip().partition("-")
    try:
        values = [float(part) for part in ((low, high) if sep else (low,))]
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds or a range like 2-5") from None
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"{text!r}: render seconds must be 0 or more")
    if not sep:
        return values[0]
    if values[0] > values[1]:
        raise ValueError(f"{text!r}: the range is backwards")
    return values[0], values[1]
