"""CI mode at the end of generate, download and batch: GitHub's job summary, step outputs and
annotations, written once from the run's jobs (`--ci github`, on by itself in GitHub Actions)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grokvid.api.ledger import JobRecord, Ledger


def check_mode(flag: str | None) -> None:
    """A bad --ci value is a usage error before anything is sent."""
    from grokvid.api.github_ci import resolve_mode

    resolve_mode(flag, os.environ, source="--ci")


def report(
    flag: str | None,
    ledger: Ledger,
    ids: Sequence[str],
    *,
    title: str = "grokvid",
    results: Path | None = None,
    gallery: Path | None = None,
) -> None:
    """Write the summary and outputs for these jobs, print the annotations on stderr."""
    from grokvid.api.github_ci import CIRow, GithubCI, outputs_for
    from grokvid.cli.render import note

    ci = GithubCI.from_env(os.environ, flag)
    if ci is None:
        return
    jobs: list[JobRecord] = [job for i in ids if (job := ledger.get(i)) is not None]
    rows = [
        CIRow.from_job(
            job, Path(job.output_path) if job.output_path and job.state == "downloaded" else None
        )
        for job in jobs
    ]
    missing = ci.missing()
    if missing:
        note(f"warning: --ci github: {', '.join(missing)} not set; writing what can be written")
    links = {"gallery": str(gallery)} if gallery else None
    ci.write_summary(rows, title=title, links=links)
    ci.write_outputs(outputs_for(rows, results=results, gallery=gallery))
    for line in ci.annotations(rows):
        note(line, prefix=False)
