"""What commands hand the renderer: typed, versioned results.

`JobView` is the JSON object of one job in `generate --json`, `status --json` and
`download --json` (and the base of a batch's JSON lines). Its JSON schema is a contract, pinned
by tests/snapshots/schema-job.json: a change to it shows in review.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from grokvid.api.ledger import JobRecord
from grokvid.api.models import ticks_to_usd

JOB_SCHEMA = "grokvid.job/1"


class ErrorView(BaseModel):
    code: str | None
    message: str | None


class JobView(BaseModel):
    """One job, as the `--json` options print it."""

    schema_: str = Field(default=JOB_SCHEMA, alias="schema")
    id: str
    request_id: str | None
    provider: str
    state: str
    progress: int | None
    model: str
    prompt: str
    params: dict[str, Any]
    error: ErrorView | None
    path: str | None  # the saved clip, once downloaded
    planned_path: str | None
    metadata_path: str | None
    previews: dict[str, str] | None  # poster, sheet, animation: absolute paths, when made
    bytes: int | None
    sha256: str | None
    created_at: datetime
    submitted_at: datetime | None
    completed_at: datetime | None
    downloaded_at: datetime | None
    estimated_cost_usd: float | None
    cost_usd: float | None
    reused: bool = False
    batch_id: str | None = None  # the `grokvid batch` run that created it (gallery --batch)

    model_config = {"populate_by_name": True}

    def json_line(self) -> str:
        return self.model_dump_json(by_alias=True)


def job_view(job: JobRecord, metadata_path: str | None = None, *, reused: bool = False) -> JobView:
    downloaded = job.state == "downloaded" and job.output_path is not None
    if metadata_path is None and downloaded and job.output_path:
        metadata_path = str(Path(job.output_path).with_suffix(".json"))
    error = None
    if job.error_code or job.error_message:
        error = ErrorView(code=job.error_code, message=job.error_message)
    return JobView(
        id=job.local_id,
        request_id=job.request_id,
        provider=job.provider,
        state=str(job.state),
        progress=job.progress,
        model=job.model,
        prompt=job.prompt,
        params={k: v for k, v in job.params.items() if k != "prompt"},
        error=error,
        path=job.output_path if downloaded else None,
        planned_path=job.output_path,
        metadata_path=metadata_path,
        previews=_previews(job.output_path) if downloaded and job.output_path else None,
        bytes=job.bytes,
        sha256=job.sha256,
        created_at=job.created_at,
        submitted_at=job.submitted_at,
        completed_at=job.completed_at,
        downloaded_at=job.downloaded_at,
        estimated_cost_usd=job.estimated_cost_usd,
        cost_usd=ticks_to_usd(job.cost_usd_ticks),
        reused=reused,
        batch_id=job.batch_id,
    )


def _previews(clip: str) -> dict[str, str] | None:
    from grokvid.api.previews import preview_paths

    found = {kind: str(path) for kind, path in preview_paths(Path(clip)).items() if path.exists()}
    return found or None
