"""`grokvid gallery`: one offline HTML page of clips, from sidecars or from the ledger."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from grokvid.cli.exits import handle_errors

if TYPE_CHECKING:
    from grokvid.api.gallery import Card
    from grokvid.api.ledger import Ledger

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_FAILED = ["failed", "moderated", "expired", "rejected", "submit-unknown"]


@handle_errors
def gallery(
    dirs: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[DIR...]", help="Folders holding clips and sidecars (default: this one)."
        ),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "gallery.html"
    ),
    batch: Annotated[
        str | None, typer.Option("--batch", help="Every job of this batch, from the ledger.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DURATION", help="Jobs of the last 90m, 12h, 7d, 2w …"),
    ] = None,
    title: Annotated[str, typer.Option("--title", help="The page's heading.")] = "grokvid gallery",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
) -> None:
    """Write one self-contained HTML page with a card per clip; print its path.

    Example: grokvid gallery clips/ -o clips/index.html

    It opens from file:// with no server and no network: posters are inlined, videos play
    from the files beside it. Failed and moderated jobs are cards too, with their error.
    """
    from grokvid.api import errors
    from grokvid.api.gallery import write_gallery
    from grokvid.cli import render

    if dirs and (batch or since):
        raise errors.ValidationError(
            "DIR: give folders, or --batch/--since to read the ledger, not both.", "dirs"
        )
    page = output.expanduser()
    if not page.absolute().parent.is_dir():
        raise errors.ValidationError(
            f"--output: the folder {page.absolute().parent} does not exist: create it first.",
            "out",
        )
    if page.is_dir():
        raise errors.ValidationError(f"--output: {page} is a folder; name a file.", "out")
    cards = _from_ledger(batch, since) if (batch or since) else _from_dirs(dirs or [Path(".")])
    write_gallery(cards, page, title=title)
    bad = sum(1 for card in cards if card.error)
    lacking = sum(1 for card in cards if card.video is not None and card.poster is None)
    render.note(f"gallery of {len(cards)} clip(s), {bad} without a clip: {page}", quiet=quiet)
    if lacking:
        render.note(
            f"{lacking} clip(s) have no poster yet: run grokvid preview on them first.",
            quiet=quiet,
        )
    render.out(str(page.absolute()))


def parse_since(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `7d`, `2w` (a number and a unit)."""
    from grokvid.api import errors

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if match is None:
        raise errors.ValidationError(
            f"--since: {text!r} is not a duration; use a number and a unit: 90s, 30m, 12h, "
            "7d or 2w.",
            "since",
        )
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def _from_ledger(batch: str | None, since: str | None) -> list[Card]:
    from datetime import UTC, datetime

    from grokvid.api.gallery import cards_from_jobs
    from grokvid.api.ledger import Ledger

    window = parse_since(since) if since else None
    ledger = Ledger()
    jobs = ledger.list(limit=None, batch_id=batch)
    if batch and not jobs:
        jobs = ledger.list(limit=None, batch_id=_batch_by_prefix(ledger, batch))
    if window is not None:
        start = datetime.now(UTC) - window
        jobs = [job for job in jobs if job.created_at >= start]
    return cards_from_jobs(jobs)


MIN_PREFIX = 4  # "b-0f" could match many batches; four characters is what status shows best


def _batch_by_prefix(ledger: Ledger, prefix: str) -> str:
    """The one batch id starting with `prefix` (as `batch` and `status` print them)."""
    from grokvid.api import errors

    hint = "(grokvid status --json shows each job's batch_id)"
    if len(prefix) < MIN_PREFIX:
        raise errors.ValidationError(
            f"--batch: no batch {prefix!r} in the ledger, and a prefix needs at least "
            f"{MIN_PREFIX} characters {hint}.",
            "batch",
        )
    found = sorted(
        {
            job.batch_id
            for job in ledger.list(limit=None)
            if job.batch_id and job.batch_id.startswith(prefix)
        }
    )
    if not found:
        raise errors.ValidationError(
            f"--batch: no jobs of batch {prefix!r} in the ledger {hint}.", "batch"
        )
    if len(found) > 1:
        raise errors.ValidationError(
            f"--batch: {prefix!r} starts {len(found)} batch ids ({', '.join(found[:5])}): "
            "give more characters.",
            "batch",
        )
    return found[0]


def _from_dirs(dirs: list[Path]) -> list[Card]:
    """Sidecars in the folders, plus the failed jobs that were meant to land there."""
    from grokvid.api import paths
    from grokvid.api.gallery import cards_from_jobs, cards_from_sidecars
    from grokvid.api.ledger import Ledger

    folders = [d.expanduser() for d in dirs]
    cards = cards_from_sidecars(folders)
    if not paths.ledger_file().exists():
        return cards
    wanted = {folder.resolve() for folder in folders}
    failed = [
        job
        for job in Ledger().list(limit=None, states=_FAILED)
        if job.output_path and Path(job.output_path).parent.resolve() in wanted
    ]
    return cards + cards_from_jobs(failed)
