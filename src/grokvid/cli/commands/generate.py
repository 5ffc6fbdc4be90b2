"""`grokvid generate`: validate, record, submit, watch, download, describe."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from grokvid.cli.exits import handle_errors

if TYPE_CHECKING:
    from grokvid.api.jobs import ClipResult
    from grokvid.api.ledger import JobRecord, Ledger
    from grokvid.api.models import VideoRequest
    from grokvid.cli.render import Reporter
    from grokvid.cli.session import Backend


@handle_errors
def generate(
    prompt: Annotated[
        str | None,
        typer.Argument(help="What the clip shows. Or use --prompt-file, or pipe it on stdin."),
    ] = None,
    prompt_file: Annotated[
        Path | None,
        typer.Option("--prompt-file", help="Read the prompt from a UTF-8 file ('-' = stdin)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model [default: grok-imagine-video].")
    ] = None,
    duration: Annotated[
        int | None, typer.Option("--duration", "-d", help="Seconds, 1-15 [default: 8].")
    ] = None,
    resolution: Annotated[
        str | None,
        typer.Option(
            "--resolution", "-r", help="480p, 720p (1080p on 1.5 models) [default: 480p]."
        ),
    ] = None,
    aspect_ratio: Annotated[
        str | None,
        typer.Option("--aspect-ratio", "-a", help="1:1 16:9 9:16 4:3 3:4 3:2 2:3 [default: 16:9]."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            metavar="FILE|URL",
            help="Image-to-video: animate this PNG/JPEG/WebP file or https:// URL "
            "(the prompt is then optional).",
        ),
    ] = None,
    no_audio: Annotated[
        bool, typer.Option("--no-audio", help="Ask for a silent clip (generate_audio=false).")
    ] = False,
    variants: Annotated[
        int,
        typer.Option(
            "--variants",
            "-n",
            min=1,
            max=4,
            help="Clips to make, 1-4. Each is a separate, separately billed request; "
            "they run concurrently.",
        ),
    ] = 1,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", help="Directory for clips [default: current directory]."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File name for the clip (one clip only).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Submit, print the job id(s) and exit.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=1,
            help="Seconds to wait for the render; the job goes on remotely after it.",
        ),
    ] = 600,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per clip on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, only errors.")] = False,
    sandbox: Annotated[
        bool,
        typer.Option("--sandbox", help="Use a local sandbox service: no key, no network, no cost."),
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="API base URL [env GROKVID_BASE_URL; default api.x.ai]."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the request and cost estimate; send nothing.")
    ] = False,
) -> None:
    """Generate clips from a prompt: MP4 files with JSON metadata.

    Example: grokvid generate -d 5 -a 9:16 "a red fox trotting through fresh snow"

    Defaults come from flags, then env vars (GROKVID_MODEL, GROKVID_DURATION, ...), then
    `grokvid config`, then built-ins. Exit codes: see README.
    """
    from grokvid.api import errors
    from grokvid.api.models import VideoRequest, check_request
    from grokvid.cli import render, session

    cfg = session.settings(
        {
            "model": model,
            "duration": duration,
            "resolution": resolution,
            "aspect_ratio": aspect_ratio,
            "output_dir": output_dir,
            "generate_audio": False if no_audio else None,
            "base_url": base_url,
        }
    )
    source, image_record = (None, None)
    if image is not None:
        from grokvid.api.images import load_image

        source, image_record = load_image(image)
    text = _read_prompt(prompt, prompt_file, optional=image is not None)
    request = VideoRequest(
        model=cfg.model,
        prompt=text,
        duration=cfg.duration,
        aspect_ratio=cfg.aspect_ratio,
        resolution=cfg.resolution,
        generate_audio=cfg.generate_audio,
        image=source,
    )
    warnings = check_request(request)
    if output is not None and variants > 1:
        raise errors.ValidationError(
            "--output names one file; with --variants use --output-dir instead.", "output"
        )
    if sandbox and no_wait:
        raise errors.ValidationError(
            "--no-wait cannot be used with --sandbox: the built-in sandbox stops when this "
            "command ends. Run `grokvid sandbox serve` and set GROKVID_BASE_URL instead.",
            "no_wait",
        )
    for warning in warnings:
        render.note(f"warning: {warning}", quiet=quiet)
    if dry_run:
        _dry_run(request, variants, image_record)
        return
    folder = (cfg.output_dir or Path.cwd()).expanduser()
    _check_output(output, folder, force)
    with session.backend(cfg, sandbox=sandbox) as be, render.Reporter(quiet=quiet) as reporter:
        render.note(_plan(be, request, variants, no_wait), quiet=quiet)
        ledger, outcomes = _run(
            be, request, image_record, variants, output, folder, force, no_wait, timeout, reporter
        )
    code = render.report_outcomes(ledger, list(outcomes), json_out)
    if code:
        raise typer.Exit(code)


def _plan(be: Backend, request: VideoRequest, variants: int, no_wait: bool) -> str:
    """The one line said before money is spent: what, where, and roughly how much."""
    clips = f"{variants} clips" if variants > 1 else "1 clip"
    audio = "" if request.generate_audio else ", no audio"
    image = ", from an image" if request.image is not None else ""
    spec = f"{request.duration} s {request.resolution} {request.aspect_ratio}{audio}{image}"
    cost = request.estimated_cost_usd
    from grokvid.api.xai import DEFAULT_BASE_URL

    where = (
        be.name if be.base_url in (DEFAULT_BASE_URL, "") or be.name == "sandbox" else be.base_url
    )
    if be.name == "sandbox":
        price = "sandbox, no cost"
    elif cost is None:
        price = "price unknown"
    else:
        each = f" each, ${cost * variants:.2f} in all" if variants > 1 else ""
        price = f"est. ${cost:.2f}{each}"
    then = "; not waiting" if no_wait else ""
    return f"requesting {clips} from {where}: {request.model}, {spec} ({price}){then}"


def _read_prompt(prompt: str | None, prompt_file: Path | None, *, optional: bool = False) -> str:
    from grokvid.api import errors

    if prompt is not None and prompt_file is not None:
        raise errors.ValidationError(
            "Give the prompt once: as an argument or with --prompt-file, not both.", "prompt"
        )
    if prompt is not None:
        return prompt
    if prompt_file is not None:
        if str(prompt_file) == "-":
            return sys.stdin.read().strip()
        try:
            return prompt_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not valid UTF-8"
            raise errors.ValidationError(
                f"Cannot read --prompt-file {prompt_file}: {reason}.", "prompt_file"
            ) from exc
    if sys.stdin is None or sys.stdin.isatty():
        if optional:
            return ""
        raise errors.ValidationError(
            'No prompt: give one as an argument (grokvid generate "a red fox ..."), '
            "with --prompt-file PATH, or on stdin.",
            "prompt",
        )
    return sys.stdin.read().strip()  # `echo "..." |` ends the prompt with a newline


def _dry_run(request: VideoRequest, variants: int, image_record: dict[str, Any] | None) -> None:
    import json

    from grokvid.cli.render import out

    body = request.body()
    if image_record is not None and "file" in image_record:
        # Not megabytes of base64 on the screen: what would be inlined, and from where.
        body["image"] = {
            "url": f"data:{image_record['type']};base64,… ({image_record['bytes']:,} bytes of "
            f"{image_record['file']})"
        }
    cost = request.estimated_cost_usd
    out(
        json.dumps(
            {
                "method": "POST",
                "path": "/v1/videos/generations",
                "body": body,
                "requests": variants,
                "estimated_cost_usd": None if cost is None else round(cost * variants, 4),
            },
            indent=2,
            ensure_ascii=False,
        )
    )


def _check_output(output: Path | None, folder: Path, force: bool) -> None:
    """Refuse before spending anything if the clip or its sidecar could not be saved."""
    from grokvid.api import errors, metadata

    if output is not None:
        if output.suffix.lower() != ".mp4":
            raise errors.ValidationError(
                f"{output} does not end in .mp4: name the clip file, e.g. -o fox.mp4.", "output"
            )
        if output.is_dir():
            raise errors.ValidationError(f"{output} is a directory: use --output-dir.", "output")
        if output.exists() and not force:
            raise errors.ValidationError(
                f"{output} already exists: pass --force to overwrite, or choose another --output.",
                "output",
            )
        metadata.check_free(metadata.sidecar_path(output), force=force)
    target = output.parent if output is not None else folder
    if target.exists() and not target.is_dir():
        raise errors.ValidationError(f"{target} is not a directory.", "output_dir")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.ValidationError(
            f"Cannot create {target}: {exc.strerror}. Choose another --output-dir.", "output_dir"
        ) from exc


Outcome = tuple[str, "ClipResult | JobRecord | BaseException"]


def _run(
    be: Backend,
    request: VideoRequest,
    image_record: dict[str, Any] | None,
    variants: int,
    output: Path | None,
    folder: Path,
    force: bool,
    no_wait: bool,
    timeout: float,
    reporter: Reporter,
) -> tuple[Ledger, list[Outcome]]:
    import asyncio
    import uuid

    from grokvid.api import jobs
    from grokvid.api.ledger import Ledger

    ledger = Ledger()
    batch = uuid.uuid4().hex[:12] if variants > 1 else None
    created = [
        jobs.create_job(
            ledger,
            request,
            provider=be.name,
            base_url=be.base_url,
            output=output,
            output_dir=folder,
            batch_id=batch,
            variant=i,
            image_record=image_record,
        )
        for i in range(variants)
    ]
    for i, job in enumerate(created):
        label = job.local_id if variants == 1 else f"{job.local_id} ({i + 1}/{variants})"
        reporter.add(job.local_id, label)

    async def one(job: JobRecord) -> ClipResult | JobRecord:
        async with be.provider(on_retry=reporter.retrying(job.local_id)) as provider:
            job = await jobs.submit(ledger, provider, job, request, reporter)
            if no_wait:
                return job
            with jobs.resumable(job):
                job = await jobs.wait(ledger, provider, job, timeout=timeout, emit=reporter)
                dest = Path(job.output_path or folder / jobs.clip_name(job.prompt, job.local_id))
                return await jobs.fetch(
                    ledger, provider, job, dest=dest, force=force, emit=reporter
                )

    async def all_jobs() -> list[ClipResult | JobRecord | BaseException]:
        return await asyncio.gather(*(one(job) for job in created), return_exceptions=True)

    ids = [job.local_id for job in created]
    try:
        try:
            outcomes = asyncio.run(all_jobs())
        except KeyboardInterrupt:
            raise _interrupted(ledger, ids) from None
        if any(isinstance(o, KeyboardInterrupt | asyncio.CancelledError) for o in outcomes):
            raise _interrupted(ledger, ids)
    finally:
        if be.name == "sandbox":
            _sandbox_gone(ledger, ids)
    return ledger, [(job.local_id, o) for job, o in zip(created, outcomes, strict=True)]


def _sandbox_gone(ledger: Ledger, ids: list[str]) -> None:
    """The built-in sandbox stops with this command: its unfinished jobs end with it."""
    for local_id in ids:
        job = ledger.get(local_id)
        if job is not None and job.state in ("submitting", "pending", "done"):
            ledger.update(
                local_id,
                state="expired",
                error_code="sandbox_stopped",
                error_message="the built-in sandbox stopped before the clip was saved",
            )


def _interrupted(ledger: Ledger, ids: list[str]) -> Exception:
    """Ctrl-C: keep every job findable and say, in one command, how to pick them up."""
    from grokvid.api import errors

    unknown, resumable = [], []
    for local_id in ids:
        job = ledger.get(local_id)
        if job is None:
            continue
        if job.state in ("created", "submitting") and job.provider != "sandbox":
            # The POST may have been in flight: we cannot know whether it was billed.
            ledger.update(local_id, state="submit-unknown", error_message="interrupted")
            unknown.append(local_id)
        elif job.request_id and not job.terminal and job.provider != "sandbox":
            resumable.append(local_id)
    parts = []
    if resumable:
        parts.append(f"resume with: grokvid download {' '.join(resumable)} --wait")
    if unknown:
        parts.append(
            f"the submit of {', '.join(unknown)} was cut off, so the service may have created "
            "(and will bill) it: check your usage at console.x.ai before generating again"
        )
    if not parts:
        sandbox = any((job := ledger.get(i)) is not None and job.provider == "sandbox" for i in ids)
        parts.append(
            "nothing to resume: the built-in sandbox stopped with this command"
            if sandbox
            else "nothing was submitted"
        )
    return errors.Interrupted("; ".join(parts), job_ids=ids)
