"""What a batch run did, as data: the `--summary` JSON, the results lines and their words.

`RunStats` watches the runner's events (submit times, render times) while the run goes on;
`summarize` turns it and the outcomes into the `grokvid.batch-summary/1` object.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from grokvid.api import errors
from grokvid.api.batch.plan import Plan, PlannedClip
from grokvid.api.batch.resume import ClipState
from grokvid.api.events import JobEvent
from grokvid.api.jobs import ClipResult, now
from grokvid.api.ledger import JobRecord, Ledger
from grokvid.api.models import ticks_to_usd

SCHEMA = "grokvid.batch-summary/1"
SLOWEST = 5


def final_state(job: JobRecord | None, outcome: object) -> str:
    """One word per clip: saved, reused, or the state it ended in (failed, moderated, …)."""
    if isinstance(outcome, ClipResult):
        return "reused" if outcome.reused else "saved"
    from grokvid.api.budget import BudgetExceeded

    if isinstance(outcome, BudgetExceeded):
        return "not-sent"
    if isinstance(outcome, errors.JobFailed) and outcome.state in ("failed", "moderated"):
        return outcome.state
    if job is not None and job.state != "downloaded":
        return str(job.state)
    return "failed"


@dataclass
class RunStats:
    """Observed while running: wrap the display's event sink with `observe`."""

    configured_rate: float | None
    clock: Any = time.monotonic
    started: float = 0.0
    started_at: datetime = field(default_factory=now)
    submits: list[float] = field(default_factory=list)
    render_started: dict[str, float] = field(default_factory=dict)
    render_seconds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def observe(self, event: JobEvent) -> None:
        if event.kind == "submitted":
            at = self.clock()
            self.submits.append(at)
            self.render_started[event.local_id] = at
        elif event.kind == "done" and event.local_id in self.render_started:
            self.render_seconds[event.local_id] = self.clock() - self.render_started[event.local_id]

    @property
    def achieved_rate(self) -> float | None:
        """Submits per second between the first and the last submit of this run."""
        if len(self.submits) < 2:
            return None
        span = self.submits[-1] - self.submits[0]
        return (len(self.submits) - 1) / span if span > 0 else None

    def mean_render(self) -> float | None:
        seen = list(self.render_seconds.values())
        return sum(seen) / len(seen) if seen else None


def clip_line(
    clip: PlannedClip,
    job: JobRecord | None,
    outcome: object,
    view: dict[str, Any],
    variables: Mapping[str, Any],
) -> dict[str, Any]:
    """One results line: the `generate --json` object plus the batch's own keys
    (`variables`: the item's matrix values)."""
    line = dict(view)
    line.update(
        index=clip.index,
        variant=clip.variant,
        item_id=clip.item_id,
        fingerprint=clip.fingerprint,
        vars=dict(variables),
        reused=isinstance(outcome, ClipResult) and outcome.reused,
        batch_state=final_state(job, outcome),
    )
    if isinstance(outcome, BaseException) and line.get("error") is None:
        line["error"] = {"code": getattr(outcome, "code", None), "message": str(outcome)}
    return line


def summarize(
    plan: Plan,
    ledger: Ledger,
    outcomes: Sequence[tuple[PlannedClip, JobRecord | None, object]],
    stats: RunStats,
    *,
    rate_limited: int,
    exit_code: int,
    submitted_ids: set[str],
    batch_id: str | None = None,
) -> dict[str, Any]:
    """The `--summary` object."""
    states: Counter[str] = Counter()
    actual = 0.0
    slow: list[dict[str, Any]] = []
    for clip, job, outcome in outcomes:
        current = ledger.get(job.local_id) if job is not None else None
        states[final_state(current, outcome)] += 1
        if current is None:
            continue
        cost = ticks_to_usd(current.cost_usd_ticks)
        if current.local_id in submitted_ids and cost is not None:
            actual += cost
        reused = isinstance(outcome, ClipResult) and outcome.reused
        seconds = None if reused else _render_seconds(current, stats)
        if seconds is not None:
            slow.append(
                {
                    "index": clip.index,
                    "variant": clip.variant,
                    "item_id": clip.item_id,
                    "id": current.local_id,
                    "render_seconds": round(seconds, 2),
                    "path": current.output_path,
                }
            )
    slow.sort(key=lambda s: s["render_seconds"], reverse=True)
    wall = stats.clock() - stats.started
    achieved = stats.achieved_rate
    return {
        "schema": SCHEMA,
        "batch_id": batch_id,
        "source": plan.source,
        "started_at": stats.started_at.isoformat(),
        "finished_at": now().isoformat(),
        "wall_seconds": round(wall, 3),
        "items": plan.items,
        "clips": len(plan.clips),
        "total_clips": plan.total_clips,
        "plan": {
            "done": plan.count(ClipState.DONE),
            "in_flight": plan.count(ClipState.IN_FLIGHT),
            "to_submit": len(plan.to_submit),
            "failed": plan.count(ClipState.FAILED),
            "unknown": plan.count(ClipState.UNKNOWN),
        },
        "states": dict(sorted(states.items())),
        "cost": {
            "estimated_usd": plan.estimated_cost_usd,
            "actual_usd": round(actual, 4),
            "unpriced_clips": plan.unpriced,
        },
        "submits": len(stats.submits),
        "rate": {
            "configured_per_s": stats.configured_rate,
            "achieved_per_s": None if achieved is None else round(achieved, 3),
        },
        "rate_limited_429s": rate_limited,
        "slowest": slow[:SLOWEST],
        "exit_code": exit_code,
    }


def _render_seconds(job: JobRecord, stats: RunStats) -> float | None:
    if job.local_id in stats.render_seconds:
        return stats.render_seconds[job.local_id]
    if job.submitted_at and job.completed_at:
        return (job.completed_at - job.submitted_at).total_seconds()
    return None


def summary_words(summary: dict[str, Any]) -> list[str]:
    """The same summary for people, a few lines on stderr."""
    states = summary["states"]
    done = states.get("saved", 0) + states.get("reused", 0)
    # "3 of 3 clips saved (3 saved)" says nothing twice: the breakdown only when it adds.
    parts = [f"{n} {state}" for state, n in states.items()]
    breakdown = "" if parts == [f"{done} saved"] else f" ({', '.join(parts) or 'nothing to do'})"
    batch = f" {summary['batch_id']}" if summary.get("batch_id") else ""
    cost = summary["cost"]
    rate = summary["rate"]
    lines = [
        f"batch{batch} finished in {_human(summary['wall_seconds'])}: {done} of "
        f"{summary['clips']} clips saved{breakdown}",
        f"cost: estimated ${cost['estimated_usd']:.2f}, charged ${cost['actual_usd']:.2f}",
    ]
    if summary["submits"]:
        achieved = rate["achieved_per_s"]
        shown = f"{achieved:g}/s" if achieved is not None else "n/a"
        line = f"submits: {summary['submits']} at {shown} (limit {rate['configured_per_s']:g}/s)"
        limited = summary["rate_limited_429s"]
        if limited:
            line += f"; {limited} rate-limit answer{'s' if limited > 1 else ''} (429), each retried"
        lines.append(line)
    if summary["slowest"]:
        worst = summary["slowest"][0]
        lines.append(
            f"slowest render: {worst['render_seconds']:g} s (item {worst['index']}, {worst['id']})"
        )
    return lines


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
