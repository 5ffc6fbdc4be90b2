"""The batch command's steps: settings → read → plan (everything checked, nothing sent) →
dry run, or rows → submit/resume under the rate and the caps → results, summary, gallery."""

from __future__ import annotations

import math
import shlex
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grokvid.api import errors, jobs

if TYPE_CHECKING:
    from grokvid.api.batch import BatchSource, Plan, PlannedClip
    from grokvid.api.batch.run import XaiChecks
    from grokvid.api.config import Settings
    from grokvid.api.ledger import Ledger
    from grokvid.api.ratelimit import SharedRateLimiter
    from grokvid.api.runner import Endpoint

EXTRA_SECONDS = 600.0  # the default timeout: submit time at the rate, plus this


@dataclass
class BatchArgs:
    file: str
    fmt: str | None
    model: str | None
    duration: int | None
    resolution: str | None
    aspect_ratio: str | None
    no_audio: bool
    variants: int | None
    name: str | None
    output_dir: Path | None
    force: bool
    retry_failed: bool
    retry_unknown: bool
    shard: str | None
    concurrency: int
    rate: float | None
    max_cost: float | None
    fail_fast: bool
    timeout: float | None
    dry_run: bool
    json_out: bool
    results: Path | None
    summary: Path | None
    gallery: Path | None
    preview: bool | None
    quiet: bool
    sandbox: bool
    base_url: str | None
    ci: str | None


def run_batch(args: BatchArgs) -> int:
    """The whole command; returns the exit code."""
    from grokvid.api.batch import BatchProblems
    from grokvid.cli.render import note

    try:
        return _run(args)
    except BatchProblems as exc:
        for problem in exc.problems:
            note(f"error: {problem}")
        count = len(exc.problems)
        note(f"{count} problem{'s' if count > 1 else ''} in {args.file}; nothing was sent")
        return 2


def _run(args: BatchArgs) -> int:
    from grokvid.api.batch import read_batch
    from grokvid.api.ledger import Ledger
    from grokvid.cli import ci as ci_mode
    from grokvid.cli import session

    _check_typed(args)  # before the settings: their own checks do not know the flag's name
    cfg = _settings(args)
    ci_mode.check_mode(args.ci)
    _check_flags(args, cfg)
    source = read_batch(args.file, args.fmt)
    if not source.items and not source.problems:
        _note(f"warning: {source.name} has no items", args.quiet)
    ledger = Ledger()
    plan, checks = _plan(args, cfg, source, ledger)
    for warning, count in checks.warnings.items():
        clips = f" ({count} clips)" if count > 1 else ""
        _note(f"warning: {warning}{clips}", args.quiet)
    if args.dry_run:
        from grokvid.cli.render import out

        _note(plan.summary_line(cfg.rate if args.rate is None else args.rate), args.quiet)
        for clip in plan.clips:
            out(clip.dry_run_line())
        refusal = _over_cap(plan, args.max_cost)
        if refusal is not None:  # the plan is still printed: it is what the user asked to see
            from grokvid.cli.render import note

            note(f"warning: the real run would be refused: {refusal}")
        return 0
    with_previews = cfg.preview if args.preview is None else args.preview
    if with_previews:
        from grokvid.api.previews import require

        require()
    _check_files(args, cfg)
    with session.backend(cfg, sandbox=args.sandbox) as endpoint:
        return _execute(args, cfg, source, plan, checks, ledger, endpoint, with_previews)


def _check_typed(args: BatchArgs) -> None:
    from grokvid.api.batch import FORMATS

    if args.rate is not None and not (0 < args.rate < math.inf):
        raise errors.ValidationError(
            f"--rate {args.rate:g} is not usable: give submits per second above 0, e.g. 1 or "
            "0.5 (one every two seconds).",
            "--rate",
        )
    if args.fmt is not None and args.fmt not in FORMATS:
        raise errors.ValidationError(
            f"--format {args.fmt!r} is not a batch format: use one of {', '.join(FORMATS)}.",
            "--format",
        )


def _over_cap(plan: Plan, max_cost: float | None) -> str | None:
    """Why `--max-cost` would refuse this plan (a dry run only says so), or None."""
    if max_cost is None or not plan.to_submit:
        return None
    if plan.unpriced:
        return (
            f"{plan.unpriced} clip(s) to submit have no known price, so --max-cost "
            f"{max_cost:g} cannot be kept"
        )
    if plan.estimated_cost_usd > max_cost:
        return (
            f"the plan is estimated at ${plan.estimated_cost_usd:.2f}, over --max-cost "
            f"${max_cost:.2f}: raise it, or submit fewer clips (a shard, fewer variants)"
        )
    return None


def _settings(args: BatchArgs) -> Settings:
    from grokvid.cli import session

    if args.sandbox and args.base_url is not None:
        raise errors.ValidationError(
            "--sandbox and --base-url both say where to send the jobs: give one of them.",
            "base_url",
        )
    return session.settings(
        {"output_dir": args.output_dir, "base_url": args.base_url, "rate": args.rate},
        quiet=args.quiet,
    )


def _check_flags(args: BatchArgs, cfg: Settings) -> None:
    from grokvid.api.budget import check_cap
    from grokvid.api.ratelimit import check_rate

    for value, check, option in (
        (args.rate, check_rate, "--rate"),
        (args.max_cost, check_cap, "--max-cost"),
    ):
        if value is not None:
            try:
                check(value, option)
            except errors.ValidationError as exc:
                raise errors.ValidationError(f"{option}: {exc.message}", option) from None
    if args.timeout is not None and not 0 < args.timeout < math.inf:
        raise errors.ValidationError(
            f"--timeout {args.timeout} is not a number of seconds: use e.g. 3600.", "timeout"
        )


def _flags(args: BatchArgs) -> dict[str, object]:
    given = {
        "model": args.model,
        "duration": args.duration,
        "resolution": args.resolution,
        "aspect_ratio": args.aspect_ratio,
        "audio": False if args.no_audio else None,
        "variants": args.variants,
    }
    return {k: v for k, v in given.items() if v is not None}


def _plan(
    args: BatchArgs, cfg: Settings, source: BatchSource, ledger: Ledger
) -> tuple[Plan, XaiChecks]:
    from grokvid.api.batch import BaseFields, PlanOptions, parse_shard, plan_batch
    from grokvid.api.batch.run import SANDBOX_HOST, XaiChecks, ledger_lookup
    from grokvid.api.config import check_base_url

    shard = None
    if args.shard is not None:
        try:
            shard = parse_shard(args.shard)
        except errors.ValidationError as exc:
            raise errors.ValidationError(f"--shard: {exc.message}", "shard") from None
    base_url = SANDBOX_HOST if args.sandbox else check_base_url(cfg.base_url)
    folder = (cfg.output_dir or Path.cwd()).expanduser().absolute()
    options = PlanOptions(
        output_dir=folder,
        provider="xai",
        base_url=base_url,
        name=args.name,
        flags=_flags(args),
        force=args.force,
        retry_failed=args.retry_failed,
        retry_unknown=args.retry_unknown,
        shard=shard,
    )
    checks = XaiChecks()
    plan = plan_batch(
        source,
        BaseFields.from_settings(cfg),
        options,
        check=checks.check,
        lookup=ledger_lookup(ledger, sandbox=args.sandbox),
        estimate=checks.estimate,
    )
    return plan, checks


def _check_files(args: BatchArgs, cfg: Settings) -> None:
    from grokvid.cli.batch.output import check_writable
    from grokvid.cli.commands.generate import probe_writable

    folder = (cfg.output_dir or Path.cwd()).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise errors.ValidationError(f"{folder} is not a directory.", "output_dir")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.ValidationError(
            f"Cannot create {folder}: {exc.strerror}. Choose another folder.", "output_dir"
        ) from exc
    probe_writable(folder, "output_dir")
    check_writable(args.results, "--results")
    check_writable(args.summary, "--summary")
    check_writable(args.gallery, "--gallery")


def _note(message: str, quiet: bool) -> None:
    from grokvid.cli.render import note

    note(message, quiet=quiet)


def resume_command() -> str:
    """The command line that resumes this run: the same one."""
    return shlex.join(["grokvid", *sys.argv[1:]])


def _execute(
    args: BatchArgs,
    cfg: Settings,
    source: BatchSource,
    plan: Plan,
    checks: XaiChecks,
    ledger: Ledger,
    endpoint: Endpoint,
    with_previews: bool,
    *,
    limiter: SharedRateLimiter | None = None,
) -> int:
    from grokvid.api.batch.order import InOrder
    from grokvid.api.batch.run import prepare
    from grokvid.api.batch.summary import RunStats
    from grokvid.api.runner import Runner, budget_for, limiter_for
    from grokvid.cli.batch.display import BatchDisplay

    rate = cfg.rate
    limiter = limiter or limiter_for(endpoint, rate)
    if limiter is None:
        return _with_own_limiter(args, cfg, source, plan, checks, ledger, endpoint, with_previews)
    budget = budget_for(ledger, endpoint, max_cost=args.max_cost, daily_max_cost=cfg.daily_max_cost)
    if budget is not None:
        budget.check_plan(plan.estimated_cost_usd, unpriced=plan.unpriced)
    current = rate if limiter is None else min(rate, limiter.state().rate)
    batch_id = f"b-{uuid.uuid4().hex[:10]}"
    line = plan.summary_line(current)
    if endpoint.label == "sandbox":
        line += " (the sandbox charges nothing)"
    line += f"; batch {batch_id}"
    stats = RunStats(rate)
    display = BatchDisplay(
        total=len(plan.clips),
        quiet=args.quiet,
        cap_usd=None if budget is None else args.max_cost,
        concurrency=args.concurrency,
        rate=current,
        observe=stats.observe,
    )
    runner = Runner(
        ledger,
        endpoint,
        events=display,
        concurrency=args.concurrency,
        on_retry=display.retry_note,
        limiter=InOrder(limiter),
        budget=budget,
        patient=True,
        fail_fast=args.fail_fast,
        previews=with_previews,
    )
    with display:
        display.say(line)
        batch = prepare(plan, runner, checks, batch_id=batch_id)
        display.to_submit = len(batch.created)
        timeout = args.timeout or plan.estimated_submit_seconds(current) + EXTRA_SECONDS
        from grokvid.cli.batch.report import Reporter

        folder = (cfg.output_dir or Path.cwd()).expanduser().absolute()
        reporter = Reporter(args, source, plan, ledger, batch, display, stats, folder)
        try:
            outcomes = reporter.run(runner, timeout)
        finally:
            if endpoint.label == "sandbox":
                jobs.end_with_sandbox(ledger, batch.ids)
    return reporter.finish(outcomes, runner.rate_limited, endpoint)


def _with_own_limiter(
    args: BatchArgs,
    cfg: Settings,
    source: BatchSource,
    plan: Plan,
    checks: XaiChecks,
    ledger: Ledger,
    endpoint: Endpoint,
    with_previews: bool,
) -> int:
    """The built-in sandbox shares no rate with other processes, but --rate still holds:
    a bucket of this run's own, gone with it."""
    import tempfile

    from grokvid.api.ratelimit import SharedRateLimiter

    with tempfile.TemporaryDirectory(prefix="grokvid-rate-") as folder:
        limiter = SharedRateLimiter("sandbox", cfg.rate, path=Path(folder) / "rate.sqlite3")
        return _execute(
            args, cfg, source, plan, checks, ledger, endpoint, with_previews, limiter=limiter
        )


def label_for(clip: PlannedClip, total: int, folder: Path) -> str:
    variant = f" v{clip.variant}" if clip.fields.variants > 1 else ""
    shown = clip.path.with_suffix("")
    if shown.is_relative_to(folder):
        shown = shown.relative_to(folder)
    return f"[{clip.index}{variant}/{total}] {shown}"


__all__ = ["BatchArgs", "label_for", "resume_command", "run_batch"]
