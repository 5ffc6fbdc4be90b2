"""Running a plan: specs from planned clips, each clip's state mapped to submit, resume or skip.

    checks = XaiChecks()                       -> check= / estimate= for plan_batch
    jobs = prepare(plan, runner, batch_id=...) -> rows written (created) before any POST
    outcomes = await execute(runner, jobs, options, on_outcome=...)

A clip the plan calls `done` or `in-flight` is picked up from its ledger row (`Runner.resume`
rules: a saved file is verified by size and sha256 and reused; a job with a request id is
polled and fetched, never POSTed again). `failed` and `unknown` clips are not sent: they get
an error outcome at once. Only `submit` clips get new rows and a POST.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grokvid.api import errors
from grokvid.api.batch.clip import ClipFields, fingerprint
from grokvid.api.batch.plan import Plan, PlannedClip
from grokvid.api.batch.resume import ClipState, resume_state
from grokvid.api.ledger import JobRecord, Ledger
from grokvid.api.runner import ClipPlan, Endpoint, Outcome, Runner, RunOptions
from grokvid.api.specs import MediaInput, Spec, clip_spec, media_of
from grokvid.api.states import JobState

SANDBOX_HOST = "http://sandbox.invalid"  # the built-in sandbox's port changes every run


def identity_base_url(endpoint: Endpoint) -> str:
    """The base URL a fingerprint is taken over: the built-in sandbox is one service for
    every run, whatever port it listens on this time."""
    return SANDBOX_HOST if endpoint.label == "sandbox" else endpoint.base_url


class XaiChecks:
    """`check`, `estimate` and `spec` for planned clips, through the xAI provider's own rules
    (the same ones `generate` applies). Media files are read once per path."""

    def __init__(self) -> None:
        self._media: dict[str, MediaInput | errors.ValidationError] = {}
        self.warnings: dict[str, int] = {}  # warning -> clips it applies to

    def spec(self, clip: ClipFields) -> Spec:
        media = None if clip.image is None else self._media_for(clip.image)
        if isinstance(media, errors.ValidationError):
            raise media
        return clip_spec(
            model=clip.model,
            prompt=clip.prompt,
            duration=clip.duration,
            aspect_ratio=clip.aspect_ratio,
            resolution=clip.resolution,
            audio=clip.audio,
            image=media,
        )

    def _media_for(self, source: str) -> MediaInput | errors.ValidationError:
        if source not in self._media:
            try:
                self._media[source] = MediaInput.from_source(source)
            except errors.ValidationError as exc:
                self._media[source] = exc
        return self._media[source]

    def check(self, clip: ClipFields) -> list[str]:
        """Problems as messages; warnings are counted in `self.warnings`."""
        from grokvid.api.providers import xai

        try:
            found = xai.check(self.spec(clip))
        except errors.ValidationError as exc:
            return [_lower_first(exc.message.rstrip("."))]
        for warning in found:
            self.warnings[warning] = self.warnings.get(warning, 0) + 1
        return []

    def estimate(self, clip: ClipFields) -> float | None:
        from grokvid.api.providers import xai

        try:
            return xai.estimate_usd(self.spec(clip))
        except errors.ValidationError:
            return None


def _lower_first(text: str) -> str:
    # "Duration 99 is out of range" reads as part of "FILE:3: duration 99 is out of range".
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def ledger_lookup(ledger: Ledger, *, sandbox: bool) -> Callable[[str], list[JobRecord]]:
    """The planner's lookup. Jobs the built-in sandbox dropped when its command ended cost
    nothing and can never be fetched: they are forgotten, so the clip is simply made again."""

    def lookup(fp: str) -> list[JobRecord]:
        found = ledger.find_by_fingerprint(fp)
        if sandbox:
            found = [job for job in found if job.error_code != "sandbox_stopped"]
        return found

    return lookup


@dataclass
class BatchJobs:
    """The plan turned into ledger rows: what to submit, what to pick up, what to report."""

    created: list[JobRecord] = field(default_factory=list)  # submit: new rows, one POST each
    found: list[JobRecord] = field(default_factory=list)  # done / in-flight: no POST
    skipped: list[tuple[PlannedClip, JobRecord | None, errors.GrokvidError]] = field(
        default_factory=list
    )  # failed / unknown, not retried
    clips: dict[str, PlannedClip] = field(default_factory=dict)  # local id -> clip
    batch_id: str | None = None  # this run's id, on every row it creates
    # Clips saved elsewhere before, now also at this run's path: (clip, "linked" or
    # "copied" or "found", where it was).
    placed: list[tuple[PlannedClip, str, Path]] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [job.local_id for job in (*self.found, *self.created)]


def prepare(
    plan: Plan, runner: Runner, checks: XaiChecks, *, batch_id: str | None = None
) -> BatchJobs:
    """Write a `created` row for every clip to submit (before any money can be spent) and
    sort the others into pick-ups and reports."""
    out = BatchJobs(batch_id=batch_id)
    to_create: list[tuple[PlannedClip, ClipPlan]] = []
    for clip in plan.clips:
        record = clip.record if isinstance(clip.record, JobRecord) else None
        if clip.state == ClipState.SUBMIT:
            spec = checks.spec(clip.fields)
            to_create.append(
                (clip, ClipPlan(spec, clip.path, batch_id, clip.variant, clip.fingerprint))
            )
        elif clip.state in (ClipState.DONE, ClipState.IN_FLIGHT) and record is not None:
            if clip.state == ClipState.DONE and record.output_path != str(clip.path):
                record = _placed(runner.ledger, clip, record, out)
            out.found.append(record)
            out.clips[record.local_id] = clip
        else:
            out.skipped.append((clip, record, not_retried(clip, record)))
    created = runner.create([plan_ for _, plan_ in to_create])
    for (clip, _), job in zip(to_create, created, strict=True):
        out.created.append(job)
        out.clips[job.local_id] = clip
    return out


def _placed(ledger: Ledger, clip: PlannedClip, record: JobRecord, out: BatchJobs) -> JobRecord:
    """Reuse only a clip at this run's path: one saved elsewhere is put here (and the ledger
    says so, so status, gallery and the files of this folder agree)."""
    from grokvid.api.batch.placing import place

    before = Path(record.output_path or "")
    how = "found" if clip.copy_from is None else place(before, clip.path, record.sha256)
    out.placed.append((clip, how, before))
    return ledger.update(record.local_id, output_path=str(clip.path))


def not_retried(clip: PlannedClip, record: JobRecord | None) -> errors.GrokvidError:
    """The error a clip the plan will not send again reports, with the flag that would."""
    ident = record.local_id if record is not None else clip.fingerprint[:8]
    if clip.state == ClipState.UNKNOWN:
        return errors.SubmitUnknown(
            f"Clip {clip.location} (job {ident}) was submitted before but its outcome is unknown, "
            "so the service may have made (and billed) it: check your usage, then add "
            "--retry-unknown to send it again.",
            local_id=ident,
        )
    state = record.state if record is not None else "failed"
    detail = f": {record.error_message}" if record is not None and record.error_message else ""
    return errors.JobFailed(
        f"Clip {clip.location} (job {ident}) ended {state} before{detail}; not sent again: "
        "add --retry-failed to submit it again.",
        state=state,
        request_id=record.request_id if record is not None else None,
        code=record.error_code if record is not None else None,
    )


async def execute(
    runner: Runner,
    batch: BatchJobs,
    options: RunOptions,
    *,
    on_outcome: Callable[[JobRecord, Outcome], None] | None = None,
) -> list[tuple[str, Outcome]]:
    """See every picked-up and new job through; (local id, outcome) in plan order.

    A clip a cost cap kept from being sent is marked `not-sent` (code `budget`), so the next
    run submits it once the cap allows.
    """

    def ended(job: JobRecord, outcome: Outcome) -> None:
        if isinstance(outcome, _budget_error()):
            current = runner.ledger.get(job.local_id)
            if current is not None and current.state == JobState.CREATED:
                runner.ledger.update(
                    job.local_id,
                    state=JobState.NOT_SENT,
                    error_code="budget",
                    error_message=outcome.message,
                )
        if on_outcome is not None:
            on_outcome(job, outcome)

    async with runner:
        outcomes = await runner.run_and_resume(
            batch.created, batch.found, options, on_outcome=ended
        )
    by_id = dict(zip(batch.ids, outcomes, strict=True))
    order = sorted(batch.ids, key=lambda i: (batch.clips[i].index, batch.clips[i].variant))
    return [(local_id, by_id[local_id]) for local_id in order]


def _budget_error() -> type[errors.GrokvidError]:
    from grokvid.api.budget import BudgetExceeded

    return BudgetExceeded


# -- generate --reuse: the same identity rule for one prompt ---------------------------------


def spec_fields(spec: Spec, *, variant: int, variants: int) -> ClipFields:
    """The planner's view of a `generate` request, so both commands fingerprint alike."""
    image, image_sha = None, None
    media = media_of(spec)
    if media:
        one = media[0]
        if one.file is not None:
            image, image_sha = str(Path(one.file).absolute()), one.sha256
        else:
            image = one.url or ""
            image_sha = hashlib.sha256(image.encode()).hexdigest()
    return ClipFields(
        prompt=spec.prompt,
        model=spec.model,
        duration=spec.duration if spec.duration is not None else 8,
        resolution=spec.resolution or "480p",
        aspect_ratio=spec.aspect_ratio or "16:9",
        audio=spec.audio,
        image=image,
        image_sha256=image_sha,
        variant=variant,
        variants=variants,
    )


def spec_fingerprints(spec: Spec, variants: int, endpoint: Endpoint) -> list[str]:
    """One fingerprint per variant of a `generate` request."""
    base = identity_base_url(endpoint)
    return [
        fingerprint(
            spec_fields(spec, variant=i, variants=variants),
            provider=endpoint.provider,
            base_url=base,
        )
        for i in range(1, variants + 1)
    ]


def reusable(ledger: Ledger, endpoint: Endpoint, fp: str) -> JobRecord | None:
    """The job to pick up instead of submitting: a saved clip still matching its sha256
    (reused) or one the service has (resumed). None: submit. A submit whose outcome is unknown
    raises SubmitUnknown rather than risk paying twice."""
    records = ledger_lookup(ledger, sandbox=endpoint.label == "sandbox")(fp)
    resume = resume_state(records, retry_failed=True)
    if resume.state == ClipState.UNKNOWN and isinstance(resume.record, JobRecord):
        job = resume.record
        raise errors.SubmitUnknown(
            f"The same request was submitted before as {job.local_id}, but its outcome is "
            "unknown, so the service may have made (and billed) it: check your usage, then "
            "run without --reuse to send it again.",
            local_id=job.local_id,
        )
    if resume.state in (ClipState.DONE, ClipState.IN_FLIGHT) and isinstance(
        resume.record, JobRecord
    ):
        return resume.record
    return None


def reuse_or_create(
    runner: Runner,
    spec: Spec,
    outputs: Sequence[Path],
    *,
    batch_id: str | None,
    reuse: bool,
) -> tuple[list[JobRecord], list[JobRecord]]:
    """generate: (found, created). Every new row carries its fingerprint, so a later
    `--reuse` (or a batch with the same request) finds it."""
    fps = spec_fingerprints(spec, len(outputs), runner.endpoint)
    found: list[JobRecord] = []
    plans: list[ClipPlan] = []
    for i, (fp, output) in enumerate(zip(fps, outputs, strict=True)):
        job = reusable(runner.ledger, runner.endpoint, fp) if reuse else None
        if job is not None:
            found.append(job)
        else:
            plans.append(ClipPlan(spec, output, batch_id=batch_id, variant=i, fingerprint=fp))
    return found, runner.create(plans)


__all__ = [
    "SANDBOX_HOST",
    "BatchJobs",
    "XaiChecks",
    "execute",
    "identity_base_url",
    "ledger_lookup",
    "not_retried",
    "prepare",
    "reusable",
    "reuse_or_create",
    "spec_fields",
    "spec_fingerprints",
]
