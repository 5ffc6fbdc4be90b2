"""Each clip's outcome as it ends (stdout, `--results`, the board), then the run's end:
summary, gallery, grid, CI, and the exit code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from grokvid.api import errors
from grokvid.api.jobs import ClipResult

if TYPE_CHECKING:
    from pathlib import Path

    from grokvid.api.batch import BatchSource, Plan, PlannedClip
    from grokvid.api.batch.run import BatchJobs
    from grokvid.api.batch.summary import RunStats
    from grokvid.api.ledger import JobRecord, Ledger
    from grokvid.api.runner import Endpoint, Runner
    from grokvid.cli.batch.display import BatchDisplay
    from grokvid.cli.batch.flow import BatchArgs
    from grokvid.cli.batch.output import ResultsFile

Ended = tuple["PlannedClip", "JobRecord | None", object]


class Reporter:
    def __init__(
        self,
        args: BatchArgs,
        source: BatchSource,
        plan: Plan,
        ledger: Ledger,
        batch: BatchJobs,
        display: BatchDisplay,
        stats: RunStats,
        folder: Path,
    ) -> None:
        from grokvid.cli.batch.flow import label_for

        self.args = args
        self.source = source
        self.plan = plan
        self.ledger = ledger
        self.batch = batch
        self.display = display
        self.stats = stats
        self.results: ResultsFile | None = None
        self.ended: list[Ended] = []
        for local_id, clip in batch.clips.items():
            display.label(local_id, label_for(clip, plan.items, folder))

    def run(self, runner: Runner, timeout: float) -> list[Ended]:
        from grokvid.api.batch.run import execute
        from grokvid.api.runner import RunOptions
        from grokvid.cli.batch.output import ResultsFile
        from grokvid.cli.signals import run_interruptible

        options = RunOptions(wait=True, timeout=timeout, force=self.args.force)
        with ResultsFile(self.args.results) as self.results:
            ids = {id(clip): local_id for local_id, clip in self.batch.clips.items()}
            for clip, how, before in self.batch.placed:
                label = self.display.label_of(ids.get(id(clip)), clip.location)
                verb = {"linked": "linked", "copied": "copied"}.get(how)
                if verb is not None:
                    self.display.say(f"{label} {verb} {clip.path} from {before} (sha256 checked)")
            for clip, record, exc in self.batch.skipped:
                self.clip_ended(clip, record, exc)

            def ended(job: JobRecord, outcome: object) -> None:
                self.clip_ended(self.batch.clips[job.local_id], job, outcome)

            try:
                run_interruptible(
                    execute(runner, self.batch, options, on_outcome=ended),
                    lambda: runner.interrupted(self.batch.ids),
                )
            except errors.Interrupted as exc:
                raise errors.Interrupted(self._interrupted(exc), job_ids=exc.job_ids) from None
        return sorted(self.ended, key=lambda e: (e[0].index, e[0].variant))

    def clip_ended(self, clip: PlannedClip, job: JobRecord | None, outcome: object) -> None:
        from grokvid.api.batch.summary import clip_line, final_state
        from grokvid.api.models import ticks_to_usd
        from grokvid.cli.exits import describe
        from grokvid.cli.render import job_view, out

        current = self.ledger.get(job.local_id) if job is not None else None
        shown = current or job
        meta = str(outcome.metadata_path) if isinstance(outcome, ClipResult) else None
        view = job_view(shown, meta) if shown is not None else _bare_view(clip)
        variables = self.source.items[clip.index - 1].variables
        line = clip_line(clip, shown, outcome, view, variables)
        self.ended.append((clip, shown, outcome))
        assert self.results is not None
        self.results.write(line)
        if self.args.json_out:
            import json

            out(json.dumps(line, ensure_ascii=False))
        elif isinstance(outcome, ClipResult):
            out(str(outcome.path))
        label = self.display.label_of(shown.local_id if shown else None, clip.location)
        if isinstance(outcome, ClipResult):
            if outcome.reused:
                self.display.say(f"{label} reused {outcome.path}")
        elif isinstance(outcome, BaseException):
            self.display.error(f"{clip.location}: {describe(outcome)}")
        cost = ticks_to_usd(current.cost_usd_ticks) if current is not None else None
        ok = final_state(current, outcome) in ("saved", "reused")
        self.display.clip_ended(shown.local_id if shown else None, ok=ok, cost_usd=cost)

    def _interrupted(self, exc: errors.Interrupted) -> str:
        from grokvid.cli.batch.flow import resume_command

        saved = sum(1 for _, _, o in self.ended if isinstance(o, ClipResult))
        total = len(self.plan.clips)
        command = resume_command()
        head = f"{saved} of {total} clips saved"
        if "built-in sandbox" in exc.message:
            return (
                f"{head}; the built-in sandbox stopped with this command: run {command} "
                "to make the rest"
            )
        unknown = [part for part in exc.message.split("; ") if part.startswith("the submit of")]
        return "; ".join([f"{head}; resume with: {command}", *unknown])

    def finish(self, ended: list[Ended], rate_limited: int, endpoint: Endpoint) -> int:
        from grokvid.api.batch.summary import summarize, summary_words
        from grokvid.cli import ci as ci_mode
        from grokvid.cli.batch.output import grid_path, write_gallery, write_summary

        code = exit_code(ended)
        summary = summarize(
            self.plan,
            self.ledger,
            ended,
            self.stats,
            rate_limited=rate_limited,
            exit_code=code,
            submitted_ids={job.local_id for job in self.batch.created},
            batch_id=self.batch.batch_id,
        )
        if self.args.summary is not None:
            write_summary(self.args.summary, summary)
        for words in summary_words(summary):
            self.display.say(words)
        ids = [job.local_id for _, job, _ in ended if job is not None]
        if self.args.gallery is not None:
            title = f"grokvid batch {self.plan.source}"
            page = write_gallery(self.ledger, ids, self.args.gallery, title)
            self.display.say(f"gallery: {page}")
        grid = grid_path(self.args.summary, self.args.gallery)
        if grid is not None and self.source.format == "yaml":
            self._grid(ended, grid)
        ci_mode.report(
            self.args.ci,
            self.ledger,
            ids,
            title="grokvid batch",
            results=self.args.results,
            gallery=self.args.gallery,
        )
        return code

    def _grid(self, ended: list[Ended], path: Any) -> None:
        from grokvid.cli.batch.output import write_grid

        try:
            made = write_grid(self.source, ended, path)
        except errors.GrokvidError as exc:
            self.display.say(f"warning: no matrix grid: {exc}")
            return
        if made is not None:
            self.display.say(f"matrix grid: {made}")


def exit_code(ended: list[Ended]) -> int:
    """0 when every clip is saved; 7 when a cost cap stopped submitting; else the documented
    code of the first failure, in batch order."""
    from grokvid.api.budget import BudgetExceeded
    from grokvid.cli.exits import ExitCode, exit_code_for

    failures = [o for _, _, o in ended if isinstance(o, BaseException)]
    if any(isinstance(o, BudgetExceeded) for o in failures):
        return int(ExitCode.BUDGET)
    return int(exit_code_for(failures[0])) if failures else 0


def _bare_view(clip: PlannedClip) -> dict[str, Any]:
    """A clip the ledger never had a row for (it was not sent this run)."""
    return {
        "id": None,
        "request_id": None,
        "state": str(clip.state),
        "model": clip.fields.model,
        "prompt": clip.fields.prompt,
        "params": {k: v for k, v in clip.body.items() if k != "prompt"},
        "error": None,
        "path": None,
        "planned_path": str(clip.path),
        "estimated_cost_usd": clip.estimated_cost_usd,
    }
