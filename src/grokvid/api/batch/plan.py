"""Items -> clips: merge every settings layer, expand variants, name, identify and check.

Precedence, lowest first: built-ins < config file < environment (all three already resolved
into `BaseFields`) < the manifest's `defaults:` < the batch command's flags < the item's own
fields. Nothing is sent here: `plan_batch` either returns a Plan or raises BatchProblems with
every problem at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grokvid.api.batch.builder import ClipBuilder
from grokvid.api.batch.clip import BaseFields, Check, ClipFields, Estimate, Lookup, PlanOptions
from grokvid.api.batch.formats import BatchSource
from grokvid.api.batch.problems import BatchProblems, Problem
from grokvid.api.batch.resume import ClipState, JobRecordLike, file_sha256, resume_state


@dataclass(frozen=True)
class PlannedClip:
    index: int  # 1-based position of the item in the batch
    variant: int
    location: str
    fields: ClipFields
    fingerprint: str
    state: ClipState
    path: Path
    body: dict[str, Any]
    estimated_cost_usd: float | None
    record: JobRecordLike | None = None
    # Saved earlier at another path: the runner puts it at `path` first (copy_from -> path).
    copy_from: Path | None = None

    @property
    def item_id(self) -> str | None:
        return self.fields.item_id

    def dry_run(self) -> dict[str, Any]:
        """The `--dry-run` object for this clip."""
        return {
            "index": self.index,
            "variant": self.variant,
            "item_id": self.item_id,
            "fingerprint": self.fingerprint,
            "state": str(self.state),
            "path": str(self.path),
            "location": self.location,
            "estimated_cost_usd": self.estimated_cost_usd,
            "body": self.body,
        }

    def dry_run_line(self) -> str:
        return json.dumps(self.dry_run(), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Plan:
    """The checked clips of this run (this shard's, when sharded) and what will happen."""

    source: str
    items: int
    clips: tuple[PlannedClip, ...]
    total_clips: int  # before shard selection

    def count(self, state: ClipState) -> int:
        return sum(1 for clip in self.clips if clip.state == state)

    @property
    def to_submit(self) -> tuple[PlannedClip, ...]:
        return tuple(clip for clip in self.clips if clip.state == ClipState.SUBMIT)

    @property
    def estimated_cost_usd(self) -> float:
        """Estimate for the clips to submit; clips of unknown price count as 0 (see below)."""
        return round(sum(c.estimated_cost_usd or 0.0 for c in self.to_submit), 4)

    @property
    def unpriced(self) -> int:
        """Clips to submit whose price is unknown (a model missing from the price table)."""
        return sum(1 for c in self.to_submit if c.estimated_cost_usd is None)

    def estimated_submit_seconds(self, rate: float) -> float:
        """How long submitting takes at `rate` submits per second (rendering not included)."""
        return len(self.to_submit) / rate if rate > 0 else float("inf")

    def summary_line(self, rate: float) -> str:
        """The one plan line shown before the first POST."""
        shard = f" (this shard: {len(self.clips)} of {self.total_clips})" if self.sharded else ""
        cost = f"${self.estimated_cost_usd:.2f}"
        if self.unpriced:
            cost += f" + {self.unpriced} clip(s) of unknown price"
        seconds = self.estimated_submit_seconds(rate)
        return (
            f"{self.items} items, {len(self.clips)} clips{shard}: {self.count(ClipState.DONE)} "
            f"done, {self.count(ClipState.IN_FLIGHT)} in flight, "
            f"{self.count(ClipState.FAILED)} failed, {self.count(ClipState.UNKNOWN)} unknown, "
            f"{len(self.to_submit)} to submit; estimated {cost}; submitting takes about "
            f"{_duration(seconds)} at {rate:g}/s"
        )

    @property
    def sharded(self) -> bool:
        return len(self.clips) != self.total_clips


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "forever"
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def plan_batch(
    source: BatchSource,
    base: BaseFields,
    options: PlanOptions,
    *,
    check: Check,
    lookup: Lookup,
    estimate: Estimate,
) -> Plan:
    """Check every clip of `source` and decide what to do with each; send nothing.

    `check(fields)` returns problems as messages (the same rules `generate` applies);
    `lookup(fingerprint)` returns the ledger's records for that clip; `estimate(fields)` is the
    clip's price in USD or None. Raises BatchProblems listing every problem found.
    """
    builder = ClipBuilder(source, base, options, check=check, estimate=estimate)
    clips = builder.build()
    problems = builder.problems
    selected: list[PlannedClip] = []
    for clip in clips:
        position = source.items[clip.index - 1].position
        if options.shard is not None and not options.shard.contains(clip.fingerprint):
            continue
        resume = resume_state(
            lookup(clip.fingerprint),
            retry_failed=options.retry_failed,
            retry_unknown=options.retry_unknown,
        )
        path = clip.path
        record = resume.record
        copy_from = None
        saved = Path(record.output_path) if record is not None and record.output_path else None
        if saved is not None and resume.state == ClipState.DONE and saved != clip.path:
            # Saved elsewhere before: the clip belongs where this run puts its clips too.
            if not (path.exists() and file_sha256(path) == getattr(record, "sha256", None)):
                copy_from = saved
        elif saved is not None and resume.state != ClipState.SUBMIT:
            path = saved  # fetched again, or a changed file: where the ledger has it
        if resume.changed_file is not None and not options.force:
            problems.append(
                Problem(
                    clip.location,
                    f"{resume.changed_file} is not the clip downloaded earlier (its sha256 "
                    "differs): move it away, or force to download the clip over it",
                    position,
                )
            )
        elif (
            resume.state in (ClipState.SUBMIT, ClipState.IN_FLIGHT) or copy_from is not None
        ) and not options.force:
            if resume.changed_file is None and path.exists():
                problems.append(
                    Problem(
                        clip.location,
                        f"{path} already exists: move it, choose another name, or force "
                        "to overwrite it",
                        position,
                    )
                )
        selected.append(
            PlannedClip(
                clip.index,
                clip.variant,
                clip.location,
                clip.fields,
                clip.fingerprint,
                resume.state,
                path,
                clip.body,
                clip.estimated_cost_usd,
                record,
                copy_from,
            )
        )
    all_problems = [*source.problems, *problems]
    if all_problems:
        raise BatchProblems(all_problems)
    return Plan(source.name, builder.item_count, tuple(selected), len(clips))


__all__ = ["BaseFields", "Plan", "PlanOptions", "PlannedClip", "plan_batch"]
