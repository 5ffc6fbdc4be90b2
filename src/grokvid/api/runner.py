"""The job runner: create → submit → wait → fetch → describe, for one clip or hundreds.

Every command and the Python API go through a `Runner`. It owns what must be right everywhere:
the ledger is written before each step can fail (a row says `submitting` before the POST's first
byte), a paid POST is re-sent only under the resend rule (`grokvid.api.retry`), one pooled HTTP
client serves every job of a provider in a run, concurrency is bounded, an interrupt leaves
every job findable, and a key only ever goes to its own provider's host.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from grokvid.api import errors, jobs, metadata, retry
from grokvid.api.download import (
    DownloadBusy,
    DownloadResult,
    download_clip,
    download_in_progress,
    finished_clip,
    remove_leftover_part,
    sha256_of,
)
from grokvid.api.events import EventSink, JobEvent
from grokvid.api.jobs import ClipResult, now
from grokvid.api.ledger import JobRecord, Ledger
from grokvid.api.poll import PollSchedule
from grokvid.api.providers import registry
from grokvid.api.providers.base import Connection, NotActedOn, ProviderClient, SubmitAnswer
from grokvid.api.retry import Backoff, RetryPolicy, call_with_retries, submit_by_rule
from grokvid.api.specs import Spec, spec_to_json
from grokvid.api.states import JobState

if TYPE_CHECKING:
    from grokvid.api.budget import Budget, Reservation
    from grokvid.api.ratelimit import SharedRateLimiter

Outcome = ClipResult | JobRecord | errors.GrokvidError
URL_REFRESHES = 2  # fresh URLs to ask for when the video host says 403/404/410
# How long a clip another process finished downloading may take to reach the ledger (its
# probe and sidecar) before this one concludes it stopped and fetches the clip itself.
OTHER_FINISH_GRACE = 5.0


def _noop(event: JobEvent) -> None:
    pass


@dataclass(frozen=True)
class Endpoint:
    """Where this run reaches a provider, and the key that may go there (and only there)."""

    provider: str  # the registry's name: "xai"
    base_url: str
    api_key: SecretStr
    label: str = ""  # what the ledger calls it: "xai", or "sandbox" for the built-in one
    transport: Any = None  # an httpx transport, for tests

    @property
    def ledger_name(self) -> str:
        return self.label or self.provider


@dataclass
class ClipPlan:
    """One clip to make: the spec, where it goes, and how it is grouped."""

    spec: Spec
    output: Path
    batch_id: str | None = None
    variant: int | None = None
    fingerprint: str | None = None


@dataclass
class RunOptions:
    wait: bool = True
    timeout: float = 600.0  # seconds for the whole run: polls, retries and downloads
    force: bool = False
    output_dir: Path | None = None  # resume: save here instead of where the job planned


@dataclass
class Runner:
    ledger: Ledger
    endpoint: Endpoint
    events: EventSink = _noop
    concurrency: int = 8
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    backoff: Backoff = field(default_factory=lambda: retry.default_backoff())
    on_retry: Callable[[str, str], None] | None = None  # (local_id, message)
    limiter: SharedRateLimiter | None = None  # submits per second, shared across processes
    budget: Budget | None = None  # cost caps: a submit reserves its estimate first
    patient: bool = False  # batch: a 429 never fails a clip, it only slows the rate
    fail_fast: bool = False  # stop submitting after the first failure
    previews: bool = False  # poster, contact sheet and WebP beside every saved clip
    rate_limited: int = 0  # 429s answered to this run's submits (each retried, never failed)
    _client: ProviderClient | None = None
    _specs: dict[str, Spec] = field(default_factory=dict)
    _stopped: errors.GrokvidError | None = None  # why no more POSTs go out in this run
    _reservations: dict[str, Reservation] = field(default_factory=dict)

    # --- the client -------------------------------------------------------------------

    def client(self) -> ProviderClient:
        """The one pooled client of this run (built inside the running event loop)."""
        if self._client is None:
            provider = registry.get(self.endpoint.provider)
            self._client = provider.create(
                Connection(self.endpoint.base_url, self.endpoint.api_key, self.endpoint.transport)
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Runner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _policy(self, local_id: str, deadline: float | None) -> RetryPolicy:
        def said(message: str) -> None:
            if self.on_retry is not None:
                self.on_retry(local_id, message)

        return RetryPolicy(self.backoff, self.sleep, self.clock, deadline, said)

    # --- create ------------------------------------------------------------------------

    def create(self, plans: Sequence[ClipPlan]) -> list[JobRecord]:
        """Write every row (state `created`) before any money can be spent."""
        info = registry.get(self.endpoint.provider).info
        created = []
        for plan in plans:
            spec = plan.spec
            if spec.kind not in info.operations:
                can = ", ".join(sorted(info.operations))
                raise errors.ValidationError(
                    f"{info.title} cannot do {spec.kind} through grokvid: it offers {can}.", "kind"
                )
            job = self.ledger.create(
                provider=self.endpoint.ledger_name,
                base_url=self.endpoint.base_url,
                model=spec.model,
                prompt=spec.prompt,
                params=_params(spec),
                estimated_cost_usd=registry.get(self.endpoint.provider).estimate(spec),
                batch_id=plan.batch_id,
                variant=plan.variant,
                spec=spec_to_json(spec),
                fingerprint=plan.fingerprint,
            )
            job = self.ledger.update(job.local_id, output_path=str(plan.output.absolute()))
            self._specs[job.local_id] = spec
            created.append(job)
        return created

    # --- run ---------------------------------------------------------------------------

    async def run(self, created: Sequence[JobRecord], options: RunOptions) -> list[Outcome]:
        """Submit new jobs and see every one through; one outcome per job, in order."""
        return await self.run_and_resume(created, (), options)

    async def resume(self, found: Sequence[JobRecord], options: RunOptions) -> list[Outcome]:
        """Pick up jobs from the ledger (download, status --wait, a rerun): never a POST."""
        return await self.run_and_resume((), found, options)

    async def run_and_resume(
        self,
        created: Sequence[JobRecord],
        found: Sequence[JobRecord],
        options: RunOptions,
        *,
        on_outcome: Callable[[JobRecord, Outcome], None] | None = None,
    ) -> list[Outcome]:
        """`resume(found)` and `run(created)` under one concurrency gate (a batch has both).

        `on_outcome(job, outcome)` is called as each job ends, so results can be written as
        clips finish. Outcomes come back in order: the found jobs', then the created ones'.
        """
        deadline = self.clock() + options.timeout
        gate = asyncio.Semaphore(max(1, self.concurrency))

        async def one(job: JobRecord, new: bool) -> Outcome:
            async with gate:
                try:
                    if new:
                        outcome: Outcome = await self._drive(job, options, deadline)
                    else:
                        outcome = await self._pick_up(job, options, deadline)
                except errors.GrokvidError as exc:
                    if new:
                        self._stop_if_failing_fast(job)
                    outcome = exc
                finally:
                    if new:
                        self._settle(job.local_id)
            if on_outcome is not None:
                on_outcome(job, outcome)
            return outcome

        jobs = [*found, *created]
        try:
            return list(
                await asyncio.gather(
                    *(one(job, False) for job in found), *(one(job, True) for job in created)
                )
            )
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise self.interrupted([job.local_id for job in jobs]) from None

    def _stop_if_failing_fast(self, job: JobRecord) -> None:
        if self.fail_fast and self._stopped is None:
            self._stopped = errors.JobFailed(
                "Not submitted: an earlier clip failed and "
                f"{errors.option('fail_fast')} is on ({job.local_id}).",
                state="not-sent",
                code="fail_fast",
            )

    async def refresh(self, found: Sequence[JobRecord]) -> list[JobRecord | errors.GrokvidError]:
        """Ask the service once about each job the ledger thinks it still knows."""

        async def one(job: JobRecord) -> JobRecord | errors.GrokvidError:
            if not JobState(job.state).is_pollable or job.request_id is None:
                return job
            try:
                return await self._poll_once(job, self._policy(job.local_id, None))
            except errors.GrokvidError as exc:
                return exc

        return list(await asyncio.gather(*(one(job) for job in found)))

    # --- the steps ---------------------------------------------------------------------

    async def _drive(self, job: JobRecord, options: RunOptions, deadline: float) -> Outcome:
        job = await self._submit(job, deadline)
        if not options.wait:
            return job
        return await self._see_through(job, options, deadline, Path(job.output_path or ""))

    async def _pick_up(self, job: JobRecord, options: RunOptions, deadline: float) -> Outcome:
        planned = Path(job.output_path or jobs.clip_name(job.prompt, job.local_id))
        dest = options.output_dir.expanduser() / planned.name if options.output_dir else planned
        dest = dest.absolute()
        state = JobState(job.state)
        changed = False
        if state == JobState.DOWNLOADED and not options.force:
            kept = await self._kept_clip(job, dest)
            if kept is not None:
                return kept
            changed = dest.exists()
            if changed:
                self.events(
                    JobEvent(
                        job.local_id,
                        "warning",
                        job.state,
                        message=f"{dest} changed since it was downloaded (its size or sha256 "
                        "differs); downloading the clip again",
                    )
                )
        elif dest.exists() and not options.force and not state.is_failure:
            own = await self._own_finished_clip(job, dest)
            if own is not None:
                return own
            raise errors.ValidationError(
                f"{dest} already exists: pass {errors.option('force')} to overwrite, or use "
                f"{errors.option('output_dir')}.",
                "output",
            )
        jobs.raise_if_unsent(job)
        if job.provider == "sandbox" and self.endpoint.label != "sandbox":
            raise jobs.sandbox_gone(job)
        self._check_host(job)
        if state == JobState.DOWNLOADED:  # fetching a saved clip again: a fresh URL first
            url_before = job.video_url_fetched_at
            job = await self._poll_once(job, self._policy(job.local_id, deadline))
            if job.video_url_fetched_at == url_before:
                what = (
                    f"{dest} changed since job {job.local_id} downloaded it, and"
                    if changed
                    else f"Job {job.local_id}: "
                )
                raise errors.JobFailed(
                    f"{what} the service no longer has the clip "
                    f"({job.error_message or 'no fresh URL'}).",
                    state="expired",
                    request_id=job.request_id,
                )
        elif state != JobState.DONE or not job.video_url:
            job = await self._poll_once(job, self._policy(job.local_id, deadline))
        jobs.raise_if_failed(job)
        if job.state == JobState.PENDING and not options.wait:
            raise errors.WaitTimeout(
                f"Job {job.local_id} is still rendering ({job.progress or 0}%): "
                f"add {errors.option('wait')}: {errors.resume(job.local_id)}",
                request_id=job.request_id,
            )
        if changed:
            options = RunOptions(options.wait, options.timeout, True, options.output_dir)
        saved = await self._see_through(job, options, deadline, dest)
        if saved.path != planned.absolute():
            remove_leftover_part(planned)  # e.g. a full folder's .part: the clip is elsewhere now
        return saved

    def _check_host(self, job: JobRecord) -> None:
        """A key goes only to the host it is configured for, never to a job's old host."""
        if not jobs.same_service(job.base_url, self.endpoint.base_url):
            raise errors.ValidationError(
                f"Job {job.local_id} was sent to {job.base_url}, but grokvid is configured for "
                f"{self.endpoint.base_url}. To reach it with your key, run with "
                f"{errors.option('base_url')} {job.base_url} (or GROKVID_BASE_URL={job.base_url}).",
                "base_url",
            )

    async def _submit(self, job: JobRecord, deadline: float) -> JobRecord:
        spec = self._specs[job.local_id]
        client = self.client()
        if self._stopped is not None:
            raise self._stopped
        if self.budget is not None:
            try:
                self._reservations[job.local_id] = self.budget.reserve(job.estimated_cost_usd)
            except errors.GrokvidError as exc:
                self._stopped = exc
                raise
        if self.limiter is not None and not await self._take_a_turn(deadline):
            no_turn = errors.WaitTimeout(
                f"Job {job.local_id} got no turn in the submit rate shared with other grokvid "
                "processes before the time limit: nothing was sent. Run it again later, or "
                f"with a longer {errors.option('timeout')}."
            )
            self._not_sent(job, no_turn, "rate_limited")
            raise no_turn
        # Before the first byte: a process killed mid-POST leaves "submitting", never "created".
        job = self.ledger.update(job.local_id, state=JobState.SUBMITTING)
        self.events(JobEvent(job.local_id, "submitting", JobState.SUBMITTING))
        policy = self._policy(job.local_id, deadline)
        if self.patient:
            policy.backoff = Backoff(
                policy.backoff.initial, policy.backoff.maximum, attempts=10_000
            )
        try:
            accepted = await submit_by_rule(lambda: self._attempt(client, spec, deadline), policy)
        except errors.SubmitUnknown as exc:
            self.ledger.update(
                job.local_id, state=JobState.SUBMIT_UNKNOWN, error_message=exc.message
            )
            exc.local_id = job.local_id
            exc.message = (
                f"{exc.message} Job {job.local_id} is marked submit-unknown; {self._check_hint()}."
            )
            raise
        except errors.SendFailed as exc:
            self._not_sent(job, exc, "network")
            exc.message = (
                f"{exc.message.rstrip('.')}. Nothing was sent: is {self.endpoint.base_url} right "
                "and reachable?"
            )
            raise
        except (errors.RateLimited, errors.AuthError) as exc:
            self._not_sent(
                job, exc, "rate_limited" if isinstance(exc, errors.RateLimited) else "auth"
            )
            raise
        except errors.APIError as exc:
            self.ledger.update(
                job.local_id,
                state=JobState.REJECTED,
                error_code=exc.code,
                error_message=exc.message,
            )
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.ledger.update(
                job.local_id,
                state=JobState.SUBMIT_UNKNOWN,
                error_message="interrupted while submitting",
            )
            raise
        # Recorded first (milliseconds), then told: a printed "submitted" is always in the
        # ledger, and when the ledger cannot take it the error carries the request id instead.
        job = self._record_submitted(job, accepted.request_id, accepted.handle)
        if job.local_id in self._reservations:
            self._reservations[job.local_id].mark_recorded()
        self.events(
            JobEvent(
                job.local_id, "submitted", JobState.PENDING, progress=0, message=accepted.request_id
            )
        )
        return job

    async def _attempt(self, client: ProviderClient, spec: Spec, deadline: float) -> SubmitAnswer:
        """One POST; a 429 slows every process sharing the key before the engine retries."""
        answer = await client.submit(spec)
        if isinstance(answer, NotActedOn) and not answer.never_sent:  # a 429 reached us
            self.rate_limited += 1
        if isinstance(answer, NotActedOn) and not answer.never_sent and self.limiter is not None:
            self.limiter.on_rate_limited(answer.retry_after)
            after = answer.retry_after
            if after is None or self.clock() + after <= deadline:  # else the engine gives up
                await self._take_a_turn(deadline)
        return answer

    async def _take_a_turn(self, deadline: float) -> bool:
        """A token of the shared submit rate, waiting no later than `deadline` (False: none)."""
        assert self.limiter is not None
        remaining = deadline - self.clock()
        if remaining <= 0:
            return False
        try:
            await asyncio.wait_for(self.limiter.acquire(), remaining)
        except TimeoutError:
            return False
        return True

    def _settle(self, local_id: str) -> None:
        """Replace a clip's reservation with what it cost (or free it: nothing was made)."""
        reservation = self._reservations.pop(local_id, None)
        if reservation is None or self.budget is None:
            return
        job = self.ledger.get(local_id)
        if job is None or job.state in (JobState.NOT_SENT, JobState.REJECTED, JobState.CREATED):
            self.budget.release(reservation)
        elif job.cost_usd_ticks is not None:
            self.budget.settle(reservation, job.cost_usd_ticks / 10_000_000_000)
        else:
            self.budget.settle(reservation, None)  # unknown yet: the estimate stays counted

    def _record_submitted(
        self, job: JobRecord, request_id: str, handle: dict[str, Any]
    ) -> JobRecord:
        fields: dict[str, Any] = {
            "request_id": request_id,
            "state": JobState.PENDING,
            "submitted_at": now(),
            "handle": handle,
        }
        try:
            if self.ledger.record_or_journal(job.local_id, **fields):
                return self.ledger.update(job.local_id)
            # Kept in the journal beside the ledger; replayed into it on the next open.
            self.events(
                JobEvent(
                    job.local_id,
                    "warning",
                    JobState.PENDING,
                    message=f"the ledger could not record request {request_id}; it is kept "
                    f"in {self.ledger.journal_path} until the ledger can take it",
                )
            )
            return job.model_copy(update=fields)
        except Exception as exc:  # even the journal failed: the paid job must not vanish
            raise errors.LedgerWriteFailed(
                f"Job {job.local_id} was accepted as request {request_id}, but the ledger "
                f"{self.ledger.path} could not record it ({exc}). Free space, then fetch it "
                f"with: {errors.resume(request_id)}",
                local_id=job.local_id,
                request_id=request_id,
            ) from exc

    def _not_sent(self, job: JobRecord, exc: errors.GrokvidError, code: str) -> None:
        self.ledger.update(
            job.local_id, state=JobState.NOT_SENT, error_code=code, error_message=exc.message
        )

    def _check_hint(self) -> str:
        if self.endpoint.label == "sandbox" or jobs.is_local(self.endpoint.base_url):
            return "a local server charges nothing"
        console = registry.get(self.endpoint.provider).info.console
        return f"check your usage at {console} before retrying"

    async def _see_through(
        self, job: JobRecord, options: RunOptions, deadline: float, dest: Path
    ) -> ClipResult:
        with jobs.resumable(job):
            if job.state not in (JobState.DONE, JobState.DOWNLOADED) or not job.video_url:
                job = await self._wait(job, deadline)
            return await self._fetch(job, dest, options, deadline)

    async def _poll_once(self, job: JobRecord, policy: RetryPolicy) -> JobRecord:
        client = self.client()
        handle = _handle_of(job)
        status = await call_with_retries(lambda: client.status(handle), policy)
        return jobs.record(self.ledger, job, status)

    async def _wait(self, job: JobRecord, deadline: float) -> JobRecord:
        """Poll until done (returned) or failed/moderated/expired (JobFailed raised)."""
        schedule = PollSchedule()
        start = self.clock()
        since_submit = (now() - job.submitted_at).total_seconds() if job.submitted_at else 0.0
        delay = schedule.first
        last_state = job.state
        policy = self._policy(job.local_id, deadline)
        while True:
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise errors.WaitTimeout(
                    f"Stopped waiting at the time limit. {jobs.resume_hint(job)}",
                    request_id=job.request_id,
                )
            await self.sleep(min(delay, remaining))
            job = await self._poll_once(job, policy)
            elapsed = self.clock() - start
            if job.state != last_state or job.state == JobState.PENDING:
                kind = "progress" if job.state == JobState.PENDING else str(job.state)
                self.events(
                    JobEvent(
                        job.local_id,
                        kind,
                        job.state,
                        progress=job.progress,
                        elapsed=elapsed + since_submit,
                    )
                )
            last_state = job.state
            if job.state == JobState.DONE:
                # Watched to the end: the render time is known to within one poll interval.
                seconds = round(elapsed + since_submit, 2)
                return self.ledger.update(job.local_id, service_render_seconds=seconds)
            jobs.raise_if_failed(job)
            delay = schedule.next_delay(elapsed + since_submit, job.progress)

    async def _fetch(
        self, job: JobRecord, dest: Path, options: RunOptions, deadline: float
    ) -> ClipResult:
        """Download with every check, asking for a fresh URL when the old one is gone."""
        metadata.check_free(metadata.sidecar_path(dest), force=options.force)
        dest.parent.mkdir(parents=True, exist_ok=True)

        def progress(done: int, total: int | None) -> None:
            self.events(
                JobEvent(job.local_id, "downloading", job.state, bytes_done=done, bytes_total=total)
            )

        for refresh_no in range(URL_REFRESHES + 1):
            try:
                remaining = max(1.0, deadline - self.clock())
                result = await asyncio.wait_for(
                    self._download_or_wait(job, dest, options.force, progress), remaining
                )
                break
            except TimeoutError:
                raise errors.WaitTimeout(
                    f"The download of {dest} passed the time limit. {jobs.resume_hint(job)}",
                    request_id=job.request_id,
                ) from None
            except errors.URLExpired:
                if refresh_no == URL_REFRESHES:
                    raise
                job = await self._poll_once(job, self._policy(job.local_id, deadline))
                jobs.raise_if_failed(job)
                self.events(
                    JobEvent(
                        job.local_id,
                        "warning",
                        job.state,
                        message="video URL expired; fetched a fresh one",
                    )
                )
        if isinstance(result, ClipResult):
            return result  # another grokvid process saved it
        saved = await jobs.finish(self.ledger, job, result, emit=self.events)
        if self.previews:
            await self._make_previews(saved)
        return saved

    async def _download_or_wait(
        self,
        job: JobRecord,
        dest: Path,
        force: bool,
        progress: Callable[[int, int | None], None],
    ) -> DownloadResult | ClipResult:
        """download_clip; when another process is fetching the same clip, its saved clip."""
        while True:
            try:
                return await download_clip(
                    job.video_url or "", dest, force=force, on_progress=progress
                )
            except DownloadBusy:
                other = await self._other_download(job, dest)
                if other is not None:
                    return other

    async def _other_download(self, job: JobRecord, dest: Path) -> ClipResult | None:
        """Wait for the process downloading this clip: its file once the ledger records it,
        or None if it stopped without saving (then this process fetches the clip)."""
        free_since: float | None = None
        while True:
            current = self.ledger.get(job.local_id)
            if current is not None and current.state == JobState.DOWNLOADED:
                kept = await self._kept_clip(current, Path(current.output_path or dest))
                if kept is not None:
                    return kept
            if download_in_progress(dest):
                free_since = None
            elif free_since is None:
                free_since = self.clock()
            elif self.clock() - free_since > OTHER_FINISH_GRACE:
                return None
            await self.sleep(0.2)

    async def _make_previews(self, saved: ClipResult, *, force: bool = False) -> None:
        """Pictures from the saved file itself; a clip that can't be decoded only warns."""
        from grokvid.api import previews

        try:
            made = await asyncio.to_thread(
                previews.make_previews,
                saved.path,
                caption=previews.Caption.from_job(saved.job),
                force=force,
            )
            previews.record_in_sidecar(saved.metadata_path, made)
        except errors.GrokvidError as exc:
            self.events(JobEvent(saved.job.local_id, "warning", saved.job.state, message=str(exc)))
            return
        self.events(
            JobEvent(saved.job.local_id, "previews", saved.job.state, message=str(made.poster.path))
        )

    async def _kept_clip(self, job: JobRecord, dest: Path) -> ClipResult | None:
        """A downloaded clip still on disk, checked by size and sha256; None to fetch again."""
        dest = dest.absolute()
        if not dest.is_file():
            return None
        if job.bytes is not None and dest.stat().st_size != job.bytes:
            return None
        digest = await asyncio.to_thread(sha256_of, dest)
        if job.sha256 and digest != job.sha256:
            return None
        sidecar = metadata.sidecar_path(dest)
        if sidecar.exists():
            kept = ClipResult(job=job, path=dest, metadata_path=sidecar, reused=True)
            if self.previews:
                await self._make_previews(kept)
            return kept
        result = DownloadResult(
            path=dest, bytes=dest.stat().st_size, sha256=digest, content_type=None, resumed_from=0
        )
        return await jobs.finish(self.ledger, job, result, emit=self.events)

    async def _own_finished_clip(self, job: JobRecord, dest: Path) -> ClipResult | None:
        """A clip saved by an earlier run that was cut off before the ledger said so: the
        download's finished-marker, or the ledger's size and sha256, vouch for it."""
        result = await finished_clip(
            dest.absolute(), expect_sha256=job.sha256, expect_bytes=job.bytes
        )
        if result is None:
            return None
        return await jobs.finish(self.ledger, job, result, emit=self.events)

    # --- interrupts ----------------------------------------------------------------------

    def interrupted(self, ids: Sequence[str]) -> errors.Interrupted:
        """Ctrl-C or SIGTERM: keep every job findable and say, once, how to pick them up."""
        unknown, resumable = [], []
        sandbox = self.endpoint.label == "sandbox"
        for local_id in ids:
            job = self.ledger.get(local_id)
            if job is None:
                continue
            if job.state in (JobState.SUBMITTING, JobState.SUBMIT_UNKNOWN) and not sandbox:
                if job.state == JobState.SUBMITTING:
                    self.ledger.update(
                        local_id, state=JobState.SUBMIT_UNKNOWN, error_message="interrupted"
                    )
                unknown.append(local_id)
            elif job.request_id and not JobState(job.state).is_terminal and not sandbox:
                resumable.append(local_id)
        parts = []
        if resumable:
            parts.append(f"resume with: {errors.resume(' '.join(resumable))}")
        if unknown:
            console = registry.get(self.endpoint.provider).info.console
            parts.append(
                f"the submit of {', '.join(unknown)} was cut off, so the service may have "
                f"created (and will bill) it: check your usage at {console} before generating again"
            )
        if not parts:
            parts.append(
                "nothing to resume: the built-in sandbox stopped with this command"
                if sandbox
                else "nothing was submitted"
            )
        return errors.Interrupted("; ".join(parts), job_ids=list(ids))


def limiter_for(endpoint: Endpoint, rate: float) -> SharedRateLimiter | None:
    """The submit rate shared by every grokvid process using this key on this host.

    The built-in sandbox lives and dies with one command, so it shares no rate.
    """
    if endpoint.label == "sandbox":
        return None
    from grokvid.api.ratelimit import SharedRateLimiter, bucket_key

    key = bucket_key(endpoint.provider, endpoint.base_url, endpoint.api_key.get_secret_value())
    return SharedRateLimiter(key, rate)


def budget_for(
    ledger: Ledger,
    endpoint: Endpoint,
    *,
    max_cost: float | None = None,
    daily_max_cost: float | None = None,
) -> Budget | None:
    """The caps of a run: `max_cost` for this run, `daily_max_cost` over the ledger's last 24 h.

    The built-in sandbox costs nothing and is never capped. A served sandbox on loopback is
    capped by its own prices, so scripts can test their caps against it; its spending is
    counted apart from the real service's.
    """
    if endpoint.label == "sandbox" or (max_cost is None and daily_max_cost is None):
        return None
    from grokvid.api.budget import Budget

    local = jobs.is_local(endpoint.base_url)

    return Budget(
        max_cost,
        daily_max_cost_usd=daily_max_cost,
        spent_since=lambda when: spent_since(ledger, when, local=local),
    )


def spent_since(ledger: Ledger, when: Any, *, local: bool = False) -> float:
    """USD charged (or, until known, estimated) for jobs the service may bill since `when`:
    the real services' jobs, or with `local` a served sandbox's."""
    return ledger.spent_since(when, local=local)


def _params(spec: Spec) -> dict[str, Any]:
    """The 0.1 `params` column: the request's parameters, media as their records."""
    from grokvid.api.specs import media_of

    params: dict[str, Any] = {
        "model": spec.model,
        "prompt": spec.prompt,
        "duration": spec.duration,
        "aspect_ratio": spec.aspect_ratio,
        "resolution": spec.resolution,
        "generate_audio": spec.audio,
    }
    media = media_of(spec)
    if media:
        params["image"] = media[0].record()
    if not spec.prompt.strip() and media:
        del params["prompt"]
    return params


def _handle_of(job: JobRecord) -> dict[str, Any]:
    return job.handle or {"request_id": job.request_id}
