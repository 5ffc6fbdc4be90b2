"""`grokvid batch`: many clips from a JSONL, CSV, TXT or YAML file, resumable by identity."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grokvid.cli import options
from grokvid.cli.exits import handle_errors


@handle_errors
def batch(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="The batch: .jsonl, .csv, .txt or .yaml ('-' reads stdin).",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="jsonl|csv|txt|yaml",
            help="The file's format [default: from the extension].",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model for every item.")
    ] = None,
    duration: Annotated[
        int | None, typer.Option("--duration", "-d", help="Seconds, 1-15, for every item.")
    ] = None,
    resolution: Annotated[
        str | None, typer.Option("--resolution", "-r", help="480p, 720p (1080p on 1.5 models).")
    ] = None,
    aspect_ratio: Annotated[
        str | None, typer.Option("--aspect-ratio", "-a", help="1:1 16:9 9:16 4:3 3:4 3:2 2:3.")
    ] = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Silent clips.")] = False,
    variants: Annotated[
        int | None,
        typer.Option("--variants", "-n", min=1, max=4, help="Clips per item, 1-4 (each billed)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="TEMPLATE",
            help="File name template: {slug} {short} {index:03d} {id} {variant} {model} "
            "{duration} {resolution} {aspect} and matrix {var} or {var|slug}; '/' makes "
            "folders [default: {slug}-{short}].",
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", help="Directory for clips [default: current directory]."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite existing files that are not this clip.")
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Submit again clips that failed before.")
    ] = False,
    retry_unknown: Annotated[
        bool,
        typer.Option(
            "--retry-unknown",
            help="Submit again clips whose earlier submit has an unknown outcome (may pay twice).",
        ),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option("--shard", metavar="I/N", help="Only the I-th of N disjoint slices."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-j", min=1, max=256, help="Clips in flight at once.")
    ] = 8,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            help="Submits per second, shared by every grokvid process using this key "
            "[default: config key rate, 1.0].",
        ),
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost",
            metavar="USD",
            help="Cap for this run: a plan over it exits 2; reaching it stops submitting (exit 7).",
        ),
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Stop submitting after the first failure.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=1,
            help="Seconds for the whole run [default: the submit time at --rate plus 600].",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print one JSON line per clip (the plan); send nothing."),
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per clip on stdout.")
    ] = False,
    results: Annotated[
        Path | None,
        typer.Option("--results", metavar="FILE", help="Append one JSON line per clip as it ends."),
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option("--summary", metavar="FILE", help="Write the run's summary as JSON."),
    ] = None,
    gallery: Annotated[
        Path | None,
        typer.Option("--gallery", metavar="FILE", help="Write an HTML gallery of the clips."),
    ] = None,
    preview: options.Preview = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, only errors.")] = False,
    sandbox: Annotated[
        bool,
        typer.Option("--sandbox", help="Use a local sandbox service: no key, no network, no cost."),
    ] = False,
    base_url: options.BaseURL = None,
    ci: options.CI = None,
) -> None:
    """Make many clips from a batch file; a rerun resumes, never re-sends.

    Example: grokvid batch clips.yaml --output-dir clips --rate 2 --max-cost 5

    Each of these overrides the ones before it: built-ins, the config file, the environment,
    the manifest's defaults, these flags, each item's own fields. Exit 0 when every clip is
    saved; 7 when a cost cap stopped submitting; 130 on Ctrl-C (run the same command to
    resume).
    """
    given = dict(locals())  # every option, before any other name is bound here
    from grokvid.cli.batch.flow import BatchArgs, run_batch

    code = run_batch(BatchArgs(**given))
    if code:
        raise typer.Exit(code)
