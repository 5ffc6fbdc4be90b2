"""`grokvid status`: what happened to my jobs?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from grokvid.api.states import JobState
from grokvid.cli.exits import handle_errors

if TYPE_CHECKING:
    from grokvid.api.config import Settings
    from grokvid.api.ledger import JobRecord, Ledger

STATES = ", ".join(JobState)
MAX_LIMIT = 1_000_000
EMPTY_HINT = 'no jobs yet: try grokvid generate --sandbox "a red fox in fresh snow"'


@handle_errors
def status(
    ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ID", help="Local ids (gv-…) or request ids, or a unique prefix of either."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_LIMIT, help="Jobs to list.")] = 20,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help=f"Only jobs in this state (repeatable): {STATES}."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per job on stdout.")
    ] = False,
    no_refresh: Annotated[
        bool,
        typer.Option("--no-refresh", help="Show the ledger as it is; ask the service nothing."),
    ] = False,
) -> None:
    """Show recent jobs, or the named ones in detail.

    Example: grokvid status gv-3kq9zt2a

    Exits 6 if a named job failed, was moderated or expired (4 if it was rejected, 5 if its
    submit's outcome is unknown or it was never sent).
    """
    states = _checked_states(state or [])
    if not ids and not _ledger_has_jobs(states):
        # Answered from the file alone: an empty ledger costs no settings, pydantic or HTTP
        # (render imports the job machinery, so this one line is written here).
        from grokvid.cli.render import note

        note(_nothing_found(states))
        return
    from grokvid.api.ledger import Ledger
    from grokvid.cli import render

    ledger = Ledger()
    if ids:
        from grokvid.cli import session

        jobs = [session.find_job(ledger, ident) for ident in ids]
    else:
        known = _ledger_states(states)
        jobs = ledger.list(limit=limit, states=known or None) if known != [] else []
        for skipped in ledger.skipped:  # a row this version cannot read: the rest still show
            render.note(f"warning: {skipped}")
    if not no_refresh and any(_pollable(job) for job in jobs):
        jobs = _refresh_all(_settings(), ledger, jobs)
    if json_out:
        from grokvid.api.results import job_view

        for job in jobs:
            render.out(job_view(job).json_line())
    elif ids:
        for i, job in enumerate(jobs):
            if i:
                render.out("")
            _print_detail(job)
    elif jobs:
        render.print_jobs_table(jobs)
    else:
        render.note(_nothing_found(states))
    if ids:
        _exit_for_failures(jobs)


def _checked_states(states: list[str]) -> list[str]:
    from grokvid.api.errors import ValidationError

    bad = [s for s in states if s not in set(JobState)]
    if bad:
        raise ValidationError(
            f"Unknown job state {', '.join(map(repr, bad))}: use {STATES}.", "state"
        )
    return list(dict.fromkeys(states))


def _ledger_states(states: list[str]) -> list[str] | None:
    """The --state values the ledger can filter by (None: no filter). A state it does not
    record yet (not-sent, before JobState is wired in) has no rows: [] means "list nothing"."""
    if not states:
        return None
    from grokvid.api.ledger import STATES as KNOWN

    return [s for s in states if s in KNOWN]


def _nothing_found(states: list[str]) -> str:
    if not states:
        return EMPTY_HINT
    return f"No jobs in state {' or '.join(states)}."


def _ledger_has_jobs(states: list[str]) -> bool:
    """Whether the ledger file has any job (in one of `states`), without loading the ledger
    module and its models. Unsure (locked, an old or new schema) counts as yes."""
    from grokvid.api import paths

    path = paths.ledger_file()
    if not path.exists():
        return False
    import sqlite3

    query = "SELECT 1 FROM jobs"
    if states:
        query += f" WHERE state IN ({', '.join('?' for _ in states)})"
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return True  # let the ledger open it and say what is wrong
    try:
        return db.execute(query + " LIMIT 1", states).fetchone() is not None
    except sqlite3.Error:
        return True
    finally:
        db.close()


def _settings() -> Settings:
    from grokvid.cli import session

    return session.settings({})


def _pollable(job: JobRecord) -> bool:
    return job.state in set(JobState) and JobState(job.state).is_pollable and bool(job.request_id)


def _exit_for_failures(jobs: list[JobRecord]) -> None:
    """A named job that ended without a clip sets the exit code, as README's table says."""
    from grokvid.api import errors
    from grokvid.cli.exits import exit_code_for

    for job in jobs:
        if job.state not in set(JobState) or not JobState(job.state).is_failure:
            continue
        exc: errors.GrokvidError
        if job.state == JobState.SUBMIT_UNKNOWN:
            exc = errors.SubmitUnknown(job.state, local_id=job.local_id)
        else:
            exc = errors.JobFailed(job.state, state=job.state, code=job.error_code)
        raise typer.Exit(exit_code_for(exc))


def _refresh_all(cfg: Settings, ledger: Ledger, jobs: list[JobRecord]) -> list[JobRecord]:
    """Poll every unfinished job once, concurrently; a job that can't be reached keeps its row."""
    import asyncio

    from grokvid.api import errors
    from grokvid.api.jobs import same_service
    from grokvid.api.runner import Runner
    from grokvid.cli import render, session
    from grokvid.cli.exits import describe

    live = [
        job
        for job in jobs
        if job.state in ("pending", "done") and job.request_id and job.provider != "sandbox"
    ]
    if not live:
        return jobs
    try:
        endpoint = session.resume_endpoint(cfg, live)
    except errors.GrokvidError as exc:
        render.note(f"warning: jobs not refreshed: {describe(exc)}")
        return jobs
    reachable = [job for job in live if same_service(job.base_url, endpoint.base_url)]
    for job in live:
        if job not in reachable:
            render.note(
                f"warning: {job.local_id} not refreshed: it was sent to {job.base_url}; "
                f"use --base-url {job.base_url} to check it"
            )
    runner = Runner(ledger, endpoint)

    async def run() -> list[JobRecord | errors.GrokvidError]:
        async with runner:
            return await runner.refresh(reachable)

    fresh: dict[str, JobRecord] = {}
    for job, answer in zip(reachable, asyncio.run(run()), strict=True):
        if isinstance(answer, errors.GrokvidError):
            render.note(f"warning: {job.local_id} not refreshed: {describe(answer)}")
        else:
            fresh[job.local_id] = answer
    return [fresh.get(job.local_id, job) for job in jobs]


_STATE_WORDS = {
    JobState.CREATED: "recorded, not sent yet",
    JobState.SUBMITTING: "being sent (if grokvid stopped here, the service may have it)",
    JobState.SUBMIT_UNKNOWN: "the submit's outcome is unknown: check your usage at the service",
    JobState.NOT_SENT: "never reached the service: nothing was billed",
}


def _print_detail(job: JobRecord) -> None:
    """`grokvid status ID`: the job's fields as `key: value` lines."""
    from pathlib import Path

    from grokvid.cli import render

    view = render.job_view(job)
    words = _STATE_WORDS.get(JobState(job.state)) if job.state in set(JobState) else None
    view["state"] = f"{job.state} ({words})" if words else job.state
    for key in ("id", "request_id", "state", "progress", "model", "prompt"):
        if view[key] is not None:
            render.out(f"{key + ':':<14}{view[key]}")
    params = {k: v for k, v in view["params"].items() if k not in ("model", "image")}
    render.out(f"{'params:':<14}{', '.join(f'{k}={v}' for k, v in params.items())}")
    image = view["params"].get("image")
    if isinstance(image, dict):
        shown = image.get("file") or image.get("url")
        size = f" ({image['bytes']:,} bytes)" if image.get("bytes") else ""
        render.out(f"{'image:':<14}{shown}{size}")
    for key in ("error", "path", "submitted_at", "completed_at"):
        value = view[key]
        if isinstance(value, dict):
            value = f"[{value['code']}] {value['message']}" if value["code"] else value["message"]
        if key == "path" and value and not Path(value).exists():
            value = f"{value} (missing: grokvid download {job.local_id} fetches it again)"
        if value is not None:
            render.out(f"{key + ':':<14}{value}")
    cost = _cost(job.provider, view["cost_usd"], view["estimated_cost_usd"])
    if cost:
        render.out(f"{'cost:':<14}{cost}")


def _cost(provider: str, actual: float | None, estimated: float | None) -> str | None:
    if provider == "sandbox":
        return "$0 (sandbox)"  # the sandbox prices its clips for realism; nobody pays them
    if actual is not None:
        return f"${actual:.2f}"
    if estimated is not None:
        return f"${estimated:.2f} (estimated)"
    return None
