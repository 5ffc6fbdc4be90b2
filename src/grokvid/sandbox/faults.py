"""Faults on request: one grammar for the header, the prompt words and scripted sequences.

A fault spec is a comma-separated list of tokens, e.g. ``429-retry-after=2,delay=0.5``:

=====================  ======================================================================
token                  effect
=====================  ======================================================================
``429``                429 rate limit (``Retry-After`` from the server's default, if any)
``429-retry-after=S``  429 rate limit with ``Retry-After: S``
``429-credits``        429 "used all available credits" (a billing error, not a rate limit)
``500`` ``502``        that status before anything is done (no job is created);
``503`` ``504``        add ``-after`` (``502-after``) to answer it *after* creating the job
``drop-before``        close the connection without answering; nothing is done
``drop-after``         do the work (a submit creates the job), then close without answering
``delay=S``            wait S seconds (at most 120) before answering (for client timeouts)
``render=S``           this job takes S seconds to render
``moderate``           the job ends ``done`` with ``respect_moderation: false`` and no URL
``fail[=CODE]``        the job ends ``failed`` with ``error.code`` CODE (``internal_error``)
``truncate[=N]``       downloads stop half-way and the connection drops (the first N only)
``slow[=BPS]``         downloads trickle at BPS bytes/s (65536 by default)
``expire-url[=N]``     the video URL handed out is already expired (the first N only)
``expire-job``         the job answers ``expired`` from now on
``empty-202``          pending polls answer HTTP 202 with an empty body instead of JSON
``moderate-400``       the finished job's poll answers HTTP 400: moderated, with its cost
``forget-job``         the service forgets the job: its polls answer 404 ``not-found``
``none`` / ``ok``      no fault (a placeholder in a scripted sequence)
=====================  ======================================================================

Request-level tokens (429, 5xx, drop-*, delay) act on the request that carries them. Job-level
tokens (render, moderate, moderate-400, fail, truncate, slow, expire-url, expire-job, empty-202,
forget-job) given on a submit stick to the job it creates (forget-job strikes once the render
is over); on a poll, expire-url, expire-job, empty-202, moderate-400 and forget-job act on that
poll; on a download, truncate, slow and expire-url act on that download. docs/sandbox.md has
the whole grammar with examples.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Literal

Route = Literal["submit", "poll", "download"]
ROUTES: tuple[Route, ...] = ("submit", "poll", "download")
API_ROUTES: tuple[Route, ...] = ("submit", "poll")

ALWAYS = 1 << 62  # "every time" for the countable faults (truncate, expire-url)
SLOW_DEFAULT_BPS = 64 * 1024
MAX_DELAY_SECONDS = 120.0  # a delay holds a connection open: CI pointed at a shared sandbox
MAX_SECONDS = 86_400 * 366
ERROR_STATUSES = (500, 502, 503, 504)
FAIL_MESSAGES = {
    "invalid_argument": "The generated video was rejected: the input violates the usage policy.",
    "permission_denied": "Your team does not have permission to use this model.",
    "failed_precondition": "The model cannot generate a video for this request.",
    "service_unavailable": "The video service is temporarily unavailable. Please try again.",
    "internal_error": "Video generation failed due to an internal error.",
}
_MAGIC_WORD = re.compile(r"\[sandbox:([^\]]*)\]", re.IGNORECASE)
_CODE = re.compile(r"^[a-z][a-z0-9_.-]*$")


@dataclass(frozen=True)
class StatusFault:
    """An error answer in place of (or, with `after`, instead of after doing) the real one."""

    status: int
    after: bool = False
    retry_after: float | None = None
    credits: bool = False


@dataclass(frozen=True)
class Faults:
    """What to do wrong with one request (and, for job-level fields, with its job)."""

    reply: StatusFault | None = None
    drop: Literal["before", "after"] | None = None
    delay: float | None = None
    render: float | None = None
    moderate: bool = False
    fail: str | None = None
    truncate: int | None = None
    slow: int | None = None
    expire_url: int | None = None
    expire_job: bool = False
    empty_pending: bool = False
    moderate_400: bool = False
    forget_job: bool = False

    def __or__(self, other: Faults) -> Faults:
        """Field by field, this one's setting wins; the other fills the gaps."""
        picked = {
            f.name: getattr(other, f.name) if mine is None or mine is False else mine
            for f in fields(self)
            for mine in (getattr(self, f.name),)
        }
        return Faults(**picked)

    def __bool__(self) -> bool:
        return self != NO_FAULTS

    def describe(self) -> str:
        """A compact text for log lines, in the grammar it was written in."""
        parts: list[str] = []
        if self.reply is not None:
            name = str(self.reply.status)
            if self.reply.credits:
                name += "-credits"
            elif self.reply.retry_after is not None:
                name += f"-retry-after={self.reply.retry_after:g}"
            parts.append(name + ("-after" if self.reply.after else ""))
        if self.drop:
            parts.append(f"drop-{self.drop}")
        for name, value in (("delay", self.delay), ("render", self.render)):
            if value is not None:
                parts.append(f"{name}={value:g}")
        if self.moderate:
            parts.append("moderate")
        if self.fail:
            parts.append(f"fail={self.fail}")
        for name, count in (("truncate", self.truncate), ("expire-url", self.expire_url)):
            if count is not None:
                parts.append(name if count >= ALWAYS else f"{name}={count}")
        if self.slow is not None:
            parts.append(f"slow={self.slow}")
        for name, on in (
            ("expire-job", self.expire_job),
            ("empty-202", self.empty_pending),
            ("moderate-400", self.moderate_400),
            ("forget-job", self.forget_job),
        ):
            if on:
                parts.append(name)
        return ",".join(parts)

    def job_level(self) -> Faults:
        """Only the fields that stick to a job created by this request."""
        return replace(self, reply=None, drop=None, delay=None)


NO_FAULTS = Faults()
KNOWN_TOKENS = (
    "429, 429-retry-after=S, 429-credits, 500, 502, 503, 504 (optionally -after), drop-before, "
    "drop-after, delay=S, render=S, moderate, fail[=CODE], truncate[=N], slow[=BPS], "
    "expire-url[=N], expire-job, empty-202, moderate-400, forget-job, none"
)


def parse_faults(spec: str) -> Faults:
    """Parse a comma-separated fault spec; ValueError names the bad token and the good ones."""
    result = NO_FAULTS
    for raw in spec.split(","):
        token = raw.strip().lower()
        if token:
            result = result | _parse_token(token)
    return result


def _parse_token(token: str) -> Faults:
    name, _, value = token.partition("=")
    has_value = "=" in token
    if name in ("none", "ok") and not has_value:
        return NO_FAULTS
    if name == "429" and not has_value:
        return Faults(reply=StatusFault(429))
    if name == "429-retry-after" and has_value:
        return Faults(reply=StatusFault(429, retry_after=_seconds(token, value)))
    if name == "429-credits" and not has_value:
        return Faults(reply=StatusFault(429, credits=True))
    status, _, suffix = name.partition("-")
    if status.isdigit() and int(status) in ERROR_STATUSES and suffix in ("", "after"):
        if not has_value:
            return Faults(reply=StatusFault(int(status), after=suffix == "after"))
    if name in ("drop-before", "drop-after") and not has_value:
        return Faults(drop="before" if name == "drop-before" else "after")
    if name == "delay" and has_value:
        return Faults(delay=_seconds(token, value, MAX_DELAY_SECONDS))
    if name == "render" and has_value:
        return Faults(render=_seconds(token, value))
    if name == "moderate" and not has_value:
        return Faults(moderate=True)
    if name == "fail":
        if not has_value:
            return Faults(fail="internal_error")
        if _CODE.match(value):
            return Faults(fail=value)
    if name in ("truncate", "expire-url"):
        count = _count(token, value) if has_value else ALWAYS
        return Faults(truncate=count) if name == "truncate" else Faults(expire_url=count)
    if name == "slow":
        return Faults(slow=_count(token, value) if has_value else SLOW_DEFAULT_BPS)
    if not has_value and name in _FLAGS:
        return replace(NO_FAULTS, **{_FLAGS[name]: True})  # type: ignore[arg-type]
    raise ValueError(f"unknown sandbox fault {token!r}; known: {KNOWN_TOKENS}")


_FLAGS = {
    "expire-job": "expire_job",
    "empty-202": "empty_pending",
    "moderate-400": "moderate_400",
    "forget-job": "forget_job",
}


def _seconds(token: str, value: str, limit: float = MAX_SECONDS) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < MAX_SECONDS:
        raise ValueError(f"sandbox fault {token!r}: {value!r} is not a number of seconds >= 0")
    if seconds > limit:
        raise ValueError(f"sandbox fault {token!r}: at most {limit:g} seconds, not {value}")
    return seconds


def _count(token: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"sandbox fault {token!r}: {value!r} is not a whole number >= 1")
    return int(value)


def faults_in_prompt(prompt: str) -> tuple[str, Faults]:
    """The prompt without its ``[sandbox:…]`` words, and the faults those words ask for."""
    found = NO_FAULTS
    for match in _MAGIC_WORD.finditer(prompt):
        found = found | parse_faults(match.group(1))
    cleaned = " ".join(_MAGIC_WORD.sub(" ", prompt).split())
    return cleaned, found


def parse_script_item(item: str | None) -> tuple[Route | None, Faults]:
    """One entry of a scripted sequence: ``[submit:|poll:|download:]SPEC``, or None for no fault.

    Without a route prefix the entry is taken by the next API request (submit or poll).
    """
    if item is None:
        return None, NO_FAULTS
    head, sep, rest = item.partition(":")
    route = head.strip().lower()
    if sep and route in ROUTES:
        return route, parse_faults(rest)
    if sep:
        raise ValueError(
            f"scripted fault {item!r}: {head!r} is not a route; use submit:, poll: or download:"
        )
    return None, parse_faults(item)


class FaultPlan:
    """The server-wide faults: a scripted sequence first, then seeded random draws.

    Each request takes the first scripted entry meant for it (an entry without a route prefix
    suits any API request; a prefixed one only its route), so `["429", None]` means "the first
    API request gets a 429, the second nothing, then the random rates apply".
    """

    def __init__(
        self,
        script: Sequence[str | None],
        *,
        seed: int | None,
        rate_limit_probability: float,
        rate_limit_retry_after: float | None,
        error_probability: float,
        error_statuses: Sequence[int],
        drop_probability: float,
    ) -> None:
        self._script = [parse_script_item(item) for item in script]
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._rate_limit = rate_limit_probability
        self._retry_after = rate_limit_retry_after
        self._errors = error_probability
        self._statuses = tuple(error_statuses)
        self._drops = drop_probability

    @property
    def retry_after(self) -> float | None:
        return self._retry_after

    def draw(self, route: Route) -> Faults:
        with self._lock:
            scripted = self._take(route)
            drawn = self._random() if route in API_ROUTES else NO_FAULTS
        return scripted | drawn

    def remaining(self) -> int:
        """How many scripted entries are still waiting for a request."""
        with self._lock:
            return len(self._script)

    def _take(self, route: Route) -> Faults:
        for index, (wanted, faults) in enumerate(self._script):
            if wanted == route or (wanted is None and route in API_ROUTES):
                del self._script[index]
                return faults
        return NO_FAULTS

    def _random(self) -> Faults:
        if not (self._rate_limit or self._errors or self._drops):
            return NO_FAULTS
        # Always draw the same numbers per request, so one outcome never shifts the next.
        limit, error, drop = self._rng.random(), self._rng.random(), self._rng.random()
        status = self._rng.choice(self._statuses) if self._statuses else 500
        drop_kind: Literal["before", "after"] = "before" if self._rng.random() < 0.5 else "after"
        if limit < self._rate_limit:
            return Faults(reply=StatusFault(429, retry_after=self._retry_after))
        if error < self._errors:
            return Faults(reply=StatusFault(status))
        if drop < self._drops:
            return Faults(drop=drop_kind)
        return NO_FAULTS
