"""`grokvid download`: fetch finished clips again, with the same checks and metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grokvid.cli import options
from grokvid.cli.exits import handle_errors


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
    base_url: options.BaseURL = None,
    preview: options.Preview = None,
    ci: options.CI = None,
) -> None:
    """Download finished clips by job id; print each file's path.

    Example: grokvid download gv-3kq9zt2a --wait

    A clip already on disk (same size and sha256) just prints its path; add --force to
    fetch it again.
    """
    from grokvid.api.ledger import Ledger
    from grokvid.api.runner import Runner, RunOptions
    from grokvid.cli import ci as ci_mode
    from grokvid.cli import render, session
    from grokvid.cli.signals import run_interruptible

    ci_mode.check_mode(ci)
    options.check_timeout(timeout)

    if output_dir is not None:
        from grokvid.api import errors
        from grokvid.cli.commands.generate import probe_writable

        folder = output_dir.expanduser()
        if folder.exists() and not folder.is_dir():
            raise errors.ValidationError(f"{folder.absolute()} is not a directory.", "output_dir")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise errors.ValidationError(
                f"Cannot create {folder.absolute()}: {exc.strerror}. Choose another folder.",
                "output_dir",
            ) from None
        probe_writable(folder, "output_dir")
    cfg = session.settings({"base_url": base_url})
    ledger = Ledger()
    jobs = [session.find_or_adopt(ledger, ident, cfg) for ident in ids]
    endpoint = session.resume_endpoint(cfg, jobs)
    run_options = RunOptions(wait=wait, timeout=timeout, force=force, output_dir=output_dir)
    with render.Reporter(quiet=quiet) as reporter:
        for job in jobs:
            reporter.add(job.local_id, job.local_id)
        with_previews = cfg.preview if preview is None else preview
        if with_previews:
            from grokvid.api.previews import require

            require()
        runner = Runner(
            ledger,
            endpoint,
            events=reporter,
            on_retry=reporter.retry_note,
            previews=with_previews,
        )

        async def run() -> list[object]:
            async with runner:
                return list(await runner.resume(jobs, run_options))

        outcomes = run_interruptible(run(), lambda: runner.interrupted([j.local_id for j in jobs]))
    ids = [job.local_id for job in jobs]
    code = render.report_outcomes(ledger, list(zip(ids, outcomes, strict=True)), json_out)
    ci_mode.report(ci, ledger, ids, title="grokvid download")
    if code:
        raise typer.Exit(code)
