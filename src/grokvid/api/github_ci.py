"""GitHub Actions: a job-summary table, step outputs and annotations for a run's clips.

`resolve_mode` decides whether CI mode is on (`github` when `GITHUB_ACTIONS=true`, unless told
`none`); `GithubCI.from_env` finds the two files the runner reads. The library writes the files
and returns annotation lines; the CLI prints them (on stderr: the runner reads workflow commands
from both streams, and stdout stays the results channel).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from grokvid.api.errors import ValidationError

if TYPE_CHECKING:
    from grokvid.api.ledger import JobRecord

Mode = Literal["github", "none"]
MODES: tuple[str, ...] = ("github", "none")
SUMMARY_LIMIT = 1024 * 1024  # GitHub refuses a step summary over 1 MiB
PROMPT_WARN_CHARS = 4096
FAILED_STATES = frozenset({"failed", "expired", "rejected", "submit-unknown"})


def resolve_mode(value: str | None, env: Mapping[str, str], *, source: str = "CI mode") -> Mode:
    """`value` if given (`github` or `none`), else `github` inside GitHub Actions.

    `source` names where `value` came from (the CLI passes "--ci") for the error message.
    """
    if value is None or value == "":
        return "github" if env.get("GITHUB_ACTIONS", "").lower() == "true" else "none"
    mode = value.strip().lower()
    if mode not in MODES:
        raise ValidationError(
            f"{source}: unknown CI mode {value!r}; use github or none (or leave it unset to "
            "detect GitHub Actions from GITHUB_ACTIONS=true).",
            "ci",
        )
    return "github" if mode == "github" else "none"


@dataclass(frozen=True)
class CIRow:
    """One clip of the run, as the summary, outputs and annotations describe it."""

    id: str
    prompt: str
    state: str
    duration: int | float | None = None
    resolution: str | None = None
    cost_usd: float | None = None
    path: Path | None = None
    error: str | None = None

    @classmethod
    def from_job(cls, job: JobRecord, path: Path | None = None) -> CIRow:
        from grokvid.api.models import ticks_to_usd

        spent = ticks_to_usd(job.cost_usd_ticks)
        where = path or (Path(job.output_path) if job.output_path else None)
        error = ": ".join(p for p in (job.error_code, job.error_message) if p) or None
        return cls(
            id=job.local_id,
            prompt=job.prompt,
            state=job.state,
            duration=job.params.get("duration"),
            resolution=job.params.get("resolution"),
            cost_usd=spent if spent is not None else None,
            path=where if job.state == "downloaded" else None,
            error=error,
        )


def _cell(text: str, limit: int = 120) -> str:
    """Markdown-table-safe: one line, pipes and markup escaped, long text cut."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    for char in ("\\", "|", "`", "*", "_", "[", "]", "<", ">"):
        flat = flat.replace(char, "\\" + char)
    return flat


def _money(value: float | None) -> str:
    return "–" if value is None else f"${value:.2f}"


def summary_markdown(
    rows: Sequence[CIRow],
    *,
    title: str = "grokvid",
    links: Mapping[str, str] | None = None,
    budget: int = SUMMARY_LIMIT,
) -> str:
    """The summary block, at most `budget` bytes; rows past it are counted in a closing line."""
    total = sum(row.cost_usd or 0.0 for row in rows)
    done = sum(1 for row in rows if row.state == "downloaded")
    head = [
        f"### {_cell(title)}",
        "",
        f"{done} of {len(rows)} clip{'s' if len(rows) != 1 else ''} downloaded, "
        f"{_money(total)} in all.",
        "",
    ]
    for name, target in (links or {}).items():
        head.append(f"- {_cell(name)}: {_cell(target, 400)}")
    if links:
        head.append("")
    head += [
        "| prompt | duration | resolution | state | cost | file |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    foot = f"| **total** | | | {done}/{len(rows)} | **{_money(total)}** | |"
    text = "\n".join(head) + "\n"
    used = len(text.encode()) + len(foot.encode()) + 200  # room for the "left out" line
    if used > budget:  # earlier steps' output filled the summary: one line if even that fits
        note = f"_grokvid: {len(rows)} clips, {_money(total)}; the step summary is full._\n\n"
        return note if len(note.encode()) <= budget else ""
    lines: list[str] = []
    for index, row in enumerate(rows):
        state = row.state if not row.error else f"{row.state}: {row.error}"
        line = (
            f"| {_cell(row.prompt) or '–'} | "
            f"{f'{row.duration:g} s' if row.duration is not None else '–'} | "
            f"{_cell(row.resolution or '–')} | {_cell(state)} | {_money(row.cost_usd)} | "
            f"{_cell(row.path.name, 200) if row.path else '–'} |"
        )
        size = len(line.encode()) + 1
        if used + size > budget:
            left = len(rows) - index
            lines.append(foot)
            lines.append("")
            lines.append(
                f"_{left} more row{'s' if left != 1 else ''} left out: GitHub keeps a step "
                "summary under 1 MiB. The results file and the gallery list every clip._"
            )
            return text + "\n".join(lines) + "\n\n"
        used += size
        lines.append(line)
    lines.append(foot)
    return text + "\n".join(lines) + "\n\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation_lines(rows: Iterable[CIRow]) -> list[str]:
    """`::error` for each failed or moderated clip; `::warning` for each over-long prompt."""
    lines: list[str] = []
    for row in rows:
        if len(row.prompt) > PROMPT_WARN_CHARS:
            lines.append(
                f"::warning title={_escape_property(f'grokvid: long prompt ({row.id})')}::"
                + _escape_data(
                    f"The prompt of {row.id} has {len(row.prompt):,} characters, over the "
                    f"{PROMPT_WARN_CHARS:,} some deployments enforce."
                )
            )
        if row.state == "moderated" or row.state in FAILED_STATES:
            what = "moderated" if row.state == "moderated" else row.state
            first = (row.prompt.strip().splitlines() or [""])[0][:80]
            message = f"{row.id} ({first!r}): {row.error or what}"
            lines.append(
                f"::error title={_escape_property(f'grokvid: clip {what} ({row.id})')}::"
                + _escape_data(message)
            )
    return lines


def outputs_for(
    rows: Sequence[CIRow], *, results: Path | None = None, gallery: Path | None = None
) -> dict[str, str]:
    """The step outputs: paths, results, gallery, cost_usd, failed, moderated."""
    return {
        "paths": "\n".join(str(row.path) for row in rows if row.path is not None),
        "results": str(results) if results else "",
        "gallery": str(gallery) if gallery else "",
        "cost_usd": f"{sum(row.cost_usd or 0.0 for row in rows):.2f}",
        "failed": str(sum(1 for row in rows if row.state in FAILED_STATES)),
        "moderated": str(sum(1 for row in rows if row.state == "moderated")),
    }


def format_outputs(mapping: Mapping[str, str]) -> str:
    """`$GITHUB_OUTPUT` text. Each multi-line value gets its own random heredoc delimiter,
    chosen so it cannot occur in the value: no prompt can end a value early and forge a key."""
    chunks: list[str] = []
    for key, value in mapping.items():
        if not key or any(c in key for c in "=\r\n<") or key != key.strip():
            raise ValueError(f"not a usable GitHub output name: {key!r}")
        if "\n" not in value and "\r" not in value:
            chunks.append(f"{key}={value}\n")
            continue
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        while delimiter in value:  # 128 random bits: never in practice, but proven here
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        chunks.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(chunks)


@dataclass(frozen=True)
class GithubCI:
    """Where this step's summary and outputs go; either may be absent outside a runner."""

    summary_file: Path | None
    output_file: Path | None

    @classmethod
    def from_env(cls, env: Mapping[str, str], mode: str | None = None) -> GithubCI | None:
        """CI mode per `resolve_mode(mode, env)`: None when it is off."""
        if resolve_mode(mode, env) == "none":
            return None
        summary = env.get("GITHUB_STEP_SUMMARY") or None
        output = env.get("GITHUB_OUTPUT") or None
        return cls(Path(summary) if summary else None, Path(output) if output else None)

    def missing(self) -> list[str]:
        """Names of the runner variables that are not set (the CLI warns about them)."""
        return [
            name
            for name, value in (
                ("GITHUB_STEP_SUMMARY", self.summary_file),
                ("GITHUB_OUTPUT", self.output_file),
            )
            if value is None
        ]

    def write_summary(
        self,
        rows: Sequence[CIRow],
        *,
        title: str = "grokvid",
        links: Mapping[str, str] | None = None,
    ) -> bool:
        """Append the table to the step summary, within what is left of its 1 MiB."""
        if self.summary_file is None:
            return False
        try:
            used = self.summary_file.stat().st_size
        except FileNotFoundError:
            used = 0
        text = summary_markdown(rows, title=title, links=links, budget=SUMMARY_LIMIT - used)
        with self.summary_file.open("a", encoding="utf-8") as fh:
            fh.write(text)
        return True

    def write_outputs(self, mapping: Mapping[str, str]) -> bool:
        if self.output_file is None:
            return False
        with self.output_file.open("a", encoding="utf-8") as fh:
            fh.write(format_outputs(mapping))
        return True

    def annotations(self, rows: Iterable[CIRow]) -> list[str]:
        return annotation_lines(rows)
