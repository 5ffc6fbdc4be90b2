"""`grokvid generate`: validate, record, submit, watch, download, describe."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from grokvid.cli import options
from grokvid.cli.exits import handle_errors

if TYPE_CHECKING:
    from grokvid.api.config import Settings
    from grokvid.api.jobs import ClipResult
    from grokvid.api.ledger import JobRecord, Ledger
    from grokvid.api.runner import Endpoint
    from grokvid.api.specs import Spec
    from grokvid.cli.render import Reporter


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
    base_url: options.BaseURL = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the request and cost estimate; send nothing.")
    ] = False,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost",
            metavar="USD",
            help="Refuse (exit 2, nothing sent) when the estimate for all clips exceeds this.",
        ),
    ] = None,
    preview: options.Preview = None,
    ci: options.CI = None,
    reuse: Annotated[
        bool,
        typer.Option(
            "--reuse",
            help="The same request made before: print its saved clip, or pick it up if it is "
            "still at the service, instead of paying again.",
        ),
    ] = False,
) -> None:
    """Generate clips from a prompt: MP4 files with JSON metadata.

    Example: grokvid generate -d 5 -a 9:16 "a red fox trotting through fresh snow"

    Defaults come from flags, then env vars (GROKVID_MODEL, GROKVID_DURATION, ...), then
    `grokvid config`, then built-ins. Exit codes: see README.
    """
    from grokvid.api import errors
    from grokvid.api.providers import xai
    from grokvid.cli import render, session

    if sandbox and base_url is not None:
        raise errors.ValidationError(
            "--sandbox and --base-url both say where to send the job: give one of them.",
            "base_url",
        )
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
    text = _read_prompt(prompt, prompt_file, optional=image is not None)
    spec = _spec(cfg, text, image)
    warnings = xai.check(spec)
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
    estimate = xai.estimate_usd(spec)
    if dry_run:
        _check_cap_value(max_cost)
        _dry_run(spec, variants, estimate)
        try:
            _check_budget(max_cost, estimate, variants, sandbox)
        except errors.ValidationError as exc:
            render.note(f"warning: without --dry-run this would be refused: {exc.message}")
        return
    from grokvid.cli import ci as ci_mode

    ci_mode.check_mode(ci)
    options.check_timeout(timeout)
    _check_cap_value(max_cost)
    _check_budget(max_cost, estimate, variants, sandbox)
    with_previews = cfg.preview if preview is None else preview
    if with_previews and not no_wait:
        from grokvid.api.previews import require

        require()
    folder = (cfg.output_dir or Path.cwd()).expanduser().absolute()
    _check_output(output, folder, force)
    with session.backend(cfg, sandbox=sandbox) as endpoint:
        with render.Reporter(quiet=quiet) as reporter:
            render.note(_plan(endpoint, spec, estimate, variants, no_wait), quiet=quiet)
            plan = _Plan(
                spec, variants, output, folder, force, no_wait, timeout, with_previews, reuse
            )
            ledger, outcomes = _run(endpoint, cfg, plan, reporter)
    code = render.report_outcomes(ledger, list(outcomes), json_out)
    ci_mode.report(ci, ledger, [local_id for local_id, _ in outcomes], title="grokvid generate")
    if code:
        raise typer.Exit(code)


def _spec(cfg: Settings, text: str, image: str | None) -> Spec:
    from grokvid.api.specs import MediaInput, clip_spec

    return clip_spec(
        model=cfg.model,
        prompt=text,
        duration=cfg.duration,
        aspect_ratio=cfg.aspect_ratio,
        resolution=cfg.resolution,
        audio=cfg.generate_audio,
        image=None if image is None else MediaInput.from_source(image),
    )


def _check_cap_value(max_cost: float | None) -> None:
    from grokvid.api.budget import check_cap

    if max_cost is not None:
        check_cap(max_cost, "max_cost")


def _check_budget(
    max_cost: float | None, estimate: float | None, variants: int, sandbox: bool
) -> None:
    """--max-cost: refuse before anything is sent when the estimate is over the cap."""
    from grokvid.api.budget import Budget

    if max_cost is None or sandbox:
        return
    plan = Budget(max_cost)
    if estimate is None:
        plan.check_plan(0.0, unpriced=variants)
    else:
        plan.check_plan(estimate * variants)


def _plan(endpoint: Endpoint, spec: Spec, cost: float | None, variants: int, no_wait: bool) -> str:
    """The one line said before money is spent: what, where, and roughly how much."""
    from grokvid.api.providers.xai import DEFAULT_BASE_URL, request_of

    request = request_of(spec, inline=False)
    clips = f"{variants} clips" if variants > 1 else "1 clip"
    audio = "" if request.generate_audio else ", no audio"
    image = ", from an image" if request.image is not None else ""
    what = f"{request.duration} s {request.resolution} {request.aspect_ratio}{audio}{image}"
    sandbox = endpoint.label == "sandbox"
    where = (
        "sandbox"
        if sandbox
        else (endpoint.provider if endpoint.base_url == DEFAULT_BASE_URL else endpoint.base_url)
    )
    if sandbox:
        price = "sandbox, no cost"
    elif cost is None:
        price = "price unknown"
    else:
        each = f" each, ${cost * variants:.2f} in all" if variants > 1 else ""
        price = f"est. ${cost:.2f}{each}"
    then = "; not waiting" if no_wait else ""
    return f"requesting {clips} from {where}: {request.model}, {what} ({price}){then}"


MAX_PROMPT_BYTES = 64 * 1024  # 10,000 characters of UTF-8 and a wide margin


def _read_prompt(prompt: str | None, prompt_file: Path | None, *, optional: bool = False) -> str:
    from grokvid.api import errors

    if prompt is not None and prompt_file is not None:
        raise errors.ValidationError(
            "Give the prompt once: as an argument or with --prompt-file, not both.", "prompt"
        )
    if prompt is not None:
        return _checked_text(_argv_text(prompt), "PROMPT")
    if prompt_file is not None:
        if str(prompt_file) == "-":
            return _from_stdin()
        where = f"--prompt-file {prompt_file}"
        try:
            with open(prompt_file, "rb") as handle:
                data = _read_bounded(handle, where)
        except OSError as exc:
            raise errors.ValidationError(
                f"Cannot read {where}: {exc.strerror}. Give a UTF-8 text file, or - for stdin.",
                "prompt_file",
            ) from exc
        return _checked_text(_decode(data, where), where).strip()
    if sys.stdin is None or sys.stdin.isatty():
        if optional:
            return ""
        raise errors.ValidationError(
            'No prompt: give one as an argument (grokvid generate "a red fox ..."), '
            "with --prompt-file PATH, or on stdin.",
            "prompt",
        )
    return _from_stdin()


def _from_stdin() -> str:
    # `echo "..." |` ends the prompt with a newline
    return _checked_text(
        _decode(_read_bounded(sys.stdin.buffer, "stdin"), "stdin"), "stdin"
    ).strip()


def _read_bounded(handle: Any, where: str) -> bytes:
    """At most MAX_PROMPT_BYTES: a prompt from /dev/zero is a usage error, not a MemoryError."""
    from grokvid.api import errors

    data = handle.read(MAX_PROMPT_BYTES + 1)
    if len(data) > MAX_PROMPT_BYTES:
        raise errors.ValidationError(
            f"The prompt from {where} is over {MAX_PROMPT_BYTES // 1024} KiB; the limit is "
            "10,000 characters. Shorten it.",
            _field_of(where),
        )
    return bytes(data)


def _field_of(where: str) -> str | None:
    """The message already names stdin; an option's name is added by the error's `field`."""
    return "prompt_file" if where.startswith("--prompt-file") else None


def _decode(data: bytes, where: str) -> str:
    from grokvid.api import errors

    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise errors.ValidationError(
            f"The prompt from {where} is not valid UTF-8 (byte {exc.start}): save it as UTF-8.",
            _field_of(where),
        ) from None


def _argv_text(text: str) -> str:
    """Undecodable bytes in argv arrive as lone surrogates: refuse them in one line."""
    from grokvid.api import errors

    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.ValidationError(
            "The prompt argument is not valid UTF-8: check the terminal's encoding, or use "
            "--prompt-file.",
            "prompt",
        ) from None
    return text


def _checked_text(text: str, where: str) -> str:
    from grokvid.api import errors

    if "\x00" in text:
        raise errors.ValidationError(
            f"The prompt from {where} contains a NUL character: remove it.", "prompt"
        )
    return text


def _dry_run(spec: Spec, variants: int, cost: float | None) -> None:
    import json

    from grokvid.api.providers.xai import SUBMIT_PATH, dry_body
    from grokvid.cli.render import out

    out(
        json.dumps(
            {
                "method": "POST",
                "path": SUBMIT_PATH,
                "body": dry_body(spec),
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
        from grokvid.api.download import files

        part = files.part_path(output)
        for path in (output, part, files.meta_path(part), files.lock_path(part)):
            files.refuse_special(path)  # a planted link is refused before anything is paid
    target = output.parent if output is not None else folder
    field = "output" if output is not None else "output_dir"
    if target.exists() and not target.is_dir():
        raise errors.ValidationError(f"{target.absolute()} is not a directory.", field)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.ValidationError(
            f"Cannot create {target.absolute()}: {exc.strerror}. Choose another folder.", field
        ) from exc
    probe_writable(target, field)


def probe_writable(folder: Path, field: str) -> None:
    """Create and remove a temporary file: a folder that can't take the clip is found before
    the POST, not after the render was paid for."""
    import os
    import tempfile

    from grokvid.api import errors

    try:
        fd, name = tempfile.mkstemp(prefix=".grokvid-probe-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise errors.ValidationError(
            f"Cannot write in {folder.absolute()}: {exc.strerror}. Choose a folder you can "
            "write to.",
            field,
        ) from None


Outcome = tuple[str, "ClipResult | JobRecord | BaseException"]


@dataclass(frozen=True)
class _Plan:
    spec: Spec
    variants: int
    output: Path | None
    folder: Path
    force: bool
    no_wait: bool
    timeout: float
    previews: bool
    reuse: bool = False


def _run(
    endpoint: Endpoint, cfg: Settings, plan: _Plan, reporter: Reporter
) -> tuple[Ledger, list[Outcome]]:
    import uuid

    from grokvid.api import jobs
    from grokvid.api.ledger import Ledger
    from grokvid.api.runner import Runner, RunOptions, budget_for, limiter_for
    from grokvid.cli.signals import run_interruptible

    ledger = Ledger()
    batch = uuid.uuid4().hex[:12] if plan.variants > 1 else None
    runner = Runner(
        ledger,
        endpoint,
        events=reporter,
        on_retry=reporter.retry_note,
        limiter=limiter_for(endpoint, cfg.rate),
        budget=budget_for(ledger, endpoint, daily_max_cost=cfg.daily_max_cost),
        previews=plan.previews,
    )
    spec = plan.spec
    hint = spec.prompt if spec.prompt.strip() else _image_label(spec)
    placeholder = plan.output or plan.folder / "pending.mp4"
    from grokvid.api.batch.run import reuse_or_create

    outputs = [placeholder] * plan.variants
    found, created = reuse_or_create(runner, spec, outputs, batch_id=batch, reuse=plan.reuse)
    for job in found:
        reporter.add(job.local_id, job.local_id)
    for i, job in enumerate(created):
        if plan.output is None:
            target = plan.folder / jobs.clip_name(hint, job.local_id)
            created[i] = job = ledger.update(job.local_id, output_path=str(target))
        label = job.local_id if plan.variants == 1 else f"{job.local_id} ({i + 1}/{plan.variants})"
        reporter.add(job.local_id, label)
    options = RunOptions(wait=not plan.no_wait, timeout=plan.timeout, force=plan.force)

    async def all_jobs() -> list[ClipResult | JobRecord | BaseException]:
        async with runner:
            return list(await runner.run_and_resume(created, found, options))

    ids = [job.local_id for job in (*found, *created)]
    try:
        outcomes = run_interruptible(all_jobs(), lambda: runner.interrupted(ids))
    finally:
        if endpoint.label == "sandbox":
            jobs.end_with_sandbox(ledger, ids)
    return ledger, [(i, o) for i, o in zip(ids, outcomes, strict=True)]


def _image_label(spec: Spec) -> str:
    from grokvid.api.specs import media_of

    media = media_of(spec)
    return media[0].label if media else "clip"
