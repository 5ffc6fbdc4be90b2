"""The one renderer: progress and notes on stderr, results on stdout (paths or JSON).

On a terminal, progress is a live Rich display; piped or in CI, one plain line per state
change, with no colour and no animation. `--quiet` keeps only errors on stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from grokvid.api.events import JobEvent

if TYPE_CHECKING:
    from grokvid.api.ledger import JobRecord, Ledger


class StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is when a record arrives, not when it was set up
    (CliRunner swaps stderr per command; a handler bound to a closed stream fails later)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def stderr_is_tty() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def note(message: str, *, quiet: bool = False, prefix: bool = True) -> None:
    """A one-line note for the user on stderr (warnings, hints). `prefix=False` for lines
    another program reads, such as GitHub's `::error::` workflow commands."""
    if not quiet:
        sys.stderr.write(f"grokvid: {message}\n" if prefix else f"{message}\n")
        sys.stderr.flush()


def out(line: str) -> None:
    sys.stdout.write(line + "\n")


def out_raw(text: str) -> None:
    """Text for stdout exactly as given (a completion script, a JSON document)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def err(line: str) -> None:
    """A line for stderr exactly as given (no `grokvid:` prefix: it carries its own)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def print_rows(headers: Sequence[str], rows: Iterable[Sequence[str]], caption: str) -> None:
    """A plain Rich table on stdout, then a dim caption (`config list`)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in headers:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console = Console(file=sys.stdout, highlight=False, markup=False)
    console.print(table)
    console.print(caption, soft_wrap=True, style="dim")
    sys.stdout.flush()


class Reporter:
    """Turns JobEvents into a live display (TTY) or plain event lines (pipes, CI)."""

    def __init__(self, *, quiet: bool = False, live: bool | None = None) -> None:
        self.quiet = quiet
        self.live = (not quiet) and (stderr_is_tty() if live is None else live)
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._last: dict[str, str] = {}
        self._labels: dict[str, str] = {}
        self._download_totals: dict[str, int] = {}
        self._started: dict[str, float] = {}

    def __enter__(self) -> Reporter:
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
                refresh_per_second=8,
            )
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, local_id: str, label: str) -> None:
        import time

        self._started.setdefault(local_id, time.monotonic())
        if self._progress is not None:
            self._tasks[local_id] = self._progress.add_task(f"{label} submitting", total=100)
        self._labels[local_id] = label

    def retry_note(self, local_id: str, message: str) -> None:
        """The runner's retry callback: one line (or a changed label) per retry."""
        self.retrying(local_id)(message)

    def retrying(self, local_id: str) -> Callable[[str], None]:
        """A callback for the provider: one line (or a changed label) per retry."""

        def say(message: str) -> None:
            self(JobEvent(local_id, "retry", "retrying", message=message))

        return say

    def warn(self, message: str) -> None:
        if self._progress is not None:
            from rich.markup import escape

            self._progress.console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)
        else:
            note(f"warning: {message}", quiet=self.quiet)

    def __call__(self, event: JobEvent) -> None:
        if self.quiet:
            return
        if event.message:
            from dataclasses import replace

            from grokvid.cli.exits import for_cli

            event = replace(event, message=for_cli(event.message))
        if self._progress is not None:
            self._live(event)
        else:
            self._plain(event)

    def _took(self, local_id: str) -> str:
        """ " in 24 s": the whole job, which the download's own bar no longer shows."""
        import time

        start = self._started.get(local_id)
        return "" if start is None else f" in {time.monotonic() - start:.0f} s"

    def _label(self, local_id: str) -> str:
        return self._labels.get(local_id, local_id)

    def _live(self, event: JobEvent) -> None:
        task = self._tasks.get(event.local_id)
        if task is None:
            self.add(event.local_id, event.local_id)
            task = self._tasks[event.local_id]
        label = self._label(event.local_id)
        update: dict[str, Any] = {}
        if event.kind in ("submitted", "progress"):
            update = {"description": f"{label} rendering", "completed": event.progress or 0}
        elif event.kind == "done":
            update = {"description": f"{label} rendered", "completed": 100}
        elif event.kind == "downloading" and event.bytes_total:
            if event.local_id not in self._download_totals:
                # A fresh bar in bytes, so elapsed, speed and time left are the download's own.
                self._download_totals[event.local_id] = event.bytes_total
                self._progress.reset(task, total=event.bytes_total)
            mb = event.bytes_total / 1_000_000
            update = {
                "description": f"{label} downloading {mb:.1f} MB",
                "completed": event.bytes_done or 0,
            }
        elif event.kind == "saved":
            total = self._download_totals.get(event.local_id, 100)
            took = self._took(event.local_id)
            update = {"description": f"[green]✓[/] {label} saved{took}", "completed": total}
        elif event.kind in ("failed", "moderated", "expired"):
            update = {"description": f"[red]✗[/] {label} {event.kind}"}
        elif event.kind == "warning" and event.message:
            self.warn(f"{label}: {event.message}")
        elif event.kind == "retry":
            reason = (event.message or "").split(";")[0][:28]
            update = {"description": f"{label} retrying ({reason})"}
        if update:
            self._progress.update(task, **update)

    def _plain(self, event: JobEvent) -> None:
        label = self._label(event.local_id)
        if event.kind == "submitted":
            line = f"{label} submitted (request {event.message})"
        elif event.kind == "progress":
            return  # progress ticks are not state changes
        elif event.kind == "done":
            line = f"{label} rendered in {event.elapsed:.1f} s"
        elif event.kind == "downloading":
            if self._last.get(event.local_id) == "downloading":
                return
            line = f"{label} downloading"
        elif event.kind == "saved":
            line = f"{label} saved {event.message}{self._took(event.local_id)}"
        elif event.kind == "previews":
            line = f"{label} previews made ({event.message})"
        elif event.kind in ("failed", "moderated", "expired"):
            line = f"{label} {event.kind}"
        elif event.kind == "warning":
            line = f"{label} warning: {event.message}"
        elif event.kind == "retry":
            line = f"{label} {event.message}"
        else:
            return
        self._last[event.local_id] = event.kind
        note(line)


def job_view(job: JobRecord, metadata_path: str | None = None) -> dict[str, Any]:
    """The JSON object of one job, as a dict (status tables and tests read it)."""
    from grokvid.api.results import job_view as view

    data: dict[str, Any] = json.loads(view(job, metadata_path).json_line())
    return data


def report_outcomes(ledger: Ledger, outcomes: list[tuple[str, object]], json_out: bool) -> int:
    """Print each job's outcome: clip paths (or ids, for --no-wait) or JSON lines on stdout,
    one `grokvid: error:` line on stderr per failure. Returns the first failure's exit code."""
    from grokvid.api.jobs import ClipResult
    from grokvid.api.ledger import JobRecord
    from grokvid.api.results import job_view as view
    from grokvid.cli.exits import exit_code_for, print_job_error

    code = 0
    for local_id, outcome in outcomes:
        if isinstance(outcome, BaseException):
            code = code or exit_code_for(outcome)
            print_job_error(outcome)
            job = ledger.get(local_id)
            if json_out and job is not None:
                out(view(job).json_line())
        elif isinstance(outcome, ClipResult):
            if json_out:
                meta = str(outcome.metadata_path)
                out(view(outcome.job, meta, reused=outcome.reused).json_line())
            else:
                out(str(outcome.path))
        elif isinstance(outcome, JobRecord):  # --no-wait: a submitted job
            if json_out:
                out(view(outcome).json_line())
            else:
                out(outcome.local_id)
    return code


def print_json_lines(items: Iterable[dict[str, Any]]) -> None:
    for item in items:
        out(json.dumps(item, ensure_ascii=False))


def print_jobs_table(jobs: list[JobRecord]) -> None:
    """`grokvid status` without ids: a table on a terminal, tab-separated lines when piped."""
    headers = ("ID", "STATE", "AGE", "MODEL", "CLIP", "PROMPT", "FILE")
    rows = [
        (
            j.local_id,
            j.state + (f" {j.progress}%" if j.state == "pending" and j.progress else ""),
            _age(j.created_at),
            j.model,
            f"{j.params.get('duration', '?')}s {j.params.get('resolution', '')} "
            f"{j.params.get('aspect_ratio', '')}".strip(),
            " ".join(j.prompt.split()) or ("(image)" if "image" in j.params else ""),
            _file_cell(j),
        )
        for j in jobs
    ]
    if not sys.stdout.isatty():
        for row in rows:
            out("\t".join(row))
        return
    import shutil

    # On a terminal: fixed columns padded, then the prompt and the file name share what is left.
    columns = shutil.get_terminal_size().columns
    shown = [(*row[:-1], _file_name(row[-1])) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in shown)) for i, h in enumerate(headers[:5])]
    if columns - sum(w + 2 for w in widths) < 40:  # narrow terminal: the model column goes
        widths[3] = 0
    room = columns - sum(w + 2 for w in widths if w)
    file_width = min(max((len(r[6]) for r in shown), default=0), max(0, room // 2))
    prompt_width = max(8, room - file_width - 2)
    for row in [headers, *shown]:
        cells = [cell.ljust(width) for cell, width in zip(row[:5], widths, strict=False) if width]
        cells += [_fit(row[5], prompt_width).ljust(prompt_width), _fit(row[6], file_width)]
        out("  ".join(cells).rstrip())


def _file_name(cell: str) -> str:
    """The table's FILE cell on a terminal: the name only, keeping a "(missing)" mark."""
    missing = cell.startswith("(missing) ")
    name = Path(cell.removeprefix("(missing) ")).name if cell else ""
    return f"(missing) {name}" if missing else name


def _file_cell(job: JobRecord) -> str:
    if job.state != "downloaded" or not job.output_path:
        return ""
    return job.output_path if Path(job.output_path).exists() else f"(missing) {job.output_path}"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def print_job_detail(job: JobRecord) -> None:
    """`grokvid status ID`: the job's fields as `key: value` lines."""
    view = job_view(job)
    for key in ("id", "request_id", "state", "progress", "model", "prompt"):
        if view[key] is not None:
            out(f"{key + ':':<14}{view[key]}")
    params = {k: v for k, v in view["params"].items() if k not in ("model", "image")}
    out(f"{'params:':<14}{', '.join(f'{k}={v}' for k, v in params.items())}")
    image = view["params"].get("image")
    if isinstance(image, dict):
        shown = image.get("file") or image.get("url")
        size = f" ({image['bytes']:,} bytes)" if image.get("bytes") else ""
        out(f"{'image:':<14}{shown}{size}")
    for key in ("error", "path", "submitted_at", "completed_at", "cost_usd"):
        value = view[key]
        if isinstance(value, dict):
            value = f"[{value['code']}] {value['message']}" if value["code"] else value["message"]
        if key == "path" and value and not Path(value).exists():
            value = f"{value} (missing: grokvid download {job.local_id} fetches it again)"
        if value is not None:
            out(f"{key + ':':<14}{value}")


def _age(when: datetime) -> str:
    from grokvid.api.jobs import now

    seconds = int((now() - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"
