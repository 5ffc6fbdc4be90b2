"""`grokvid download`: fetch finished clips again, with the same checks and metadata."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from grokvid.cli.exits import handle_errors

if TYPE_CHECKING:
    from grokvid.api.config import Settings
    from grokvid.api.jobs import ClipResult
    from grokvid.api.ledger import JobRecord, Ledger
    from grokvid.cli.render import Reporter


@handle_errors
def download(
    ids: Annotated[
        list[str], typer.Argument(metavar="ID...", help="Local ids (gv-…) or request ids.")
    ],
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for jobs that are still rendering.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Download again and overwrite existing files.")
    ] = False,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", help="Save here instead of where the job planned."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds to wait with --wait.")
    ] = 600,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per clip on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, only errors.")] = False,
) -> None:
    """Download finished clips by job id; print each file's path.

    Example: grokvid download gv-3kq9zt2a --wait

    A clip already on disk just prints its path (add --force to fetch it again).
    """
    import asyncio

    from grokvid.api.ledger import Ledger
    from grokvid.cli import render, session

    cfg = session.settings({})
    ledger = Ledger()
    jobs = [session.find_job(ledger, ident) for ident in ids]
    with render.Reporter(quiet=quiet) as reporter:
        for job in jobs:
            reporter.add(job.local_id, job.local_id)

        async def run() -> list[ClipResult | BaseException]:
            return await asyncio.gather(
                *(
                    _one(cfg, ledger, job, wait, force, output_dir, timeout, reporter)
                    for job in jobs
                ),
                return_exceptions=True,
            )

        outcomes = asyncio.run(run())
    ids = [job.local_id for job in jobs]
    code = render.report_outcomes(ledger, list(zip(ids, outcomes, strict=True)), json_out)
    if code:
        raise typer.Exit(code)


async def _one(
    cfg: Settings,
    ledger: Ledger,
    job: JobRecord,
    wait: bool,
    force: bool,
    output_dir: Path | None,
    timeout: float,
    reporter: Reporter,
) -> ClipResult:
    from grokvid.api import errors, jobs
    from grokvid.cli import session

    planned = Path(job.output_path or jobs.clip_name(job.prompt, job.local_id))
    dest = (output_dir.expanduser() / planned.name) if output_dir else planned
    if job.state == "downloaded" and dest.exists() and not force:
        return await _already_here(ledger, job, dest, reporter)
    if dest.exists() and not force:
        raise errors.ValidationError(
            f"{dest} already exists: pass --force to overwrite, or use --output-dir.", "output"
        )
    if job.request_id is None:
        raise _never_submitted(job)
    be = session.job_backend(cfg, job.provider, job.base_url)
    with jobs.resumable(job):
        if be is None:  # the built-in sandbox died with its command, and its clips with it
            raise errors.JobFailed(
                f"Job {job.local_id} ran on the built-in sandbox, which stopped with its "
                "command: the clip can't be fetched again. Generate it again with --sandbox.",
                state="expired",
                request_id=job.request_id,
            )
        async with be.provider(on_retry=reporter.retrying(job.local_id)) as provider:
            if job.state != "done":
                job = await jobs.refresh(ledger, provider, job)
            jobs.raise_if_failed(job)
            if job.state == "pending":
                if not wait:
                    raise errors.WaitTimeout(
                        f"Job {job.local_id} is still rendering ({job.progress or 0}%): "
                        f"add --wait, e.g. grokvid download {job.local_id} --wait",
                        request_id=job.request_id,
                    )
                job = await jobs.wait(ledger, provider, job, timeout=timeout, emit=reporter)
            return await jobs.fetch(ledger, provider, job, dest=dest, force=force, emit=reporter)


async def _already_here(
    ledger: Ledger, job: JobRecord, dest: Path, reporter: Reporter
) -> ClipResult:
    """The clip is on disk: print it; rewrite a missing sidecar from the file itself."""
    from grokvid.api import errors, jobs, metadata
    from grokvid.api.download import DownloadResult, sha256_of

    dest = dest.absolute()
    sidecar = metadata.sidecar_path(dest)
    if sidecar.exists():
        return jobs.ClipResult(job=job, path=dest, metadata_path=sidecar)
    digest = sha256_of(dest)
    if job.sha256 and digest != job.sha256:
        raise errors.ValidationError(
            f"{dest} is not the clip this job downloaded (its sha256 differs): pass --force "
            "to fetch the clip again, or use --output-dir.",
            "output",
        )
    result = DownloadResult(
        path=dest,
        bytes=dest.stat().st_size,
        sha256=digest,
        content_type=None,
        resumed_from=0,
    )
    return await jobs.finish(ledger, job, result, emit=reporter)


def _never_submitted(job: JobRecord) -> Exception:
    from grokvid.api import errors

    if job.state == "rejected":
        return errors.JobFailed(
            f"Job {job.local_id} was not accepted: {job.error_message or 'rejected'}",
            state="rejected",
        )
    if job.state == "created":
        return errors.JobFailed(
            f"Job {job.local_id} was never submitted: grokvid stopped before sending it.",
            state="rejected",
        )
    return errors.SubmitUnknown(
        f"Job {job.local_id} has no request id: the submit's outcome is unknown, so there is "
        "nothing to fetch. Check console.x.ai for the job, then generate again if needed."
    )
