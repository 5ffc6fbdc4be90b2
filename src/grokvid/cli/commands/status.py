"""`grokvid status`: what happened to my jobs?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from grokvid.cli.exits import handle_errors

if TYPE_CHECKING:
    from grokvid.api.config import Settings
    from grokvid.api.ledger import JobRecord, Ledger

STATES = (
    "created, submitting, submit-unknown, not-sent, rejected, pending, done, downloaded, "
    "failed, moderated, expired"
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
    from grokvid.api.jobs import refresh
    from grokvid.cli import render, session
    from grokvid.cli.exits import describe

    async def one(job: JobRecord) -> JobRecord:
        if job.state not in ("pending", "done") or job.request_id is None:
            return job
        try:
            be = session.job_backend(cfg, job.provider, job.base_url)
        except errors.GrokvidError as exc:
            render.note(f"warning: {job.local_id} not refreshed: {describe(exc)}")
            return job
        if be is None:
            return job
        try:
            async with be.provider() as provider:
                return await refresh(ledger, provider, job)
        except errors.GrokvidError as exc:
            render.note(f"warning: {job.local_id} not refreshed: {describe(exc)}")
            return job

    async def run() -> list[JobRecord]:
        return list(await asyncio.gather(*(one(job) for job in jobs)))

    return asyncio.run(run())
