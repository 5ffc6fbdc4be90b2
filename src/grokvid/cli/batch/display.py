"""The batch's progress on stderr: a live board on a terminal, plain lines otherwise.

On a TTY: one overall bar (clips done of total, failed, dollars spent of the cap, an ETA from
the render times seen so far) and one line per clip in flight, as many as the terminal has
rows for. Piped or in CI: one plain line per state change. `--quiet`: errors only.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from grokvid.api.events import JobEvent
from grokvid.cli.render import note, stderr_is_tty

RESERVED_ROWS = 4  # the bar, the "and N more" line, and room for the shell prompt


@dataclass
class _Clip:
    label: str
    state: str = "waiting"
    progress: int | None = None
    since: float = 0.0


class BatchDisplay:
    """An EventSink for the runner plus the batch's own calls (`clip_ended`, `error`)."""

    def __init__(
        self,
        *,
        total: int,
        quiet: bool = False,
        live: bool | None = None,
        cap_usd: float | None = None,
        concurrency: int = 8,
        rate: float | None = None,
        observe: Callable[[JobEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.quiet = quiet
        self.live = (not quiet) and (stderr_is_tty() if live is None else live)
        self.cap_usd = cap_usd
        self.concurrency = max(1, concurrency)
        self.rate = rate
        self.observe = observe
        self.clock = clock
        self.done = 0
        self.failed = 0
        self.spent_usd = 0.0
        self.to_submit = 0
        self.submitted = 0
        self._labels: dict[str, str] = {}
        self._flying: dict[str, _Clip] = {}
        self._renders: list[float] = []
        self._live: Any = None
        self._console: Any = None
        self._started = clock()

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> BatchDisplay:
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._console = Console(stderr=True)
            self._live = Live(
                get_renderable=self._board,
                console=self._console,
                refresh_per_second=4,
                transient=False,
                # Results printed to the same terminal go above the board, not through it.
                redirect_stdout=sys.stdout.isatty(),
                redirect_stderr=False,
            )
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def label(self, local_id: str, label: str) -> None:
        self._labels[local_id] = label

    def label_of(self, local_id: str | None, default: str) -> str:
        return self._labels.get(local_id or "", default)

    # -- lines for the user ---------------------------------------------------------------------

    def say(self, message: str) -> None:
        """A note (plan, warnings, summary): above the board on a terminal."""
        if self.quiet:
            return
        if self._console is not None:
            from rich.markup import escape

            self._console.print(f"grokvid: {escape(message)}", highlight=False)
        else:
            note(message)

    def error(self, message: str) -> None:
        """An error line: shown even with --quiet."""
        if self._console is not None:
            from rich.markup import escape

            self._console.print(f"[red]grokvid: error:[/] {escape(message)}", highlight=False)
        else:
            note(f"error: {message}")

    # -- events -----------------------------------------------------------------------------------

    def __call__(self, event: JobEvent) -> None:
        if self.observe is not None:
            self.observe(event)
        label = self._labels.get(event.local_id, event.local_id)
        clip = self._flying.get(event.local_id)
        if clip is None:
            clip = self._flying[event.local_id] = _Clip(label, since=self.clock())
        line = self._change(event, clip)
        if line is not None and not self.live and not self.quiet:
            note(f"{label} {line}")
        elif event.kind == "warning" and self.live and event.message:
            self.say(f"warning: {label}: {event.message}")

    def _change(self, event: JobEvent, clip: _Clip) -> str | None:
        """Update the clip's line; the plain text of a state change, or None."""
        kind = event.kind
        if kind == "submitting":
            clip.state = "submitting"
            return None
        if kind == "submitted":
            self.submitted += 1
            clip.state, clip.progress, clip.since = "rendering", 0, self.clock()
            return f"submitted (request {event.message})"
        if kind == "progress":
            clip.state, clip.progress = "rendering", event.progress
            return None
        if kind == "done":
            if clip.state == "rendering":
                self._renders.append(self.clock() - clip.since)
            clip.state, clip.progress = "rendered", 100
            return f"rendered in {event.elapsed:.1f} s"
        if kind == "downloading":
            first = clip.state != "downloading"
            clip.state = "downloading"
            return "downloading" if first else None
        if kind == "saved":
            clip.state = "saved"
            return f"saved {event.message}"
        if kind in ("failed", "moderated", "expired"):
            clip.state = kind
            return kind
        if kind == "retry":
            clip.state = "retrying"
            return event.message
        if kind == "warning":
            return f"warning: {event.message}"
        if kind == "previews":
            return "previews made"
        return None

    def retry_note(self, local_id: str, message: str) -> None:
        self(JobEvent(local_id, "retry", "retrying", message=message))

    def clip_ended(self, local_id: str | None, *, ok: bool, cost_usd: float | None) -> None:
        """A clip's outcome is known: count it and take its line off the board."""
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self.spent_usd += cost_usd or 0.0
        if local_id is not None:
            self._flying.pop(local_id, None)

    # -- the board --------------------------------------------------------------------------------

    def eta_seconds(self) -> float | None:
        """Time left from what was observed: the rate bounds the submits still to go, and
        the mean render time (with `concurrency` at once) bounds the renders."""
        left = self.total - self.done - self.failed
        if left <= 0:
            return 0.0
        if not self._renders:
            return None
        mean = sum(self._renders) / len(self._renders)
        renders = math.ceil(left / self.concurrency) * mean
        unsent = max(0, self.to_submit - self.submitted)
        submits = unsent / self.rate if self.rate else 0.0
        return max(renders, submits)

    def _board(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        bar = ProgressBar(total=max(1, self.total), completed=self.done + self.failed, width=30)
        money = f"${self.spent_usd:.2f}" + (
            f" of ${self.cap_usd:.2f}" if self.cap_usd is not None else ""
        )
        eta = self.eta_seconds()
        shown_eta = "eta --:--" if eta is None else f"eta {_clock(eta)}"
        failed = f", [red]{self.failed} failed[/]" if self.failed else ""
        grid.add_row(
            bar,
            Text.from_markup(
                f"{self.done}/{self.total} clips{failed} · {money} · "
                f"{_clock(self.clock() - self._started)} · {shown_eta}"
            ),
        )
        rows = max(1, shutil.get_terminal_size((100, 24)).lines - RESERVED_ROWS)
        flying = [c for c in self._flying.values() if c.state not in ("waiting",)]
        for clip in flying[:rows]:
            pct = f" {clip.progress}%" if clip.state == "rendering" and clip.progress else ""
            grid.add_row(
                Text(f"  {clip.state}{pct}", style="dim"),
                Text(f"{clip.label}  {_clock(self.clock() - clip.since)}", overflow="ellipsis"),
            )
        if len(flying) > rows:
            grid.add_row(Text(""), Text(f"… and {len(flying) - rows} more in flight", style="dim"))
        return grid


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
