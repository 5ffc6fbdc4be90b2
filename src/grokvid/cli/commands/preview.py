"""`grokvid preview`: make (or remake) the poster, contact sheet and animation of clips."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from grokvid.cli.exits import ExitCode, handle_errors

if TYPE_CHECKING:
    from grokvid.api.ledger import Ledger
    from grokvid.api.previews import Caption


@handle_errors
def preview(
    targets: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH|ID...",
            help="Clips (.mp4), their .json sidecars, folders of clips, or job ids (gv-…).",
        ),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Make the pictures again even if they are current.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per clip on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
) -> None:
    """Make a poster, a contact sheet and a looping WebP preview for each clip.

    Example: grokvid preview gv-3kq9zt2a fox.mp4

    Pictures newer than their clip are kept (--force remakes them); the sidecar records them
    under "previews". Prints the three paths of each clip. Exits 1 if a clip can't be decoded.
    """
    from grokvid.api.previews import PreviewFailed, make_previews, record_in_sidecar
    from grokvid.cli import render

    clips = _resolve(targets)
    failed = 0
    for clip, caption in clips:
        try:
            made = make_previews(clip, caption=caption, force=force)
        except PreviewFailed as exc:
            failed += 1
            render.note(f"warning: no previews for {clip}: {exc}")
            continue
        sidecar = clip.with_suffix(".json")
        recorded = record_in_sidecar(sidecar, made) if not made.reused else sidecar.is_file()
        verb = "up to date (--force remakes them)" if made.reused else "made"
        render.note(f"{verb}: previews of {clip.name}", quiet=quiet)
        if json_out:
            view: dict[str, Any] = {
                "clip": str(clip.absolute()),
                "previews": made.paths(),
                "reused": made.reused,
                "metadata_path": str(sidecar.absolute()) if recorded else None,
                "record": made.as_sidecar(),
            }
            render.print_json_lines([view])
        else:
            for path in made.paths().values():
                render.out(path)
    if failed:
        raise typer.Exit(ExitCode.UNEXPECTED)


def _resolve(targets: list[str]) -> list[tuple[Path, Caption]]:
    """Each target as (clip, caption), checked before any picture is made."""
    from grokvid.api import errors
    from grokvid.api.gallery import read_sidecar
    from grokvid.api.previews import Caption

    found: list[tuple[Path, Caption]] = []
    ledger: Ledger | None = None
    for target in targets:
        path = Path(target).expanduser()
        if path.is_dir():
            clips = sorted(path.glob("*.mp4"))
            if not clips:
                raise errors.ValidationError(f"PATH|ID: {path} holds no .mp4 clips.", "targets")
        elif path.is_file():
            clips = [_clip_of(path)]
        elif path.suffix.lower() in {".mp4", ".json"} or "/" in target:
            raise errors.ValidationError(f"PATH|ID: {path} does not exist.", "targets")
        else:
            from grokvid.api.ledger import Ledger
            from grokvid.cli import session

            ledger = ledger or Ledger()
            job = session.find_job(ledger, target)
            if not job.output_path or not Path(job.output_path).is_file():
                raise errors.ValidationError(
                    f"PATH|ID: job {job.local_id} has no clip on disk ({job.state}): "
                    f"fetch it first with grokvid download {job.local_id}",
                    "targets",
                )
            clip = Path(job.output_path)
            data = read_sidecar(clip.with_suffix(".json"))
            found.append((clip, Caption.from_sidecar(data) if data else Caption.from_job(job)))
            continue
        for clip in clips:
            data = read_sidecar(clip.with_suffix(".json"))
            found.append((clip, Caption.from_sidecar(data) if data else Caption(prompt=clip.stem)))
    return found


def _clip_of(path: Path) -> Path:
    from grokvid.api import errors
    from grokvid.api.gallery import read_sidecar

    if path.suffix.lower() != ".json":
        return path
    data = read_sidecar(path)
    if data is None:
        raise errors.ValidationError(f"PATH|ID: {path} is not a grokvid sidecar.", "targets")
    clip = path.with_name(str((data.get("file") or {}).get("name") or path.stem + ".mp4"))
    if not clip.is_file():
        raise errors.ValidationError(
            f"PATH|ID: {path} describes {clip.name}, which is not beside it.", "targets"
        )
    return clip
