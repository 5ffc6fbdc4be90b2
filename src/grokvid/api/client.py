"""The public Python API: `grokvid.Client` and `grokvid.AsyncClient`.

The same guarantees as the CLI, without it: every job is in the ledger before its POST (so
`grokvid status` shows jobs made from Python too), a paid POST is never re-sent on an unknown
outcome, and clips are verified before they are returned. Errors are `grokvid.GrokvidError`
subclasses; nothing is printed.

    import grokvid

    with grokvid.Client() as client:                     # settings as the CLI reads them
        clip = client.generate("a red fox trotting through fresh snow", duration=5)
        print(clip.path, clip.job.cost_usd)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr

from grokvid.api import errors, jobs
from grokvid.api.config import Settings, check_base_url, load_settings
from grokvid.api.events import JobEvent
from grokvid.api.jobs import ClipResult
from grokvid.api.ledger import JobRecord, Ledger
from grokvid.api.models import ticks_to_usd
from grokvid.api.runner import ClipPlan, Endpoint, Runner, RunOptions, budget_for, limiter_for
from grokvid.api.specs import MediaInput, Spec, clip_spec
from grokvid.api.states import JobState

T = TypeVar("T")


class Job(BaseModel):
    """A job as the ledger knows it."""

    local_id: str
    request_id: str | None
    state: JobState
    provider: str
    model: str
    prompt: str
    progress: int | None = None
    estimated_cost_usd: float | None = None
    cost_usd: float | None = None
    output_path: Path | None = None
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def of(cls, record: JobRecord) -> Job:
        return cls(
            local_id=record.local_id,
            request_id=record.request_id,
            state=JobState(record.state),
            provider=record.provider,
            model=record.model,
            prompt=record.prompt,
            progress=record.progress,
            estimated_cost_usd=record.estimated_cost_usd,
            cost_usd=ticks_to_usd(record.cost_usd_ticks),
            output_path=Path(record.output_path) if record.output_path else None,
            error_code=record.error_code,
            error_message=record.error_message,
        )


class Clip(BaseModel):
    """A saved, verified clip and its sidecar."""

    path: Path
    metadata_path: Path
    job: Job
    reused: bool = False

    @classmethod
    def of(cls, result: ClipResult) -> Clip:
        return cls(
            path=result.path,
            metadata_path=result.metadata_path,
            job=Job.of(result.job),
            reused=result.reused,
        )


class AsyncClient:
    """grokvid from asyncio code. Use as `async with AsyncClient() as client:`.

    `Client()` reads the config file and environment exactly as the CLI does; `api_key` and
    `base_url` override them. `ledger` (a path) lets a worker keep its own ledger.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        provider: str = "xai",
        ledger: str | Path | None = None,
        concurrency: int = 8,
        on_event: Callable[[JobEvent], None] | None = None,
        transport: Any = None,
    ) -> None:
        if provider != "xai":
            raise errors.ConfigError(f"Unknown provider {provider!r}: use 'xai'.")
        self._settings: Settings = load_settings({"base_url": base_url})
        self._key = SecretStr(api_key) if api_key is not None else self._settings.api_key
        self._base_url = check_base_url(self._settings.base_url)
        self._ledger = Ledger(Path(ledger) if ledger is not None else None)
        self._concurrency = concurrency
        self._on_event = on_event
        self._transport = transport

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        close = getattr(self._ledger, "close", None)
        if close is not None:
            close()

    def _runner(self, need_key: bool = True) -> Runner:
        if self._key is None:
            if need_key:
                raise errors.AuthError(
                    "No API key for xai: pass api_key=, run `grokvid config set xai.api_key` "
                    "or set XAI_API_KEY."
                )
            key = SecretStr("")
        else:
            key = self._key
        endpoint = Endpoint("xai", self._base_url, key, transport=self._transport)
        events = self._on_event or (lambda event: None)
        # The same limits as the CLI: the submit rate shared by every process using the key,
        # and the daily cost cap over the shared ledger.
        return Runner(
            self._ledger,
            endpoint,
            events=events,
            concurrency=self._concurrency,
            limiter=limiter_for(endpoint, self._settings.rate) if need_key else None,
            budget=budget_for(self._ledger, endpoint, daily_max_cost=self._settings.daily_max_cost),
        )

    async def generate(
        self,
        prompt: str = "",
        *,
        duration: int | None = None,
        resolution: str | None = None,
        aspect_ratio: str | None = None,
        model: str | None = None,
        audio: bool | None = None,
        image: str | Path | None = None,
        output_dir: str | Path | None = None,
        output: str | Path | None = None,
        wait: bool = True,
        timeout: float = 600,
        force: bool = False,
    ) -> Clip | Job:
        """Make one clip. With `wait=False`, return the submitted job at once."""
        spec = self._spec(prompt, duration, resolution, aspect_ratio, model, audio, image)
        from grokvid.api.providers import xai

        xai.check(spec)
        folder = Path(output_dir).expanduser() if output_dir else self._default_dir()
        runner = self._runner()
        target = Path(output).expanduser() if output else folder / "clip.mp4"
        (job,) = runner.create([ClipPlan(spec, target.absolute())])
        if output is None:
            hint = spec.prompt if spec.prompt.strip() else "image"
            name = folder / jobs.clip_name(hint, job.local_id)
            job = self._ledger.update(job.local_id, output_path=str(name.absolute()))
        async with runner:
            (outcome,) = await runner.run(
                [job], RunOptions(wait=wait, timeout=timeout, force=force)
            )
        return _unwrap(outcome)

    async def status(self, ident: str, *, refresh: bool = True) -> Job:
        """A job by local id, request id or unique prefix; asks the service when it can."""
        record = self._find(ident)
        if refresh and JobState(record.state).is_pollable and record.provider != "sandbox":
            runner = self._runner()
            async with runner:
                (answer,) = await runner.refresh([record])
            if isinstance(answer, errors.GrokvidError):
                raise answer
            record = answer
        return Job.of(record)

    async def download(
        self,
        ident: str,
        *,
        wait: bool = True,
        timeout: float = 600,
        output_dir: str | Path | None = None,
        force: bool = False,
    ) -> Clip:
        """Fetch a job's clip (again), waiting for the render when `wait` is true."""
        record = self._find(ident)
        runner = self._runner(need_key=record.request_id is not None)
        folder = Path(output_dir).expanduser() if output_dir else None
        options = RunOptions(wait=wait, timeout=timeout, force=force, output_dir=folder)
        async with runner:
            (outcome,) = await runner.resume([record], options)
        clip = _unwrap(outcome)
        if not isinstance(clip, Clip):  # pragma: no cover - resume always ends with a clip
            raise errors.JobFailed(f"Job {record.local_id} has no clip.", state=record.state)
        return clip

    def _find(self, ident: str) -> JobRecord:
        record = self._ledger.get(ident)
        if record is None:
            raise errors.ValidationError(
                f"No job {ident!r} in the ledger {self._ledger.path}: give a local id, a request "
                "id or a unique prefix of either.",
                "id",
            )
        return record

    def _default_dir(self) -> Path:
        return (self._settings.output_dir or Path.cwd()).expanduser()

    def _spec(
        self,
        prompt: str,
        duration: int | None,
        resolution: str | None,
        aspect_ratio: str | None,
        model: str | None,
        audio: bool | None,
        image: str | Path | None,
    ) -> Spec:
        s = self._settings
        return clip_spec(
            model=model or s.model,
            prompt=prompt,
            duration=duration if duration is not None else s.duration,
            resolution=resolution or s.resolution,
            aspect_ratio=aspect_ratio or s.aspect_ratio,
            audio=s.generate_audio if audio is None else audio,
            image=None if image is None else MediaInput.from_source(str(image)),
        )


def _unwrap(outcome: object) -> Clip | Job:
    if isinstance(outcome, errors.GrokvidError):
        raise outcome
    if isinstance(outcome, ClipResult):
        return Clip.of(outcome)
    assert isinstance(outcome, JobRecord)
    return Job.of(outcome)


class Client:
    """grokvid from ordinary (blocking) code: the same methods as `AsyncClient`."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._async = AsyncClient(**options)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._run(self._async.aclose())

    def generate(self, prompt: str = "", **options: Any) -> Any:
        """See `AsyncClient.generate`: a `Clip`, or a `Job` with `wait=False`."""
        return self._run(self._async.generate(prompt, **options))

    def status(self, ident: str, *, refresh: bool = True) -> Job:
        return self._run(self._async.status(ident, refresh=refresh))

    def download(self, ident: str, **options: Any) -> Clip:
        return self._run(self._async.download(ident, **options))

    @staticmethod
    def _run(work: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(work)
        work.close()
        raise RuntimeError("grokvid.Client is blocking: inside asyncio code use AsyncClient.")
