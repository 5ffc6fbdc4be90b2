"""`grokvid status`: what happened to my jobs?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from grokvid.cli.exits import handle_errors

if TYPE_CHECKING:
    from grokvid.api.config import Settings
    from grokvid.api.ledger import JobRecord, Ledger

STATES = (
    "created, submitting, submit-unknown, not-sent, rejected, pending, done, downloaded, failed, "
    "moderated, expired"
)


@handle_errors
def status(
    ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[ID...]", help="Local ids (gv-…) or request ids, or a unique prefix of either."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Jobs to list.")] = 20,
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

    Exits 6 if a named job failed, was moderated or expired.
    """
    from grokvid.api import errors
    from grokvid.api.ledger import Ledger
    from grokvid.cli import render, session

    cfg = session.settings({})
    ledger = Ledger()
    if ids:
        jobs = [session.find_job(ledger, ident) for ident in ids]
    else:
        jobs = ledger.list(limit=limit, states=state or None)  # checks the --state values
    if not no_refresh:
        jobs = _refresh_all(cfg, ledger, jobs)
    if json_out:
        render.print_json_lines(render.job_view(job) for job in jobs)
    elif ids:
        for i, job in enumerate(jobs):
            if i:
                render.out("")
            render.print_job_detail(job)
    elif jobs:
        render.print_jobs_table(jobs)
    else:
        render.note('no jobs yet: try grokvid generate --sandbox "a red fox in fresh snow"')
    failed = [job for job in jobs if job.state in ("failed", "moderated", "expired", "rejected")]
    if ids and failed:
        from grokvid.cli.exits import exit_code_for

        first = failed[0]
        raise typer.Exit(exit_code_for(errors.JobFailed(first.state, state=first.state)))


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
